// HuatuoAspire on Azure Container Apps: the same topology as HuatuoAspire.AppHost, for teams that deploy.
// A virtual network holding the Container Apps environment and PostgreSQL Flexible Server (private, no firewall rule),
// a storage account (blob container huatuo, file share data), a user-assigned identity that pulls the images and reads
// the Key Vault secrets, and the services: workers and the dashboard on CPU, the trainer and the inference service on
// a serverless GPU profile that costs nothing while they have scaled to zero.
// Images: scripts/publish-images.sh. Steps: README, "Deploy to Azure Container Apps".

targetScope = 'resourceGroup'

@description('Short name used as a prefix for every resource.')
@minLength(3)
@maxLength(12)
param name string = 'huatuo'

param location string = resourceGroup().location

@description('Azure Container Registry (in this resource group) holding the images pushed by scripts/publish-images.sh.')
param registryName string

@description('Image tag of every service image (scripts/publish-images.sh tags with the commit).')
param imageTag string

@description('Key Vault (in this resource group, RBAC authorization, enabled for template deployment) holding the secrets postgres-password (the server\'s owner), postgres-service-password (the services\' least-privilege role), admin-password and data-protection (a certificate: the dashboard\'s key ring is encrypted with it), and the LLM key when one is named.')
param keyVaultName string

// External LLM for construction, search and the judge (the AppHost's llm-url, llm-model, llm-kind, llm-key).

@description('Base URL of an OpenAI-compatible or Azure OpenAI endpoint; empty: the project\'s own inference service.')
param llmUrl string = ''

@description('Model, or Azure OpenAI deployment name, at llmUrl.')
param llmModel string = ''

@allowed([ 'openai-compatible', 'openai', 'azure-openai' ])
param llmKind string = 'openai-compatible'

@description('Name of the Key Vault secret holding the endpoint\'s API key; empty for an endpoint without a key.')
param llmApiKeySecretName string = 'llm-api-key'

@description('Requests each replica sends to the LLM at once (Llm__Endpoints__external__MaxConcurrency); the total is this times the worker replicas.')
param llmMaxConcurrency int = 8

// The model the inference service serves.

@description('Blob prefix (in container huatuo) of the Hugging Face model folder to serve, e.g. models/huatuogpt-o1-8b or training/run-3/final; empty: the built-in tiny model.')
param inferenceModelBlobPrefix string = ''

@description('The name clients send as "model"; default: the last segment of the blob prefix.')
param inferenceModelId string = empty(inferenceModelBlobPrefix) ? '' : last(split(inferenceModelBlobPrefix, '/'))

@description('Inference replicas kept running; 0 lets the GPU go when no request has come for a while (the first request then waits for a cold start).')
@minValue(0)
param inferenceMinReplicas int = 0

@minValue(1)
param inferenceMaxReplicas int = 1

@description('Concurrent requests per inference replica before another is started (about twice Inference:MaxBatchSize).')
param inferenceConcurrentRequests int = 16

// Workers

@minValue(0)
param workersMinReplicas int = 1

@minValue(1)
param workersMaxReplicas int = 8

@description('Hangfire jobs (queued or running) per worker replica on any of its queues before another replica is started.')
param workerJobsPerReplica int = 16

@description('Hangfire workers per worker replica (Workers__Parallelism): LLM-bound jobs mostly wait on the network.')
param workersParallelism int = 8

@description('Seconds before a job whose process died is handed out again (Jobs__InvisibilityTimeoutSeconds).')
param jobsInvisibilityTimeoutSeconds int = 300

// GPU

@description('Serverless GPU workload profile for training and inference.')
@allowed([ 'Consumption-GPU-NC24-A100', 'Consumption-GPU-NC8as-T4' ])
param gpuProfileType string = 'Consumption-GPU-NC24-A100'

@description('vCPUs of the trainer and inference containers (NC24-A100: 24 per replica, NC8as-T4: 8), less the init container\'s 0.5.')
param gpuContainerCpu string = '23.5'

@description('Memory of the trainer and inference containers (NC24-A100: 220Gi per replica, NC8as-T4: 56Gi), less the init container\'s 1Gi.')
param gpuContainerMemory string = '219Gi'

// PostgreSQL

param postgresSkuName string = 'Standard_D2ds_v5'
param postgresSkuTier string = 'GeneralPurpose'

var suffix = uniqueString(resourceGroup().id)
var cliImage = '${registry.properties.loginServer}/huatuo-cli:${imageTag}'
var externalLlm = !empty(llmUrl)
var llmHasKey = externalLlm && !empty(llmApiKeySecretName)
var servesBlobModel = !empty(inferenceModelBlobPrefix)
var postgresAdmin = 'huatuo'
// The services log in as this role: rows only; the owner (postgresAdmin) is used by `huatuo migrate` alone.
var postgresServiceLogin = 'huatuo_service'

// Built-in role definitions.
var roles = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

// Identity: one user-assigned identity pulls the images, reads the Key Vault secrets and may use blob storage.

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id-${suffix}'
  location: location
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, identity.id, roles.acrPull)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// The services reach blob storage with this identity through Entra ID (ConnectionStrings__blobs is the account's
// blob endpoint without a key; AZURE_CLIENT_ID names the identity to DefaultAzureCredential).
resource blobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataContributor)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

// Network: the environment and PostgreSQL share one virtual network; PostgreSQL has no public endpoint.

resource network 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: '${name}-vnet-${suffix}'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [ '10.40.0.0/16' ] }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: '10.40.0.0/23'
          delegations: [ { name: 'apps', properties: { serviceName: 'Microsoft.App/environments' } } ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: '10.40.2.0/24'
          delegations: [ { name: 'postgres', properties: { serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers' } } ]
        }
      }
    ]
  }
}

resource postgresDns 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${name}-${suffix}.private.postgres.database.azure.com'
  location: 'global'
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresDns
  name: network.name
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: network.id }
  }
}

// Data

module database 'modules/database.bicep' = {
  name: 'database'
  // The zone's link must exist before the server registers its name in the zone.
  dependsOn: [ postgresDnsLink ]
  params: {
    name: '${name}-pg-${suffix}'
    location: location
    administratorLogin: postgresAdmin
    administratorPassword: vault.getSecret('postgres-password')
    serviceLogin: postgresServiceLogin
    servicePassword: vault.getSecret('postgres-service-password')
    delegatedSubnetId: '${network.id}/subnets/postgres'
    privateDnsZoneId: postgresDns.id
    keyVaultName: vault.name
    skuName: postgresSkuName
    skuTier: postgresSkuTier
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${name}st${suffix}', 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource artifacts 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'huatuo'
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Model folders and training work folders outgrow a replica's ephemeral storage (8 GiB at most): an 8B model in bf16
// is 16 GB. They live on this share, mounted at /data by the trainer and the inference service.
resource dataShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: fileService
  name: 'data'
  properties: { shareQuota: 1024 }
}

resource blobsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'blobs-connection'
  properties: {
    // No key: the identity's Storage Blob Data Contributor role is the only way in.
    value: storage.properties.primaryEndpoints.blob
  }
}

// The Container Apps environment

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource containerEnv 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${name}-env-${suffix}'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: '${network.id}/subnets/apps'
      internal: false
    }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
      { name: 'gpu', workloadProfileType: gpuProfileType }
    ]
  }
}

resource dataStorage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: containerEnv
  name: 'data'
  properties: {
    azureFile: {
      accountName: storage.name
      accountKey: storage.listKeys().keys[0].value
      shareName: dataShare.name
      accessMode: 'ReadWrite'
    }
  }
}

// Secrets: every one a Key Vault reference read with the identity; the apps' definitions hold no secret values.

var secretUrl = '${vault.properties.vaultUri}secrets/'
var databaseSecret = { name: 'huatuodb', keyVaultUrl: '${secretUrl}${database.outputs.connectionSecretName}', identity: identity.id }
var ownerDatabaseSecret = { name: 'huatuodb-owner', keyVaultUrl: '${secretUrl}${database.outputs.ownerConnectionSecretName}', identity: identity.id }
var dataProtectionSecret = { name: 'data-protection', keyVaultUrl: '${secretUrl}data-protection', identity: identity.id }
var blobsSecretRef = { name: 'blobs', keyVaultUrl: '${secretUrl}${blobsSecret.name}', identity: identity.id }
var adminSecret = { name: 'admin-password', keyVaultUrl: '${secretUrl}admin-password', identity: identity.id }
// The KEDA postgresql scaler signs in with the password alone (its host and user are metadata); the service role's
// is enough to count rows, and `huatuo migrate` sets it on that role.
var postgresSecret = { name: 'postgres-service-password', keyVaultUrl: '${secretUrl}postgres-service-password', identity: identity.id }
var llmSecret = llmHasKey ? [ { name: 'llm-api-key', keyVaultUrl: '${secretUrl}${llmApiKeySecretName}', identity: identity.id } ] : []

var registries = [ { server: registry.properties.loginServer, identity: identity.id } ]
var userAssigned = {
  type: 'UserAssigned'
  userAssignedIdentities: { '${identity.id}': {} }
}

// Configuration, named exactly as the AppHost injects it and the services read it.

var databaseEnv = [
  { name: 'ConnectionStrings__huatuodb', secretRef: 'huatuodb' }
  { name: 'Jobs__InvisibilityTimeoutSeconds', value: string(jobsInvisibilityTimeoutSeconds) }
  // The service role may not create Hangfire's tables: `huatuo migrate` installed them.
  { name: 'Jobs__PrepareSchema', value: 'false' }
]
var blobsEnv = [
  { name: 'ConnectionStrings__blobs', secretRef: 'blobs' }
  { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
]
var adminEnv = [ { name: 'Admin__Password', secretRef: 'admin-password' } ]
// Container Apps resolve an app's name to its internal ingress inside the environment.
var inferenceEnv = [ { name: 'services__inference__http__0', value: 'http://inference' } ]
var llmEnv = externalLlm
  ? [
      { name: 'Llm__Endpoints__external__BaseUrl', value: llmUrl }
      { name: 'Llm__Endpoints__external__Model', value: llmModel }
      { name: 'Llm__Endpoints__external__Kind', value: llmKind }
      { name: 'Llm__Endpoints__external__MaxConcurrency', value: string(llmMaxConcurrency) }
      { name: 'Llm__DefaultEndpoint', value: 'external' }
      ...(llmHasKey ? [ { name: 'Llm__Endpoints__external__ApiKey', secretRef: 'llm-api-key' } ] : [])
    ]
  : []

var probes = [
  { type: 'Liveness', httpGet: { path: '/alive', port: 8080 }, periodSeconds: 10 }
  { type: 'Readiness', httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 }
]

// The .NET container images run as the non-root user app (UID 1654): the share is mounted as that user.
var dataVolume = [
  {
    name: 'data'
    storageType: 'AzureFile'
    storageName: dataStorage.name
    mountOptions: 'uid=1654,gid=1654,dir_mode=0750,file_mode=0640,mfsymlinks'
  }
]
var dataMount = [ { volumeName: 'data', mountPath: '/data' } ]

// Migrations: `huatuo migrate` runs as an init container of every app that uses the database, so no revision of
// them starts on a schema behind its code, whoever rolls it out (this template, `az containerapp update`, a scale-out).
// Chosen over a deployment script that starts the migrations job: that needs a container instance, a storage account
// with key access and a role to start jobs, and orders only deployments made by this template. Concurrent replicas
// are safe: EF Core takes a database-wide migration lock, and a migrated database makes the command a quick no-op.
var migrateEnv = [
  { name: 'ConnectionStrings__huatuodb', secretRef: 'huatuodb-owner' }
  { name: 'Database__ServiceRole', value: postgresServiceLogin }
  { name: 'Database__ServiceRolePassword', secretRef: 'postgres-service-password' }
]
var migrateSecrets = [ ownerDatabaseSecret, postgresSecret ]
var migrateInit = [
  {
    name: 'migrate'
    image: cliImage
    args: [ 'migrate' ]
    env: migrateEnv
    resources: { cpu: json('0.5'), memory: '1Gi' }
  }
]

// Hangfire keeps a queued job in hangfire.jobqueue until it finishes; a running job has fetchedat set (and renewed
// while its worker lives). Counting every row of a queue, fetched or not, keeps a replica while its job runs: counting
// only `fetchedat IS NULL` would scale the trainer to zero in the middle of a training run. The KEDA postgresql scaler
// signs in with the password alone; host, user and database are metadata.
var queueScaler = {
  host: database.outputs.host
  port: '5432'
  userName: postgresServiceLogin
  dbName: 'huatuodb'
  sslmode: 'require'
}
var queueScalerAuth = [ { secretRef: 'postgres-service-password', triggerParameter: 'password' } ]

// A manual job for running `huatuo migrate` by hand (`az containerapp job start -n migrations`), e.g. before
// scaling the apps back up after a restore.
resource migrations 'Microsoft.App/jobs@2024-03-01' = {
  name: 'migrations'
  location: location
  identity: userAssigned
  dependsOn: [ acrPull, secretsUser ]
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 1800
      replicaRetryLimit: 2
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 }
      registries: registries
      secrets: migrateSecrets
    }
    template: {
      containers: [
        {
          name: 'migrations'
          image: cliImage
          args: [ 'migrate' ]
          env: migrateEnv
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
    }
  }
}

// Services

resource inference 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'inference'
  location: location
  identity: userAssigned
  dependsOn: [ acrPull, secretsUser ]
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'gpu'
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      registries: registries
      secrets: [ blobsSecretRef, adminSecret ]
    }
    template: {
      // The served model comes from blob storage, verified against the SHA-256 the artifact store recorded, onto the
      // share; a replica that finds the same blobs already there skips the download.
      initContainers: servesBlobModel
        ? [
            {
              name: 'fetch-model'
              image: cliImage
              args: [ 'download', 'model', '--from', 'blob:${inferenceModelBlobPrefix}', '--to', '/data/models/served/${inferenceModelId}' ]
              env: blobsEnv
              volumeMounts: dataMount
              resources: { cpu: json('0.5'), memory: '1Gi' }
            }
          ]
        : []
      containers: [
        {
          name: 'inference'
          image: '${registry.properties.loginServer}/huatuo-inference:${imageTag}'
          env: [
            ...blobsEnv
            ...adminEnv
            { name: 'Inference__DefaultModelDir', value: '/data/models/default' }
            { name: 'Inference__CheckpointCacheDir', value: '/data/models/checkpoints' }
            ...(servesBlobModel
              ? [
                  { name: 'Inference__ModelPath', value: '/data/models/served/${inferenceModelId}' }
                  { name: 'Inference__ModelId', value: inferenceModelId }
                ]
              : [])
          ]
          probes: probes
          volumeMounts: dataMount
          resources: { cpu: json(gpuContainerCpu), memory: gpuContainerMemory }
        }
      ]
      volumes: dataVolume
      scale: {
        minReplicas: inferenceMinReplicas
        maxReplicas: inferenceMaxReplicas
        rules: [ { name: 'http', http: { metadata: { concurrentRequests: string(inferenceConcurrentRequests) } } } ]
      }
    }
  }
}

resource workers 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'workers'
  location: location
  identity: userAssigned
  dependsOn: [ acrPull, secretsUser ]
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      registries: registries
      secrets: [ databaseSecret, ownerDatabaseSecret, blobsSecretRef, adminSecret, postgresSecret, ...llmSecret ]
    }
    template: {
      initContainers: migrateInit
      containers: [
        {
          name: 'workers'
          image: '${registry.properties.loginServer}/huatuo-workers:${imageTag}'
          env: [
            ...databaseEnv
            ...blobsEnv
            ...adminEnv
            ...inferenceEnv
            ...llmEnv
            { name: 'Workers__Parallelism', value: string(workersParallelism) }
          ]
          probes: probes
          resources: { cpu: json('1'), memory: '2Gi' }
        }
      ]
      // Replicas on one PostgreSQL share the construction, search and evaluation queues (Hangfire's multi-server model).
      scale: {
        minReplicas: workersMinReplicas
        maxReplicas: workersMaxReplicas
        rules: [
          {
            name: 'queue-construction'
            custom: {
              type: 'postgresql'
              metadata: {
                ...queueScaler
                query: 'SELECT COUNT(*) FROM hangfire.jobqueue WHERE queue = \'construction\''
                targetQueryValue: string(workerJobsPerReplica)
                activationTargetQueryValue: '0'
              }
              auth: queueScalerAuth
            }
          }
          {
            name: 'queue-search'
            custom: {
              type: 'postgresql'
              metadata: {
                ...queueScaler
                query: 'SELECT COUNT(*) FROM hangfire.jobqueue WHERE queue = \'search\''
                targetQueryValue: string(workerJobsPerReplica)
                activationTargetQueryValue: '0'
              }
              auth: queueScalerAuth
            }
          }
          {
            name: 'queue-evaluation'
            custom: {
              type: 'postgresql'
              metadata: {
                ...queueScaler
                query: 'SELECT COUNT(*) FROM hangfire.jobqueue WHERE queue = \'evaluation\''
                targetQueryValue: string(workerJobsPerReplica)
                activationTargetQueryValue: '0'
              }
              auth: queueScalerAuth
            }
          }
          // The run APIs: a start or cancel wakes a worker scaled to zero.
          { name: 'http', http: { metadata: { concurrentRequests: '20' } } }
        ]
      }
    }
  }
}

resource trainer 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'trainer'
  location: location
  identity: userAssigned
  dependsOn: [ acrPull, secretsUser ]
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'gpu'
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      registries: registries
      secrets: [ databaseSecret, ownerDatabaseSecret, blobsSecretRef, adminSecret, postgresSecret, ...llmSecret ]
    }
    template: {
      initContainers: migrateInit
      containers: [
        {
          name: 'trainer'
          image: '${registry.properties.loginServer}/huatuo-trainer:${imageTag}'
          env: [
            ...databaseEnv
            ...blobsEnv
            ...adminEnv
            // PPO with `verifier: llm` asks the judge.
            ...inferenceEnv
            ...llmEnv
            { name: 'Trainer__WorkDirectory', value: '/data/training' }
          ]
          probes: probes
          volumeMounts: dataMount
          resources: { cpu: json(gpuContainerCpu), memory: gpuContainerMemory }
        }
      ]
      volumes: dataVolume
      // No GPU while idle: zero replicas until a training job is queued (or the training API is called), one while a
      // job is queued or running (the trainer serves the training queue alone, one job at a time).
      scale: {
        minReplicas: 0
        maxReplicas: 1
        rules: [
          {
            name: 'queue-training'
            custom: {
              type: 'postgresql'
              metadata: {
                ...queueScaler
                query: 'SELECT COUNT(*) FROM hangfire.jobqueue WHERE queue = \'training\''
                targetQueryValue: '1'
                activationTargetQueryValue: '0'
              }
              auth: queueScalerAuth
            }
          }
          { name: 'http', http: { metadata: { concurrentRequests: '10' } } }
        ]
      }
    }
  }
}

// Apps

resource dashboard 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'dashboard'
  location: location
  identity: userAssigned
  dependsOn: [ acrPull, secretsUser ]
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        // The key ring behind cookies and antiforgery tokens is shared (in the database, encrypted with the Key Vault
        // certificate), so either replica reads them; a browser stays on one for its interactive circuit.
        stickySessions: { affinity: 'sticky' }
      }
      registries: registries
      secrets: [ databaseSecret, ...migrateSecrets, blobsSecretRef, adminSecret, dataProtectionSecret ]
    }
    template: {
      initContainers: migrateInit
      containers: [
        {
          name: 'dashboard'
          image: '${registry.properties.loginServer}/huatuo-dashboard:${imageTag}'
          env: [
            ...databaseEnv
            ...blobsEnv
            ...adminEnv
            // The admin forms call the services' own APIs.
            ...inferenceEnv
            { name: 'services__workers__http__0', value: 'http://workers' }
            { name: 'services__trainer__http__0', value: 'http://trainer' }
            // A Key Vault certificate's secret is its PFX, base64: it encrypts each key of the shared key ring.
            { name: 'DataProtection__Certificate', secretRef: 'data-protection' }
          ]
          probes: probes
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 2
        rules: [ { name: 'http', http: { metadata: { concurrentRequests: '50' } } } ]
      }
    }
  }
}

output dashboardUrl string = 'https://${dashboard.properties.configuration.ingress.fqdn}'
output storageAccount string = storage.name
output identityClientId string = identity.properties.clientId
output migrationsJob string = migrations.name

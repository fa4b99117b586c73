// HuatuoAspire on Azure Container Apps: the same topology as HuatuoAspire.AppHost, for teams that deploy.
// PostgreSQL Flexible Server (database huatuodb), a storage account (blob container huatuo), one Container Apps
// environment with a serverless GPU workload profile for the trainer and the inference service, and a job that
// applies the database migrations (`huatuo migrate`) before the services use the database.
// Images are built with `dotnet publish -t:PublishContainer` (see README, "Deploy to Azure Container Apps").

targetScope = 'resourceGroup'

@description('Short name used as a prefix for every resource.')
@minLength(3)
@maxLength(12)
param name string = 'huatuo'

param location string = resourceGroup().location

@description('Container registry login server holding the images, e.g. myregistry.azurecr.io.')
param registryServer string

@description('Image tag of every service image.')
param imageTag string = 'latest'

@secure()
@description('PostgreSQL administrator password.')
param postgresAdminPassword string

@secure()
@description('Password for admin actions in the dashboard and the APIs (Admin__Password).')
param adminPassword string

@description('GPU workload profile for training and inference (serverless GPU).')
param gpuProfileType string = 'Consumption-GPU-NC24-A100'

var suffix = uniqueString(resourceGroup().id)

// Infrastructure

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${name}-pg-${suffix}'
  location: location
  sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' }
  properties: {
    version: '16'
    administratorLogin: 'huatuo'
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 64 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
  }
}

resource huatuodb 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'huatuodb'
}

resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'allow-azure-services'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
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

resource checkpoints 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'huatuo'
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
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
      { name: 'gpu', workloadProfileType: gpuProfileType }
    ]
  }
}

// Connections, named exactly as the AppHost injects them.

var databaseConnection = 'Host=${postgres.properties.fullyQualifiedDomainName};Database=huatuodb;Username=huatuo;Password=${postgresAdminPassword};SSL Mode=Require'
var blobConnection = 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'

var secrets = [
  { name: 'huatuodb', value: databaseConnection }
  { name: 'blobs', value: blobConnection }
  { name: 'admin-password', value: adminPassword }
]

var commonEnv = [
  { name: 'ConnectionStrings__huatuodb', secretRef: 'huatuodb' }
  { name: 'ConnectionStrings__blobs', secretRef: 'blobs' }
  { name: 'Admin__Password', secretRef: 'admin-password' }
  // Container Apps resolve an app's name to its internal ingress inside the environment.
  { name: 'services__inference__http__0', value: 'http://inference' }
  // The dashboard's admin forms call the workers' and the trainer's APIs.
  { name: 'services__workers__http__0', value: 'http://workers' }
  { name: 'services__trainer__http__0', value: 'http://trainer' }
]

var probes = [
  { type: 'Liveness', httpGet: { path: '/alive', port: 8080 }, periodSeconds: 10 }
  { type: 'Readiness', httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 }
]

// Migrations run to completion before the services start using the database: one place applies them.

resource migrations 'Microsoft.App/jobs@2024-03-01' = {
  name: 'migrations'
  location: location
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 1800
      replicaRetryLimit: 2
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 }
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'migrations'
          image: '${registryServer}/huatuo-cli:${imageTag}'
          args: [ 'migrate' ]
          env: commonEnv
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
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'gpu'
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'inference'
          image: '${registryServer}/huatuo-inference:${imageTag}'
          env: commonEnv
          probes: probes
          resources: { cpu: json('24'), memory: '220Gi' }
        }
      ]
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
}

resource workers 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'workers'
  location: location
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'workers'
          image: '${registryServer}/huatuo-workers:${imageTag}'
          env: commonEnv
          probes: probes
          resources: { cpu: json('1'), memory: '2Gi' }
        }
      ]
      // More worker processes on the same database share the construction and search queues.
      scale: { minReplicas: 1, maxReplicas: 8 }
    }
  }
}

resource trainer 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'trainer'
  location: location
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'gpu'
    configuration: {
      ingress: { external: false, targetPort: 8080, transport: 'http' }
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'trainer'
          image: '${registryServer}/huatuo-trainer:${imageTag}'
          env: commonEnv
          probes: probes
          resources: { cpu: json('24'), memory: '220Gi' }
        }
      ]
      // One training job at a time: the trainer alone serves the training queue.
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
}

// Apps

resource dashboard 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'dashboard'
  location: location
  properties: {
    environmentId: containerEnv.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: { external: true, targetPort: 8080, transport: 'http' }
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'dashboard'
          image: '${registryServer}/huatuo-dashboard:${imageTag}'
          env: commonEnv
          probes: probes
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
      scale: { minReplicas: 1, maxReplicas: 2 }
    }
  }
}

output dashboardUrl string = 'https://${dashboard.properties.configuration.ingress.fqdn}'
output migrationsJob string = migrations.name

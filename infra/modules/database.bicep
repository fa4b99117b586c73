// PostgreSQL Flexible Server inside the virtual network (no public access, no firewall rule), the huatuodb database,
// and its Npgsql connection string written to Key Vault. A module of its own because the administrator password
// comes from Key Vault (getSecret) and Bicep passes such a value only as a secure module parameter.

param name string
param location string

@secure()
@description('The administrator password (from Key Vault).')
param administratorPassword string

param administratorLogin string

@description('The login role the services use: rows only (huatuo migrate creates it and grants it DML on the application\'s and Hangfire\'s tables).')
param serviceLogin string

@secure()
@description('The service role\'s password (from Key Vault).')
param servicePassword string

@description('Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers.')
param delegatedSubnetId string

@description('Private DNS zone *.private.postgres.database.azure.com linked to the virtual network.')
param privateDnsZoneId string

@description('Key Vault receiving the secret huatuodb-connection.')
param keyVaultName string

param skuName string
param skuTier string

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  sku: { name: skuName, tier: skuTier }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorPassword
    storage: { storageSizeGB: 64 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    // VNet integration: reachable only from the virtual network the Container Apps environment runs in.
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
}

resource huatuodb 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'huatuodb'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// The services read one Npgsql connection string (ConnectionStrings__huatuodb); it lives in Key Vault, never in the
// apps' definitions. It names the least-privilege service role: rows only, no DDL, no other database.
resource connectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'huatuodb-connection'
  properties: {
    value: 'Host=${postgres.properties.fullyQualifiedDomainName};Database=${huatuodb.name};Username=${serviceLogin};Password=${servicePassword};SSL Mode=Require'
  }
}

// The owner's connection, for `huatuo migrate` alone (schema changes, Hangfire's tables, the service role's grants).
resource ownerConnectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'huatuodb-owner-connection'
  properties: {
    value: 'Host=${postgres.properties.fullyQualifiedDomainName};Database=${huatuodb.name};Username=${administratorLogin};Password=${administratorPassword};SSL Mode=Require'
  }
}

output host string = postgres.properties.fullyQualifiedDomainName
output databaseName string = huatuodb.name
output connectionSecretName string = connectionSecret.name
output ownerConnectionSecretName string = ownerConnectionSecret.name

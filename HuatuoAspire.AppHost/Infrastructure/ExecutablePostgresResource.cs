namespace HuatuoAspire.AppHost.Infrastructure;

/// <summary>
/// PostgreSQL run as an executable (the distribution's <c>postgres</c> program in the foreground, on a data folder
/// of its own) where no container runtime is available. It publishes its connection string the Aspire way, so
/// its databases are referenced exactly like those of <c>AddPostgres</c>.
/// </summary>
public sealed class ExecutablePostgresResource(string name, string command, string workingDirectory,
    string dataDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    internal const string EndpointName = "tcp";

    public string DataDirectory { get; } = dataDirectory;
    public ParameterResource PasswordParameter { get; } = password;
    public EndpointReference PrimaryEndpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host={PrimaryEndpoint.Property(EndpointProperty.IPV4Host)};Port={PrimaryEndpoint.Property(EndpointProperty.Port)};Username={LocalServers.PostgresServer.SuperUserName};Password={PasswordParameter}");
}

/// <summary>A database on an <see cref="ExecutablePostgresResource"/>, created once the server is ready.</summary>
public sealed class ExecutablePostgresDatabaseResource(string name, string databaseName, ExecutablePostgresResource parent)
    : Resource(name), IResourceWithParent<ExecutablePostgresResource>, IResourceWithConnectionString
{
    public ExecutablePostgresResource Parent { get; } = parent;
    public string DatabaseName { get; } = databaseName;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Parent};Database={DatabaseName}");
}

namespace HuatuoAspire.Cli.FunctionalTests;

/// <summary>
/// Tests that run <c>huatuo</c> commands in this process: Spectre.Console's console and its live displays (progress
/// bars) are process-wide, so two commands at once would collide. These run one at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CommandLineCollection
{
    public const string Name = "command line";
}

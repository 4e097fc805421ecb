namespace Sandbox.Providers;

/// <summary>
/// The environment a command gets inside a sandbox: a clean base (PATH, HOME, TERM, LANG), then the
/// sandbox's variables, then the command's own. Nothing leaks in from the caller's environment but
/// its TERM (so that a shell draws for the caller's terminal).
/// </summary>
internal static class CommandEnvironment
{
    public const string SandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static Dictionary<string, string> Compose(SandboxInfo sandbox, SandboxCommand command, string home) =>
        Compose(sandbox.Environment, command.Environment, home, System.Environment.GetEnvironmentVariable("TERM"));

    /// <summary>The same from explicit inputs; in order: the base, the sandbox's, the command's (later wins).</summary>
    public static Dictionary<string, string> Compose(IReadOnlyDictionary<string, string> sandboxVariables,
        IReadOnlyDictionary<string, string> commandVariables, string home, string? callerTerm)
    {
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = SandboxPath,
            ["HOME"] = home,
            ["TERM"] = callerTerm is { Length: > 0 } term ? term : "dumb",
            ["LANG"] = "C.UTF-8",
        };
        foreach (var (key, value) in sandboxVariables) environment[key] = value;
        foreach (var (key, value) in commandVariables) environment[key] = value;
        return environment;
    }
}

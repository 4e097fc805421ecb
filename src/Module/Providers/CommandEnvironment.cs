namespace Sandbox.Providers;

/// <summary>
/// The environment a command gets inside a sandbox: a clean base (PATH, HOME, TERM, LANG), then the
/// sandbox's variables, then the command's own. Nothing leaks in from the caller's environment.
/// </summary>
public static class CommandEnvironment
{
    public const string SandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static Dictionary<string, string> Compose(SandboxInfo sandbox, SandboxCommand command, string home)
    {
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = SandboxPath,
            ["HOME"] = home,
            ["TERM"] = System.Environment.GetEnvironmentVariable("TERM") is { Length: > 0 } term ? term : "dumb",
            ["LANG"] = "C.UTF-8",
        };
        foreach (var (key, value) in sandbox.Environment) environment[key] = value;
        foreach (var (key, value) in command.Environment) environment[key] = value;
        return environment;
    }
}

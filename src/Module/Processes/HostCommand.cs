namespace Sandbox.Processes;

/// <summary>
/// Runs a host tool (tar, cp, a builder) to completion with a clean environment, logging its command
/// line; a non-zero exit becomes the caller's error.
/// </summary>
internal static class HostCommand
{
    public static ProcessOutcome Run(IEngineLog log, IReadOnlyList<string> argv, Action<string>? onOutputLine = null,
        CancellationToken cancellation = default, IReadOnlyDictionary<string, string>? extraEnvironment = null,
        bool binaryStdOut = false, PassedDescriptors? passed = null)
    {
        log.Verbose(ShellQuote.Join(argv));
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = ToolLocator.SystemPath,
            ["LANG"] = "C.UTF-8",
            ["HOME"] = Environment.GetEnvironmentVariable("HOME") ?? "/",
        };
        foreach (var (key, value) in extraEnvironment ?? new Dictionary<string, string>()) environment[key] = value;
        // Builders report progress on either stream (mmdebstrap and debootstrap use stderr).
        return NativeProcessRunner.Run(new ProcessSpec { Argv = argv, Environment = environment, BinaryStdOut = binaryStdOut, PassedDescriptors = passed },
            onOutputLine, cancellation, onOutputLine);
    }
}

namespace Sandbox;

/// <summary>
/// Errors of Copy-SandboxItem -FromSandbox while it reads the sandbox's tar stream. Both say what
/// had been written when it stopped: what the copy wrote is left where it is, incomplete, and
/// nothing that was there before is touched (the caller decides what to remove).
/// </summary>
public static partial class SandboxErrors
{
    /// <summary>The stream went over a bound on what a copy accepts (bytes or entries); the sandbox's tar was killed.</summary>
    public static SandboxException CopyOutTooLarge(string itemPath, string limit, string written) => new(
        "CopyOutTooLarge", SandboxErrorKind.InvalidOperation,
        $"Copying '{itemPath}' out of the sandbox stopped: the sandbox's tar stream went over {limit}; its tar was killed. {written}",
        "Free space on the destination's file system, or copy a smaller part of the tree (a sandbox that sends more than it holds is hostile: its tar may have been replaced).",
        itemPath);

    /// <summary>The stream was malformed or ended before the archive did: never a silent partial copy.</summary>
    public static SandboxException CopyOutDamaged(string itemPath, string problem, string written) => new(
        "CopyOutDamaged", SandboxErrorKind.InvalidOperation,
        $"Copying '{itemPath}' out of the sandbox failed: the sandbox's tar stream {problem}. {written}",
        "Check that the path exists in the sandbox and that its tar works (Invoke-SandboxCommand tar --version); a sandbox whose tar emits a damaged stream may have replaced it.",
        itemPath);

    /// <summary>The same error with what the sandbox's tar said on stderr added to its problem.</summary>
    public static SandboxException WithTarStderr(SandboxException error, string stderr)
    {
        var said = stderr.Trim();
        if (said.Length == 0) return error;
        var problem = error.Fix is { } fix && error.Message.EndsWith(" " + fix, StringComparison.Ordinal)
            ? error.Message[..^(fix.Length + 1)]
            : error.Message;
        return new SandboxException(error.ErrorId, error.Kind, $"{problem} The sandbox's tar said: {said}", error.Fix, error.Target, error);
    }
}

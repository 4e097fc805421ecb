namespace Sandbox;

/// <summary>
/// Where the engine reports what it does: every backend command line (shell-quoted, so it can be
/// pasted into a shell) at verbose level, and progress of long operations. The cmdlets forward these
/// to Write-Verbose and Write-Progress; tests and the bench may ignore them.
/// </summary>
public interface IEngineLog
{
    void Verbose(string message);
    void Progress(string activity, string status, int? percent);

    /// <summary>Something went wrong that the user should hear of, though the operation succeeded.
    /// Logs that cannot warn (or do not override this) get it as a verbose line.</summary>
    void Warning(string message) => Verbose("WARNING: " + message);
}

/// <summary>A log that drops everything.</summary>
internal sealed class NullEngineLog : IEngineLog
{
    public static readonly NullEngineLog Instance = new();
    public void Verbose(string message) { }
    public void Progress(string activity, string status, int? percent) { }
}

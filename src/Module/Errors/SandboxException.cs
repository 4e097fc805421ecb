namespace Sandbox;

/// <summary>
/// Every failure the engine reports on purpose. It carries what a PowerShell ErrorRecord needs:
/// a stable <see cref="ErrorId"/> that scripts and tests can match on, a <see cref="Kind"/> for the
/// error category, the <see cref="Target"/> it is about, and a <see cref="Fix"/> that tells the user
/// what to do next. The message already ends with the fix.
/// </summary>
public sealed class SandboxException : Exception
{
    public SandboxException(string errorId, SandboxErrorKind kind, string problem, string? fix = null,
        object? target = null, Exception? inner = null)
        : base(fix is null ? problem : $"{problem} {fix}", inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Fix = fix;
        Target = target;
    }

    public string ErrorId { get; }
    public SandboxErrorKind Kind { get; }
    public string? Fix { get; }
    public object? Target { get; }
}

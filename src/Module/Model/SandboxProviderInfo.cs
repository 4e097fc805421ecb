namespace Sandbox;

/// <summary>What Get-SandboxProvider shows about a provider on this machine, for this user.</summary>
public sealed class SandboxProviderInfo
{
    public required string Name { get; init; }
    public required bool Available { get; init; }

    /// <summary>Why it cannot run here, or null.</summary>
    public string? Reason { get; init; }

    /// <summary>What to do about it (e.g. "apt-get install bubblewrap"), or null.</summary>
    public string? InstallHint { get; init; }

    public required bool NeedsRoot { get; init; }
    public required string Isolation { get; init; }
    public required bool IsSecurityBoundary { get; init; }
    public required string CopyOnWrite { get; init; }
}

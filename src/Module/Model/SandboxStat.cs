namespace Sandbox;

/// <summary>What a sandbox has cost so far and how far it has drifted from its image.</summary>
public sealed class SandboxStat
{
    public required string Sandbox { get; init; }
    public required string Provider { get; init; }
    public required string Image { get; init; }
    public required DateTimeOffset Created { get; init; }
    public TimeSpan Age => DateTimeOffset.Now - Created;
    public int CommandsRun { get; init; }
    public TimeSpan UserCpu { get; init; }
    public TimeSpan SystemCpu { get; init; }
    public long PeakMemoryBytes { get; init; }

    /// <summary>Bytes held by the sandbox's own layer (what it wrote), not by the image.</summary>
    public long DiskBytes { get; init; }

    public int FilesAdded { get; init; }
    public int FilesModified { get; init; }
    public int FilesDeleted { get; init; }
}

/// <summary>One path that differs between a sandbox and its image.</summary>
public sealed record SandboxChange(string Sandbox, string Path, SandboxChangeKind Kind, long Size);

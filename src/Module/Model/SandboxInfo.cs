using System.Text.Json.Serialization;
using Sandbox.Native;

namespace Sandbox;

/// <summary>
/// A sandbox: a copy-on-write view of an image kept in its own state folder (serialized as
/// state.json). Records its owner process so that other processes can tell live sandboxes from
/// orphans, and the running totals Get-SandboxStat reports.
/// </summary>
public sealed class SandboxInfo
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Provider { get; init; }
    public required string Image { get; init; }
    public required DateTimeOffset Created { get; init; }
    public int OwnerPid { get; init; }
    public ulong OwnerStartTicks { get; init; }
    public bool Keep { get; init; }

    /// <summary>The image's init was booted (Nspawn -Boot); commands run inside the running machine.</summary>
    public bool Boot { get; init; }
    public NetworkMode Network { get; init; }
    public List<BindMount> Mounts { get; init; } = new();
    public Dictionary<string, string> Environment { get; init; } = new();

    /// <summary>Every command sees / read-only except <see cref="WritablePaths"/> (Enter-Sandbox -ReadOnlyRoot).</summary>
    public bool ReadOnlyRoot { get; init; }

    /// <summary>The in-sandbox folders left writable under <see cref="ReadOnlyRoot"/>, normalised, each its own mount.</summary>
    public List<string> WritablePaths { get; init; } = new();

    public int CommandsRun { get; set; }
    public TimeSpan UserCpu { get; set; }
    public TimeSpan SystemCpu { get; set; }
    public long PeakMemoryBytes { get; set; }

    /// <summary>The sandbox's state folder on the host (filled in when read from the store).</summary>
    [JsonIgnore]
    public string StatePath { get; set; } = "";

    /// <summary>The image's root filesystem (filled in when read from the store).</summary>
    [JsonIgnore]
    public string ImageRootFs { get; set; } = "";

    /// <summary>
    /// Orphaned once its owner is gone, unless it was made with -Keep: such a sandbox is meant to
    /// outlive its session, so reaping (Remove-Sandbox -Stale, the next Import-Module) leaves it.
    /// </summary>
    [JsonIgnore]
    public SandboxStatus Status =>
        Keep || new ProcessIdentity(OwnerPid, OwnerStartTicks).IsAlive ? SandboxStatus.Ready : SandboxStatus.Orphaned;

    public override string ToString() => Name;
}

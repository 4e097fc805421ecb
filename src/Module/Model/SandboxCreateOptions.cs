namespace Sandbox;

/// <summary>What Enter-Sandbox asks the engine for.</summary>
public sealed class SandboxCreateOptions
{
    public required string Image { get; init; }
    public ProviderName Provider { get; init; } = ProviderName.Auto;

    /// <summary>A name of the caller's choice; null picks one from the id.</summary>
    public string? Name { get; init; }

    public IReadOnlyList<BindMount> Mounts { get; init; } = Array.Empty<BindMount>();
    /// <summary>
    /// None or Host; null is the provider's default: None where it has namespaces, Host for
    /// FakeChroot (which refuses an explicit None: it has no network to take away).
    /// </summary>
    public NetworkMode? Network { get; init; }

    /// <summary>Variables every command of this sandbox gets (a command's own win).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Boot the image's init (Nspawn only; the image needs systemd: -Include systemd,dbus).</summary>
    public bool Boot { get; init; }

    /// <summary>Keep the sandbox after its shell exits or its owner process ends.</summary>
    public bool Keep { get; init; }

    /// <summary>
    /// Every command of the sandbox sees its root read-only (writes fail with EROFS), except
    /// <see cref="WritablePaths"/>, -Bind targets (their own ro/rw), /dev, /proc and the fresh /run.
    /// Bubblewrap and Nspawn (without -Boot) only.
    /// </summary>
    public bool ReadOnlyRoot { get; init; }

    /// <summary>In-sandbox folders left writable under <see cref="ReadOnlyRoot"/>; a missing one is made in the sandbox's layer.</summary>
    public IReadOnlyList<string> WritablePaths { get; init; } = Array.Empty<string>();
}

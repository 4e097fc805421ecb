namespace Sandbox.Providers.CommandLines;

/// <summary>Where the programs a backend command line starts live, resolved on PATH by the provider.</summary>
internal sealed record BackendTools(string Unshare, string Sh, string Backend);

/// <summary>
/// Everything about a sandbox that a namespace backend's command line depends on, as plain data:
/// who runs it, the tools, the overlay's folders, binds and network. The provider reads the global
/// state (euid, PATH, /etc/subuid) once and fills this in; the command-line builders read nothing else.
/// </summary>
internal sealed record SandboxView
{
    /// <summary>Real root: the overlay is mounted without a user namespace and without userxattr.</summary>
    public required bool IsRoot { get; init; }

    public required BackendTools Tools { get; init; }

    /// <summary>The sandbox's name, used as hostname (and machine name for nspawn).</summary>
    public required string Name { get; init; }

    /// <summary>lowerdir (the image), upperdir, workdir and the mount point merged/.</summary>
    public required OverlayLayer Overlay { get; init; }

    /// <summary>Rootless only: the user's /etc/subuid and /etc/subgid range to map (null: map root only).</summary>
    public Namespaces.SubordinateIds? SubordinateIds { get; init; }

    public IReadOnlyList<BindMount> Binds { get; init; } = Array.Empty<BindMount>();

    public NetworkMode Network { get; init; } = NetworkMode.None;

    /// <summary>-ReadOnlyRoot: / is read-only for the command except <see cref="WritablePaths"/> (and -Bind targets, /dev, /proc, /run).</summary>
    public bool ReadOnlyRoot { get; init; }

    /// <summary>In-sandbox folders bound writable onto themselves from the layer (checked by WritablePathLayer).</summary>
    public IReadOnlyList<string> WritablePaths { get; init; } = Array.Empty<string>();

    /// <summary>
    /// Root Bubblewrap: the numbers the backend holds the overlay's root and each writable path under
    /// (see HeldOverlayRoot), bound by descriptor instead of by a path the store's owner could redirect.
    /// </summary>
    public HeldBindSources? HeldSources { get; init; }

    /// <summary>
    /// Root Nspawn: the numbers the launcher holds the overlay and each writable path under, mounted
    /// detached by the engine from folders it held (see DetachedOverlay) and moved into place, instead
    /// of mounted and bound from paths the store's owner could redirect.
    /// </summary>
    public HeldBindSources? HeldMounts { get; init; }
}

/// <summary>
/// Descriptor numbers in the backend (never ours: see Processes.PassedDescriptors) of the overlay's root
/// and of each of <see cref="SandboxView.WritablePaths"/>, in the same order.
/// </summary>
internal sealed record HeldBindSources(int Root, IReadOnlyList<int> WritablePaths);

/// <summary>One command to run in a sandbox, with its user already looked up in the image's /etc/passwd.</summary>
internal sealed record CommandInvocation
{
    public required PasswdFile.Account User { get; init; }

    /// <summary>The command's whole environment, composed (see <see cref="CommandEnvironment"/>).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; }

    /// <summary>Absolute folder inside the sandbox.</summary>
    public required string WorkingDirectory { get; init; }

    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>A shell on the caller's terminal (Enter-Sandbox -Shell) rather than a captured command.</summary>
    public bool Interactive { get; init; }

    /// <summary>For an interactive command: the caller's stdin is a terminal (else it is a script on a pipe).</summary>
    public bool StdInIsTerminal { get; init; }
}

using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>
/// Rootless, namespace-free sandboxes: a private copy of the image (taken from a pool of ready
/// copies), fakechroot to map paths into it, and fakeroot (one faked per sandbox) so commands believe
/// they are root. Not a security boundary: static binaries and direct system calls bypass
/// LD_PRELOAD, /proc, /dev and the network are the host's.
///
/// Why copies and not a cowdancer hardlink farm: tried on this machine with fakechroot 2.20.1,
/// fakeroot and cowdancer 0.89 (glibc 2.36). With libfakechroot first in LD_PRELOAD cowdancer never
/// saw the writes and they changed the image's shared inodes; with libcowdancer first it saw the
/// untranslated path and its copy-before-write ran on the host's file of that name, and commands
/// could not be found. A copy shares no inode with the image, so nothing the sandbox does reaches
/// it; the pool makes taking one a rename.
/// </summary>
internal sealed class FakeChrootProvider : ISandboxProvider
{
    private static readonly Lazy<SandboxProviderInfo> CachedProbe = new(ProbeOnce);
    private readonly IEngineLog _log;
    private readonly FarmPool _pool;
    private readonly Func<string, SandboxImage> _images;

    public FakeChrootProvider(IEngineLog log, StoreLayout layout, Func<string, SandboxImage> images)
    {
        _log = log;
        _pool = new FarmPool(layout, log);
        _images = images;
    }

    public ProviderName Name => ProviderName.FakeChroot;

    /// <summary>The copy is a plain folder and faked serializes ownership changes: commands run together.</summary>
    public bool CommandsRunConcurrently => true;

    public SandboxProviderInfo Probe() => CachedProbe.Value;

    public static string Farm(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "root");

    public void Create(SandboxInfo sandbox)
    {
        RefuseRoot();
        foreach (var mount in sandbox.Mounts.Where(m => m.ReadOnly))
            throw SandboxErrors.NotSupported("FakeChroot", $"read-only binds ({mount}): without namespaces nothing can make a path read-only");
        var farm = Farm(sandbox);
        var image = _images(sandbox.Image);
        _pool.Take(image, farm);
        try
        {
            // A bind is a link from the sandbox path to the host path: the kernel resolves an absolute
            // link target on the host, which is exactly what a bind must do.
            foreach (var mount in sandbox.Mounts)
            {
                var link = Path.Combine(farm, mount.SandboxPath.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(link)!);
                if (Directory.Exists(link) && !Directory.EnumerateFileSystemEntries(link).Any()) Directory.Delete(link);
                File.CreateSymbolicLink(link, mount.HostPath);
            }
            // Before faked first loads its table: the derived layers' owners, and when the copy became the sandbox's (a commit compares with both).
            Images.Layers.FarmBaseline.Record(sandbox, FakedDaemon.Database(sandbox));
            FakedDaemon.Ensure(sandbox, _log);
        }
        finally
        {
            // Once this sandbox is set up (or failed to be), not before: see FarmPool.Take.
            _pool.RefillInBackground(image);
        }
    }

    public ProcessOutcome Run(SandboxInfo sandbox, SandboxCommand command, OutputLines lines,
        CancellationToken cancellation)
    {
        var built = Build(sandbox, command);
        // The plain case needs no chroot in front: the copy's program, started in the copy's root.
        if (!command.Trace && BackendProcess.StartsPrograms
            && FakeChrootDirectStart.ProgramFile(built.Copy, command.Argv, command.WorkingDirectory, built.Environment) is { } program)
        {
            var started = BackendProcess.Run(_log, command.Argv, built.DirectEnvironment(), command, lines, cancellation, program: (program, built.Copy));
            Failures.BackendFailureClassifier.ThrowIfNotStarted(Failures.ProviderFailureTables.FakeChrootDirectStart, started, sandbox.Name, command.Argv[0]);
            return started;
        }
        // The launch helper is static: the preload in its environment reaches only chroot, which it
        // execs. Traced, strace comes before env instead (strace must not run under the preload).
        var (environment, argv) = !command.Trace && BackendProcess.LaunchesThroughHelper(ownPidNamespace: false)
            ? built.WithoutEnv() : (built.Environment, built.CommandLine);
        // -Trace: the calls name host paths under the copy, mapped back; no pid namespace, so host pids.
        var copy = RealPath.Of(Farm(sandbox)) ?? throw SandboxErrors.SandboxNotFound(sandbox.Name);
        var trace = new Tracing.TracePoint(0, CommandPid: null, HostRoot: copy, () => new SandboxRootReader(Farm(sandbox)),
            sandbox.StatePath, copy + (command.WorkingDirectory ?? "/"));
        var outcome = BackendProcess.Run(_log, argv, environment, command, lines, cancellation, tracePoint: trace);
        Failures.BackendFailureClassifier.ThrowIfNotStarted(Failures.ProviderFailureTables.FakeChroot, outcome, sandbox.Name, command.Argv[0]);
        return outcome;
    }

    public int RunInteractive(SandboxInfo sandbox, SandboxCommand command)
    {
        var built = Build(sandbox, command);
        return BackendProcess.RunInteractive(_log, built.CommandLine, built.Environment);
    }

    /// <summary>
    /// Stops the sandbox's faked (waiting for its death, not its reaping: FakedDaemon.Stop). The
    /// engine has killed the sandbox's processes before, so nothing writes into the copy any more;
    /// its deletion of the state folder then moves the whole folder (copy, faked's table,
    /// state.json) to the store's trash in one rename, and the copy's thousands of files are deleted
    /// in the background (StoreTrash).
    /// </summary>
    public void Destroy(SandboxInfo sandbox) => FakedDaemon.Stop(sandbox);

    /// <summary>Daemons a command left behind (setsid, double fork): see FakeChrootProcesses for how they are told.</summary>
    public IReadOnlyList<ProcessIdentity> Stragglers(SandboxInfo sandbox) => FakeChrootProcesses.In(Farm(sandbox));

    /// <summary>The sandbox's own bytes are what it added or modified; the copy of the rest is the image's.</summary>
    public LayerMeasurement Measure(SandboxInfo sandbox)
    {
        // Its copy is compared by path (times) and walked as the store's owner: under sudo the owner
        // could swap it for a link after the walk and have root read a folder of root's.
        RefuseRoot();
        var changes = Changes(sandbox).ToList();
        return new LayerMeasurement(changes.Where(c => c.Kind != SandboxChangeKind.Deleted).Sum(c => c.Size), changes);
    }

    /// <summary>
    /// The copy against the image: added, deleted, and modified (size, mode or time differ). A derived
    /// image is compared as its layers show it (TreeLookupStack), the tree its copy was flattened from.
    /// </summary>
    private static IEnumerable<SandboxChange> Changes(SandboxInfo sandbox)
    {
        var farm = Farm(sandbox);
        var layers = sandbox.LowerLayers.Count > 0 ? sandbox.LowerLayers : new[] { sandbox.ImageRootFs };
        using var image = TreeLookupStack.Open(layers);
        var inFarm = TreeWalker.Walk(farm).ToDictionary(e => e.Relative, e => e.Status);
        foreach (var (relative, status) in inFarm)
        {
            var original = image.Find(relative);
            if (original is not { } found)
                yield return new SandboxChange(sandbox.Name, "/" + relative, SandboxChangeKind.Added, (long)status.Size);
            else if (!status.IsDirectory && !status.IsSymbolicLink && (found.Status.Size != status.Size || found.Status.Mode != status.Mode
                     || File.GetLastWriteTimeUtc(Path.Combine(layers[found.Layer], relative)) != File.GetLastWriteTimeUtc(Path.Combine(farm, relative))))
                yield return new SandboxChange(sandbox.Name, "/" + relative, SandboxChangeKind.Modified, (long)status.Size);
        }
        var inImage = layers.SelectMany(layer => TreeWalker.Walk(layer).Select(e => e.Relative)).Distinct(StringComparer.Ordinal);
        foreach (var relative in inImage.Where(relative => !inFarm.ContainsKey(relative) && image.Status(relative) is not null).ToList())
            yield return new SandboxChange(sandbox.Name, "/" + relative, SandboxChangeKind.Deleted, 0);
    }

    /// <summary>
    /// The command line and environment of one command: the environment the wrapper scripts would
    /// have made (FakeChrootEnvironment), set directly, and the host's chroot under the preload.
    /// </summary>
    private FakeChrootEnvironment Build(SandboxInfo sandbox, SandboxCommand command)
    {
        RefuseRoot();
        var farm = Farm(sandbox);
        var copy = RealPath.Of(farm) ?? throw SandboxErrors.SandboxNotFound(sandbox.Name);
        var account = PasswdFile.For(command, new Storage.SandboxRootReader(farm));
        var daemon = FakedDaemon.Ensure(sandbox, _log);
        return FakeChrootEnvironment.Build(HostTools.Value, CommandEnvironment.Compose(sandbox, command, account.Home),
            command.Argv, command.WorkingDirectory, copy, daemon.Key, account.Uid, account.Gid,
            LinkerFolders.Of(copy), LinkerFolders.ExtraOf(copy), OnHostPath);
    }

    /// <summary>The host tools the command line names, found once per process.</summary>
    private static readonly Lazy<FakeChrootEnvironment.Tools> HostTools = new(() => new FakeChrootEnvironment.Tools(
        ToolLocator.Require("env", "coreutils"), ToolLocator.Require("chroot", "coreutils"),
        FakechrootVersion(ToolLocator.Require("fakechroot", "fakechroot"))));

    /// <summary>The FAKECHROOT_VERSION the installed fakechroot script exports (its own line), read once.</summary>
    internal static string FakechrootVersion(string script)
    {
        foreach (var line in File.ReadLines(script).Take(200))
            if (line.StartsWith("FAKECHROOT_VERSION=", StringComparison.Ordinal))
                return line["FAKECHROOT_VERSION=".Length..].Trim().Trim('"', '\'');
        throw SandboxErrors.ProviderUnavailable("FakeChroot", $"{script} does not say its FAKECHROOT_VERSION.",
            "Reinstall fakechroot: apt-get install --reinstall fakechroot");
    }

    /// <summary>`command -v NAME` with that PATH, on the host: what chroot.env asks of chroot.</summary>
    private static bool OnHostPath(string name, string path) =>
        path.Split(':', StringSplitOptions.RemoveEmptyEntries).Any(folder => File.Exists(Path.Combine(folder, name)));

    /// <summary>FakeChroot is the user's own: as root (under sudo, over the caller's store) nothing of it runs or is read.</summary>
    internal static void RefuseRoot()
    {
        if (UserIdentity.IsRoot)
            throw SandboxErrors.ProviderUnavailable("FakeChroot",
                "it never runs as root: nothing but LD_PRELOAD stands between its commands and the host.",
                "Run it as an unprivileged user, or use -Provider Bubblewrap or Nspawn.");
    }

    private static SandboxProviderInfo ProbeOnce()
    {
        string? reason = null, hint = null;
        if (ToolLocator.Find("fakechroot") is null) (reason, hint) = ("fakechroot is not installed.", "apt-get install fakechroot");
        else if (ToolLocator.Find("faked-sysv") is null) (reason, hint) = ("fakeroot is not installed.", "apt-get install fakeroot");
        else if (UserIdentity.IsRoot)
            (reason, hint) = ("it never runs as root: nothing but LD_PRELOAD stands between its commands and the host.",
                "Run it as an unprivileged user, or use Bubblewrap or Nspawn.");
        return new SandboxProviderInfo
        {
            Name = nameof(ProviderName.FakeChroot),
            Available = reason is null,
            Reason = reason,
            InstallHint = hint,
            NeedsRoot = false,
            Isolation = "none: fakechroot path mapping and fakeroot ownership only (LD_PRELOAD); host /proc, /dev and network",
            IsSecurityBoundary = false,
            CopyOnWrite = "private copy of the image from a pool of ready copies",
        };
    }
}

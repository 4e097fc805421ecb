using Sandbox.Images;
using Sandbox.Images.Layers;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Providers;
using Sandbox.Sandboxes;
using Sandbox.Storage;

namespace Sandbox;

/// <summary>
/// The one entry point the cmdlets, tests and bench use: images, sandboxes and commands in them.
/// Cheap to make (one per cmdlet call is fine); all state lives on disk in the store.
/// </summary>
public sealed class SandboxEngine
{
    private static readonly string[] ShellCandidates = { "/bin/bash", "/bin/sh" };

    private readonly IEngineLog _log;

    internal SandboxEngine(StoreLayout layout, IEngineLog? log = null)
    {
        _log = log ?? NullEngineLog.Instance;
        Layout = layout;
        Images = new ImageStore(layout, _log);
        Sandboxes = new SandboxStore(layout, _log);
        Providers = new ProviderCatalog(_log, layout, name => Images.Get(name));
    }

    /// <summary>An engine over the store this user would get by default (see <see cref="StoreLayout.Resolve"/>).</summary>
    public static SandboxEngine Open(IEngineLog? log = null) => new(StoreLayout.Resolve(), log);

    internal StoreLayout Layout { get; }
    public ImageStore Images { get; }
    internal SandboxStore Sandboxes { get; }
    internal ProviderCatalog Providers { get; }

    public IReadOnlyList<SandboxProviderInfo> GetProviders() => Providers.All.Select(p => p.Probe()).ToList();

    public SandboxInfo CreateSandbox(SandboxCreateOptions options)
    {
        var id = SandboxStore.NewId();
        try
        {
            return CreateSandboxOnce(options, id);
        }
        catch (SandboxException e) when (e.ErrorId == "StoreFull")
        {
            // Removals delete in the background (StoreTrash): in a full store the space a removal of
            // this process just freed may still be on its way back. Once that is done, once more
            // (no lock is held while waiting), after taking back what the failed attempt took.
            var pending = Storage.StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));
            // Best effort: a discard that fails (the store still full) must not hide the StoreFull.
            try { DiscardFailedAttempt(id); }
            catch (Exception discard) when (discard is SandboxException or IOException or UnauthorizedAccessException) { }
            if (!pending) throw;
            return CreateSandboxOnce(options, SandboxStore.NewId());
        }
    }

    /// <summary>
    /// Whatever a creation that failed with StoreFull left of sandbox <paramref name="id"/>: its own
    /// clean-up may have failed for want of room too (under sudo a sandbox that cannot be moved to the
    /// trash is kept whole, name claim and all), and the retry would then meet it as SandboxNameTaken.
    /// Deleted as the attempt's own clean-up would have (its name released with it when its state says
    /// it is that sandbox); a folder without state as a creation that died.
    /// </summary>
    private void DiscardFailedAttempt(string id)
    {
        var folder = Layout.SandboxFolder(id);
        if (!Directory.Exists(folder)) return;
        SandboxInfo? left;
        try { left = Sandboxes.Get(id); }
        catch (SandboxException e) when (e.ErrorId == "SandboxNotFound") { left = null; }
        Sandboxes.Delete(folder, left is not null && left.Id == id ? left : null);
    }

    private SandboxInfo CreateSandboxOnce(SandboxCreateOptions options, string id)
    {
        var image = Images.Get(options.Image);
        if (options.Name is not null) NameRules.RequireValid("sandbox", options.Name);
        foreach (var key in options.Environment.Keys) RequireVariableName(key);
        var provider = Providers.Get(options.Boot && options.Provider == ProviderName.Auto ? ProviderName.Nspawn : options.Provider);
        var network = NetworkFor(provider.Name, options.Network);
        if (options.Boot && provider.Name != ProviderName.Nspawn) throw SandboxErrors.NotSupported(provider.Name.ToString(), "-Boot");
        var mounts = BindPolicy.Vet(Layout, options.Mounts).ToList();
        var writablePaths = ReadOnlyRootPaths(provider.Name, options, mounts);

        var owner = ProcessIdentity.Current;
        SandboxInfo sandbox;
        // The layers lock from reading the image's chain until state.json records it: no collection
        // (a removal or rebuild of the image elsewhere) can take a layer from under the new sandbox.
        using (var layersLock = Images.Layers.Lock())
        {
        image = Images.Get(options.Image);
        sandbox = Sandboxes.Create(new SandboxInfo
        {
            Id = id,
            Name = options.Name ?? $"{image.Name}-{id[..6]}",
            Provider = provider.Name.ToString(),
            Image = image.Name,
            Created = DateTimeOffset.Now,
            OwnerPid = owner.Pid,
            OwnerStartTicks = owner.StartTicks,
            Keep = options.Keep,
            Boot = options.Boot,
            Network = network,
            Mounts = mounts,
            Environment = new Dictionary<string, string>(options.Environment),
            Layers = image.Layers.ToList(),
            UserXattr = true,
            ReadOnlyRoot = options.ReadOnlyRoot,
            WritablePaths = writablePaths,
        });
        }
        try
        {
            // Where running commands are recorded (RunningCommands), with its first slot; made now, so
            // that a command refused before it starts leaves the sandbox exactly as it was.
            StoreSpace.Write(Layout, () => RunningCommands.Prepare(sandbox));
            provider.Create(sandbox);
            // Before any command: each writable path a real folder of the layer, made if missing.
            if (sandbox.ReadOnlyRoot) WritablePathLayer.Prepare(sandbox, OverlayLayer.Of(sandbox));
        }
        catch
        {
            Sandboxes.Delete(sandbox.StatePath, sandbox);
            throw;
        }
        _log.Verbose($"Created {provider.Name} sandbox '{sandbox.Name}' ({sandbox.StatePath}) from image '{image.Name}'.");
        return sandbox;
    }

    public SandboxCommandResult Invoke(SandboxInfo sandbox, SandboxCommand command,
        OutputLines? lines = null, CancellationToken cancellation = default)
    {
        Validate(command);
        RequireBindSources(sandbox);
        var provider = Providers.For(sandbox);
        ProcessOutcome outcome;
        using (QueueBehindRunningCommand(provider, sandbox, cancellation))
        using (RunningCommands.Track(sandbox))
            outcome = provider.Run(sandbox, command, lines ?? OutputLines.None, cancellation);
        // The command ran: its result is returned even when the store is too full to add it to the
        // sandbox's totals (the command itself may well have filled it).
        try { Sandboxes.RecordCommand(sandbox, outcome); }
        catch (SandboxException e) when (e.ErrorId == "StoreFull")
        {
            _log.Warning($"The command's figures were not added to sandbox '{sandbox.Name}': {e.Message}");
        }
        // Ctrl-C: the command's tree is dead; the sandbox stays as the command left it, usable.
        if (outcome.Cancelled) throw new OperationCanceledException("The command was cancelled; its processes were killed.", cancellation);
        return new SandboxCommandResult
        {
            Sandbox = sandbox.Name,
            Command = command.Argv.ToArray(),
            ExitCode = outcome.ExitCode,
            Signal = outcome.Signal is { } signal ? SignalNames.Of(signal) : null,
            TimedOut = outcome.TimedOut,
            StdOut = outcome.StdOut,
            StdErr = outcome.StdErr,
            StdOutBytes = outcome.StdOutBytes ?? Array.Empty<byte>(),
            StdOutLength = outcome.StdOutLength,
            StdErrLength = outcome.StdErrLength,
            StdOutTruncated = outcome.StdOutTruncated,
            StdErrTruncated = outcome.StdErrTruncated,
            OutputCutOff = outcome.StdOutCutOff || outcome.StdErrCutOff || outcome.LeftoverKilled,
            Duration = outcome.Duration,
            UserCpu = outcome.UserCpu,
            SystemCpu = outcome.SystemCpu,
            PeakMemoryBytes = outcome.PeakMemoryBytes,
            Trace = outcome.Trace,
        };
    }

    /// <summary>Runs an interactive shell (or the given command) on the caller's terminal.</summary>
    public int RunShell(SandboxInfo sandbox, SandboxCommand? command = null)
    {
        command ??= new SandboxCommand { Argv = new[] { DefaultShell(sandbox) } };
        Validate(command);
        RequireBindSources(sandbox);
        var provider = Providers.For(sandbox);
        using (QueueBehindRunningCommand(provider, sandbox, CancellationToken.None))
            return provider.RunInteractive(sandbox, command);
    }

    /// <summary>
    /// For a provider whose commands cannot share the sandbox's layer (see
    /// <see cref="ISandboxProvider.CommandsRunConcurrently"/>), the sandbox's command lock: held
    /// until the command ended, by whichever process runs it. A lock file in the state folder goes
    /// with the sandbox. Nothing to hold for the others.
    /// </summary>
    private IDisposable? QueueBehindRunningCommand(ISandboxProvider provider, SandboxInfo sandbox, CancellationToken cancellation)
    {
        if (provider.CommandsRunConcurrently) return null;
        var lockFile = Path.Combine(sandbox.StatePath, "commands.lock");
        if (!Directory.Exists(sandbox.StatePath)) throw SandboxErrors.SandboxNotFound(sandbox.Name);
        var held = FileLock.Acquire(lockFile, cancellation);
        if (Directory.Exists(sandbox.StatePath)) return held;
        held.Dispose(); // removed while this command waited its turn
        throw SandboxErrors.SandboxNotFound(sandbox.Name);
    }

    /// <summary>
    /// The writable paths of a -ReadOnlyRoot sandbox, normalised (see <see cref="WritablePaths"/>);
    /// refused where the provider cannot make a root read-only: FakeChroot has no mounts (a write
    /// reaches the copy's files directly) and a -Boot machine's init needs a writable root.
    /// </summary>
    private static List<string> ReadOnlyRootPaths(ProviderName provider, SandboxCreateOptions options, IReadOnlyList<BindMount> mounts)
    {
        if (!options.ReadOnlyRoot)
            return options.WritablePaths.Count > 0 ? throw SandboxErrors.WritablePathWithoutReadOnlyRoot() : new List<string>();
        if (provider == ProviderName.FakeChroot)
            throw SandboxErrors.ReadOnlyRootUnsupported(provider.ToString(),
                "it is not a security boundary and has no mounts of its own (writes reach the sandbox's copy directly), so nothing can fail with EROFS.");
        if (options.Boot)
            throw SandboxErrors.ReadOnlyRootUnsupported(provider.ToString(), "a booted machine's init (-Boot) needs a writable root.");
        return WritablePaths.Normalise(options.WritablePaths, mounts);
    }

    /// <summary>
    /// The network a new sandbox gets: the one asked for, or the provider's default when none was
    /// (None; Host for FakeChroot, which has no namespace to take the network away and refuses to
    /// pretend it did).
    /// </summary>
    private static NetworkMode NetworkFor(ProviderName provider, NetworkMode? asked)
    {
        if (provider != ProviderName.FakeChroot) return asked ?? NetworkMode.None;
        if (asked == NetworkMode.None) throw SandboxErrors.NetworkIsolationUnsupported(provider.ToString());
        return NetworkMode.Host;
    }

    public IReadOnlyList<SandboxInfo> GetSandboxes() => Sandboxes.List();

    public SandboxInfo GetSandbox(string nameOrId) => Sandboxes.Get(nameOrId);

    /// <summary>
    /// Tears down the sandbox: every process of it still running is killed first, whoever started
    /// it (a command of an owner that was killed, or of another session): the trees of its running
    /// commands' backends, found by the identities they recorded (RunningCommands), and what the
    /// provider knows left those trees (FakeChroot's daemons). Never a process found by text, so a
    /// host `tail -f` of a file in the sandbox is left alone. Then the provider's own teardown (a
    /// booted machine is powered off), then the state folder (a root Bubblewrap overlay goes to the
    /// trash with it, which detaches it: see OverlayUnmountInTrash).
    /// </summary>
    public void RemoveSandbox(SandboxInfo sandbox)
    {
        var provider = Providers.For(sandbox);
        var running = RunningCommands.Of(sandbox).Concat(provider.Stragglers(sandbox)).Distinct().ToList();
        if (running.Count > 0)
        {
            _log.Verbose($"Killing the process trees of {running.Count} process(es) still running in sandbox '{sandbox.Name}': {string.Join(", ", running)}");
            var killed = ProcessTree.KillTrees(running);
            ProcessTree.WaitUntilExited(killed, TimeSpan.FromSeconds(10));
        }
        provider.Destroy(sandbox);
        Sandboxes.Delete(sandbox.StatePath, sandbox);
        _log.Verbose($"Removed sandbox '{sandbox.Name}'.");
    }

    /// <summary>
    /// Removes every sandbox whose owner died (and creations that died half-way): what
    /// Remove-Sandbox -Stale and importing the module do. Returns the names it removed.
    /// </summary>
    public IReadOnlyList<string> ReapOrphans()
    {
        var reaped = new List<string>();
        foreach (var orphan in Sandboxes.List().Where(s => s.Status == SandboxStatus.Orphaned))
        {
            RemoveSandbox(orphan);
            reaped.Add(orphan.Name);
        }
        foreach (var incomplete in Sandboxes.ListIncomplete(olderThan: TimeSpan.FromMinutes(1)))
            if (Sandboxes.Delete(incomplete)) reaped.Add(Path.GetFileName(incomplete));
        Sandboxes.SweepTrash();
        Images.SweepAbandoned(); // staging and trash folders of image builds and removals that died
        CollectLayers();
        return reaped;
    }

    /// <summary>Removes the sandboxes this process made without -Keep: what a normal exit does.</summary>
    public void RemoveSandboxesOfThisProcess()
    {
        var self = ProcessIdentity.Current;
        foreach (var sandbox in Sandboxes.List().Where(s => s.OwnerPid == self.Pid && s.OwnerStartTicks == self.StartTicks && !s.Keep))
            RemoveSandbox(sandbox);
    }

    // ---- Layers (issue 11): a derived image is its parent plus a layer of its own ----

    /// <summary>
    /// Publishes the sandbox's current writes as image <paramref name="imageName"/> = the sandbox's
    /// image (the chain it was made from, whatever the name means now) plus one layer: its upper layer,
    /// copied (the sandbox keeps running) while its command lock is held, in the one layer format
    /// (see <see cref="UpperCopier"/>). <paramref name="parameters"/> are stored as the image's
    /// Parameters: the same name with the same parameters again returns the existing image without
    /// copying; other parameters without <paramref name="force"/> are ImageExists.
    /// </summary>
    public SandboxImage CommitSandbox(string sandboxNameOrId, string imageName, Dictionary<string, string> parameters,
        bool force, CancellationToken cancellation)
    {
        NameRules.RequireValid("image", imageName);
        var sandbox = Sandboxes.Get(sandboxNameOrId);
        var provider = Providers.For(sandbox);
        if (sandbox.Layers.Count == 0)
            throw SandboxErrors.CommitNotSupported(sandbox.Name, $"its image '{sandbox.Image}' was made by an older version (one folder, no layers).");
        var current = Images.TryGet(sandbox.Image);
        var chain = current is not null && current.Id == sandbox.Layers[0] ? current.Chain : new List<string> { sandbox.Image };
        var parent = new ImageStore.ParentChain(sandbox.Image, sandbox.Layers, chain);
        var image = Images.PublishDerived(imageName, parent, parameters, force, cancellation, tree =>
        {
            // Commands of the sandbox wait while its layer is copied (those that share it, Bubblewrap
            // as root, see a snapshot taken while they run).
            using (FileLock.Acquire(Path.Combine(sandbox.StatePath, "commands.lock"), cancellation))
            {
                // FakeChroot has no upper layer: its layer is its private copy's difference from the parent.
                if (provider.Name == ProviderName.FakeChroot) FakeChrootCommit.Copy(sandbox, tree, _log, cancellation);
                else UpperCopier.Copy(OverlayLayer.Of(sandbox).Upper, tree, sandbox.Name, _log, cancellation);
            }
            return "commit";
        });
        CollectLayers();
        _log.Verbose($"Image '{image.Name}' ({image.ShortId}) is '{parent.Name}' plus the layer of sandbox '{sandbox.Name}' ({image.LayerSize} bytes).");
        return image;
    }

    /// <summary>
    /// Removes an image. Refused (ImageInUse, naming them) while derived images or sandboxes stand
    /// on it, unless <paramref name="force"/>, which removes those first. Returns what else it
    /// removed, one line each. Layers nothing references any more are then deleted.
    /// </summary>
    public IReadOnlyList<string> RemoveImage(string name, bool force)
    {
        var image = Images.TryGet(NameRules.RequireValid("image", name)) ?? throw SandboxErrors.ImageNotFound(name);
        // Derived: the image's top layer lies below another image's own. An image whose top layer is
        // the same (an identical import) is not derived from it: it keeps the shared layer alive.
        var derived = image.Id.Length == 0 ? new List<SandboxImage>()
            : Images.List().Where(other => other.Name != name && other.Layers.Skip(1).Contains(image.Id)).ToList();
        var users = Sandboxes.List().Where(s => s.Image == name || derived.Any(d => d.Name == s.Image)
                                               || (image.Id.Length > 0 && s.Layers.Skip(1).Contains(image.Id))).ToList();
        if ((users.Count > 0 || derived.Count > 0) && !force)
            throw SandboxErrors.ImageInUse(name, derived.Select(d => d.Name).ToList(), users.Select(s => s.Name).ToList());
        var removed = new List<string>();
        foreach (var sandbox in users)
        {
            RemoveSandbox(sandbox);
            removed.Add($"sandbox '{sandbox.Name}' (made from image '{sandbox.Image}')");
        }
        foreach (var other in derived)
        {
            Images.Remove(other.Name);
            removed.Add($"image '{other.Name}' (derived from '{name}')");
        }
        Images.Remove(name);
        CollectLayers();
        return removed;
    }

    // ---- Derived images (issue 11): New-SandboxImage -From -Run/-Script ----

    /// <summary>
    /// Image <c>step.Name</c> = image <c>step.From</c> plus what the step writes when run in a fresh
    /// sandbox of it (see <see cref="Images.Derive.ImageDeriver"/>). Cached by
    /// <see cref="Images.Derive.DeriveCacheKey"/>: the same parent content and step again return the
    /// existing image without creating a sandbox; another step or a rebuilt parent replaces it.
    /// </summary>
    public SandboxImage DeriveImage(Images.Derive.DeriveStep step, CancellationToken cancellation = default)
    {
        foreach (var key in step.Environment.Keys) RequireVariableName(key);
        return new Images.Derive.ImageDeriver(this, _log).Derive(step, cancellation);
    }

    /// <summary>Deletes the layers no image and no sandbox references (under the layers lock, which publishing and creating hold too).</summary>
    internal IReadOnlyList<string> CollectLayers()
    {
        using var layersLock = Images.Layers.Lock();
        var referenced = Images.List().SelectMany(i => i.Layers).Concat(Sandboxes.List().SelectMany(s => s.Layers)).ToHashSet();
        return Images.Layers.Collect(referenced);
    }

    public SandboxStat GetStat(SandboxInfo sandbox)
    {
        var current = Sandboxes.Get(sandbox.Id); // totals change with every command
        var layer = Providers.For(current).Measure(current);
        var changes = layer.Changes;
        return new SandboxStat
        {
            Sandbox = current.Name,
            Provider = current.Provider,
            Image = current.Image,
            Created = current.Created,
            CommandsRun = current.CommandsRun,
            UserCpu = current.UserCpu,
            SystemCpu = current.SystemCpu,
            PeakMemoryBytes = current.PeakMemoryBytes,
            DiskBytes = layer.Bytes,
            FilesAdded = changes.Count(c => c.Kind == SandboxChangeKind.Added),
            FilesModified = changes.Count(c => c.Kind == SandboxChangeKind.Modified),
            FilesDeleted = changes.Count(c => c.Kind == SandboxChangeKind.Deleted),
        };
    }

    public SandboxItemCopier Items => new(this, _log);

    public IEnumerable<SandboxChange> GetChanges(SandboxInfo sandbox) => Providers.For(sandbox).Measure(sandbox).Changes;

    private static void Validate(SandboxCommand command)
    {
        if (command.Argv.Count == 0 || string.IsNullOrEmpty(command.Argv[0])) throw SandboxErrors.EmptyCommand();
        foreach (var key in command.Environment.Keys) RequireVariableName(key);
        if (command.WorkingDirectory is { } folder && (!folder.StartsWith('/') || folder.Split('/').Contains("..")))
            throw SandboxErrors.InvalidPath("-WorkingDirectory", folder, "it must be an absolute path inside the sandbox.");
        SandboxErrors.RequireSupervisableTimeout(command.Timeout);
    }

    /// <summary>A bound host folder that vanished after creation makes the sandbox unusable, not the command.</summary>
    private static void RequireBindSources(SandboxInfo sandbox)
    {
        // A writable path is bound from a host-side path too: it must still be a real folder (-ReadOnlyRoot).
        if (sandbox.ReadOnlyRoot) WritablePathLayer.Check(sandbox, OverlayLayer.Of(sandbox));
        foreach (var mount in sandbox.Mounts.Where(m => !File.Exists(m.HostPath) && !Directory.Exists(m.HostPath)))
            throw SandboxErrors.SetupFailed(sandbox.Provider, sandbox.Name, $"the bound host path {mount.HostPath} no longer exists.");
        BindPolicy.RequireUnchangedSources(sandbox);
    }

    private static void RequireVariableName(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            throw SandboxErrors.InvalidEnvironment(name);
    }

    private static string DefaultShell(SandboxInfo sandbox)
    {
        var layer = OverlayLayer.Of(sandbox);
        // A layer its owner's own mode closes (rootless, after chmod 000 / in the sandbox) still lets the
        // sandbox be entered: the shell is then the one every image has, as when none is found.
        try { return ShellCandidates.FirstOrDefault(shell => layer.Reader.IsFile(shell)) ?? "/bin/sh"; }
        catch (SandboxException unreadable) when (unreadable.ErrorId == "LayerFolderUnreadable") { return "/bin/sh"; }
    }
}

using System.Text.RegularExpressions;
using Sandbox.Images.Packages;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Images;

/// <summary>
/// Builds a Debian root filesystem with mmdebstrap when it is installed (faster, and rootless with
/// --mode=unshare), else with debootstrap (root only). Turns the builder's output into progress.
/// </summary>
internal static partial class DebianBuilder
{
    /// <summary>
    /// Tests only: "debootstrap" builds with debootstrap where mmdebstrap is installed too, so one host
    /// runs both builders (EngineHost sets it from ENGINEHOST_BUILDER). Null: the usual choice.
    /// </summary>
    internal static string? OnlyBuilder { get; set; }

    /// <param name="staging">The image's staging folder; <paramref name="targetRootFs"/> is a new folder in it, by its <see cref="Storage.HeldStagingFolder.Path"/>.</param>
    /// <param name="storeRoot">The store whose package cache (<see cref="PackageCache"/>) the build uses.</param>
    public static string Build(string imageName, ImageBuildOptions options, Storage.HeldStagingFolder staging, string targetRootFs, string storeRoot,
        IEngineLog log, CancellationToken cancellation)
    {
        var mmdebstrap = OnlyBuilder is null or "mmdebstrap" ? ToolLocator.Find("mmdebstrap") : null;
        var debootstrap = ToolLocator.Find("debootstrap");
        if (mmdebstrap is null && debootstrap is null)
            throw SandboxErrors.ToolNotInstalled("mmdebstrap", "mmdebstrap (or debootstrap)");
        if (mmdebstrap is null && !UserIdentity.IsRoot)
            throw SandboxErrors.ToolNotInstalled("mmdebstrap", "mmdebstrap (debootstrap needs root)");
        // As root the builder runs in a namespace of its own, where the staging folder has a path of root's;
        // rootless (mmdebstrap --mode=unshare in the user's own store) it gets the store's paths as before.
        using var place = UserIdentity.IsRoot ? BuildNamespace.Of(staging) : null;
        if (place is not null && BuildMemory.Reserve() is { } memory)
        {
            // The builder's target, empty, for the launcher to mount the tmpfs on (the builders take an empty folder).
            Directory.CreateDirectory(targetRootFs, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            place.UseMemory(targetRootFs, memory);
        }

        // -Mode fakechroot builds run mmdebstrap's hooks under fakechroot, where the special hooks' tar
        // resolves links inside the chroot: not yet tried with the cache, so they build as before.
        if (mmdebstrap is not null && options.Mode == "fakechroot")
            return RunMmdebstrap(mmdebstrap, imageName, options, targetRootFs, null, place, log, cancellation);

        // The build's own folders for the package cache sit in the image's staging folder, so a build
        // that dies leaves nothing of them that the sweep of abandoned staging folders would not remove.
        var cache = PackageCache.For(storeRoot, options);
        cache.EnsureCreated();
        var seed = Path.Combine(staging.Path, "package-seed");
        var incoming = Path.Combine(staging.Path, "package-incoming");
        var lists = Path.Combine(staging.Path, "package-lists");
        try
        {
            var offered = cache.Seed(seed, log);
            Directory.CreateDirectory(incoming, Storage.PrivateFiles.FolderMode);
            Directory.CreateDirectory(lists, Storage.PrivateFiles.FolderMode);
            var builder = mmdebstrap is not null
                ? RunMmdebstrap(mmdebstrap, imageName, options, targetRootFs, (seed, incoming, lists), place, log, cancellation)
                : RunDebootstrap(debootstrap!, imageName, options, targetRootFs, incoming, seed, place, log, cancellation);
            // mmdebstrap's downloads sat in the chroot, within reach of its maintainer scripts: each is
            // checked against the signed index. debootstrap checked its own, in a folder the chroot cannot reach.
            var (downloaded, unlisted) = cache.Absorb(incoming, offered,
                () => mmdebstrap is not null ? PackageIndex.FromLists(lists, options.Suite, log) : null);
            if (unlisted > 0)
                log.Verbose($"Package cache: {unlisted} file(s) the build left in its archives are not what the signed index names; not kept.");
            var installed = InstalledIn(targetRootFs);
            cache.PruneSuperseded(installed);
            ReportCacheUse(log, cache, offered, downloaded, installed);
            return builder;
        }
        finally
        {
            foreach (var folder in new[] { seed, incoming, lists })
                if (Directory.Exists(folder)) Storage.SafeTreeRemover.Remove(folder, staging.Path);
        }
    }

    private static string RunMmdebstrap(string mmdebstrap, string imageName, ImageBuildOptions options, string targetRootFs,
        (string Seed, string Incoming, string Lists)? cache, BuildNamespace? place, IEngineLog log, CancellationToken cancellation)
    {
        // Rootless, mmdebstrap --mode=unshare maps the image's root onto a subordinate id, not onto
        // the user as our sandboxes do; so it writes a tarball, unpacked in our own namespace.
        var tarball = UserIdentity.IsRoot || options.Mode == "fakechroot" ? null : targetRootFs + ".tar";
        var argv = MmdebstrapArgv(mmdebstrap, options, ForBuilder(place, tarball ?? targetRootFs));
        if (cache is { } folders)
        {
            argv.InsertRange(1, MmdebstrapCacheOptions.For(ForBuilder(place, folders.Seed), ForBuilder(place, folders.Incoming), ForBuilder(place, folders.Lists)));
            argv.InsertRange(1, MmdebstrapCacheOptions.EatMyData());
        }
        var activity = $"Building image with mmdebstrap ({options.Suite})";
        Run(imageName, "mmdebstrap", activity, argv, place, log, cancellation);
        // mmdebstrap resolves its target to a real path (abs_path), which it wrote as the links' prefix: in
        // the build's namespace the mount point's path (no link on it), rootless the store's real path.
        if (options.Mode == "fakechroot")
            Providers.AbsoluteSymlinks.StripBuildRoot(targetRootFs,
                place?.BuilderPath(targetRootFs) ?? RealPath.Of(targetRootFs) ?? Path.GetFullPath(targetRootFs));
        if (tarball is not null)
        {
            log.Progress(activity, "extracting the image as the user's namespace root", 95);
            RootFsImporter.Import(imageName, tarball, targetRootFs, log, cancellation);
            File.Delete(tarball);
        }
        log.Progress(activity, "done", 100);
        return "mmdebstrap";
    }

    /// <summary>
    /// debootstrap (root only) checks every package in --cache-dir against the suite's signed index
    /// itself, and writes its downloads there: it gets a private copy of what the cache offers (never
    /// the pool's own files, which it would overwrite in place), and its new files are taken in afterwards.
    /// </summary>
    private static string RunDebootstrap(string debootstrap, string imageName, ImageBuildOptions options, string targetRootFs,
        string incoming, string seed, BuildNamespace? place, IEngineLog log, CancellationToken cancellation)
    {
        foreach (var offered in Directory.EnumerateFiles(seed))
            File.Copy(offered, Path.Combine(incoming, Path.GetFileName(offered)));
        var argv = DebootstrapArgv(debootstrap, options, ForBuilder(place, targetRootFs));
        argv.Insert(1, $"--cache-dir={ForBuilder(place, incoming)}");
        var activity = $"Building image with debootstrap ({options.Suite})";
        Run(imageName, "debootstrap", activity, argv, place, log, cancellation);
        log.Progress(activity, "done", 100);
        return "debootstrap";
    }

    /// <summary>The path the builder is given for <paramref name="enginePath"/>: the same place in its namespace, if it has one.</summary>
    private static string ForBuilder(BuildNamespace? place, string enginePath) => place?.BuilderPath(enginePath) ?? enginePath;

    private static void Run(string imageName, string builder, string activity, List<string> argv, BuildNamespace? place, IEngineLog log, CancellationToken cancellation)
    {
        log.Progress(activity, "resolving", 0);
        void Report(string line) => ReportStage(log, activity, line);
        var outcome = Launch(argv, place, Report, log, cancellation, out var fallback);
        // The memory goes back as soon as the builder is done with it (another build may use it meanwhile).
        place?.LeaveMemory();
        if (fallback is not null)
        {
            // Nothing is on the disk: the launcher copies a tree out of memory only once the builder succeeded, and empties the target if that copy fails.
            log.Verbose($"The build could not stay in memory ({fallback}); building again on the disk.");
            outcome = Launch(argv, place, Report, log, cancellation, out _);
        }
        if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
        if (outcome.ExitCode != 0)
            throw SandboxErrors.ImageBuildFailed(imageName, builder, outcome.ExitCode, outcome.StdErr + outcome.StdOut);
    }

    /// <summary>
    /// One run of the builder (behind the build's launcher as root); <paramref name="fallback"/>: why a
    /// build in memory must run again on the disk (the launcher's report, or an ENOSPC of the builder's), else null.
    /// </summary>
    private static ProcessOutcome Launch(List<string> argv, BuildNamespace? place, Action<string> onLine, IEngineLog log,
        CancellationToken cancellation, out string? fallback)
    {
        (IReadOnlyList<string> launch, PassedDescriptors? passed) = place is null ? (argv, null) : place.Launch(argv);
        string? reported = null;
        var noSpace = false;
        var outcome = HostCommand.Run(log, launch, line =>
        {
            if (BuildMemory.IsFallbackReport(line)) reported = line[BuildMemory.FallbackMarker.Length..].Trim();
            noSpace |= BuildMemory.IsNoSpace(line);
            onLine(line);
        }, cancellation, passed: passed);
        fallback = place?.InMemory is null ? null : BuildMemory.FallbackReason(outcome.ExitCode, outcome.Cancelled, reported, noSpace);
        return outcome;
    }

    /// <summary>apt's archive names of what the new tree's dpkg says is installed (none if it has no status file).</summary>
    private static HashSet<string> InstalledIn(string rootFs)
    {
        var status = Path.Combine(rootFs, "var", "lib", "dpkg", "status");
        return FileStatus.Of(status) is { IsRegularFile: true }
            ? InstalledPackages.ArchiveNames(File.ReadAllText(status))
            : new HashSet<string>(StringComparer.Ordinal);
    }

    /// <summary>"312 packages from the cache, 4 downloaded": the installed packages the cache offered, and the new files it took in.</summary>
    private static void ReportCacheUse(IEngineLog log, PackageCache cache, IReadOnlySet<string> offered,
        IReadOnlyCollection<string> downloaded, IReadOnlySet<string> installed)
    {
        var fromCache = installed.Count(offered.Contains);
        // A handful of new files are worth naming (the one package -Include added, say); a cold cache's are not.
        var named = downloaded.Count is > 0 and <= 12 ? ": " + string.Join(", ", downloaded.Order(StringComparer.Ordinal)) : "";
        log.Verbose($"Package cache: {fromCache} packages from the cache, {downloaded.Count} downloaded{named} ({cache.Folder}).");
    }

    private static List<string> MmdebstrapArgv(string tool, ImageBuildOptions o, string target)
    {
        var argv = new List<string> { tool, $"--variant={o.Variant}" };
        if (o.Mode is { Length: > 0 } mode) argv.Add($"--mode={mode}");
        else if (!UserIdentity.IsRoot) argv.Add("--mode=unshare");
        if (o.Include.Count > 0) argv.Add($"--include={string.Join(',', o.Include)}");
        if (o.Components.Count > 0) argv.Add($"--components={string.Join(',', o.Components)}");
        if (o.Architecture is { } arch) argv.Add($"--architectures={arch}");
        argv.Add(o.Suite);
        argv.Add(target);
        if (o.Mirror is { } mirror) argv.Add(mirror);
        return argv;
    }

    private static List<string> DebootstrapArgv(string tool, ImageBuildOptions o, string target)
    {
        var argv = new List<string> { tool, $"--variant={o.Variant}" };
        if (o.Include.Count > 0) argv.Add($"--include={string.Join(',', o.Include)}");
        if (o.Components.Count > 0) argv.Add($"--components={string.Join(',', o.Components)}");
        if (o.Architecture is { } arch) argv.Add($"--arch={arch}");
        argv.Add(o.Suite);
        argv.Add(target);
        if (o.Mirror is { } mirror) argv.Add(mirror);
        return argv;
    }

    [GeneratedRegex(@"^I: (Retrieving|Validating|Resolving|Found|Checking|Extracting|Installing|Unpacking|Configuring|Base system installed|Chosen|Downloading|extracting|installing|running|downloading|Retrieving)", RegexOptions.IgnoreCase)]
    private static partial Regex StageLine();

    /// <summary>Both builders print "I: ..." lines; the stage word is the progress status.</summary>
    private static void ReportStage(IEngineLog log, string activity, string line)
    {
        var match = StageLine().Match(line);
        if (!match.Success) return;
        var stage = match.Groups[1].Value.ToLowerInvariant() switch
        {
            "retrieving" or "downloading" or "validating" => ("downloading", 30),
            "extracting" => ("extracting", 50),
            "installing" or "unpacking" => ("installing", 70),
            "configuring" or "running" => ("configuring", 85),
            _ => ("resolving", 10),
        };
        log.Progress(activity, $"{stage.Item1}: {line[3..]}", stage.Item2);
    }
}

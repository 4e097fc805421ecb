using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Namespaces;
using Sandbox.Processes;
using Sandbox.Providers;

namespace Sandbox.Images.Layers;

/// <summary>
/// Publishes a FakeChroot sandbox's writes as a layer in the one layer format, the same a rootless
/// Bubblewrap commit of the same step makes: what differs from the parent (<see
/// cref="FakeChrootLayerPlan"/>) copied from the sandbox's private copy tar to tar (nothing
/// followed: links stay links, FIFOs are entries and never read, sparse files stay sparse, each tar
/// dies with the engine), with the owners and modes the sandbox's commands see (faked's table)
/// given by tar's --owner/--group/--mode per group of equal ones, inside a user namespace with the
/// sandboxes' id mapping, so a file the step chowned to 1234 is the user's subordinate id 1234 on
/// disk, as a rootless overlay upper holds it. Whiteouts (0/0 character devices, which the kernel
/// lets any user make) and opaque markers are made first in the staging tree; the tar then gives
/// their folders their facts. Setuid and setgid bits are kept as faked records them: the files are
/// owned by root inside (the user) or subordinate ids, in the 0700 store, as any rootless layer's.
/// fakechroot writes absolute link targets with the copy's host path in front: they are written
/// back as the absolute paths the step gave.
/// <para>The sandbox keeps running while it is committed, and a process a step left behind may swap
/// a folder of the copy for a link between the plan and the copy (to make the layer take a host
/// file). Nothing of the copy is reached through a link: the tar reads a bind of the copy mounted
/// <c>nosymfollow</c> in its private mount namespace (any link met on the way is ELOOP, a link
/// itself is still archived as a link), so such a swap fails the commit; the host-path targets are
/// read beneath the copy with openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS.</para>
/// </summary>
internal static partial class FakeChrootCommit
{
    // $1 farm, $2 tree, $3 work folder (groups: "uid gid mode|- list" per line; links: NUL records uid, gid, target, path).
    // --owner=NAME:UID: tar 1.34 takes "+UID" as a name to look up, not as a number.
    // The copy is read through $work/view, a bind of it where no link is followed (see the summary).
    private const string Script =
        "work=\"$3\"; dst=\"$2\"; farm=\"$work/view\"; " +
        "mkdir -m 0700 -- \"$farm\" && mount --bind -o nosymfollow -- \"$1\" \"$farm\" || exit 1; " +
        "if [ -s \"$work/groups\" ]; then { while read -r uid gid mode list; do " +
        "if [ \"$mode\" = - ]; then set --; else set -- \"--mode=$mode\"; fi; " +
        "$DIE tar -C \"$farm\" --create --file - --no-recursion --null --verbatim-files-from --files-from \"$work/$list\" --sparse " +
        "--numeric-owner --owner=\"sandbox:$uid\" --group=\"sandbox:$gid\" \"$@\" --xattrs --xattrs-include='*' --xattrs-exclude='user.overlay.*' --acls || exit 1; " +
        "done < \"$work/groups\"; } | " +
        "$DIE tar -C \"$dst\" --extract --file - --ignore-zeros --numeric-owner --same-owner --preserve-permissions " +
        "--xattrs --xattrs-include='*' --xattrs-exclude='user.overlay.*' --acls || exit 1; fi; " +
        "while IFS= read -r -d '' uid && IFS= read -r -d '' gid && IFS= read -r -d '' target && IFS= read -r -d '' path; do " +
        "$DIE ln -s -- \"$target\" \"$dst/$path\" && $DIE chown -h \"$uid:$gid\" -- \"$dst/$path\" || exit 1; " +
        "done < \"$work/links\"";

    private const uint Link = 0xA000;

    public static void Copy(SandboxInfo sandbox, string tree, IEngineLog log, CancellationToken cancellation)
    {
        // Root binds the copy by path (mount --bind "$1"): under sudo the store's owner could swap it for a link.
        Providers.FakeChrootProvider.RefuseRoot();
        if (!UserNamespaces.Available) throw SandboxErrors.CommitNeedsUserNamespaces(sandbox.Name, "this user cannot create user namespaces here.");
        var takenAt = FarmBaseline.TakenAt(sandbox)
            ?? throw SandboxErrors.CommitNotSupported(sandbox.Name, "it was created by an older version, which did not record when its copy was taken; create a new sandbox.");
        var farm = FakeChrootProvider.Farm(sandbox);
        var folders = FarmFolders.Read(farm, sandbox.Name)
            ?? throw SandboxErrors.CommitNotSupported(sandbox.Name, "it was created by an older version, which did not record its copy's folders; create a new sandbox.");
        var activity = $"Committing sandbox {sandbox.Name}";
        log.Progress(activity, "reading the owners its commands set", 5);
        var faked = FakedTable.Read(FakedDaemon.SaveTable(sandbox, log, cancellation), sandbox.Name);
        var layers = sandbox.LowerLayers.Count > 0 ? sandbox.LowerLayers : new[] { sandbox.ImageRootFs };
        log.Progress(activity, "comparing its copy with the image", 10);
        var plan = FakeChrootLayerPlan.Make(sandbox.Name, farm, layers, takenAt, folders, faked, RootlessOwners.Current(),
            sandbox.Mounts.Select(m => m.SandboxPath.Trim('/')).ToHashSet(StringComparer.Ordinal));
        cancellation.ThrowIfCancellationRequested();
        log.Verbose($"Sandbox '{sandbox.Name}': {plan.Entries.Count} entries, {plan.Whiteouts.Count} deletions and {plan.OpaqueFolders.Count} replaced folders in its layer.");
        CopyPlanned(sandbox.Name, farm, plan, tree, activity, log, cancellation);
    }

    /// <summary>Makes the layer <paramref name="plan"/> describes in <paramref name="tree"/> from the copy <paramref name="farm"/>.</summary>
    internal static void CopyPlanned(string sandbox, string farm, FakeChrootLayerPlan plan, string tree, string activity,
        IEngineLog log, CancellationToken cancellation)
    {
        var work = Path.Combine(Path.GetDirectoryName(tree)!, "fakechroot-commit");
        try
        {
            // The layer's root as an overlay upper's (and UpperCopier's mkdir -m 0755), whatever the umask.
            Directory.CreateDirectory(tree);
            File.SetUnixFileMode(tree, (UnixFileMode)0b111_101_101);
            Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            MakeMarkers(tree, plan);
            WriteLists(work, plan, Native.RealPath.Of(farm) ?? throw SandboxErrors.SandboxNotFound(sandbox));
            log.Progress(activity, "copying its layer", 20);
            var argv = AbandonedFolders.DieWithUs().ToList();
            argv.AddRange(MountNamespace.UnsharePrefix());
            argv.AddRange(new[] { ToolLocator.Require("bash", "bash"), "-o", "pipefail", "-c", AbandonedFolders.WithDieVariable(Script), "sandbox-commit", farm, tree, work });
            var outcome = HostCommand.Run(log, argv, cancellation: cancellation);
            if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
            // ELOOP from the view: a link on the way to a planned entry, which the plan never makes (its walk enters no link).
            if (outcome.ExitCode != 0 && outcome.StdErr.Contains("Too many levels of symbolic links", StringComparison.Ordinal))
                throw SandboxErrors.CommitCopyChanged(sandbox, outcome.StdErr.Split('\n').First(line => line.Contains("Too many levels", StringComparison.Ordinal)));
            if (outcome.ExitCode != 0) throw SandboxErrors.LayerCopyFailed(sandbox, outcome.ExitCode ?? -1, outcome.StdErr);
            log.Progress(activity, "copied", 60);
        }
        finally
        {
            // Never part of the layer: the staging folder is published whole. The view's mount went
            // with the tar's mount namespace: what is left is an empty folder.
            // The view alone first: were it still the copy's mount, rmdir fails and nothing of the copy is deleted.
            var view = Path.Combine(work, "view");
            if (Directory.Exists(view)) Directory.Delete(view);
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Whiteouts and opaque markers, made by the user before the tar gives their folders their facts.</summary>
    private static void MakeMarkers(string tree, FakeChrootLayerPlan plan)
    {
        var y = "y"u8.ToArray();
        foreach (var folder in plan.OpaqueFolders)
        {
            var path = Path.Combine(tree, folder);
            Directory.CreateDirectory(path);
            if (OverlayMarkers.lsetxattr(path, OverlayMarkers.Opaque, y, (nuint)y.Length, 0) != 0)
                throw new IOException($"marking {path} opaque: {Native.LibC.ErrorText(Marshal.GetLastPInvokeError())}");
        }
        foreach (var deleted in plan.Whiteouts)
        {
            var path = Path.Combine(tree, deleted);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            // A 0/0 character device: the one device node an unprivileged user may make (Linux 5.8).
            if (mknod(path, CharDevice, 0) != 0)
                throw new IOException($"making the whiteout {path}: {Native.LibC.ErrorText(Marshal.GetLastPInvokeError())}");
        }
    }

    /// <summary>
    /// The tar's lists, one per owner and mode (most entries share root's and their own mode), and the
    /// links whose target fakechroot wrote with the copy's host path in front, which are made apart.
    /// </summary>
    private static void WriteLists(string work, FakeChrootLayerPlan plan, string farmRealPath)
    {
        var groups = new Dictionary<(long Uid, long Gid, string Mode), StringBuilder>();
        var links = new StringBuilder();
        using var copy = BeneathCopy.Open(farmRealPath);
        foreach (var entry in plan.Entries)
        {
            if (entry.Type == Link && HostTarget(farmRealPath, copy.LinkTarget(entry.Relative)) is { } target)
            {
                links.Append(CultureInfo.InvariantCulture, $"{entry.Uid}\0{entry.Gid}\0{target}\0{entry.Relative}\0");
                continue;
            }
            var mode = entry.PermissionsDiffer ? Convert.ToString(entry.Permissions, 8).PadLeft(4, '0') : "-";
            var key = (entry.Uid, entry.Gid, mode);
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = new StringBuilder();
            list.Append(entry.Relative).Append('\0');
        }
        var index = new StringBuilder();
        var number = 0;
        foreach (var ((uid, gid, mode), list) in groups)
        {
            var name = $"list{number++}";
            File.WriteAllText(Path.Combine(work, name), list.ToString());
            index.Append(CultureInfo.InvariantCulture, $"{uid} {gid} {mode} {name}\n");
        }
        File.WriteAllText(Path.Combine(work, "groups"), index.ToString());
        File.WriteAllText(Path.Combine(work, "links"), links.ToString());
    }

    /// <summary>The link's target as the step gave it when fakechroot put the copy's host path in front, else null (kept as it is).</summary>
    private static string? HostTarget(string farmRealPath, string? target)
    {
        if (target is null) return null;
        if (target == farmRealPath) return "/";
        return target.StartsWith(farmRealPath + "/", StringComparison.Ordinal) ? target[farmRealPath.Length..] : null;
    }

    private const uint CharDevice = 0x2000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknod(string path, uint mode, ulong dev);
}

using Sandbox.Native;
using Sandbox.Providers;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A removal leaves a root Bubblewrap sandbox's own overlay mounted for the trash to detach in the
/// background (an overlay's detach waits for an RCU grace period: most of a Remove-Sandbox), and only
/// that: any other mount below the state folder is undone by the removal itself, so a refusal still
/// reaches the caller. Real overlay and tmpfs mounts in a temporary folder.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class OverlayUnmountInTrashTests
{
    [SkippableFact]
    public void A_state_folder_with_nothing_mounted_or_only_its_own_overlay_leaves_the_unmount_to_the_trash()
    {
        Skip.If(Environment.UserName != "root", "mounting needs root; run the tests as root (CI does).");
        using var scratch = new StateFolderMounts();

        Assert.True(OverlayUnmountInTrash.Applies(scratch.State));
        scratch.MountOwnOverlay();
        Assert.True(OverlayUnmountInTrash.Applies(scratch.State));
    }

    [SkippableFact]
    public void Any_other_mount_below_the_state_folder_is_undone_by_the_removal_itself()
    {
        Skip.If(Environment.UserName != "root", "mounting needs root; run the tests as root (CI does).");
        using (var bindBesideOverlay = new StateFolderMounts())
        {
            bindBesideOverlay.MountOwnOverlay();
            bindBesideOverlay.Tmpfs("upper/mnt", "host-bind");
            Assert.False(OverlayUnmountInTrash.Applies(bindBesideOverlay.State));
        }
        using (var impostor = new StateFolderMounts())
        {
            // Our source, but not an overlay: not ours.
            impostor.Tmpfs("merged", OverlayMount.Source);
            Assert.False(OverlayUnmountInTrash.Applies(impostor.State));
        }
        using (var elsewhere = new StateFolderMounts())
        {
            // An overlay of ours, but not at merged/.
            elsewhere.MountOwnOverlay("other");
            Assert.False(OverlayUnmountInTrash.Applies(elsewhere.State));
        }
    }

    /// <summary>A state folder (lower, upper, work, merged) in a temporary folder whose mounts are all detached on disposal.</summary>
    private sealed class StateFolderMounts : IDisposable
    {
        private readonly TemporaryFolder _folder = new("overlay-in-trash");

        public StateFolderMounts()
        {
            foreach (var sub in new[] { "lower", "upper", "work", "merged", "other" }) Directory.CreateDirectory(Path.Combine(State, sub));
        }

        public string State => Path.Combine(_folder.Path, "state");

        public void MountOwnOverlay(string at = "merged")
        {
            var error = OverlayMount.Mount(new[] { Path.Combine(State, "lower") }, Path.Combine(State, "upper"), Path.Combine(State, "work"),
                userXattr: true, Path.Combine(State, at));
            Assert.Null(error);
        }

        public void Tmpfs(string at, string source)
        {
            Directory.CreateDirectory(Path.Combine(State, at));
            RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=1m", source, Path.Combine(State, at));
        }

        public void Dispose()
        {
            try
            {
                for (var pass = 0; pass < 100 && MountTable.Under(MountTable.Read(), _folder.Path) is { Count: > 0 } left; pass++)
                    foreach (var entry in left) LibC.umount2(entry.Point, LibC.MNT_DETACH);
            }
            finally { _folder.Dispose(); }
        }
    }
}

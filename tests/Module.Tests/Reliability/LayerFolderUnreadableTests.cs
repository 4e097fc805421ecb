using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Rootless, the engine reads a sandbox's layers with the owner's own permissions, and the owner (or
/// the sandbox, whose root is the owner: chmod 000 / inside changes upper/'s mode) can make a layer
/// folder unreadable. Its O_PATH open still succeeded, every lookup and listing from it then failed
/// with EACCES, and that read as an empty layer: Get-SandboxStat -Changes reported no changes, or every
/// file as added when the image's layer was the unreadable one. A layer that is there but cannot be read
/// is now LayerFolderUnreadable; a missing one still reads as empty. The engine is a real EngineHost as the
/// unprivileged test user over its own store; the chmod is made as that user.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class LayerFolderUnreadableTests
{
    [SkippableFact]
    public void Changes_of_a_sandbox_whose_upper_folder_its_owner_cannot_read_fail_instead_of_listing_none()
    {
        using var owner = Owner(out var sandbox);
        var upper = Path.Combine(((ISandboxHarness)owner).StateFolder(sandbox), "upper");
        Assert.Contains(owner.Changes(sandbox), change => change.Path == "/made-here");

        using (Unreadable(upper))
        {
            IReadOnlyList<SandboxChange>? changes = null;
            var error = Record.Exception(() => changes = owner.Changes(sandbox));

            Assert.True(error is not null, $"an unreadable upper/ read as these changes: [{string.Join(", ", changes?.Select(c => c.Path) ?? Enumerable.Empty<string>())}]");
            Assert.Equal("LayerFolderUnreadable", Assert.IsType<SandboxException>(error).ErrorId);
            Assert.Contains(upper, error.Message);
            Assert.Contains("Permission denied", error.Message);
        }
        Assert.Contains(owner.Changes(sandbox), change => change.Path == "/made-here");
    }

    [SkippableFact]
    public void Changes_over_an_image_layer_its_owner_cannot_read_fail_instead_of_calling_every_file_added()
    {
        using var owner = Owner(out var sandbox);
        var layer = ((ISandboxHarness)owner).ImageRootFs(HarnessFixture.ImageName);

        using (Unreadable(layer))
        {
            IReadOnlyList<SandboxChange>? changes = null;
            var error = Record.Exception(() => changes = owner.Changes(sandbox));

            Assert.True(error is not null, $"an unreadable image layer read as empty, changes: [{string.Join(", ", changes?.Select(c => $"{c.Kind} {c.Path}") ?? Enumerable.Empty<string>())}]");
            Assert.Equal("LayerFolderUnreadable", Assert.IsType<SandboxException>(error).ErrorId);
            Assert.Contains(layer, error.Message);
        }
        // Readable again: /tmp (made in upper/ at creation, in the image too) is no addition.
        Assert.DoesNotContain(owner.Changes(sandbox), change => change.Path == "/tmp" && change.Kind == SandboxChangeKind.Added);
    }

    [SkippableTheory]
    [InlineData("000")] // neither listable nor searchable: the walk cannot enter it
    [InlineData("400")] // listable, not searchable: its names are there, their lstat fails
    [InlineData("100")] // searchable, not listable
    public void Changes_inside_a_folder_the_sandbox_made_unreadable_fail_instead_of_being_left_out(string mode)
    {
        // The command in the sandbox is the folder's owner: its chmod reaches the host's upper/ as it is.
        using var owner = Owner(out var sandbox);
        var script = $"mkdir /hidden && echo changed > /hidden/inside && chmod {mode} /hidden";
        Assert.Equal(0, owner.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", script } }).ExitCode);
        var hidden = Path.Combine(((ISandboxHarness)owner).StateFolder(sandbox), "upper", "hidden");
        try
        {
            IReadOnlyList<SandboxChange>? changes = null;
            var error = Record.Exception(() => changes = owner.Changes(sandbox));

            Assert.True(error is not null, $"the folder's contents were left out of the changes: [{string.Join(", ", changes?.Select(c => c.Path) ?? Enumerable.Empty<string>())}]");
            Assert.Equal("LayerFolderUnreadable", Assert.IsType<SandboxException>(error).ErrorId);
            Assert.Contains(hidden, error.Message);
        }
        finally { AsOwner("chmod", "755", hidden); }
        Assert.Contains(owner.Changes(sandbox), change => change.Path == "/hidden/inside");
    }

    [SkippableFact]
    public void A_sandbox_that_closed_its_own_folders_is_still_committed_and_removed()
    {
        // Only what a command changed must never be read as nothing; the rest still works rootless after
        // chmod 000 / and on a folder inside: a commit (its copy runs as root of a user namespace; the
        // layer's size counts the closed folder as itself), the derived image's sandbox, the removal.
        using var owner = Owner(out var sandbox);
        var script = "mkdir /closed && echo kept > /closed/inside && chmod 000 /closed && chmod 000 /";
        Assert.Equal(0, owner.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", script } }).ExitCode);
        var upper = Path.Combine(((ISandboxHarness)owner).StateFolder(sandbox), "upper");
        Assert.Equal("0", Convert.ToString((int)File.GetUnixFileMode(upper), 8));

        var image = owner.Commit(sandbox, "closed-derived");
        var derived = owner.Create(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Bubblewrap }).Id;
        Assert.Equal("kept\n", owner.Invoke(derived, new SandboxCommand { Argv = new[] { "sh", "-c", "chmod 755 /closed && cat /closed/inside" } }).StdOut);
        owner.Remove(derived);
        owner.Remove(sandbox);
        Assert.False(Directory.Exists(Path.GetDirectoryName(upper)), "the sandbox's state folder is still there");
    }

    [SkippableFact]
    public void Changes_of_a_sandbox_whose_upper_folder_is_missing_are_still_none()
    {
        // ENOENT alone still means an empty layer, as before.
        using var owner = Owner(out var sandbox);
        var upper = Path.Combine(((ISandboxHarness)owner).StateFolder(sandbox), "upper");
        AsOwner("mv", "-T", upper, upper + "-away");
        try { Assert.Empty(owner.Changes(sandbox)); }
        finally { AsOwner("mv", "-T", upper + "-away", upper); }
    }

    /// <summary>An EngineHost as the test user with the busybox image and a sandbox that added /made-here.</summary>
    private static RemoteHarness Owner(out string sandbox)
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        var owner = new RemoteHarness();
        try
        {
            var tree = BusyboxTree.Create(Path.Combine(owner.StoreRoot + "-tree", "rootfs"));
            owner.Import(HarnessFixture.ImageName, tree);
            sandbox = owner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap }).Id;
            Assert.Equal(0, owner.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo made > /made-here" } }).ExitCode);
            return owner;
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    /// <summary><paramref name="folder"/> mode 000, as its owner would make it; its mode back on Dispose.</summary>
    private static IDisposable Unreadable(string folder)
    {
        var mode = Convert.ToString((int)File.GetUnixFileMode(folder), 8);
        AsOwner("chmod", "000", folder);
        return new Undo(() => AsOwner("chmod", mode, folder));
    }

    private static void AsOwner(params string[] command) =>
        RunAsRoot.Command("runuser", new[] { "-u", UnprivilegedUser.Name, "--" }.Concat(command).ToArray());

    private sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}

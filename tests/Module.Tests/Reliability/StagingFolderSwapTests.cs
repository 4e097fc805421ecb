using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Under sudo the engine is root and the store the caller's: <c>images/</c> is theirs, so while root
/// fills a staging folder there (an import's tar, image.json) the caller can rename that folder away and
/// put a link to a folder of root's in its place. By path (the old code) root then wrote through the link,
/// outside the store; the staging folder held by descriptor (HeldStagingFolder) is written only where it
/// is. The engine is a real EngineHost as root with SUDO_UID set over a store of the test user's, the
/// swap is made by that user (setpriv to their ids), and its moment is forced, never raced: the import
/// reads its tarball from a FIFO, which the test fills only after the swap; image.json is written
/// after the store's layers lock, and a commit copies the sandbox's layer into its layer staging folder
/// after the sandbox's commands lock, each held by the test until the swap is done.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class StagingFolderSwapTests
{
    private const string Image = "swapped";

    [SkippableFact]
    public void An_import_whose_staging_folder_the_caller_swaps_for_a_link_extracts_nothing_outside_the_store()
    {
        using var store = StoreWithFirstImage("swap-import");
        var tarball = Path.Combine(store.Folder, "busybox.tar");
        RunAsRoot.Command("tar", "-C", BusyboxTree.Create(Path.Combine(store.Folder, "tree")), "-cf", tarball, ".");
        var fifo = Path.Combine(store.Folder, "busybox-fifo.tar");
        RunAsRoot.Command("mkfifo", fifo);
        Directory.CreateDirectory(Path.Combine(store.Victims, "rootfs"));

        // tar waits for the FIFO's writer, so the swap lands before it extracts a single file.
        var import = Task.Run(() => store.Engine.Import(Image, fifo));
        var filling = WaitForStaging(store, staging => Directory.Exists(Path.Combine(staging, "rootfs")));
        store.SwapForLink(filling, store.Victims);
        using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write))
        using (var reader = File.OpenRead(tarball))
            reader.CopyTo(writer);

        var failure = Record(import);
        Assert.False(File.Exists(Path.Combine(store.Victims, "rootfs", "bin", "busybox")), "the tarball was extracted outside the store, through the link");
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(store.Victims, "rootfs")));
        // Extracted into the held folder all the same: the swap changed nothing of the image.
        Assert.Null(failure);
        Assert.True(File.Exists(Path.Combine(((ISandboxHarness)store.Engine).ImageRootFs(Image), "bin", "busybox")));
    }

    [SkippableFact]
    public void Image_json_is_never_written_through_a_staging_folder_the_caller_swapped_for_a_link()
    {
        using var store = StoreWithFirstImage("swap-manifest");
        var tree = BusyboxTree.Create(Path.Combine(store.Folder, "tree"));
        File.WriteAllText(Path.Combine(tree, "etc", "motd"), "another image than the first\n");
        var lockPath = Path.Combine(store.Root, "locks", "layers-store.lock");

        SandboxException? error;
        using (var layersLock = FileLock.Acquire(lockPath))
        {
            var import = Task.Run(() => store.Engine.Import(Image, tree));
            // Waiting for the layers lock, with its staging folder made: the moment right before image.json.
            Assert.True(Poll.Until(() => import.IsCompleted || HasOpen(store.Engine.HostPid, lockPath), TimeSpan.FromMinutes(1)), "the import never waited for the layers lock");
            Assert.False(import.IsCompleted, $"the import ended before it waited for the layers lock: {import.Exception}");
            var staging = WaitForStaging(store, _ => true);
            store.SwapForLink(staging, store.Victims);
            layersLock.Dispose();
            error = Assert.IsType<SandboxException>(Record(import));
        }

        Assert.Equal("StoreEntryUnsafe", error.ErrorId);
        Assert.False(File.Exists(Path.Combine(store.Victims, "image.json")), "image.json was written outside the store, through the link");
        Assert.Empty(Directory.GetFileSystemEntries(store.Victims));
    }

    [SkippableFact]
    public void A_commit_whose_layer_staging_folder_the_caller_swaps_for_a_link_copies_nothing_outside_the_store()
    {
        using var store = StoreWithFirstImage("swap-commit");
        var sandbox = store.Engine.Create(new SandboxCreateOptions { Image = "first", Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, store.Engine.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "echo step > /made-by-step" } }).ExitCode);
        var commandsLock = Path.Combine(((ISandboxHarness)store.Engine).StateFolder(sandbox.Id), "commands.lock");

        SandboxException? error;
        using (var sandboxLock = FileLock.Acquire(commandsLock))
        {
            // The commit makes its layer staging folder, then waits for the sandbox's commands to copy its layer.
            var commit = Task.Run(() => store.Engine.Commit(sandbox.Id, "committed"));
            Assert.True(Poll.Until(() => commit.IsCompleted || HasOpen(store.Engine.HostPid, commandsLock), TimeSpan.FromMinutes(1)),
                "the commit never waited for the sandbox's commands");
            Assert.False(commit.IsCompleted, $"the commit ended before it copied: {commit.Exception}");
            var staging = Directory.EnumerateDirectories(Path.Combine(store.Root, "layers"), ".staging-layer-*").Single();
            store.SwapForLink(staging, store.Victims);
            sandboxLock.Dispose();
            error = Assert.IsType<SandboxException>(Record(commit));
        }

        Assert.False(File.Exists(Path.Combine(store.Victims, "tree", "made-by-step")), "the layer was copied outside the store, through the link");
        Assert.Empty(Directory.GetFileSystemEntries(store.Victims));
        Assert.Equal("StoreEntryUnsafe", error.ErrorId);
    }

    private static Exception? Record(Task task)
    {
        try { return task.Wait(TimeSpan.FromMinutes(2)) ? null : new TimeoutException("the import did not end"); }
        catch (AggregateException e) { return e.InnerException; }
    }

    /// <summary>
    /// Whether process <paramref name="pid"/> has <paramref name="path"/> open: the engine opens the lock
    /// file only to take the lock (polling flock LOCK_NB), so while the test holds it, the engine waits.
    /// </summary>
    private static bool HasOpen(int pid, string path)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd")
                .Any(fd => { try { return new FileInfo(fd).LinkTarget == path; } catch (IOException) { return false; } });
        }
        catch (DirectoryNotFoundException) { return false; }
    }

    /// <summary>A store of the caller's with an engine as root under their sudo over it, made (its folders, locks and layers handed to the caller) by a first import, as in use.</summary>
    private static SudoCallersStore StoreWithFirstImage(string purpose)
    {
        var store = SudoCallersStore.Make(purpose);
        try
        {
            store.StartEngine().Import("first", BusyboxTree.Create(Path.Combine(store.Folder, "first")));
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>The image's staging folder once <paramref name="ready"/> holds for it (looked at as root: the caller cannot see inside).</summary>
    private static string WaitForStaging(SudoCallersStore store, Func<string, bool> ready)
    {
        string? found = null;
        Assert.True(Poll.Until(() =>
        {
            found = Directory.EnumerateDirectories(Path.Combine(store.Root, "images"), $".staging-{Image}-*").FirstOrDefault(ready);
            return found is not null;
        }, TimeSpan.FromMinutes(1)), "no staging folder appeared");
        return found!;
    }
}

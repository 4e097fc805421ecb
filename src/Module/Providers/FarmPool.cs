using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>
/// Full private copies ("farms") of an image for the FakeChroot provider, made ahead of time so that
/// a new sandbox takes one by rename instead of waiting for a copy. A copy (not a hardlink farm)
/// because a hardlinked file is the image's own inode: see FakeChrootProvider for why cowdancer
/// could not be made to break those links safely. Each image keeps one ready copy in
/// <c>images/&lt;name&gt;/.farms</c>, refilled in the background after every take.
/// </summary>
internal sealed class FarmPool
{
    private const int ReadyCopies = 1;
    private readonly StoreLayout _layout;
    private readonly IEngineLog _log;
    private readonly StoreTrash _trash;

    public FarmPool(StoreLayout layout, IEngineLog log, StoreTrash? trash = null)
    {
        _layout = layout;
        _log = log;
        _trash = trash ?? new StoreTrash(layout, log);
    }

    /// <summary>
    /// Moves a ready copy of the image to <paramref name="target"/>, or makes one there now. The
    /// caller then starts <see cref="RefillInBackground"/> once its own setup is done: a copy started
    /// here would compete with that setup for the machine (a minbase copy is thousands of files).
    /// </summary>
    public void Take(SandboxImage image, string target)
    {
        var pool = PoolFolder(image);
        using (FileLock.Acquire(_layout.LockFile("farms", image.Name)))
        {
            var ready = Directory.Exists(pool) ? Directory.EnumerateDirectories(pool, "ready-*").FirstOrDefault() : null;
            if (ready is not null)
            {
                Directory.Move(ready, target);
                Images.Layers.FarmFolders.MoveWith(ready, target);
                _log.Verbose($"Took a ready copy of image '{image.Name}' from the pool.");
                return;
            }
        }
        // None ready (the image's first sandbox, or one right after another): this sandbox's own copy,
        // made now at the caller's priority. A refill under way is not waited for: it copies at nice 19
        // for a later sandbox, and on a busy machine waiting for it is waiting for the lowest priority there is.
        Copy(image, target);
    }

    /// <summary>Tops the pool up in the background, at the lowest CPU priority (nice 19): it is work for a later sandbox.</summary>
    public void RefillInBackground(SandboxImage image) => Task.Run(() =>
    {
        Refill(image, background: true);
        _trash.Sweep(); // copies of removals whose process was killed before it deleted them
    });

    /// <summary>
    /// Tops the pool up to its size; a copy that dies half-way stays a hidden .filling folder, which
    /// the next refill deletes. One refill per image at a time (a second has nothing to add), and the
    /// pool's lock is held only to publish a finished copy, never during the copy (see <see cref="Take"/>).
    /// </summary>
    public void Refill(SandboxImage image, bool background = false)
    {
        try
        {
            using var refilling = FileLock.TryAcquire(_layout.LockFile("farm-refill", image.Name), wait: false);
            if (refilling is null) return; // another process or task is refilling it
            var pool = PoolFolder(image);
            if (!Directory.Exists(Path.GetDirectoryName(pool))) return; // the image was removed
            Directory.CreateDirectory(pool);
            // .filling folders are made only under the refill lock: any found now is one whose refill died.
            foreach (var leftover in Directory.EnumerateDirectories(pool, ".filling-*"))
                SafeTreeRemover.Remove(leftover, _layout.ImagesFolder);
            foreach (var leftover in Directory.EnumerateFiles(pool, ".filling-*")) File.Delete(leftover); // their folder records
            while (Directory.EnumerateDirectories(pool, "ready-*").Count() < ReadyCopies)
            {
                var filling = Path.Combine(pool, $".filling-{Guid.NewGuid():N}");
                Copy(image, filling, background);
                using (FileLock.Acquire(_layout.LockFile("farms", image.Name)))
                {
                    var ready = Path.Combine(pool, $"ready-{Guid.NewGuid():N}");
                    Directory.Move(filling, ready);
                    Images.Layers.FarmFolders.MoveWith(filling, ready);
                }
            }
        }
        catch (Exception e)
        {
            _log.Verbose($"Refilling the copy pool of image '{image.Name}' failed: {e.Message}");
        }
    }

    private string PoolFolder(SandboxImage image) => Path.Combine(_layout.ImageFolder(image.Name), ".farms");

    private void Copy(SandboxImage image, string target, bool background = false)
    {
        // A derived image's copy is its flattened tree (FlatView), made inside the user's namespace
        // where the copy's files become the user's, as a plain cp -a of one layer makes them.
        var outcome = image.LayerFolders.Count > 1
            ? Images.Layers.FlatView.Run(_layout, image.LayerFolders, tree => new[]
            {
                ToolLocator.Require("cp", "coreutils"), "-R", "--preserve=mode,timestamps,links,xattr", "--no-preserve=ownership",
                "--reflink=auto", "--no-target-directory", tree, target,
            }, _log, CancellationToken.None)
            : HostCommand.Run(_log, (background ? new[] { ToolLocator.Require("nice", "coreutils"), "-n", "19" } : Array.Empty<string>()).Concat(new[]
            {
                ToolLocator.Require("cp", "coreutils"), "-a", "--reflink=auto", "--no-target-directory", image.RootFs, target,
            }).ToArray());
        if (outcome.ExitCode != 0)
        {
            // An image made as root (mmdebstrap's root or unshare mode, an import as root) has files
            // only root may read (/etc/shadow, /root): not a disk problem, and no retry will help.
            if (outcome.StdErr.Contains("Permission denied", StringComparison.Ordinal))
                throw SandboxErrors.ImageNotCopyable(image.Name, outcome.StdErr);
            throw SandboxErrors.ImageCopyFailed(target, outcome.StdErr);
        }
        AbsoluteSymlinks.MakeRelative(target);
        // Which folder stands at each path, before any sandbox has the copy (a FakeChroot commit compares with it).
        Images.Layers.FarmFolders.Record(target);
    }
}

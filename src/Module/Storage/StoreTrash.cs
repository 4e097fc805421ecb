using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Where a removed sandbox's state folder goes so that Remove-Sandbox does not wait for it to be
/// deleted (a FakeChroot minbase copy is 9000 files: seconds on a busy disk; even a Bubblewrap
/// sandbox's dozen folders and files cost two of the few milliseconds a removal takes). It is
/// renamed into <c>STORE/trash/s-PID-START-RANDOM</c> (one rename on the same file system: the
/// sandbox is gone at once, state.json with it, so no other process ever sees a state folder half
/// deleted) and deleted by a background task. The rename goes through descriptors of both folders
/// reached from the store root without following links: under sudo the store belongs to the
/// calling user, who could otherwise swap <c>trash</c> for a link and have root move the folder
/// into one of root's own.
/// Nothing is lost and nothing looks valid half-way: a trash entry is never a sandbox or an image,
/// only garbage. Its name carries the process that threw it away (pid and start time): this process
/// finishes its deletions before it exits (normal exit, SIGTERM); an entry whose process died
/// (kill -9) is swept by the next removal or pool refill, which claims it first by renaming it to
/// its own name, so two sweepers never delete the same tree. Deletion never leaves the trash folder
/// (SafeTreeRemover: no link followed, nothing outside its root).
/// </summary>
internal sealed partial class StoreTrash
{
    private static readonly ConcurrentDictionary<Task, bool> Pending = new();
    private static volatile bool _exiting;
    private readonly string _root;
    private readonly string _folder;
    private readonly IEngineLog _log;

    /// <summary>
    /// Registered when the engine first makes a trash, before any deletion can be pending. ProcessExit
    /// handlers run in the order they were added: if a later one (the module's removal of its own
    /// sandboxes at exit) throws copies away after this one ran, they are deleted at once instead.
    /// </summary>
    static StoreTrash()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            _exiting = true;
            WaitForPending(TimeSpan.FromMinutes(2));
        };
    }

    public StoreTrash(StoreLayout layout, IEngineLog log)
    {
        _root = layout.Root;
        _folder = layout.TrashFolder;
        _log = log;
    }

    /// <summary>
    /// Moves <paramref name="folder"/> (a folder of the store) into the trash and deletes it in the background. True when it is gone from its place (or was
    /// not there); false (nothing moved) only when the store has no room for the move: the caller
    /// deletes it in place. A folder on the way that is a link, or leads out of the store, is
    /// StoreUnsafe: nothing is moved and nothing deleted.
    /// </summary>
    public bool Discard(string folder)
    {
        var relative = Path.GetRelativePath(_root, folder);
        if (relative is "." or ".." || relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            throw SandboxErrors.StoreUnsafe(folder, $"it is not inside the store folder {_root}.");
        var root = StoreRootGuard.OpenRoot(_root);
        if (root < 0) throw SandboxErrors.StoreUnsafe(_root, $"it cannot be opened ({OpenAt2.ErrorText(-root)}).");
        var from = -1;
        var trash = -1;
        try
        {
            var parent = Path.GetDirectoryName(relative);
            from = OpenAt2.Open(root, string.IsNullOrEmpty(parent) ? "." : parent, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, Beneath);
            if (from == -OpenAt2.ENOENT) return true; // removed meanwhile
            if (from < 0) throw SandboxErrors.StoreUnsafe(folder, $"a folder on its way is a link or not a folder ({OpenAt2.ErrorText(-from)}).");
            trash = OpenTrash(root);
            var entry = NewName("s");
            if (OpenAt2.renameat(from, Path.GetFileName(relative), trash, entry) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == OpenAt2.ENOENT) return true; // removed meanwhile
                if (StoreSpace.IsOutOfSpace(errno) || errno == EMLINK)
                {
                    _log.Verbose($"No room to move {folder} to the trash ({OpenAt2.ErrorText(errno)}): deleting it now.");
                    return false;
                }
                throw new IOException($"moving {folder} to the trash {_folder} failed: {OpenAt2.ErrorText(errno)}", errno);
            }
            var owned = trash;
            trash = -1; // the deletion closes it
            if (_exiting) DeleteAndClose(owned, entry);
            else RunInBackground(() =>
            {
                DeleteAndClose(owned, entry);
                Sweep();
            });
            return true;
        }
        finally
        {
            foreach (var fd in new[] { from, trash, root }) if (fd >= 0) OpenAt2.close(fd);
        }
    }

    /// <summary>Deletes every entry whose process is gone: what a crash (kill -9) left behind.</summary>
    public void Sweep()
    {
        if (!Directory.Exists(_folder)) return;
        var root = StoreRootGuard.OpenRoot(_root);
        if (root < 0) return;
        int trash;
        try { trash = OpenTrashFolder(root); }
        finally { OpenAt2.close(root); }
        if (trash < 0) return;
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(UserIdentity.IsRoot ? DescriptorPath.Of(trash) : _folder).Select(Path.GetFileName).OfType<string>())
            {
                if (Owner(entry) is not { } owner || owner.IsAlive) continue;
                var claimed = NewName("s");
                if (OpenAt2.renameat(trash, entry, trash, claimed) != 0) continue; // another sweeper took it
                Delete(trash, claimed);
            }
        }
        finally
        {
            OpenAt2.close(trash);
        }
    }

    private const int EMLINK = 31;
    private const ulong Beneath = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;
    private string TrashName => Path.GetFileName(_folder);

    /// <summary>The trash folder's O_PATH descriptor, reached from the store root without links; -errno on failure.</summary>
    private int OpenTrashFolder(int root) => OpenAt2.Open(root, TrashName, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, Beneath);

    /// <summary>The trash folder's descriptor (see <see cref="OpenTrashFolder"/>); made if missing.</summary>
    private int OpenTrash(int root)
    {
        var trash = OpenTrashFolder(root);
        if (trash == -OpenAt2.ENOENT)
        {
            // A store made before EnsureCreated made trash/: made here, relative to the root, never through a link.
            if (OpenAt2.mkdirat(root, TrashName, 0b111_000_000) == 0) SudoCaller.Current?.HandOver(_folder);
            trash = OpenTrashFolder(root);
        }
        if (trash < 0) throw SandboxErrors.StoreUnsafe(_folder, $"it is a link or not a folder ({OpenAt2.ErrorText(-trash)}).");
        return trash;
    }

    private void DeleteAndClose(int trash, string entry)
    {
        try { Delete(trash, entry); }
        finally { OpenAt2.close(trash); }
    }

    /// <summary>
    /// Waits (at most <paramref name="limit"/>) for the deletions this process started. False when
    /// none was under way.
    /// </summary>
    public static bool WaitForPending(TimeSpan limit)
    {
        var tasks = Pending.Keys.ToArray();
        if (tasks.Length == 0) return false;
        // Never faulted: each task reports its own failure (RunInBackground).
        Task.WaitAll(tasks, limit);
        return true;
    }

    private void Delete(int trash, string entry)
    {
        try
        {
            // Through the trash's descriptor as root (see RemoveEntry); an entry still there afterwards
            // (rm -f that reached nothing, say) is an exception too, so no failure passes unsaid.
            SafeTreeRemover.RemoveEntry(trash, _folder, entry);
        }
        catch (Exception e)
        {
            // Left for the next sweep, once this process is gone.
            _log.Warning($"Deleting the removed sandbox {Path.Combine(_folder, entry)} failed, so its space is not free yet: {e.Message}");
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the thread pool, tracked for <see cref="WaitForPending"/>. Any
    /// exception it throws is reported here as a warning through this trash's log: nobody awaits the
    /// task, and one left to fault would surface from WaitForPending (an AggregateException) in
    /// whatever waits next: an unrelated cmdlet's StoreFull retry, or the process's exit.
    /// </summary>
    internal void RunInBackground(Action work) => Track(Task.Run(() =>
    {
        try { work(); }
        catch (Exception e)
        {
            _log.Warning($"Deleting removed sandboxes in {_folder} in the background failed; the next removal or Remove-Sandbox -Stale tries again: {e.Message}");
        }
    }));

    private static void Track(Task task)
    {
        Pending[task] = true;
        task.ContinueWith(done => Pending.TryRemove(done, out _), TaskScheduler.Default);
    }

    private static string NewName(string id)
    {
        var self = ProcessIdentity.Current;
        return string.Create(CultureInfo.InvariantCulture,
            $"{id}-{self.Pid}-{self.StartTicks}-{Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)).ToLowerInvariant()}");
    }

    /// <summary>The process named in an entry's name; null for a name this class did not make.</summary>
    internal static ProcessIdentity? Owner(string name)
    {
        var match = EntryName().Match(name);
        if (!match.Success
            || !int.TryParse(match.Groups["pid"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            || !ulong.TryParse(match.Groups["start"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var start))
            return null;
        return new ProcessIdentity(pid, start);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[0-9a-z]+-(?<pid>\d{1,10})-(?<start>\d{1,20})-[0-9a-f]{8}$")]
    private static partial System.Text.RegularExpressions.Regex EntryName();
}

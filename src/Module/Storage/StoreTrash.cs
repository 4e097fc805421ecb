using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Where a removed sandbox's state folder goes so that Remove-Sandbox does not wait for it to be
/// deleted (a FakeChroot minbase copy is 9000 files: seconds on a busy disk; even a Bubblewrap
/// sandbox's dozen folders and files cost two of the few milliseconds a removal takes). It is
/// renamed into <c>STORE/trash/ID-PID-START-RANDOM</c> (one rename on the same file system: the
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

    public string Folder => _folder;

    /// <summary>
    /// Moves <paramref name="folder"/> (a folder of the store, named after <paramref name="id"/>)
    /// into the trash and deletes it in the background. True when it is gone from its place (or was
    /// not there); false (nothing moved) when it cannot be moved: the caller deletes it itself.
    /// </summary>
    public bool Discard(string folder, string id)
    {
        var relative = Path.GetRelativePath(_root, folder);
        if (relative is "." or ".." || relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative)) return false;
        if (!Path.Exists(folder)) return true;
        PrivateFiles.EnsureFolder(_folder);
        var entry = NewName(id);
        var errno = MoveBeneathRoot(relative, Path.GetFileName(_folder), entry);
        if (errno == OpenAt2.ENOENT && !Path.Exists(folder)) return true; // removed meanwhile
        if (errno != 0)
        {
            _log.Verbose($"Could not move {folder} to the trash ({OpenAt2.ErrorText(errno)}): deleting it now.");
            return false;
        }
        var moved = Path.Combine(_folder, entry);
        if (_exiting)
        {
            Delete(moved);
            return true;
        }
        Track(Task.Run(() =>
        {
            Delete(moved);
            Sweep();
        }));
        return true;
    }

    /// <summary>
    /// renameat(2) of <paramref name="relative"/> into the trash folder as <paramref name="entry"/>,
    /// both parents opened from the store root without links (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS).
    /// The moved name itself is not followed either: a link planted in its place is what moves.
    /// 0 or the errno.
    /// </summary>
    private int MoveBeneathRoot(string relative, string trashName, string entry)
    {
        const ulong beneath = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;
        var root = OpenAt2.OpenRoot(_root);
        if (root < 0) return -root;
        var from = -1;
        var to = -1;
        try
        {
            var parent = Path.GetDirectoryName(relative);
            from = OpenAt2.Open(root, string.IsNullOrEmpty(parent) ? "." : parent, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, beneath);
            if (from < 0) return -from;
            to = OpenAt2.Open(root, trashName, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, beneath);
            if (to < 0) return -to;
            return renameat(from, Path.GetFileName(relative), to, entry) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        finally
        {
            foreach (var fd in new[] { from, to, root }) if (fd >= 0) OpenAt2.close(fd);
        }
    }

    /// <summary>Deletes every entry whose process is gone: what a crash (kill -9) left behind.</summary>
    public void Sweep()
    {
        if (!Directory.Exists(_folder)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(_folder))
        {
            if (Owner(Path.GetFileName(entry)) is not { } owner || owner.IsAlive) continue;
            var claimed = Path.Combine(_folder, NewName("swept"));
            if (renameat(AtCurrentFolder, entry, AtCurrentFolder, claimed) != 0) continue; // another sweeper took it
            Delete(claimed);
        }
    }

    /// <summary>
    /// Waits (at most <paramref name="limit"/>) for the deletions this process started. False when
    /// none was under way.
    /// </summary>
    public static bool WaitForPending(TimeSpan limit)
    {
        var tasks = Pending.Keys.ToArray();
        if (tasks.Length == 0) return false;
        Task.WaitAll(tasks, limit);
        return true;
    }

    private void Delete(string entry)
    {
        try
        {
            SafeTreeRemover.Remove(entry, _folder);
        }
        catch (Exception e)
        {
            // Left for the next sweep, once this process is gone.
            _log.Verbose($"Deleting {entry} failed: {e.Message}");
        }
    }

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

    private const int AtCurrentFolder = -100; // AT_FDCWD

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat(int oldDirFd, string oldPath, int newDirFd, string newPath);
}

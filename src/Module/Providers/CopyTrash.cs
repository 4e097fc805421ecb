using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>
/// Where a removed FakeChroot sandbox's state folder (with its copy) goes so that Remove-Sandbox
/// does not wait for it to be deleted (a minbase copy is 9000 files: seconds on a busy disk, and
/// rm and chmod to start). It is renamed into <c>STORE/trash/ID-PID-START-RANDOM</c> (one rename on
/// the same file system: the sandbox is gone at once, state.json with it) and deleted by a
/// background task.
/// Nothing is lost and nothing looks valid half-way: a trash entry is never a sandbox or an image,
/// only garbage. Its name carries the process that threw it away (pid and start time): this process
/// finishes its deletions before it exits (normal exit, SIGTERM); an entry whose process died
/// (kill -9) is swept by the next removal or pool refill, which claims it first by renaming it to
/// its own name, so two sweepers never delete the same tree. Deletion never leaves the trash folder
/// (SafeTreeRemover: no link followed, nothing outside its root).
/// </summary>
internal sealed partial class CopyTrash
{
    private static readonly ConcurrentDictionary<Task, bool> Pending = new();
    private static volatile bool _exiting;
    private readonly string _folder;
    private readonly IEngineLog _log;

    /// <summary>
    /// Registered when the engine first makes a trash, before any deletion can be pending. ProcessExit
    /// handlers run in the order they were added: if a later one (the module's removal of its own
    /// sandboxes at exit) throws copies away after this one ran, they are deleted at once instead.
    /// </summary>
    static CopyTrash()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            _exiting = true;
            WaitForPending(TimeSpan.FromMinutes(2));
        };
    }

    public CopyTrash(StoreLayout layout, IEngineLog log)
    {
        _folder = layout.TrashFolder;
        _log = log;
    }

    public string Folder => _folder;

    /// <summary>
    /// Moves <paramref name="copy"/> into the trash and deletes it in the background. False (nothing
    /// moved) when the rename is impossible (another file system): the caller deletes it itself.
    /// </summary>
    public bool Discard(string copy, string id)
    {
        if (!Path.Exists(copy)) return true;
        PrivateFiles.EnsureFolder(_folder);
        var entry = Path.Combine(_folder, NewName(id));
        if (rename(copy, entry) != 0)
        {
            _log.Verbose($"Could not move {copy} to the trash ({Marshal.GetLastPInvokeError()}): deleting it now.");
            return false;
        }
        if (_exiting)
        {
            Delete(entry);
            return true;
        }
        Track(Task.Run(() =>
        {
            Delete(entry);
            Sweep();
        }));
        return true;
    }

    /// <summary>Deletes every entry whose process is gone: what a crash (kill -9) left behind.</summary>
    public void Sweep()
    {
        if (!Directory.Exists(_folder)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(_folder))
        {
            if (Owner(Path.GetFileName(entry)) is not { } owner || owner.IsAlive) continue;
            var claimed = Path.Combine(_folder, NewName("swept"));
            if (rename(entry, claimed) != 0) continue; // another sweeper took it
            Delete(claimed);
        }
    }

    /// <summary>Waits (at most <paramref name="limit"/>) for the deletions this process started.</summary>
    public static void WaitForPending(TimeSpan limit)
    {
        var tasks = Pending.Keys.ToArray();
        if (tasks.Length > 0) Task.WaitAll(tasks, limit);
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

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string from, string to);
}

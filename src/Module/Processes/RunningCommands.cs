using System.Globalization;
using System.Text;
using Sandbox.Native;
using Sandbox.Sandboxes;

namespace Sandbox.Processes;

/// <summary>
/// The backend processes of a sandbox's running commands, recorded in the sandbox's <c>running/</c>
/// folder by their kernel identity (pid and start time): written the moment the backend is spawned,
/// cleared when it has been reaped. Removal kills these trees, so it finds a sandbox's processes by
/// what they are, never by text a process (or an unrelated host process) could show. With
/// Bubblewrap and Nspawn every command has its own pid namespace below its backend, so the tree
/// holds every process the command started, however it forked.
///
/// A record is a reusable slot file (<c>slot-N</c>) holding "PID-STARTTICKS" (space-padded to a fixed
/// length, blank when free), claimed for the command's lifetime with an exclusive flock: files are
/// created once (slot-0 with the sandbox) and then rewritten in place, because
/// creating and deleting a file per command made ext4 search its inode bitmap past the recently
/// deleted inodes each time (0.6-0.8 ms a create here, more than the rest of the record keeping).
/// A claimant that dies leaves its text, whose identity is then no longer alive; the next
/// claimant overwrites it. Records of older versions (an empty file named "PID-STARTTICKS") are read too.
/// </summary>
internal static class RunningCommands
{
    private static readonly AsyncLocal<SandboxInfo?> Target = new();

    public static string Folder(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "running");

    /// <summary>
    /// Until disposed, each backend this thread's flow spawns through <see cref="Started"/> is
    /// recorded for <paramref name="sandbox"/>. Providers need not know: the engine opens the scope
    /// around a provider's Run, and BackendProcess reports the spawned pid.
    /// </summary>
    public static IDisposable Track(SandboxInfo sandbox)
    {
        var previous = Target.Value;
        // Never recreate the state folder of a sandbox removed meanwhile (a command that waited in
        // the queue while another session removed it): that would leave a stray folder behind.
        if (!Directory.Exists(sandbox.StatePath)) throw SandboxErrors.SandboxNotFound(sandbox.Name);
        Target.Value = sandbox;
        return new Scope(() => Target.Value = previous);
    }

    /// <summary>
    /// Makes the first slot, free, with the sandbox (while the store has room): a command's record is
    /// then a rewrite of space already the file's.
    /// </summary>
    public static void Prepare(SandboxInfo sandbox)
    {
        var running = OpenFolder(sandbox, create: true);
        if (running < 0) return;
        var fd = StateFolder.OpenOwnFile(running, "slot-0", sudoCallersToo: false);
        LibC.close(running);
        if (fd < 0) return;
        try { StateFolder.WriteWhole(fd, FreeSlot, $"the first command slot of {Folder(sandbox)}"); }
        finally { LibC.close(fd); }
    }

    /// <summary>Records a just-spawned backend; returns what clears the record once it was reaped.</summary>
    public static IDisposable Started(int pid)
    {
        if (Target.Value is not { } sandbox || ProcessIdentity.Of(pid) is not { } process) return new Scope(() => { });
        // Made with the sandbox; here only for sandboxes made by an older version, and by mkdirat in
        // the state folder opened first: never recreates the state folder of a sandbox removed meanwhile.
        var running = OpenFolder(sandbox, create: true);
        if (running < 0) return new Scope(() => { });
        var text = Line($"{process.Pid}-{process.StartTicks.ToString(CultureInfo.InvariantCulture)}");
        try
        {
            for (var slot = 0; slot < MaxSlots; slot++)
            {
                var fd = StateFolder.OpenOwnFile(running, $"slot-{slot}", sudoCallersToo: false);
                if (fd < 0) continue;
                if (LibC.flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) != 0)
                {
                    LibC.close(fd);
                    continue; // another running command's
                }
                // Always the whole fixed-length line over the old one (see StateFolder.TryWriteWhole).
                if (!StateFolder.TryWriteWhole(fd, text))
                {
                    LibC.close(fd);
                    break;
                }
                return new Scope(() =>
                {
                    // Not checked: a slot left holding an identity that no longer runs reads as free.
                    _ = StateFolder.TryWriteWhole(fd, FreeSlot);
                    LibC.close(fd); // and with it the claim
                });
            }
        }
        finally
        {
            LibC.close(running);
        }
        return new Scope(() => { });
    }

    /// <summary>
    /// The recorded backends of <paramref name="sandbox"/> that still run (same pid, same start
    /// time). Only records this user wrote count: under sudo the state folder belongs to the
    /// calling user, who must not make root kill a process of their choosing by planting a file;
    /// and the folder is reached without following a link, so no other folder's files are read.
    /// </summary>
    public static IReadOnlyList<ProcessIdentity> Of(SandboxInfo sandbox)
    {
        var running = OpenFolder(sandbox, create: false);
        if (running < 0) return Array.Empty<ProcessIdentity>();
        var found = new List<ProcessIdentity>();
        try
        {
            // The folder through its descriptor: the names below are looked up in the folder opened.
            var folder = $"/proc/self/fd/{running}";
            foreach (var path in Directory.EnumerateFiles(folder))
            {
                if (FileStatus.Of(path) is not { IsRegularFile: true } status || status.Uid != UserIdentity.EffectiveUid) continue;
                var name = Path.GetFileName(path);
                var identity = name.StartsWith("slot-", StringComparison.Ordinal) ? ReadSlot(path) : name;
                if (identity is null) continue;
                var parts = identity.Split('-');
                if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                    && new ProcessIdentity(pid, ticks) is { IsAlive: true } process)
                    found.Add(process);
            }
        }
        finally
        {
            LibC.close(running);
        }
        return found;
    }

    /// <summary>The sandbox's running/ folder as a descriptor reached from the store root without links (made if asked); -1 if none.</summary>
    private static int OpenFolder(SandboxInfo sandbox, bool create)
    {
        // Made with the sandbox: open it first, and make it only where that fails (an older version's sandbox).
        if (create && StateFolder.Open(sandbox.StoreRoot, Folder(sandbox)) is var existing and >= 0) return existing;
        if (create)
        {
            var state = StateFolder.Open(sandbox.StoreRoot, sandbox.StatePath);
            if (state < 0) return -1;
            OpenAt2.mkdirat(state, "running", 0b111_000_000); // EEXIST is the usual case
            LibC.close(state);
        }
        return StateFolder.Open(sandbox.StoreRoot, Folder(sandbox));
    }

    /// <summary>A slot's text ("PID-STARTTICKS"), null when free; read without following a link, bounded.</summary>
    private static string? ReadSlot(string path)
    {
        var bytes = Storage.UntrustedFile.ReadRegular(path, SlotLength);
        return bytes is null ? null : Encoding.ASCII.GetString(bytes).Trim() is { Length: > 0 } text ? text : null;
    }

    /// <summary>Slots looked at: more commands at once in one sandbox go unrecorded, as a command whose record could not be written always did.</summary>
    private const int MaxSlots = 4096;
    private const int SlotLength = 64;
    private static readonly byte[] FreeSlot = Line("");

    /// <summary>A slot's content: the text, space-padded to <see cref="SlotLength"/> with a final newline.</summary>
    private static byte[] Line(string text) => Encoding.ASCII.GetBytes(text.PadRight(SlotLength - 1) + "\n");

    private sealed class Scope(Action end) : IDisposable
    {
        private Action? _end = end;

        public void Dispose()
        {
            Interlocked.Exchange(ref _end, null)?.Invoke();
        }
    }
}

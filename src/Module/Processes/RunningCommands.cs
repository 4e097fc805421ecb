using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Native;

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
internal static partial class RunningCommands
{
    private static readonly AsyncLocal<string?> Target = new();

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
        Target.Value = Folder(sandbox);
        return new Scope(() => Target.Value = previous);
    }

    /// <summary>Records a just-spawned backend; returns what clears the record once it was reaped.</summary>
    public static IDisposable Started(int pid)
    {
        if (Target.Value is not { } folder || ProcessIdentity.Of(pid) is not { } process) return new Scope(() => { });
        // Made with the sandbox; here only for sandboxes made by an older version, and by mkdir
        // alone: never recreates the state folder of a sandbox removed meanwhile.
        if (OpenAt2.mkdirat(-100 /* AT_FDCWD */, folder, 0b111_000_000) != 0
            && Marshal.GetLastPInvokeError() != 17 /* EEXIST */)
            return new Scope(() => { });
        var text = Line($"{process.Pid}-{process.StartTicks.ToString(CultureInfo.InvariantCulture)}");
        for (var slot = 0; slot < MaxSlots; slot++)
        {
            var fd = OpenSlot(folder, slot);
            if (fd == SlotFolderGone) break;
            if (fd < 0) continue;
            if (LibC.flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) != 0)
            {
                LibC.close(fd);
                continue; // another running command's
            }
            // Always the whole fixed-length line over the old one: no truncate, and a slot that has
            // been written once needs no new space (a command still gets recorded in a full store).
            if (pwrite(fd, text, (nuint)text.Length, 0) != text.Length)
            {
                LibC.close(fd);
                break;
            }
            return new Scope(() =>
            {
                pwrite(fd, FreeSlot, (nuint)FreeSlot.Length, 0);
                LibC.close(fd); // and with it the claim
            });
        }
        return new Scope(() => { });
    }

    /// <summary>
    /// Makes the first slot, free, with the sandbox (while the store has room): a command's record is
    /// then a rewrite of space already the file's.
    /// </summary>
    public static void Prepare(SandboxInfo sandbox)
    {
        var folder = Folder(sandbox);
        Directory.CreateDirectory(folder);
        var fd = OpenSlot(folder, 0);
        if (fd < 0) return;
        try
        {
            if (pwrite(fd, FreeSlot, (nuint)FreeSlot.Length, 0) != FreeSlot.Length)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"writing the first command slot of {folder} failed: {LibC.ErrorText(errno)}", errno);
            }
        }
        finally { LibC.close(fd); }
    }

    /// <summary>
    /// The recorded backends of <paramref name="sandbox"/> that still run (same pid, same start
    /// time). Only records this user wrote count: under sudo the state folder belongs to the
    /// calling user, who must not make root kill a process of their choosing by planting a file.
    /// </summary>
    public static IReadOnlyList<ProcessIdentity> Of(SandboxInfo sandbox)
    {
        var folder = Folder(sandbox);
        if (!Directory.Exists(folder)) return Array.Empty<ProcessIdentity>();
        var found = new List<ProcessIdentity>();
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
        return found;
    }

    /// <summary>A slot's text ("PID-STARTTICKS"), null when free; read without following a link, bounded.</summary>
    private static string? ReadSlot(string path)
    {
        var bytes = Storage.UntrustedFile.ReadRegular(path, SlotLength);
        return bytes is null ? null : Encoding.ASCII.GetString(bytes).Trim() is { Length: > 0 } text ? text : null;
    }

    /// <summary>
    /// Slot <paramref name="slot"/> opened for writing: never through a link (under sudo the state
    /// folder is the calling user's), only a regular file of ours; below zero when it cannot be used,
    /// <see cref="SlotFolderGone"/> when the folder is gone (the sandbox is being removed).
    /// </summary>
    private static int OpenSlot(string folder, int slot)
    {
        var fd = LibC.open(Path.Combine(folder, $"slot-{slot}"), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | LibC.O_CLOEXEC, 0b110_000_000);
        if (fd < 0) return Marshal.GetLastPInvokeError() == 2 /* ENOENT */ ? SlotFolderGone : -1;
        if (FileStatus.OfDescriptor(fd) is { IsRegularFile: true } status && status.Uid == UserIdentity.EffectiveUid) return fd;
        LibC.close(fd);
        return -1;
    }

    private const int SlotFolderGone = -2;
    private const int SlotLength = 64;
    private static readonly byte[] FreeSlot = Line("");

    /// <summary>A slot's content: the text, space-padded to <see cref="SlotLength"/> with a final newline.</summary>
    private static byte[] Line(string text) => Encoding.ASCII.GetBytes(text.PadRight(SlotLength - 1) + "\n");

    /// <summary>Slots looked at: more commands at once in one sandbox go unrecorded, as a command whose record could not be written always did.</summary>
    private const int MaxSlots = 4096;
    private const int O_RDWR = 2;
    private const int O_CREAT = 0x40;
    private const int O_NONBLOCK = 0x800;
    private static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte[] buffer, nuint count, long offset);

    private sealed class Scope(Action end) : IDisposable
    {
        private Action? _end = end;

        public void Dispose()
        {
            Interlocked.Exchange(ref _end, null)?.Invoke();
        }
    }
}

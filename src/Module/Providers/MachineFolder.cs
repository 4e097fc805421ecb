using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Native;
using Sandbox.Sandboxes;
using Sandbox.Storage;

namespace Sandbox.Providers;

/// <summary>
/// The runtime files of a booted machine (its record, nspawn's pid, the boot's output, the sd_notify
/// socket, each command's confinement helper) in a folder only root can reach:
/// <c>/run/sandbox/machines/&lt;key&gt;</c>, 0700 root, each level made and opened without following
/// a link. Why not the state folder: under sudo it is the caller's, who could forge the record (and
/// have the next command nsenter into pid 1, or a removal kill any process tree), put links where
/// root's shell writes the pid and the log, or speak to the notify socket before nspawn does.
/// <para>The key names this sandbox in this store without anything the caller can redirect: the
/// device and inode of the sandbox's state folder as opened beneath the checked store root (never
/// by its path), with a hash of the sandbox's id. Renaming or swapping state folders only changes
/// the key to one no machine has. /run is a tmpfs, so a reboot forgets the machines exactly when
/// they die; a removal deletes the folder with its machine, so a later folder that gets the same
/// inode finds none (and <see cref="Create"/> replaces a stale one).</para>
/// </summary>
internal sealed class MachineFolder : IDisposable
{
    public const string Root = "/run/sandbox/machines";
    private const uint RootOnly = 0b111_000_000;

    private int _fd;

    private MachineFolder(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The folder's path: safe to hand to the tools (only root can change anything on it).</summary>
    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The machine folder of <paramref name="sandbox"/>, or null when it has none (never booted, removed, or not root).</summary>
    public static MachineFolder? Open(SandboxInfo sandbox)
    {
        if (!UserIdentity.IsRoot || KeyOf(sandbox) is not { } key) return null;
        var machines = OpenMachinesRoot(create: false);
        if (machines < 0) return null;
        try
        {
            var fd = RootRunFolders.OpenLevel(machines, Root, key, RootRunFolders.Private, create: false, SandboxErrors.MachineFolderUnusable);
            return fd < 0 ? null : new MachineFolder(fd, System.IO.Path.Combine(Root, key));
        }
        finally { OpenAt2.close(machines); }
    }

    /// <summary>A new, empty machine folder for <paramref name="sandbox"/>: a leftover of the same key (a dead machine's) is deleted first.</summary>
    public static MachineFolder Create(SandboxInfo sandbox)
    {
        var key = KeyOf(sandbox) ?? throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name,
            $"its state folder {sandbox.StatePath} cannot be opened beneath the store root {sandbox.StoreRoot} without following a link.");
        var machines = OpenMachinesRoot(create: true);
        try
        {
            DeleteEntry(machines, key);
            // Made here, not found: a folder of this key that came back between the delete and now is refused.
            if (OpenAt2.mkdirat(machines, key, RootOnly) != 0) throw Unsafe(System.IO.Path.Combine(Root, key), Marshal.GetLastPInvokeError());
            var fd = RootRunFolders.OpenLevel(machines, Root, key, RootRunFolders.Private, create: false, SandboxErrors.MachineFolderUnusable);
            if (fd < 0) throw Unsafe(System.IO.Path.Combine(Root, key), -fd);
            return new MachineFolder(fd, System.IO.Path.Combine(Root, key));
        }
        finally { OpenAt2.close(machines); }
    }

    /// <summary>Deletes the folder and everything in it (its machine must be gone).</summary>
    public void Delete()
    {
        var machines = OpenMachinesRoot(create: false);
        if (machines < 0) return;
        try { DeleteEntry(machines, System.IO.Path.GetFileName(Path)); }
        finally { OpenAt2.close(machines); }
    }

    /// <summary>Writes a new file (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) relative to the folder.</summary>
    public void WriteNew(string name, string text)
    {
        var fd = OpenAt2.openat(_fd, name, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0b110_000_000);
        if (fd < 0) throw new IOException($"cannot create {File(name)}: {LibC.ErrorText(Marshal.GetLastPInvokeError())}");
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Write);
        stream.Write(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>The text of a regular file of the folder (O_NOFOLLOW), at most its last <paramref name="limit"/> bytes; null when it is not there.</summary>
    public string? ReadText(string name, int limit = 64 * 1024)
    {
        var fd = OpenAt2.openat(_fd, name, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0) return null;
        if (FileStatus.OfDescriptor(fd) is not { IsRegularFile: true } status)
        {
            OpenAt2.close(fd);
            return null;
        }
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1);
        if (status.Size > (ulong)limit) stream.Seek(-limit, SeekOrigin.End);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// The folder's name: the state folder's device and inode (opened beneath the store root by
    /// <see cref="StateFolder.Open"/>, no link followed) and a hash of the sandbox's id. Null when
    /// the state folder cannot be opened so.
    /// </summary>
    private static string? KeyOf(SandboxInfo sandbox)
    {
        var state = StateFolder.Open(sandbox.StoreRoot, sandbox.StatePath);
        if (state < 0) return null;
        try
        {
            if (FileStatus.OfDescriptor(state) is not { IsDirectory: true } folder) return null;
            var id = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sandbox.Id)))[..16].ToLowerInvariant();
            return string.Create(CultureInfo.InvariantCulture, $"{folder.DeviceMajor}.{folder.DeviceMinor}-{folder.Inode}-{id}");
        }
        finally { OpenAt2.close(state); }
    }

    /// <summary>/run/sandbox/machines opened (made when asked) level by level (<see cref="RootRunFolders"/>); -ENOENT when missing and not made.</summary>
    private static int OpenMachinesRoot(bool create) =>
        RootRunFolders.Open("/run", create, SandboxErrors.MachineFolderUnusable, ("sandbox", RootRunFolders.Shared), ("machines", RootRunFolders.Private));

    /// <summary>Deletes <paramref name="key"/>'s folder below <paramref name="machines"/> with its files (only root's files are ever there).</summary>
    private static void DeleteEntry(int machines, string key)
    {
        var fd = OpenAt2.openat(machines, key, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0) return;
        try
        {
            foreach (var name in DirectoryCalls.ReadNames(fd, out _))
                DirectoryCalls.Unlink(fd, name, 0);
        }
        finally { OpenAt2.close(fd); }
        OpenAt2.unlinkat(machines, key, AT_REMOVEDIR);
    }

    private const int AT_REMOVEDIR = 0x200;

    private static SandboxException Unsafe(string path, int errno) =>
        SandboxErrors.MachineFolderUnusable(path, LibC.ErrorText(errno));

    public void Dispose()
    {
        if (_fd >= 0) OpenAt2.close(_fd);
        _fd = -1;
    }
}

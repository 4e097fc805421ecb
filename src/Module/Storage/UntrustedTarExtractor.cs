using System.Formats.Tar;
using System.Runtime.InteropServices;
using Sandbox.Native;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Storage;

/// <summary>
/// Unpacks a tar stream that a sandbox produced (by its own tar binary, so every byte is the
/// sandbox's choice) into a host folder, as data only. Created: regular files (permissions without
/// setuid, setgid or sticky bits), folders, and symbolic links whose target is relative and never
/// climbs ('..'), so a link can only lead further down the copied tree, through other such links too.
/// Skipped: device nodes, FIFOs, hard links, absolute or climbing links, names with '..', names
/// outside the one item asked for. Everything is created by this process, so it belongs to the
/// caller, relative to the destination folder's descriptor, folder by folder with openat2
/// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS and files with O_CREAT|O_EXCL|O_NOFOLLOW: no entry can write
/// through a link an earlier entry (or anyone else) put in the destination.
/// Under sudo each file, folder and link is given to the caller as it is made, through the descriptor
/// it was made or opened by (<see cref="SudoCaller.HandOverHeld"/>), never by its path afterwards:
/// the destination is the caller's, and once the copy is written they could swap it (or any folder of
/// it they own) for a link to /etc, or a file for a hard link to /etc/shadow, and a chown by path
/// would follow. Only what this copy made changes owner; what was there before keeps its owner.
/// The stream is read as it arrives, through one fixed buffer: file contents go to their file in
/// chunks, never whole into memory, and what is accepted is bounded (<see cref="CopyOutLimits"/>:
/// bytes read, bytes written, entries). A bound crossed, a malformed stream, or one that ends before
/// the archive does, is an error that says what was written so far; it is left in place, incomplete,
/// and nothing that was in the destination before is removed beyond what the old copy semantics
/// replace (an entry of the same name).
/// </summary>
internal sealed class UntrustedTarExtractor
{
    /// <summary>Deeper trees are refused: a path of thousands of folders is an attack, not data.</summary>
    public const int MaxDepth = 256;

    private const ulong Beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    private readonly int _destination;
    private readonly string _destinationPath;
    private readonly string _item;
    private readonly CopyOutLimits _limits;
    private readonly SudoCaller? _giveTo;
    /// <summary>
    /// The open folders from the destination down to the last parent an entry used (index 0 is the
    /// destination itself, not owned): tar writes a tree depth first, so the next entry's parent is
    /// almost always this one or one more level, and only the levels that differ are opened again.
    /// </summary>
    private readonly List<(string Name, int Fd)> _openPath = new();
    private readonly uint _umask = ProcessUmask.Read();
    private BoundedStream? _stream;
    private readonly byte[] _chunk = new byte[128 * 1024];

    private UntrustedTarExtractor(int destination, string destinationPath, string item, CopyOutLimits limits, SudoCaller? giveTo)
    {
        _giveTo = giveTo;
        _destination = destination;
        _destinationPath = destinationPath;
        _item = item;
        _limits = limits;
    }

    /// <summary>Entries taken from the stream so far (skipped ones included).</summary>
    public long Entries { get; private set; }

    /// <summary>Files, folders and links this copy made so far.</summary>
    public long Created { get; private set; }

    /// <summary>Folders opened so far (to reach an entry's parent or the folder an entry names): the work done, for tests to bound.</summary>
    public long FolderOpens { get; private set; }

    /// <summary>Bytes written into files so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>How many skipped entries <see cref="Skipped"/> lists at most: a stream of a million skipped entries must not become a million-item list.</summary>
    public const int MaxSkippedListed = 100;

    /// <summary>
    /// The first <see cref="MaxSkippedListed"/> entries left out, each with why: for the log, and to
    /// tell the caller if it was the item itself (the item comes first in the stream).
    /// </summary>
    public List<(string Name, string Reason)> Skipped { get; } = new();

    /// <summary>All entries left out, listed or not.</summary>
    public long SkippedCount { get; private set; }

    /// <summary>Whether the item asked for was created (as a file, folder or link).</summary>
    public bool ItemCreated { get; private set; }

    /// <summary>
    /// Unpacks <paramref name="tar"/> into <paramref name="destinationFolder"/>; only entries named
    /// <paramref name="item"/> or under it are taken. <paramref name="tar"/> is read to its end
    /// (a pipe: the writer must not be left blocked), within <paramref name="limits"/> (by default
    /// <see cref="CopyOutLimits.For"/> the destination). What it makes is given to <paramref name="giveTo"/>
    /// (the sudo caller) as it is made.
    /// </summary>
    public static UntrustedTarExtractor Extract(Stream tar, string destinationFolder, string item, CopyOutLimits? limits = null, SudoCaller? giveTo = null)
    {
        var destination = Open(-100, destinationFolder, O_PATH | O_DIRECTORY, 0);
        if (destination < 0) throw SandboxErrors.InvalidPath("-Destination", destinationFolder, $"it cannot be opened ({ErrorText(-destination)}).");
        try
        {
            var extractor = new UntrustedTarExtractor(destination, destinationFolder, item, limits ?? CopyOutLimits.For(destinationFolder), giveTo);
            try { extractor.Run(tar); }
            finally { extractor.CloseOpenPath(0); }
            return extractor;
        }
        finally { close(destination); }
    }

    private void Run(Stream tar)
    {
        _stream = new BoundedStream(tar, _limits.MaxBytes, () => TooLarge(_limits.DescribeBytes()));
        try
        {
            var reader = new TarStreamReader(_stream);
            while (reader.Next() is { } entry)
            {
                if (++Entries > _limits.MaxEntries) throw TooLarge($"{_limits.MaxEntries} entries");
                // A size the bound cannot hold is refused before a byte of it is written.
                if (entry.Size > _limits.MaxBytes - _stream.Consumed)
                    throw TooLarge($"{_limits.DescribeBytes()}: '{Shorten(entry.Name)}' announces {entry.Size} bytes");
                Take(entry, reader);
            }
            ReadTrailingPadding();
        }
        catch (EndOfStreamException e)
        {
            throw Damaged($"ends before the archive does ({e.Message})");
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // A malformed stream, or a pipe cut before its end.
            throw Damaged($"is malformed ({e.Message})");
        }
    }

    /// <summary>
    /// After the end marker only tar's zero padding may follow, and not much of it: the stream is
    /// read to its end (so the sandbox's tar can exit) but never for ever.
    /// </summary>
    private void ReadTrailingPadding()
    {
        var buffer = new byte[64 * 1024];
        long trailing = 0;
        int n;
        while ((n = _stream!.Read(buffer, 0, buffer.Length)) > 0)
        {
            trailing += n;
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
                throw Damaged("has data after the end of the archive");
            if (trailing > CopyOutLimits.MaxTrailingBytes)
                throw Damaged($"goes on for more than {CopyOutLimits.MaxTrailingBytes} bytes after the end of the archive");
        }
    }

    private void Take(TarStreamEntry entry, TarStreamReader reader)
    {
        var name = entry.Name;
        var segments = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != ".").ToArray();
        if (name.StartsWith('/') || segments.Length == 0 || segments.Contains("..") || segments[0] != _item)
        {
            Skip(name, "its name is absolute, climbs with '..' or is outside the item asked for");
            return;
        }
        if (segments.Length > MaxDepth) throw Failed($"'{Shorten(name)}' is more than {MaxDepth} folders deep");
        var isItem = segments.Length == 1;
        // rwxrwxrwx only (never setuid, setgid or sticky), less what the caller's umask withholds,
        // as GNU tar does for non-root: a 0777 entry must not come out writable by everyone.
        var permissions = (uint)entry.Mode & 0x1FF & ~_umask;

        switch (entry.Type)
        {
            case TarEntryType.Directory:
                if (MakeFolder(name, segments, permissions | 0x1C0 /* u+rwx: the caller can always clean up */) && isItem) ItemCreated = true;
                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                if (WriteFile(name, segments, permissions, reader) && isItem) ItemCreated = true;
                break;
            case TarEntryType.SymbolicLink:
                if (isItem) Skip(name, "it is a symbolic link, whose target would be looked up on the host, next to it");
                else if (IsDownward(entry.LinkName)) { if (MakeLink(name, segments, entry.LinkName)) ItemCreated |= isItem; }
                else Skip(name, $"it is a symbolic link to '{entry.LinkName}', which is absolute or climbs with '..'");
                break;
            default:
                Skip(name, $"it is a {entry.Type} entry; only files, folders and links come out of a sandbox");
                break;
        }
    }

    /// <summary>
    /// A relative target without '..': from wherever the link is, it can only lead further down.
    /// Never a NUL: the kernel would read the target only up to it, after this check read all of it
    /// (the reader refuses NULs already; this holds if it ever does not).
    /// </summary>
    private static bool IsDownward(string target) =>
        target.Length > 0 && !target.StartsWith('/') && !target.Contains('\0') && !target.Split('/').Contains("..");

    private bool MakeFolder(string name, string[] segments, uint mode)
    {
        var parent = ParentFolder(segments[..^1]);
        if (parent < 0) { Skip(name, $"a folder on its path is a link or a file ({ErrorText(-parent)})"); return false; }
        var fd = OpenOrMakeFolder(parent, segments[^1], mode);
        if (fd < 0) { Skip(name, $"it cannot be made a folder ({ErrorText(-fd)})"); return false; }
        close(fd);
        Created++;
        return true;
    }

    private unsafe bool WriteFile(string name, string[] segments, uint mode, TarStreamReader data)
    {
        var parent = ParentFolder(segments[..^1]);
        if (parent < 0) { Skip(name, $"a folder on its path is a link or a file ({ErrorText(-parent)})"); return false; }
        {
            var leaf = segments[^1];
            var fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x180);
            if (fd < 0 && Marshal.GetLastPInvokeError() == EEXIST && unlinkat(parent, leaf, 0) == 0)
                fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x180);
            if (fd < 0) { Skip(name, $"it cannot be created ({ErrorText(Marshal.GetLastPInvokeError())})"); return false; }
            Created++;
            try
            {
                {
                    var buffer = _chunk;
                    int n;
                    while ((n = data.ReadData(buffer)) > 0)
                    {
                        BytesWritten += n;
                        if (BytesWritten > _limits.MaxBytes) throw TooLarge($"{_limits.DescribeBytes()} written");
                        fixed (byte* p = buffer)
                        {
                            for (var done = 0; done < n;)
                            {
                                var written = write(fd, p + done, (nuint)(n - done));
                                if (written < 0) throw Failed($"writing '{Shorten(name)}' failed: {ErrorText(Marshal.GetLastPInvokeError())}");
                                done += (int)written;
                            }
                        }
                    }
                }
                fchmod(fd, mode);
                _giveTo?.HandOverHeld(fd, Path.Combine(_destinationPath, name));
            }
            finally { close(fd); }
            return true;
        }
    }

    private bool MakeLink(string name, string[] segments, string target)
    {
        var parent = ParentFolder(segments[..^1]);
        if (parent < 0) { Skip(name, $"a folder on its path is a link or a file ({ErrorText(-parent)})"); return false; }
        {
            var leaf = segments[^1];
            var made = symlinkat(target, parent, leaf);
            if (made != 0 && Marshal.GetLastPInvokeError() == EEXIST && unlinkat(parent, leaf, 0) == 0)
                made = symlinkat(target, parent, leaf);
            if (made != 0) { Skip(name, $"it cannot be created ({ErrorText(Marshal.GetLastPInvokeError())})"); return false; }
            Created++;
            if (_giveTo is not null) HandOverLink(parent, leaf, name);
            return true;
        }
    }

    /// <summary>
    /// A link has no descriptor of its own from symlinkat: it is opened by its name right after, and
    /// given over only if a link is what stands there. Its folder is the caller's by now, so they may
    /// have put something else at the name; a link is harmless to give, anything else is not ours.
    /// </summary>
    private void HandOverLink(int parent, string leaf, string name)
    {
        var fd = Open(parent, leaf, O_PATH | O_NOFOLLOW, 0);
        if (fd < 0) return;
        try
        {
            if (FileStatus.OfDescriptor(fd) is { IsSymbolicLink: true }) _giveTo!.HandOverHeld(fd, Path.Combine(_destinationPath, name));
        }
        finally { close(fd); }
    }

    /// <summary>
    /// The folder at <paramref name="segments"/> under the destination (a descriptor this extractor
    /// keeps and closes; callers must not), reached one segment at a time, never through a link,
    /// making missing ones (0755 less the umask, u+rwx kept). Only the levels below what it shares
    /// with the previous call are opened, so a depth-first stream costs one open per new folder.
    /// -errno on failure.
    /// </summary>
    private int ParentFolder(string[] segments)
    {
        if (_openPath.Count == 0) _openPath.Add(("", _destination));
        var shared = 0;
        while (shared < segments.Length && shared + 1 < _openPath.Count && _openPath[shared + 1].Name == segments[shared]) shared++;
        CloseOpenPath(shared + 1);
        for (var i = shared; i < segments.Length; i++)
        {
            var next = OpenOrMakeFolder(_openPath[^1].Fd, segments[i], 0x1ED /* 0755 */ & ~_umask);
            if (next < 0) return next;
            _openPath.Add((segments[i], next));
        }
        return _openPath[^1].Fd;
    }

    /// <summary>Closes the open folders from level <paramref name="keep"/> down (the destination, level 0, is never closed here).</summary>
    private void CloseOpenPath(int keep)
    {
        for (var i = _openPath.Count - 1; i >= Math.Max(keep, 1); i--)
        {
            close(_openPath[i].Fd);
            _openPath.RemoveAt(i);
        }
    }

    /// <summary>
    /// Opens <paramref name="name"/> in <paramref name="parent"/> as a folder, never through a link;
    /// if missing, makes it and gives it <paramref name="mode"/> (with u+rwx: the caller can always
    /// fill and clean it up) at once, so no list of folders waits for the end. -errno on failure.
    /// </summary>
    private int OpenOrMakeFolder(int parent, string name, uint mode)
    {
        FolderOpens++;
        var fd = Open(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW, Beneath);
        if (fd != -ENOENT || mkdirat(parent, name, 0x1C0) != 0) return fd;
        // A descriptor that can be chmod-ed (an O_PATH one cannot), of the folder just made.
        fd = Open(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, Beneath);
        if (fd < 0) return fd;
        fchmod(fd, mode | 0x1C0);
        _giveTo?.HandOverHeld(fd, DescriptorPath.Of(fd)); // a folder: never refused, so fd is never left open by a throw
        return fd;
    }

    private void Skip(string name, string reason)
    {
        if (++SkippedCount <= MaxSkippedListed) Skipped.Add((Shorten(name), reason));
    }

    private static string Shorten(string name) => name.Length <= 200 ? name : name[..200] + "...";

    private string ItemPath => Path.Combine(_destinationPath, _item);

    /// <summary>What this copy has put into the destination so far, for an error.</summary>
    public string DescribeWritten() => Created == 0
        ? "Nothing was written."
        : $"{Created} files, folders and links ({BytesWritten} bytes of file contents) had been written under '{ItemPath}': they are left there, incomplete; remove them if you do not want them.";

    private SandboxException TooLarge(string limit) => SandboxErrors.CopyOutTooLarge(ItemPath, limit, DescribeWritten());

    private SandboxException Damaged(string problem) => SandboxErrors.CopyOutDamaged(ItemPath, problem, DescribeWritten());

    private SandboxException Failed(string problem) => SandboxErrors.CopyFailed(_destinationPath, $"what the sandbox sent is refused: {problem}.");
}

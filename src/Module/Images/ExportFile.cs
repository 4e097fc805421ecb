using System.Runtime.InteropServices;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images;

/// <summary>
/// The tarball Export-SandboxImage writes, held by descriptor from its making to its naming. Under sudo
/// root writes into a folder the caller named and owns, and the caller is not to be trusted: by path,
/// a folder swapped for a link, or the file swapped for a hard link to one of root's files, between
/// tar's writing and the hand-over would have root's chown (and rename) act on root's files. So the
/// folder is opened once; the partial file is made in it by this process (O_CREAT|O_EXCL|O_NOFOLLOW,
/// so never through a link planted at its name) and kept open; root's tar writes into that very file
/// through its descriptor's /proc name (<see cref="DescriptorPath"/>), with the compressor named
/// outright since that name has no suffix; the file is given to the caller through the same descriptor
/// (<see cref="SudoCaller.HandOverHeld"/>); and it gets its name by renameat within the held folder.
/// A user's own export has nobody else to fear in its folder, and its tar may run in a user namespace
/// that cannot look into our descriptors, so there tar writes the partial file by its path.
/// A file not published is removed (by its name in the held folder) on Dispose.
/// </summary>
internal sealed class ExportFile : IDisposable
{
    private const int AT_FDCWD = -100;
    private int _folder;
    private int _file;
    private readonly string _folderPath;
    private readonly string _partialName;
    private readonly string _targetName;
    private bool _published;

    private ExportFile(int folder, int file, string folderPath, string partialName, string targetName)
    {
        _folder = folder;
        _file = file;
        _folderPath = folderPath;
        _partialName = partialName;
        _targetName = targetName;
    }

    /// <summary>The tar options that pick the compressor for <paramref name="target"/>'s suffix (none for .tar).</summary>
    public static string[] CompressionOptions(string target) =>
        target.EndsWith(".tar.zst", StringComparison.Ordinal) ? new[] { "--zstd" }
        : target.EndsWith(".tar.gz", StringComparison.Ordinal) || target.EndsWith(".tgz", StringComparison.Ordinal) ? new[] { "--gzip" }
        : target.EndsWith(".tar.xz", StringComparison.Ordinal) ? new[] { "--xz" }
        : Array.Empty<string>();

    /// <summary>
    /// Opens <paramref name="target"/>'s folder (as the caller named it, once) and makes the partial
    /// file beside where the target will be. Throws InvalidPath when the folder cannot be opened.
    /// </summary>
    public static ExportFile Create(string target, string pathAsGiven)
    {
        var folderPath = Path.GetDirectoryName(target)!;
        var folder = OpenAt2.Open(AT_FDCWD, folderPath, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, 0);
        if (folder < 0) throw SandboxErrors.InvalidPath("-Path", pathAsGiven, $"the folder {folderPath} cannot be opened ({OpenAt2.ErrorText(-folder)}).");
        var partialName = $".partial-{Guid.NewGuid():N}-{Path.GetFileName(target)}";
        var file = OpenAt2.openat(folder, partialName,
            OpenAt2.O_WRONLY | OpenAt2.O_CREAT | OpenAt2.O_EXCL | OpenAt2.O_NOFOLLOW | OpenAt2.O_CLOEXEC, 0b110_110_110 /* less the umask, as tar makes it */);
        if (file < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            OpenAt2.close(folder);
            throw SandboxErrors.InvalidPath("-Path", pathAsGiven, $"a file cannot be made in {folderPath} ({OpenAt2.ErrorText(errno)}).");
        }
        return new ExportFile(folder, file, folderPath, partialName, Path.GetFileName(target));
    }

    /// <summary>Where tar is to write (see the class): the held file's /proc name as root, else its path.</summary>
    public string TarPath => UserIdentity.IsRoot ? DescriptorPath.Of(_file) : Path.Combine(_folderPath, _partialName);

    /// <summary>
    /// Gives the written file to <paramref name="giveTo"/> (the sudo caller, if any) by its descriptor,
    /// then names it: renameat within the held folder, replacing what had the name (as -Force asks).
    /// </summary>
    public void Publish(SudoCaller? giveTo)
    {
        var target = Path.Combine(_folderPath, _targetName);
        giveTo?.HandOverHeld(_file, target);
        if (OpenAt2.renameat(_folder, _partialName, _folder, _targetName) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot name the export '{target}': {OpenAt2.ErrorText(errno)}", errno);
        }
        _published = true;
    }

    public void Dispose()
    {
        if (!_published && _folder >= 0) OpenAt2.unlinkat(_folder, _partialName, 0);
        if (_file >= 0) OpenAt2.close(_file);
        if (_folder >= 0) OpenAt2.close(_folder);
        _file = _folder = -1;
    }
}

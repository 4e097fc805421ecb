using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// The store's permissions: every folder 0700 and every record 0600, owned by the store's owner.
/// Whatever a sandbox writes (a setuid copy of a shell, say) and whatever an image holds (Debian's
/// own setuid binaries) then sits below a folder no other host user can enter, as root and rootless,
/// whatever the modes inside. This is the one mechanism: the overlay mounted on the host for root
/// Bubblewrap stays without nosuid, so setuid programs keep working inside the sandbox itself.
/// </summary>
internal static class PrivateFiles
{
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const uint GroupAndOthers = 0b000_111_111;

    /// <summary>Makes the folder 0700, or tightens it if an older version left it open (missing parents: see <see cref="EnsureParents"/>).</summary>
    public static void EnsureFolder(string folder)
    {
        if (FileStatus.Of(folder) is not { } status)
        {
            if (Path.GetDirectoryName(folder) is { } parent) EnsureParents(parent); // inside a checked store, normally none
            if (StoreEntry.StoreRootOf(folder) is { } root && root != Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)))
            {
                // Inside the checked store its hand-over is reached beneath the store root, never through a link (StoreEntry).
                Directory.CreateDirectory(folder, FolderMode);
                StoreLayout.HandOver(folder);
            }
            else CallerFolders.Make(folder, (uint)FolderMode, SudoCaller.Current); // the store root: by descriptor from above
            return;
        }
        Tighten(folder, status);
    }

    /// <summary>
    /// Makes the missing folders above the store (~/.local/share under sudo, say) with the usual mode and,
    /// under sudo, the caller as owner: only the store's own folders are private. Made and handed over
    /// by descriptor (<see cref="CallerFolders"/>). Its caller checks the path again afterwards, since
    /// someone else may have made one of them first.
    /// </summary>
    public static void EnsureParents(string folder) => CallerFolders.Make(folder, UsualFolderMode, SudoCaller.Current);

    /// <summary>What mkdir -p gives (0777 less the umask): folders above the store are not the store's to make private.</summary>
    private const uint UsualFolderMode = 0b111_111_111;

    /// <summary>Takes group and other access away from an existing folder or file (never through a link).</summary>
    public static void Tighten(string path)
    {
        if (FileStatus.Of(path) is { } status) Tighten(path, status);
    }

    /// <summary>As <see cref="Tighten(string)"/>, with the status the caller just read.</summary>
    public static void Tighten(string path, FileStatus status)
    {
        if (status.IsSymbolicLink || (status.Permissions & GroupAndOthers) == 0) return;
        // As root, through a descriptor reached beneath the store: under sudo its folders are the caller's to swap.
        if (UserIdentity.IsRoot && StoreEntry.Tighten(path, GroupAndOthers)) return;
        // Someone else's store cannot be changed by us; it stays as its owner left it.
        try { File.SetUnixFileMode(path, (UnixFileMode)(status.Permissions & ~GroupAndOthers)); }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Writes a whole record as a fresh 0600 file (a leftover of that name is replaced, not reused with its mode).</summary>
    public static void WriteNew(string path, string text)
    {
        File.Delete(path);
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = FileMode,
        });
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    }
}

using System.Runtime.InteropServices;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Storage;

/// <summary>
/// The folders of root's under /run/sandbox that root's tools are given by path (a build's mount
/// point, a booted machine's runtime files): made when missing and opened one level at a time
/// relative to the one before, never following a link; each must be root's folder and writable by
/// root alone, and a private one (0700) not open to anybody else at all. Only root can write /run,
/// so a folder that passes was made by root and nobody else can change what its path leads to.
/// </summary>
internal static class RootRunFolders
{
    public const uint Shared = 0b111_101_101, Private = 0b111_000_000;
    private const uint WritableByOthers = 0b000_010_010, OpenToOthers = 0b000_111_111;
    private const int ENOENT = 2;

    /// <summary>Builds the error a caller reports for an unusable folder: its path and what is wrong with it.</summary>
    public delegate Exception Refusal(string path, string problem);

    /// <summary>
    /// Opens <paramref name="top"/> (the system's, never made here) and then each of
    /// <paramref name="steps"/> below it, made with its mode when <paramref name="create"/>; returns
    /// the last folder's O_PATH descriptor, or -ENOENT when one is missing and not to be made.
    /// </summary>
    public static int Open(string top, bool create, Refusal refuse, params (string Name, uint Mode)[] steps)
    {
        var folder = Native.OpenAt2.Open(-100 /* AT_FDCWD */, top, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
        if (folder < 0) throw refuse(top, $"it is a link or not a folder ({ErrorText(-folder)})");
        var path = top;
        try
        {
            Check(folder, path, Shared, refuse);
            foreach (var (name, mode) in steps)
            {
                var next = OpenLevel(folder, path, name, mode, create, refuse);
                if (next < 0) return next;
                close(folder);
                folder = next;
                path += "/" + name;
            }
            var opened = folder;
            folder = -1;
            return opened;
        }
        finally
        {
            if (folder >= 0) close(folder);
        }
    }

    /// <summary>One level of <see cref="Open"/>: <paramref name="name"/> in <paramref name="parent"/> (whose path is <paramref name="parentPath"/>).</summary>
    public static int OpenLevel(int parent, string parentPath, string name, uint mode, bool create, Refusal refuse)
    {
        var path = parentPath + "/" + name;
        // EEXIST is the usual case once the first caller made it.
        if (create && mkdirat(parent, name, mode) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != EEXIST)
            throw refuse(path, "it could not be made: " + ErrorText(errno));
        var next = Native.OpenAt2.Open(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
        if (next == -ENOENT && !create) return next;
        if (next < 0) throw refuse(path, $"it is a link or not a folder ({ErrorText(-next)})");
        try
        {
            Check(next, path, mode, refuse);
            return next;
        }
        catch
        {
            close(next);
            throw;
        }
    }

    private static void Check(int folder, string path, uint mode, Refusal refuse)
    {
        if (StatOf(folder) is not { } seen || seen.Uid != 0) throw refuse(path, "it is not root's");
        var forbidden = mode == Private ? OpenToOthers : WritableByOthers;
        if ((seen.Permissions & forbidden) != 0)
            throw refuse(path, $"its mode is {Convert.ToString(seen.Permissions, 8)}, open to other users");
    }
}

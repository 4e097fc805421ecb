using System.Runtime.InteropServices;

namespace Sandbox.Images.Layers;

/// <summary>
/// The times of one entry that FileStatus leaves out, in nanoseconds since the epoch, read with
/// statx without following a final link: birth (null where the file system does not record it),
/// status change and modification. A FakeChroot commit tells the step's changes from the copy's
/// own entries by them (see <see cref="FakeChrootLayerPlan"/>).
/// </summary>
internal readonly partial record struct EntryTimes(long? Birth, long Change, long Modification)
{
    /// <summary>The earliest time the entry shows (a step can move birth and change only forward, modification either way).</summary>
    public long Earliest => Math.Min(Math.Min(Birth ?? long.MaxValue, Change), Modification);

    public static EntryTimes? Of(string path) => Read(AtFdCwd, path, AtSymlinkNoFollow);

    /// <summary>The entry <paramref name="name"/> (NUL-terminated) in the folder open as <paramref name="folderFd"/>.</summary>
    public static unsafe EntryTimes? Of(int folderFd, byte[] name)
    {
        fixed (byte* pointer = name) return Read(folderFd, pointer, AtSymlinkNoFollow);
    }

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBirthTime = 0x800;
    private const uint StatxChangeTime = 0x80;
    private const uint StatxModificationTime = 0x40;

    private static unsafe EntryTimes? Read(int folderFd, string path, int flags)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* pointer = bytes) return Read(folderFd, pointer, flags);
    }

    private static unsafe EntryTimes? Read(int folderFd, byte* path, int flags)
    {
        var buffer = stackalloc byte[256];
        if (statx(folderFd, path, flags, StatxBirthTime | StatxChangeTime | StatxModificationTime, buffer) != 0) return null;
        // struct statx (linux/stat.h): stx_mask at 0; statx_timestamp {s64 sec; u32 nsec; s32 pad}:
        // btime at 80, ctime at 96, mtime at 112.
        var mask = *(uint*)buffer;
        static long At(byte* b, int offset) => *(long*)(b + offset) * 1_000_000_000L + *(uint*)(b + offset + 8);
        return new EntryTimes((mask & StatxBirthTime) != 0 ? At(buffer, 80) : null, At(buffer, 96), At(buffer, 112));
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int statx(int dirFd, byte* path, int flags, uint mask, byte* buffer);
}

using Sandbox.Namespaces;
using Sandbox.Native;

namespace Sandbox.Images.Layers;

/// <summary>
/// How owners inside a sandbox sit on disk in this user's layers: the same mapping as the
/// sandboxes' user namespace (<see cref="MountNamespace.UnsharePrefix"/>): root inside is the user,
/// ids 1..N are the user's subordinate ids, nothing else can be held.
/// </summary>
internal sealed partial class RootlessOwners
{
    private readonly uint _user;
    private readonly SubordinateIds? _ids;

    private RootlessOwners(uint user, SubordinateIds? ids)
    {
        _user = user;
        _ids = ids;
    }

    /// <summary>This process's mapping (subordinate ids only when newuidmap can map them, as for the sandboxes).</summary>
    public static RootlessOwners Current() => new(UserIdentity.EffectiveUid,
        Processes.ToolLocator.Find("newuidmap") is not null ? SubordinateIds.ForCurrentUser() : null);

    internal static RootlessOwners For(uint user, SubordinateIds? ids) => new(user, ids);

    /// <summary>The highest id inside that has an owner on disk (0: only root).</summary>
    public long MappedCount => _ids?.Count ?? 0;

    public bool CanHold(long uid, long gid) => uid >= 0 && gid >= 0 && uid <= MappedCount && gid <= MappedCount;

    /// <summary>The owner a file of host owner <paramref name="uid"/>:<paramref name="gid"/> has inside, or null when the mapping has no such id (it shows as nobody).</summary>
    public (long Uid, long Gid)? Inside(uint uid, uint gid) =>
        ToInside(uid, _user, _ids?.UidStart) is { } u && ToInside(gid, getegid(), _ids?.GidStart) is { } g ? (u, g) : null;

    private long? ToInside(uint host, uint self, long? start)
    {
        if (host == self) return 0;
        if (start is { } first && host >= first && host < first + MappedCount) return host - first + 1;
        return null;
    }

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial uint getegid();
}

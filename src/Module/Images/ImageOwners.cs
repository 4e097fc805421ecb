using Sandbox.Native;

namespace Sandbox.Images;

/// <summary>
/// An image's files are owned as its maker could own them: built or imported by root, by the image's
/// own ids; built or imported rootless, by the user (the image's root) and their subordinate ids.
/// Nothing ever re-owns them (under sudo only the store's own folders and records are handed to the
/// user). So a store shared between `sudo pwsh` and the user's own sessions can hold images of both
/// kinds, and an image of the other kind would show the wrong owners inside a sandbox (root's files
/// as "UNKNOWN 1001" as root, as "nobody" rootless): that is refused with a clear error instead.
/// </summary>
internal static class ImageOwners
{
    public static void RequireUsable(SandboxImage image, uint effectiveUid, SudoCaller? sudo)
    {
        var maker = image.BuilderUid ?? Guess(image.RootFs, effectiveUid, sudo);
        if (maker is not { } uid || uid == effectiveUid) return;
        throw SandboxErrors.ImageOwnerMismatch(image.Name, uid);
    }

    /// <summary>
    /// Images of older versions record no maker: the owner of their root folder tells, but only in the
    /// two cases that cannot be an honest import: root seeing its sudo caller's rootless image, and a
    /// user seeing a root-owned one.
    /// </summary>
    private static uint? Guess(string rootfs, uint effectiveUid, SudoCaller? sudo)
    {
        if (FileStatus.Of(rootfs) is not { } status) return null;
        if (effectiveUid == 0 && sudo is not null && status.Uid == (uint)sudo.Uid) return status.Uid;
        if (effectiveUid != 0 && status.Uid == 0) return 0;
        return null;
    }
}

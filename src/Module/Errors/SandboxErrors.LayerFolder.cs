namespace Sandbox;

/// <summary>A layer folder (a sandbox's upper/, an image's layer) there but not readable (see Storage.LayerFolder).</summary>
public static partial class SandboxErrors
{
    /// <summary>
    /// The engine could not open or enter a layer folder for a reason other than its absence: read as
    /// empty, it would hide a sandbox's changes or an image's users, so the read stops instead.
    /// </summary>
    public static SandboxException LayerFolderUnreadable(string folder, string errorText) => new(
        "LayerFolderUnreadable", SandboxErrorKind.PermissionDenied,
        $"The layer folder '{folder}' is there but cannot be read ({errorText}); reading it as empty would hide what it holds, so nothing is returned.",
        $"Give its owner read and search permission on it again (chmod u+rx '{folder}', as the store's owner; a command in the sandbox " +
        "that ran chmod on / changes this folder's mode), then try again.", folder);
}

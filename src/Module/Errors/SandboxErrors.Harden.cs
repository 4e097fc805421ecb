namespace Sandbox;

/// <summary>The store's removal and name paths, hardened: a store root that changed since it was checked.</summary>
public static partial class SandboxErrors
{
    /// <summary>The folder at the store root's path is no longer the one StoreRootGuard accepted (a link, or another folder renamed there).</summary>
    public static SandboxException StoreRootChanged(string storeRoot, string problem) => new(
        "StoreRootChanged", SandboxErrorKind.PermissionDenied,
        $"Refusing the sandbox store {storeRoot}: {problem}, so it is not the store that was checked, and nothing was moved, written or deleted in it.",
        $"Check what {storeRoot} is now and who changed it. If it is your store (a plain folder of yours, mode 0700), run the command again: it is checked anew.",
        storeRoot);
}

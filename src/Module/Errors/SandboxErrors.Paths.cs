namespace Sandbox;

/// <summary>Errors of host-side access to what a sandbox controls: its files, bind targets and copies.</summary>
public static partial class SandboxErrors
{
    /// <summary>Root Bubblewrap cannot run a command as another user over a store that root without capabilities cannot enter (under sudo: the caller's 0700 store).</summary>
    public static SandboxException UserNeedsReachableStore(string sandboxName, string user, string barrier) => new(
        "UserNeedsReachableStore", SandboxErrorKind.InvalidOperation,
        $"Root Bubblewrap cannot run a command of sandbox '{sandboxName}' as '{user}': bwrap sets up another user's command as a root without privileges, which may not enter '{barrier}' (under sudo the store is the calling user's, mode 0700).",
        $"Run the command as root and switch user inside it (Invoke-SandboxCommand $sb -- setpriv --reuid={user} --regid={user} --init-groups -- COMMAND), or run pwsh as that user without sudo (rootless Bubblewrap), or give root a store of its own (unset SANDBOX_HOME, run as root without sudo).",
        barrier);

    /// <summary>Copy-SandboxItem into a sandbox of a host path that is not there: most often a path of the sandbox's meant to be copied out.</summary>
    public static SandboxException CopySourceMissing(string hostPath) => new(
        "CopySourceMissing", SandboxErrorKind.ObjectNotFound,
        $"-Path '{hostPath}' does not exist on the host: without -FromSandbox, Copy-SandboxItem copies host files into the sandbox.",
        $"To copy '{hostPath}' out of the sandbox, add -FromSandbox (Copy-SandboxItem -Sandbox $sb -Path {hostPath} -Destination ./ -FromSandbox); to copy in, name a host file or folder that exists.",
        hostPath);

    public static SandboxException UnsafeSandboxFile(string pathInSandbox, string what) => new(
        "UnsafeSandboxFile", SandboxErrorKind.PermissionDenied,
        $"The sandbox's {pathInSandbox} is {what}: the host refuses to read it.",
        "Something in the sandbox replaced that file; put a regular file back there (inside the sandbox), or remove the sandbox.",
        pathInSandbox);

    public static SandboxException BindRefused(string spec, string why) => new(
        "BindRefused", SandboxErrorKind.PermissionDenied,
        $"Bind '{spec}' is refused: {why}",
        "Bind a folder of your own that holds only what the sandbox should see (copy files there first); never the store, an image, /proc, /sys or /dev.",
        spec);

    public static SandboxException BindTargetSubverted(string provider, string sandbox, string target, string problem) => new(
        "BindTargetSubverted", SandboxErrorKind.SetupFailure,
        $"The {provider} sandbox '{sandbox}' cannot bind {target}: {problem}",
        "Something in the sandbox replaced a folder on the bind's path with a link or a file; remove it inside the sandbox (or remove the sandbox), then run the command again.",
        sandbox);

    public static SandboxException BindSourceChanged(string provider, string sandbox, string hostPath, string leadsTo) => new(
        "BindSourceChanged", SandboxErrorKind.SetupFailure,
        $"The {provider} sandbox '{sandbox}' cannot bind {hostPath}: that host path now leads through a link to {leadsTo}.",
        "A link was put on the bound host path (by the sandbox, if it lies in another bound folder); remove the link on the host, or remove the sandbox.",
        sandbox);

    public static SandboxException CopyRefused(string pathInSandbox, string why) => new(
        "CopyRefused", SandboxErrorKind.PermissionDenied,
        $"'{pathInSandbox}' is not copied out of the sandbox: {why}.",
        "Only regular files, folders and links that lead down into the copied folder come out; copy the file a link points to instead.",
        pathInSandbox);

    /// <summary>
    /// Copy-SandboxItem could not copy: tar failed on either side, or what the sandbox sent was
    /// refused as a whole (too many entries, too deep, a write failed). Never the FakeChroot pool's
    /// image copy, which is <see cref="ImageCopyFailed"/>.
    /// </summary>
    public static SandboxException CopyFailed(string path, string detail) => new(
        "CopyFailed", SandboxErrorKind.InvalidOperation,
        $"Copying '{path}' failed: {detail.Trim()}",
        "Check the path and that the image has tar and sh; if the sandbox holds a tree too large or deep to copy safely, copy a smaller part of it.",
        path);
}

namespace Sandbox;

/// <summary>Errors of publishing a FakeChroot sandbox's copy as an image layer (commit, derive with -Provider FakeChroot).</summary>
public static partial class SandboxErrors
{
    /// <summary>fakeroot's mknod makes a plain file that faked calls a device: it never becomes a node in a layer.</summary>
    public static SandboxException CommitDeviceNode(string sandbox, string path) => new(
        "CommitDeviceNode", SandboxErrorKind.InvalidOperation,
        $"Sandbox '{sandbox}' cannot be published as an image: '{path}' is a device node (made with mknod under fakeroot), and a layer never carries device nodes.",
        "Remove the device node in the step (rm it before it ends), or make it at run time instead; then commit or derive again.", sandbox);

    /// <summary>An owner the user's id mapping cannot hold on disk (no subordinate ids, or an id beyond the range).</summary>
    public static SandboxException CommitOwnerNotMappable(string sandbox, string path, long uid, long gid, long mappedCount) => new(
        "CommitOwnerNotMappable", SandboxErrorKind.InvalidOperation,
        $"Sandbox '{sandbox}' cannot be published as an image: '{path}' is owned by {uid}:{gid}, and this user's layers can hold owners 0 to {mappedCount} only (root inside is the user, other ids are the user's subordinate ids).",
        mappedCount == 0
            ? "Give the user subordinate ids (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER, and install uidmap), or leave the file owned by root in the step."
            : "chown the file to an id within the range in the step, or give the user a larger range in /etc/subuid and /etc/subgid.", sandbox);

    /// <summary>The layer's owners are set inside a user namespace, as every rootless layer's are.</summary>
    public static SandboxException CommitNeedsUserNamespaces(string sandbox, string reason) => new(
        "CommitNeedsUserNamespaces", SandboxErrorKind.NotInstalled,
        $"Sandbox '{sandbox}' cannot be published as an image: {reason} A rootless layer's owners are set in a user namespace, and sandboxes of a derived image read its layers through an overlay mounted in one.",
        Namespaces.UserNamespaces.Hint, sandbox);

    /// <summary>faked's table of owners could not be read (gone, malformed, or larger than any real sandbox makes).</summary>
    public static SandboxException CommitOwnersUnreadable(string sandbox, string reason) => new(
        "CommitOwnersUnreadable", SandboxErrorKind.SetupFailure,
        $"Sandbox '{sandbox}' cannot be published as an image: the owners its commands set (faked's table) could not be read: {reason}",
        "Run a command in the sandbox (it restarts faked) and try again; if it persists, recreate the sandbox.", sandbox);

    /// <summary>A folder of the copy its owner cannot list (chmod'ed by a static binary, past fakeroot): it would look empty, its parent's contents deleted.</summary>
    public static SandboxException CommitFolderUnlistable(string sandbox, string path, string mode) => new(
        "CommitFolderUnlistable", SandboxErrorKind.InvalidOperation,
        $"Sandbox '{sandbox}' cannot be published as an image: the folder '{path}' of its copy cannot be listed (mode {mode}), so what it holds cannot be told apart from what was deleted.",
        "Give the folder back its owner's read and search bits in the sandbox (chmod u+rx), then commit or derive again.", sandbox);
}

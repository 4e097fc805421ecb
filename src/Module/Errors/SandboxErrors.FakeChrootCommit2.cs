namespace Sandbox;

/// <summary>Errors of a FakeChroot commit reading what its sandbox's copy started as, and faked's saved table.</summary>
public static partial class SandboxErrors
{
    /// <summary>The record of which folder stood at each path of the copy when it was made (FarmFolders) is damaged or not ours.</summary>
    public static SandboxException CommitFolderRecordUnreadable(string sandbox, string file, string reason) => new(
        "CommitFolderRecordUnreadable", SandboxErrorKind.SetupFailure,
        $"Sandbox '{sandbox}' cannot be published as an image: the record of its copy's folders ('{file}'), which tells the folders its commands replaced from the image's, could not be read: {reason}",
        "Create a new sandbox of the image (it records its copy again) and run the step there; a derive (New-SandboxImage -From ... -Provider FakeChroot) always does.", sandbox);

    /// <summary>A folder of the copy became a link while the commit read it (its copy is read without following any link).</summary>
    public static SandboxException CommitCopyChanged(string sandbox, string detail) => new(
        "CommitCopyChanged", SandboxErrorKind.ResourceBusy,
        $"Sandbox '{sandbox}' cannot be published as an image: a folder of its copy was replaced by a link while it was being committed (a process of the sandbox still running?), and a commit reads nothing through links: {detail.Trim()}",
        "Stop the sandbox's background processes (or let them finish) and commit again; a derive runs its step in a new sandbox each time.", sandbox);

    /// <summary>faked's saved table is larger than any real sandbox's: refused before it is read.</summary>
    public static SandboxException CommitOwnersTableTooLarge(string sandbox, long bytes, long maxBytes) => new(
        "CommitOwnersTableTooLarge", SandboxErrorKind.InvalidOperation,
        $"Sandbox '{sandbox}' cannot be published as an image: the table of owners its commands set (faked's) is {bytes} bytes, more than the {maxBytes >> 20} MiB a commit reads (about four million files).",
        "Publish fewer files in one step (split the derive into several -Run steps, each derived from the last), or remove what the step does not need before it ends.", sandbox);

    /// <summary>faked did not save its table in time (stopped or hung by a process of the sandbox: it is the user's, like faked).</summary>
    public static SandboxException CommitOwnersSaveTimedOut(string sandbox, int seconds) => new(
        "CommitOwnersSaveTimedOut", SandboxErrorKind.OperationTimeout,
        $"Sandbox '{sandbox}' cannot be published as an image: its fakeroot daemon (faked) did not save the owners its commands set within {seconds} s; a process of the sandbox may have stopped it (kill -STOP) or be holding it.",
        "Stop the sandbox's leftover processes (Remove-Sandbox kills them all) and run the step again in a new sandbox; if faked was only slow, commit again.", sandbox);
}

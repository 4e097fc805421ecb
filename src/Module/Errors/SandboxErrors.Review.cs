namespace Sandbox;

/// <summary>Errors of the review fixes: a tree walk that cannot finish honestly.</summary>
public static partial class SandboxErrors
{
    /// <summary>
    /// A descriptor walk could not go back up because a folder was moved under it: the walk stops
    /// rather than go where it cannot check, and says so instead of returning part of the tree.
    /// </summary>
    public static SandboxException TreeChangedDuringWalk(string root, string reason) => new(
        "TreeChangedDuringWalk", SandboxErrorKind.InvalidOperation,
        $"The folder '{root}' changed while it was being walked ({reason}); what was found so far would be incomplete, so nothing is returned.",
        "Run Get-SandboxStat (or the copy) again when the sandbox's commands have finished: a command moving folders during the walk can hide its changes.",
        root);
}

namespace Sandbox;

/// <summary>Errors of booting a machine in a user namespace of its own (Enter-Sandbox -Boot).</summary>
public static partial class SandboxErrors
{
    public static SandboxException IdMappedMountFailed(string folder, string reason) => new(
        "IdMappedMountFailed", SandboxErrorKind.SetupFailure,
        $"-Boot could not give the booted machine an idmapped view of '{folder}': {reason}.",
        "A booted machine runs in a user namespace over idmapped mounts: it needs Linux 5.12 or newer and a file system " +
        "that supports idmapped mounts (ext4, xfs, btrfs, tmpfs 6.3+) for the sandbox store and its images. Enter without -Boot otherwise.",
        folder);

    public static SandboxException BootIdRangesExhausted(string claimFolder) => new(
        "BootIdRangesExhausted", SandboxErrorKind.ResourceBusy,
        $"Every host uid range for booted machines is in use (claims in {claimFolder}).",
        "Remove booted sandboxes you no longer need (Remove-Sandbox), or delete stale claims in that folder whose sandbox is gone.",
        claimFolder);

    public static SandboxException BootIdClaimFolderUnusable(string folder, string problem) => new(
        "BootIdClaimFolderUnusable", SandboxErrorKind.InvalidOperation,
        $"The folder of the host-wide claims of booted machines' uid ranges, {folder}, cannot be used: {problem}. It must be made by root, owned by root and writable by root alone, with no link on its way.",
        $"Remove {folder} (as root; the module makes it again, root's and 0700 below /run/sandbox; claims of running machines are forgotten), or reboot: /run is emptied then.", folder);
}

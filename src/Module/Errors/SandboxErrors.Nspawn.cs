namespace Sandbox;

/// <summary>Errors of the Nspawn provider's booted machines.</summary>
public static partial class SandboxErrors
{
    public static SandboxException BootNeedsSystemd(string image, string initPath) => new(
        "BootNeedsSystemd", SandboxErrorKind.InvalidOperation,
        $"-Boot runs the image's systemd as init, and the image '{image}' has none ({initPath} is missing).",
        $"Build an image with systemd: New-SandboxImage -Name {image}-systemd -Suite bookworm -Include systemd-sysv,dbus; or enter without -Boot.",
        image);

    /// <param name="bootedByOlderVersion">An older version booted it and kept its record in the state folder, where
    /// (under sudo) the store's owner can change it: it is never entered, whether it still runs or not.</param>
    public static SandboxException MachineNotRunning(string sandbox, bool bootedByOlderVersion = false) => new(
        "MachineNotRunning", SandboxErrorKind.InvalidOperation,
        bootedByOlderVersion
            ? "The booted machine of this sandbox was started by an older version of the module, whose record of it is not trusted; its commands are not run."
            : "The booted machine of this sandbox is no longer running.",
        bootedByOlderVersion
            ? "Remove the sandbox (Remove-Sandbox powers its machine off when it is provably this sandbox's) and enter a new one with -Boot."
            : "Remove the sandbox and enter a new one with -Boot.", sandbox);

    public static SandboxException MachineFolderUnusable(string folder, string problem) => new(
        "MachineFolderUnusable", SandboxErrorKind.InvalidOperation,
        $"The folder for booted machines' runtime files, {folder}, cannot be used: {problem}. It must be made by root, owned by root and writable by root alone, with no link on its way.",
        $"Remove {folder} (as root; booted machines listed there stop being tracked), or reboot: /run is emptied then.", folder);
}

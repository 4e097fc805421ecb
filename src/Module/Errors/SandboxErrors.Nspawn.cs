namespace Sandbox;

/// <summary>Errors of the Nspawn provider's booted machines.</summary>
public static partial class SandboxErrors
{
    public static SandboxException BootNeedsSystemd(string image, string initPath) => new(
        "BootNeedsSystemd", SandboxErrorKind.InvalidOperation,
        $"-Boot runs the image's systemd as init, and the image '{image}' has none ({initPath} is missing).",
        $"Build an image with systemd: New-SandboxImage -Name {image}-systemd -Suite bookworm -Include systemd-sysv,dbus; or enter without -Boot.",
        image);

    public static SandboxException MachineNotRunning(string sandbox) => new(
        "MachineNotRunning", SandboxErrorKind.InvalidOperation,
        "The booted machine of this sandbox is no longer running.",
        "Remove the sandbox and enter a new one with -Boot.", sandbox);
}

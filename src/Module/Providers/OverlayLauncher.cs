namespace Sandbox.Providers;

/// <summary>
/// How our own launchers in front of a backend (the overlay mount of
/// <see cref="CommandLines.OverlayMountCommandLine"/>, the cgroup join, the confinement helper)
/// report that they failed, so that their failures are told apart from the command's
/// (see <see cref="Failures.ProviderFailureTables"/>).
/// </summary>
internal static class OverlayLauncher
{
    /// <summary>Marks our own setup failures in stderr, so they are told apart from the command's.</summary>
    public const string SetupMarker = "sandbox-setup:";

    /// <summary>The exit code of the launcher when its own mounts fail.</summary>
    public const int SetupExitCode = 125;
}

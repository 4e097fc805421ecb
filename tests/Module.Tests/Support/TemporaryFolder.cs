namespace Sandbox.Tests.Support;

/// <summary>A fresh folder under /tmp, world-traversable so the unprivileged test user can reach inside.</summary>
public sealed class TemporaryFolder : IDisposable
{
    public TemporaryFolder(string purpose)
    {
        Path = Directory.CreateTempSubdirectory($"sandbox-test-{purpose}-").FullName;
        File.SetUnixFileMode(Path, (UnixFileMode)0b111_101_101);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { RunAsRoot.Command("rm", "-rf", "--one-file-system", Path); }
        catch (Exception) { /* best effort: a leftover in /tmp must not fail a test */ }
    }
}

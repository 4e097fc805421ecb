using Xunit;

namespace Sandbox.Tests.Support;

/// <summary>
/// The opening shared by the tests that run commands in a real sandbox as root: skip unless the
/// tests run as root, a store of their own holding the busybox image (<see cref="BusyboxStore"/>),
/// one sandbox of it with the provider asked for. Tests remove the sandbox themselves where
/// removal is what they check; Dispose removes it if it is still there (a failed assertion before
/// the removal), because a root Bubblewrap sandbox keeps its merged/ mounted on the host and the
/// store folder's own removal stops at a mount.
/// </summary>
public sealed class RootSandbox : IDisposable
{
    public RootSandbox(string purpose, ProviderName provider = ProviderName.Bubblewrap)
    {
        Skip.If(Environment.UserName != "root", $"a {provider} sandbox as root; run the tests as root (CI does).");
        Store = new BusyboxStore(purpose);
        try
        {
            Sandbox = Engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = provider });
        }
        catch
        {
            Store.Dispose();
            throw;
        }
    }

    public BusyboxStore Store { get; }

    public SandboxEngine Engine => Store.Engine;

    public SandboxInfo Sandbox { get; }

    /// <summary>Runs <paramref name="argv"/> in the sandbox (through its engine, as Invoke-SandboxCommand does).</summary>
    public SandboxCommandResult Run(params string[] argv) => Engine.Invoke(Sandbox, new SandboxCommand { Argv = argv });

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Sandbox.StatePath)) Engine.RemoveSandbox(Engine.GetSandbox(Sandbox.Id));
        }
        catch (Exception)
        {
            // Only the safety net of a test that failed before its own removal: its failure is the
            // one to report, and a removal that fails where the test asserts it fails there.
        }
        finally
        {
            Store.Dispose();
        }
    }
}

namespace Sandbox.Tests.Support;

/// <summary>
/// A store of its own in a temporary folder, holding the busybox image under
/// <see cref="HarnessFixture.ImageName"/>, with this process's engine over it: for tests that need
/// a private store (several processes sharing it, owners killed on purpose).
/// </summary>
public sealed class BusyboxStore : IDisposable
{
    private readonly TemporaryFolder _folder;

    public BusyboxStore(string purpose)
    {
        _folder = new TemporaryFolder(purpose);
        Root = Path.Combine(_folder.Path, "store");
        Engine = new SandboxEngine(new Storage.StoreLayout(Root));
        Engine.Images.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(_folder.Path, "tree")), force: false);
    }

    /// <summary>The store's root folder (SANDBOX_HOME).</summary>
    public string Root { get; }

    public SandboxEngine Engine { get; }

    public void Dispose()
    {
        // A root Bubblewrap sandbox's overlay is detached by the trash in the background: done before the folder goes.
        Storage.StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));
        _folder.Dispose();
    }
}

using Sandbox.Storage;

namespace Sandbox.Tests.Support;

/// <summary>The engine in the test process itself, over a store of its own in a temporary folder.</summary>
public sealed class InProcessHarness : ISandboxHarness
{
    private readonly TemporaryFolder _folder = new("store");

    public InProcessHarness() => Engine = new SandboxEngine(new StoreLayout(Path.Combine(_folder.Path, "store")));

    public SandboxEngine Engine { get; }
    public string User => Environment.UserName;
    public string StoreRoot => Engine.Layout.Root;

    public SandboxImage Import(string name, string path) => Engine.Images.Import(name, path, force: false);
    public SandboxImage Build(string name, Images.ImageBuildOptions options) => Engine.Images.Build(name, options, force: false);
    public SandboxInfo Create(SandboxCreateOptions options) => Engine.CreateSandbox(options);
    public SandboxCommandResult Invoke(string sandbox, SandboxCommand command) => Engine.Invoke(Engine.GetSandbox(sandbox), command);
    public void Remove(string sandbox) => Engine.RemoveSandbox(Engine.GetSandbox(sandbox));
    public SandboxStat Stat(string sandbox) => Engine.GetStat(Engine.GetSandbox(sandbox));
    public IReadOnlyList<SandboxInfo> List() => Engine.GetSandboxes();
    public void CopyInto(string sandbox, string hostPath, string sandboxFolder) => Engine.Items.CopyInto(Engine.GetSandbox(sandbox), hostPath, sandboxFolder);
    public string CopyOutOf(string sandbox, string sandboxPath, string hostFolder) => Engine.Items.CopyOutOf(Engine.GetSandbox(sandbox), sandboxPath, hostFolder).FullName;

    public SandboxImage Commit(string sandbox, string image) =>
        Engine.CommitSandbox(sandbox, image, new Dictionary<string, string>(), force: false, CancellationToken.None);

    public void Dispose()
    {
        foreach (var sandbox in Engine.GetSandboxes()) Engine.RemoveSandbox(sandbox);
        _folder.Dispose();
    }
}

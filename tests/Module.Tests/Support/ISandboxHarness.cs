namespace Sandbox.Tests.Support;

/// <summary>
/// The engine as a provider test sees it: in this process (as root) or in an EngineHost process
/// run as the unprivileged test user. The conformance suite is written once against this.
/// </summary>
public interface ISandboxHarness : IDisposable
{
    /// <summary>Who the engine runs as ("root" or the test user).</summary>
    string User { get; }
    string StoreRoot { get; }

    SandboxImage Import(string name, string path);
    SandboxImage Build(string name, Images.ImageBuildOptions options);
    SandboxInfo Create(SandboxCreateOptions options);
    SandboxCommandResult Invoke(string sandbox, SandboxCommand command);
    void Remove(string sandbox);
    SandboxStat Stat(string sandbox);
    IReadOnlyList<SandboxInfo> List();
    void CopyInto(string sandbox, string hostPath, string sandboxFolder);
    string CopyOutOf(string sandbox, string sandboxPath, string hostFolder);

    string ImageRootFs(string image) => Path.Combine(StoreRoot, "images", image, "rootfs");
    string StateFolder(string sandboxId) => Path.Combine(StoreRoot, "sandboxes", sandboxId);
}

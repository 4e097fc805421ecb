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

    /// <summary>SandboxEngine.CommitSandbox with no parameters and no -Force.</summary>
    SandboxImage Commit(string sandbox, string image);

    /// <summary>An image's top layer (its whole tree for a base image), or an older version's rootfs folder.</summary>
    string ImageRootFs(string image)
    {
        var legacy = Path.Combine(StoreRoot, "images", image, "rootfs");
        if (Directory.Exists(legacy)) return legacy;
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(StoreRoot, "images", image, "image.json")))!;
        return Path.Combine(StoreRoot, "layers", manifest["Layers"]![0]!.GetValue<string>(), "tree");
    }
    string StateFolder(string sandboxId) => Path.Combine(StoreRoot, "sandboxes", sandboxId);
}

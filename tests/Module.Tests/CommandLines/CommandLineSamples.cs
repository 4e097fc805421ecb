using Sandbox.Providers;
using Sandbox.Providers.CommandLines;

namespace Sandbox.Tests.CommandLines;

/// <summary>
/// Plain-data inputs for the command-line builders: paths that need not exist, tools that need not
/// be installed. Nothing here touches the host.
/// </summary>
internal static class CommandLineSamples
{
    public const string State = "/store/sandboxes/0a1b2c";
    public const string Image = "/store/images/bookworm/rootfs";
    public const string Merged = State + "/merged";
    public const string OverlayOptions = "lowerdir=" + Image + ",upperdir=" + State + "/upper,workdir=" + State + "/work";

    /// <summary>The numbers a root bwrap holds the overlay's root and its writable paths under (as the provider passes them, after the status pipe at 10).</summary>
    public const int HeldRoot = 11;

    /// <summary>Root Nspawn's overlay, mounted detached by the engine, as its launcher holds it.</summary>
    public const int HeldOverlay = 10;

    public static HeldBindSources Held(int writablePaths = 0) => new(HeldRoot, Enumerable.Range(HeldRoot + 1, writablePaths).ToList());

    public static BackendTools Tools(string backend) => new("/usr/bin/unshare", "/bin/sh", backend);

    public static SandboxView View(string backend, bool isRoot, NetworkMode network = NetworkMode.None,
        Namespaces.SubordinateIds? ids = null, params BindMount[] binds) => new()
    {
        IsRoot = isRoot,
        Tools = Tools(backend),
        Name = "box",
        Overlay = new OverlayLayer(State, Image),
        SubordinateIds = ids,
        Binds = binds,
        Network = network,
        HeldSources = isRoot ? Held() : null,
        HeldMounts = isRoot ? new HeldBindSources(HeldOverlay, Array.Empty<int>()) : null,
    };

    public static CommandInvocation Invocation(params string[] argv) => new()
    {
        User = PasswdFile.Root,
        Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["HOME"] = "/root" }.ToList(),
        WorkingDirectory = "/",
        Argv = argv,
    };
}

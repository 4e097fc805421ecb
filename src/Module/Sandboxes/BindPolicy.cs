using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Sandboxes;

/// <summary>
/// Which host paths a sandbox may have bound, decided on the host path with every link resolved
/// (realpath), so a link to the store or to /proc is judged as what it leads to. Refused: the store
/// (and so every image and sandbox layer) and anything containing it or inside it, because a bind
/// of an image's rootfs would let a sandbox rewrite the image every other sandbox starts from; and
/// the kernel's interfaces /proc, /sys and /dev, and anything under them, because /proc/sys bound
/// writable is the host's kernel settings (kernel.core_pattern runs a program as host root). Bind
/// targets over the sandbox's own /proc, /sys or /dev are refused for the same reason. The bind keeps
/// the resolved host path, so what was checked is what gets bound.
/// </summary>
internal static class BindPolicy
{
    private static readonly string[] KernelInterfaces = { "/proc", "/sys", "/dev" };

    /// <summary>The binds with their host paths resolved, or BindRefused for the first that may not be made.</summary>
    public static IReadOnlyList<BindMount> Vet(StoreLayout store, IEnumerable<BindMount> mounts)
    {
        var storeRoot = RealPath.Of(store.Root) ?? store.Root;
        var vetted = new List<BindMount>();
        foreach (var mount in mounts)
        {
            var spec = $"{mount.HostPath}:{mount.SandboxPath}";
            var host = RealPath.Of(mount.HostPath)
                ?? throw SandboxErrors.InvalidBind(spec, $"the host path '{mount.HostPath}' does not exist.");
            if (KernelInterfaces.FirstOrDefault(k => IsSameOrUnder(host, k) || IsSameOrUnder(k, host)) is { } kernel)
                throw SandboxErrors.BindRefused(spec, host == mount.HostPath
                    ? $"'{host}' is or holds the kernel's interface {kernel}, which a sandbox must not see from the host."
                    : $"'{mount.HostPath}' resolves to '{host}', which is or holds the kernel's interface {kernel}.");
            if (IsSameOrUnder(host, storeRoot))
                throw SandboxErrors.BindRefused(spec, $"'{host}' is inside the sandbox store {storeRoot}: a sandbox could change an image or another sandbox.");
            if (IsSameOrUnder(storeRoot, host))
                throw SandboxErrors.BindRefused(spec, $"'{host}' contains the sandbox store {storeRoot}: a sandbox could change an image or another sandbox.");
            if (KernelInterfaces.FirstOrDefault(k => IsSameOrUnder(mount.SandboxPath, k)) is { } target)
                throw SandboxErrors.BindRefused(spec, $"the sandbox path '{mount.SandboxPath}' is on the sandbox's own {target}, which the backend sets up.");
            vetted.Add(mount with { HostPath = host });
        }
        return vetted;
    }

    /// <summary>
    /// Before every command: each bind's host path must still be the path it resolved to when it was
    /// vetted. A bind inside another bind's writable folder is the sandbox's to change: it could put a
    /// link there (to /etc) that the backend, resolving the source on the host, would bind.
    /// </summary>
    public static void RequireUnchangedSources(SandboxInfo sandbox)
    {
        foreach (var mount in sandbox.Mounts)
        {
            if (RealPath.Of(mount.HostPath) is { } now && now != mount.HostPath)
                throw SandboxErrors.BindSourceChanged(sandbox.Provider, sandbox.Name, mount.HostPath, now);
        }
    }

    private static bool IsSameOrUnder(string path, string folder) =>
        folder == "/" || path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);
}

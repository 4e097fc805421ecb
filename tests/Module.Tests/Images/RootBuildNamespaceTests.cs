using System.Text.RegularExpressions;
using Sandbox.Images;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Tests.Support;
using Xunit;
using static Sandbox.Tests.Support.HostProcesses;

namespace Sandbox.Tests;

/// <summary>
/// A root build (New-SandboxImage -Suite as root, under sudo too) runs its builder in a pid and mount
/// namespace of its own, where the held staging folder is mounted on a folder of root's
/// (Images.BuildNamespace). Real builds with each installed builder, in an EngineHost as root that is
/// killed with SIGKILL while the builder's dpkg runs: until then the host's mount table is watched for
/// any mount in the store or on a /proc/PID/fd name, and the builder's tree for a /proc/PID/fd name of
/// the engine's; after it, every process of that tree must die and no mount stay; then a build of the
/// same name in the same store (sweeping the dead build's staging folder) must succeed. Before, the
/// builder ran in the host's namespace with the held folder's /proc/ENGINEPID/fd/N name: debootstrap's
/// and mmdebstrap's mounts of $TARGET/proc and the like were the host's, and the builder outlived the
/// engine, with its mounts.
/// </summary>
[Trait("Area", "Images")]
[Trait("User", "Root")]
public sealed partial class RootBuildNamespaceTests
{
    private static readonly ImageBuildOptions Minbase = new() { Suite = "bookworm", Variant = "minbase" };

    [SkippableTheory]
    [InlineData("mmdebstrap")]
    [InlineData("debootstrap")]
    public void A_root_build_mounts_nothing_on_the_host_and_dies_whole_with_its_engine(string builder)
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        Skip.If(ToolLocator.Find(builder) is null, $"{builder} is not installed.");
        using var folder = new TemporaryFolder("build-ns-" + builder);
        var storeRoot = Path.Combine(folder.Path, "store");
        // The store on a shared mount, as systemd mounts / (here every mount is private): a clone of a
        // folder on it is a peer, so a builder's mounts would show on the host unless made private.
        RunAsRoot.Command("mount", "--bind", folder.Path, folder.Path);
        RunAsRoot.Command("mount", "--make-shared", folder.Path);
        var environment = new Dictionary<string, string> { ["ENGINEHOST_BUILDER"] = builder };
        var owner = new RemoteHarness(asRoot: true, sharedStore: storeRoot, environment: environment);
        var ownersNames = $"/proc/{owner.HostPid}/fd/";
        var hostMounts = new HashSet<string>();
        var namesGiven = new HashSet<string>();
        var tree = new List<ProcessIdentity>();
        try
        {
            var build = Task.Run(() => owner.Build("killed", Minbase));
            void Watch()
            {
                hostMounts.UnionWith(MountPoints().Where(point => point.StartsWith(storeRoot + "/", StringComparison.Ordinal) || DescriptorName().IsMatch(point)));
                foreach (var pid in ProcessTree.Descendants(owner.HostPid))
                    if (CommandLine(pid) is { } argv && argv.Contains(ownersNames, StringComparison.Ordinal)) namesGiven.Add(argv);
            }
            // By the time dpkg runs chrooted in the new tree, both builders have mounted its /proc and the like
            // (they run dpkg on the host first, for the architecture: not that one).
            Assert.True(Poll.Until(() =>
            {
                Watch();
                return ProcessTree.Descendants(owner.HostPid).Any(pid => Comm(pid) is "dpkg" or "dpkg.distrib" && RootOf(pid) is { } root && root != "/");
            }, TimeSpan.FromMinutes(8)), "the builder started dpkg in the new tree");
            Watch();
            tree.AddRange(ProcessTree.Descendants(owner.HostPid).Select(ProcessIdentity.Of).OfType<ProcessIdentity>());

            owner.KillHost();
            owner.Dispose();
            Assert.ThrowsAny<Exception>(() => build.GetAwaiter().GetResult());

            Assert.Empty(hostMounts);
            Assert.True(Poll.Until(() => tree.All(process => !process.IsAlive), TimeSpan.FromSeconds(20)),
                $"the builder's processes die with the engine; alive: {string.Join(", ", tree.Where(p => p.IsAlive).Select(p => $"{p.Pid} {Comm(p.Pid)}"))}");
            Assert.DoesNotContain(MountPoints(), point => point.StartsWith(storeRoot + "/", StringComparison.Ordinal));
            Assert.Empty(namesGiven);

            using var retry = new RemoteHarness(asRoot: true, sharedStore: storeRoot, environment: environment);
            var image = retry.Build("killed", Minbase);
            Assert.True(File.Exists(Path.Combine(storeRoot, "layers", image.Layers.Single(), "tree", "var", "lib", "dpkg", "status")),
                "the retry built a Debian tree");
            Assert.Empty(Directory.GetDirectories(Path.Combine(storeRoot, "images"), ".*"));
        }
        finally
        {
            // The old code's leftovers: its builder kept running, its mounts stayed on the host.
            foreach (var process in tree.Where(p => p.IsAlive)) LibC.kill(process.Pid, LibC.SIGKILL);
            foreach (var point in MountPoints().Where(p => p.StartsWith(storeRoot + "/", StringComparison.Ordinal)).OrderByDescending(p => p.Length))
                RunAsRoot.Command("umount", "-l", point);
            RunAsRoot.Command("umount", "-l", folder.Path);
        }
    }

    [GeneratedRegex(@"^/proc/\d+/fd(/|$)")]
    private static partial Regex DescriptorName();

    /// <summary>The host's mount points (this test runs in the host's mount namespace), octal escapes decoded.</summary>
    private static IEnumerable<string> MountPoints() =>
        File.ReadAllText("/proc/self/mountinfo").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => Regex.Replace(line.Split(' ')[4], @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString()))
            .ToList();

    private static string? CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '); }
        catch (IOException) { return null; }
    }
}

using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>
/// podman as the comparison point, set up the way it can run on a machine like ours: runc with the
/// cgroupfs manager (PID 1 is not systemd; podman refuses --cgroups=disabled with runc, and crun
/// refuses hybrid cgroups), and no default ulimits (the container may not raise them).
/// </summary>
public sealed class Podman
{
    private readonly Dictionary<string, string> _environment;
    private readonly string _podman;
    private readonly string _image;

    private Podman(string podman, string configFile, string image)
    {
        _podman = podman;
        _image = image;
        _environment = new Dictionary<string, string> { ["CONTAINERS_CONF"] = configFile };
    }

    /// <summary>Imports the rootfs as a podman image, or returns why podman cannot run here.</summary>
    public static (Podman? Podman, string? WhyNot) TryCreate(string rootFs, string workFolder)
    {
        var podman = ToolLocator.Find("podman");
        if (podman is null) return (null, "podman is not installed (apt-get install podman runc)");
        if (ToolLocator.Find("runc") is null) return (null, "runc is not installed (apt-get install runc)");
        var config = Path.Combine(workFolder, "containers.conf");
        File.WriteAllText(config,
            "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n");
        var tarball = Path.Combine(workFolder, "rootfs.tar");
        try
        {
            ToolRun.MustSucceed(new[] { "tar", "-C", rootFs, "-cf", tarball, "." });
            var instance = new Podman(podman, config, "localhost/sandbox-bench:latest");
            ToolRun.MustSucceed(new[] { podman, "import", tarball, instance._image }, instance._environment);
            ToolRun.MustSucceed(instance.RunArgv("/bin/true"), instance._environment);
            return (instance, null);
        }
        catch (InvalidOperationException e)
        {
            return (null, e.Message);
        }
    }

    public List<string> RunArgv(string command) => new()
    {
        _podman, "run", "--rm", "--runtime", "runc", "--network", "none", _image, command,
    };

    public void RunTrue() => ToolRun.MustSucceed(RunArgv("/bin/true"), _environment);

    public void RemoveImage() => ToolRun.Run(new[] { _podman, "rmi", "-f", _image }, _environment);
}

using Sandbox.Namespaces;
using Sandbox.Processes;

namespace Sandbox.Images;

/// <summary>
/// Copies an existing root filesystem (a folder, or a tarball that tar can unpack: .tar, .tar.gz,
/// .tar.zst, ...) into a new image folder, keeping owners, modes, links and extended attributes.
/// </summary>
public static class RootFsImporter
{
    public static Dictionary<string, string> DescribeSource(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            return new() { ["path"] = full, ["kind"] = "folder", ["modified"] = Directory.GetLastWriteTimeUtc(full).ToString("O") };
        if (File.Exists(full))
            return new()
            {
                ["path"] = full, ["kind"] = "tarball",
                ["modified"] = File.GetLastWriteTimeUtc(full).ToString("O"),
                ["size"] = new FileInfo(full).Length.ToString(),
            };
        throw SandboxErrors.ImageSourceNotFound(path);
    }

    public static void Import(string imageName, string source, string targetRootFs, IEngineLog log, CancellationToken cancellation)
    {
        var full = Path.GetFullPath(source);
        var activity = $"Importing {full}";
        log.Progress(activity, "copying", 0);
        IReadOnlyList<string> argv;
        Directory.CreateDirectory(targetRootFs);
        if (Directory.Exists(full))
        {
            argv = new[] { ToolLocator.Require("cp", "coreutils"), "-a", "--reflink=auto", "--no-target-directory", full + "/.", targetRootFs };
        }
        else
        {
            // Rootless, tar runs as root of the user's namespace, so the tarball's owners land on
            // the ids that namespace maps them to: root on the user, others on subordinate ids.
            var tar = MountNamespace.InUserNamespace ? MountNamespace.UnsharePrefix() : new List<string>();
            tar.AddRange(new[]
            {
                ToolLocator.Require("tar", "tar"), "--extract", "--file", full, "--directory", targetRootFs,
                "--numeric-owner", "--preserve-permissions", "--same-owner", "--xattrs", "--xattrs-include=*", "--acls",
            });
            // Device nodes cannot be made without real root; every sandbox gets a private /dev anyway.
            if (MountNamespace.InUserNamespace) tar.AddRange(new[] { "--exclude=./dev/*", "--exclude=dev/*" });
            argv = tar;
        }
        var outcome = HostCommand.Run(log, argv, cancellation: cancellation);
        if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
        if (outcome.ExitCode != 0)
            throw SandboxErrors.ImageBuildFailed(imageName, argv[0], outcome.ExitCode, outcome.StdErr);
        log.Progress(activity, "done", 100);
    }
}

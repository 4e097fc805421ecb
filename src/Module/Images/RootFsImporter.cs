using Sandbox.Namespaces;
using Sandbox.Processes;

namespace Sandbox.Images;

/// <summary>
/// Copies an existing root filesystem (a folder, or a tarball that tar can unpack: .tar, .tar.gz,
/// .tar.zst, ...) into a new image folder, keeping owners, modes, links and extended attributes.
/// </summary>
internal static class RootFsImporter
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

    /// <summary>
    /// An empty folder, or a tarball of something else, is no image: a root filesystem has /bin (a
    /// folder with programs, or the usrmerge link to usr/bin). Checked on what was copied, so folders
    /// and tarballs are judged alike.
    /// </summary>
    public static void RequireRootFileSystem(string source, string rootfs)
    {
        var bin = Path.Combine(rootfs, "bin");
        var status = Native.FileStatus.Of(bin);
        if (status is null)
            throw SandboxErrors.ImageSourceEmpty(source, Directory.EnumerateFileSystemEntries(rootfs).Any()
                ? "it has no /bin." : "it has no files.");
        if (status.Value.IsDirectory && !Directory.EnumerateFileSystemEntries(bin).Any())
            throw SandboxErrors.ImageSourceEmpty(source, "its /bin is empty.");
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
            argv = AbandonedFolders.DieWithUs().Concat(new[]
            {
                ToolLocator.Require("cp", "coreutils"), "-a", "--reflink=auto", "--no-target-directory", full + "/.", targetRootFs,
            }).ToList();
        }
        else
        {
            // Rootless, tar runs as root of the user's namespace, so the tarball's owners land on
            // the ids that namespace maps them to: root on the user, others on subordinate ids.
            var tar = AbandonedFolders.DieWithUs().ToList();
            if (MountNamespace.InUserNamespace) tar.AddRange(MountNamespace.UnsharePrefix());
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
        RequireRootFileSystem(source, targetRootFs);
        log.Progress(activity, "done", 100);
    }
}

using System.Text.RegularExpressions;
using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Images;

/// <summary>
/// Builds a Debian root filesystem with mmdebstrap when it is installed (faster, and rootless with
/// --mode=unshare), else with debootstrap (root only). Turns the builder's output into progress.
/// </summary>
internal static partial class DebianBuilder
{
    public static string Build(string imageName, ImageBuildOptions options, string targetRootFs, IEngineLog log, CancellationToken cancellation)
    {
        var mmdebstrap = ToolLocator.Find("mmdebstrap");
        var debootstrap = ToolLocator.Find("debootstrap");
        if (mmdebstrap is null && debootstrap is null)
            throw SandboxErrors.ToolNotInstalled("mmdebstrap", "mmdebstrap (or debootstrap)");

        // Rootless, mmdebstrap --mode=unshare maps the image's root onto a subordinate id, not onto
        // the user as our sandboxes do; so it writes a tarball, unpacked in our own namespace.
        var tarball = UserIdentity.IsRoot || options.Mode == "fakechroot" ? null : targetRootFs + ".tar";
        var (builder, argv) = mmdebstrap is not null
            ? ("mmdebstrap", MmdebstrapArgv(mmdebstrap, options, tarball ?? targetRootFs))
            : ("debootstrap", DebootstrapArgv(debootstrap!, options, targetRootFs));
        if (builder == "debootstrap" && !UserIdentity.IsRoot)
            throw SandboxErrors.ToolNotInstalled("mmdebstrap", "mmdebstrap (debootstrap needs root)");

        var activity = $"Building image with {builder} ({options.Suite})";
        log.Progress(activity, "resolving", 0);
        var outcome = HostCommand.Run(log, argv, line => ReportStage(log, activity, line), cancellation);
        if (outcome.Cancelled) throw new OperationCanceledException(cancellation);
        if (outcome.ExitCode != 0)
            throw SandboxErrors.ImageBuildFailed(imageName, builder,
                outcome.ExitCode, outcome.StdErr + outcome.StdOut);
        if (options.Mode == "fakechroot")
            Providers.AbsoluteSymlinks.StripBuildRoot(targetRootFs, Path.GetFullPath(targetRootFs));
        if (tarball is not null)
        {
            log.Progress(activity, "extracting the image as the user's namespace root", 95);
            RootFsImporter.Import(imageName, tarball, targetRootFs, log, cancellation);
            File.Delete(tarball);
        }
        log.Progress(activity, "done", 100);
        return builder;
    }

    private static List<string> MmdebstrapArgv(string tool, ImageBuildOptions o, string target)
    {
        var argv = new List<string> { tool, $"--variant={o.Variant}" };
        if (o.Mode is { Length: > 0 } mode) argv.Add($"--mode={mode}");
        else if (!UserIdentity.IsRoot) argv.Add("--mode=unshare");
        if (o.Include.Count > 0) argv.Add($"--include={string.Join(',', o.Include)}");
        if (o.Components.Count > 0) argv.Add($"--components={string.Join(',', o.Components)}");
        if (o.Architecture is { } arch) argv.Add($"--architectures={arch}");
        argv.Add(o.Suite);
        argv.Add(target);
        if (o.Mirror is { } mirror) argv.Add(mirror);
        return argv;
    }

    private static List<string> DebootstrapArgv(string tool, ImageBuildOptions o, string target)
    {
        var argv = new List<string> { tool, $"--variant={o.Variant}" };
        if (o.Include.Count > 0) argv.Add($"--include={string.Join(',', o.Include)}");
        if (o.Components.Count > 0) argv.Add($"--components={string.Join(',', o.Components)}");
        if (o.Architecture is { } arch) argv.Add($"--arch={arch}");
        argv.Add(o.Suite);
        argv.Add(target);
        if (o.Mirror is { } mirror) argv.Add(mirror);
        return argv;
    }

    [GeneratedRegex(@"^I: (Retrieving|Validating|Resolving|Found|Checking|Extracting|Installing|Unpacking|Configuring|Base system installed|Chosen|Downloading|extracting|installing|running|downloading|Retrieving)", RegexOptions.IgnoreCase)]
    private static partial Regex StageLine();

    /// <summary>Both builders print "I: ..." lines; the stage word is the progress status.</summary>
    private static void ReportStage(IEngineLog log, string activity, string line)
    {
        var match = StageLine().Match(line);
        if (!match.Success) return;
        var stage = match.Groups[1].Value.ToLowerInvariant() switch
        {
            "retrieving" or "downloading" or "validating" => ("downloading", 30),
            "extracting" => ("extracting", 50),
            "installing" or "unpacking" => ("installing", 70),
            "configuring" or "running" => ("configuring", 85),
            _ => ("resolving", 10),
        };
        log.Progress(activity, $"{stage.Item1}: {line[3..]}", stage.Item2);
    }
}

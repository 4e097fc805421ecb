using Sandbox.Images;
using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>New-SandboxImage: a cold build against running mmdebstrap directly, and a cache hit.</summary>
public static class ImageBench
{
    private static readonly ImageBuildOptions Minbase = new() { Suite = "bookworm", Variant = "minbase" };

    public static SandboxImage Run(SandboxEngine engine, int runs, string work, Report report)
    {
        const string section = "Images (bookworm minbase)";
        var mmdebstrap = ToolLocator.Require("mmdebstrap", "mmdebstrap");
        var rawTarget = Path.Combine(work, "raw-mmdebstrap");
        var mode = Environment.UserName == "root" ? Array.Empty<string>() : new[] { "--mode=unshare" };
        var raw = Measurement.Take("raw mmdebstrap --variant=minbase", 1, () =>
        {
            ToolRun.Run(new[] { "rm", "-rf", rawTarget });
            ToolRun.MustSucceed(new[] { mmdebstrap, "--quiet", "--variant=minbase" }.Concat(mode)
                .Concat(new[] { "bookworm", rawTarget + (mode.Length > 0 ? ".tar" : "") }).ToArray());
        }, warmUp: false);
        report.Add(section, raw);
        ToolRun.Run(new[] { "rm", "-rf", rawTarget, rawTarget + ".tar" });

        SandboxImage? image = null;
        var cold = Measurement.Take("engine New-SandboxImage, cold", 1,
            () => image = engine.Images.Build("bench-bookworm", Minbase, force: true), warmUp: false);
        report.Add(section, cold, raw);

        var hit = Measurement.Take("engine New-SandboxImage, cache hit", runs,
            () => engine.Images.Build("bench-bookworm", Minbase, force: false));
        report.Add(section, hit);
        report.Note($"Images: cache hit median {hit.Median.TotalMilliseconds:F2} ms (goal: under 500 ms); cold build / raw mmdebstrap = {Report.Ratio(cold, raw)}");
        return image!;
    }
}

using Sandbox.Images;
using Sandbox.Processes;
using Sandbox.Providers;

namespace Sandbox.Bench;

/// <summary>
/// FakeChroot (run as an unprivileged user: the provider refuses root): a fresh sandbox of a
/// bookworm minbase against plain cp -al of the same tree, and a command's overhead against
/// running it directly.
/// </summary>
public static class FakeChrootBench
{
    public static void Run(SandboxEngine engine, int runs, string work, Report report)
    {
        const string section = "FakeChroot (bookworm minbase, built with --mode=fakechroot)";
        var image = engine.Images.Build("bench-fakechroot", new ImageBuildOptions { Suite = "bookworm", Mode = "fakechroot" }, force: false);
        var pool = new FarmPool(engine.Layout, NullEngineLog.Instance);
        var cp = ToolLocator.Require("cp", "coreutils");
        var target = Path.Combine(work, "cp-al");

        var raw = Measurement.TakeWithSetup("raw cp -al of the image", runs,
            () => ToolRun.Run(new[] { "rm", "-rf", target }),
            () => ToolRun.MustSucceed(new[] { cp, "-al", image.RootFs, target }));
        report.Add(section, raw);

        // Warm pool: the background refill has finished before each timed Enter.
        var made = new List<SandboxInfo>();
        var warm = Measurement.TakeWithSetup("engine Enter, copy pool warm", runs, () => pool.Refill(image), () =>
            made.Add(engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.FakeChroot })));
        report.Add(section, warm, raw);

        var cold = Measurement.TakeWithSetup("engine Enter, copy pool empty (full copy)", Math.Max(3, runs / 10), () =>
        {
            pool.Refill(image);
            engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.FakeChroot }); // drains the pool
            Thread.Sleep(50);
            while (Directory.Exists(Path.Combine(engine.Layout.ImageFolder(image.Name), ".farms"))
                   && Directory.EnumerateDirectories(Path.Combine(engine.Layout.ImageFolder(image.Name), ".farms"), "*").Any(d => d.Contains(".filling")))
                Thread.Sleep(50); // let the refill it started finish, then take its copy away too
            foreach (var ready in Directory.EnumerateDirectories(Path.Combine(engine.Layout.ImageFolder(image.Name), ".farms"), "ready-*"))
                ToolRun.MustSucceed(new[] { "rm", "-rf", ready });
        }, () => made.Add(engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.FakeChroot })));
        report.Add(section, cold, raw);

        var sandbox = made[0];
        var direct = Measurement.Take("/bin/true run directly", runs, () => ToolRun.MustSucceed(new[] { "/bin/true" }));
        report.Add(section, direct);
        var inside = Measurement.Take("engine Invoke /bin/true in a FakeChroot sandbox", runs, () =>
            engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "/bin/true" } }));
        report.Add(section, inside, direct);
        FakeChrootCommandBench.Run(engine, sandbox, pool, image, runs, section, report);
        foreach (var each in engine.GetSandboxes()) engine.RemoveSandbox(each);

        report.Note($"FakeChroot: warm Enter / cp -al = {Report.Ratio(warm, raw)} (goal: at most 0.1x); " +
                    $"cold Enter (full copy) / cp -al = {Report.Ratio(cold, raw)}; per-command overhead = " +
                    $"{(inside.Median - direct.Median).TotalMilliseconds:F1} ms ({Report.Ratio(inside, direct)} of running it directly)");
    }
}

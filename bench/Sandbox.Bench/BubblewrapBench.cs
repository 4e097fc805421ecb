using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>Raw bwrap vs the engine's Bubblewrap cycle vs podman run --rm, on one busybox image.</summary>
public static class BubblewrapBench
{
    public static void Run(SandboxEngine engine, SandboxImage image, int runs, string work, Report report)
    {
        const string section = "Bubblewrap (busybox image)";
        var bwrap = ToolLocator.Require("bwrap", "bubblewrap");
        var raw = Measurement.Take("raw bwrap /bin/true", runs, () => ToolRun.MustSucceed(new[]
        {
            bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", image.RootFs, "/",
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "/bin/true",
        }));
        report.Add(section, raw);

        var cycle = Measurement.Take("engine Enter + Invoke /bin/true + Remove", runs, () =>
        {
            var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Bubblewrap });
            var result = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "/bin/true" } });
            if (result.ExitCode != 0) throw new InvalidOperationException(result.StdErr);
            engine.RemoveSandbox(sandbox);
        });
        report.Add(section, cycle, raw);

        var made = new Queue<SandboxInfo>();
        report.Add(section, Measurement.Take("engine Enter only", runs, () =>
            made.Enqueue(engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Bubblewrap }))));
        report.Add(section, Measurement.Take("engine Remove only (empty sandbox)", runs, () => engine.RemoveSandbox(made.Dequeue())));
        while (made.Count > 0) engine.RemoveSandbox(made.Dequeue());

        var reused = engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Bubblewrap });
        report.Add(section, Measurement.Take("engine Invoke /bin/true, existing sandbox", runs, () =>
            engine.Invoke(reused, new SandboxCommand { Argv = new[] { "/bin/true" } })), raw);
        engine.RemoveSandbox(reused);

        report.Note($"Bubblewrap: engine cycle / raw bwrap = {Report.Ratio(cycle, raw)} (goal: at most 1.5x)");
        var (podman, whyNot) = Podman.TryCreate(image.RootFs, work);
        if (podman is null)
        {
            report.Note($"podman: not measured: {whyNot}");
            return;
        }
        var podmanRun = Measurement.Take("podman run --rm /bin/true", Math.Max(5, runs / 3), podman.RunTrue);
        report.Add(section, podmanRun, raw);
        podman.RemoveImage();
        report.Note($"Bubblewrap: podman run --rm / engine cycle = {Report.Ratio(podmanRun, cycle)} (goal: at least 10x)");
    }
}

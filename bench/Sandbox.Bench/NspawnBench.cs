using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>Raw systemd-nspawn vs the engine's Nspawn cycle vs systemd-nspawn --ephemeral.</summary>
public static class NspawnBench
{
    public static void Run(SandboxEngine engine, SandboxImage image, int runs, Report report)
    {
        const string section = "Nspawn (bookworm minbase)";
        var nspawn = ToolLocator.Require("systemd-nspawn", "systemd-container");
        string[] Raw(params string[] extra) => new[] { nspawn, "--quiet", "--register=no", "--keep-unit", "--console=pipe", "--private-network" }
            .Concat(extra).Concat(new[] { $"--directory={image.RootFs}", "/bin/true" }).ToArray();

        var raw = Measurement.Take("raw systemd-nspawn --read-only /bin/true", runs, () => ToolRun.MustSucceed(Raw("--read-only")));
        report.Add(section, raw);

        var cycle = Measurement.Take("engine Enter + Invoke /bin/true + Remove", runs, () =>
        {
            var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Nspawn });
            var result = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "/bin/true" } });
            if (result.ExitCode != 0) throw new InvalidOperationException(result.StdErr);
            engine.RemoveSandbox(sandbox);
        });
        report.Add(section, cycle, raw);

        var ephemeral = Measurement.Take("raw systemd-nspawn --ephemeral /bin/true", Math.Max(3, runs / 6), () => ToolRun.MustSucceed(Raw("--ephemeral")));
        report.Add(section, ephemeral, raw);
        report.Note($"Nspawn: engine cycle / raw nspawn = {Report.Ratio(cycle, raw)} (goal: at most 1.4x); " +
                    $"--ephemeral / engine cycle = {Report.Ratio(ephemeral, cycle)} (goal: at least 30x)");
    }
}

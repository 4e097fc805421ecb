using Sandbox.Processes;
using Sandbox.Providers;

namespace Sandbox.Bench;

/// <summary>
/// What a FakeChroot command and a removal cost: Invoke /bin/true against the same /bin/true run
/// directly under the same preload and variables set by hand (FAKECHROOT_BASE as libfakechroot's
/// chroot(2) would set it), which is how the engine now starts it (FakeChrootDirectStart), and
/// against the chroot route (env ... chroot COPY /bin/true, still taken by scripts and the commands
/// fakechroot substitutes) started by hand; Remove of a sandbox whose faked runs.
/// </summary>
internal static class FakeChrootCommandBench
{
    public static void Run(SandboxEngine engine, SandboxInfo sandbox, FarmPool pool, SandboxImage image, int runs, string section, Report report)
    {
        var trueCommand = new SandboxCommand { Argv = new[] { "/bin/true" } };
        engine.Invoke(sandbox, trueCommand); // faked runs from here on
        var copy = Path.GetFullPath(FakeChrootProvider.Farm(sandbox));
        var daemon = FakedDaemon.Running(sandbox) ?? throw new InvalidOperationException("the sandbox's faked is not running");
        var tools = new FakeChrootEnvironment.Tools(ToolLocator.Require("env", "coreutils"), ToolLocator.Require("chroot", "coreutils"), "2.20.1");
        var built = FakeChrootEnvironment.Build(tools, new Dictionary<string, string> { ["PATH"] = CommandEnvironment.SandboxPath, ["HOME"] = "/root" },
            trueCommand.Argv, null, copy, daemon.Key, 0, 0, LinkerFolders.Of(copy), LinkerFolders.ExtraOf(copy), (_, _) => true);

        // The variables env hands chroot, plus what chroot(2) adds: the process libfakechroot makes.
        var preloaded = new Dictionary<string, string>(built.Environment);
        foreach (var assignment in built.Prefix.Skip(1).TakeWhile(word => word.Contains('=')))
            preloaded[assignment[..assignment.IndexOf('=')]] = assignment[(assignment.IndexOf('=') + 1)..];
        preloaded["FAKECHROOT_BASE"] = copy;
        preloaded["LD_LIBRARY_PATH"] += $":{copy}/usr/lib:{copy}/lib";

        var byHand = Measurement.Take("/bin/true of the copy, same preload set by hand", runs,
            () => ToolRun.MustSucceed(new[] { copy + "/bin/true" }, preloaded));
        report.Add(section, byHand);
        var line = Measurement.Take("the chroot route (env ... chroot COPY /bin/true) by hand", runs,
            () => ToolRun.MustSucceed(built.CommandLine, built.Environment));
        report.Add(section, line, byHand);
        var invoke = Measurement.Take("engine Invoke /bin/true (FakeChroot)", runs, () =>
        {
            var result = engine.Invoke(sandbox, trueCommand);
            if (result.ExitCode != 0) throw new InvalidOperationException($"/bin/true failed: {result.StdErr}");
        });
        report.Add(section, invoke, byHand);

        SandboxInfo? made = null;
        var remove = Measurement.TakeWithSetup("engine Remove (faked running)", runs, () =>
        {
            made = engine.CreateSandbox(new SandboxCreateOptions { Image = sandbox.Image, Provider = ProviderName.FakeChroot });
            engine.Invoke(made, trueCommand);
            // Neither the pool refill this Enter started nor the last removal's background deletion
            // is what Remove costs: both are over before the timed run.
            pool.Refill(image);
            Sandbox.Storage.StoreTrash.WaitForPending(TimeSpan.FromMinutes(2));
        }, () => engine.RemoveSandbox(made!));
        report.Add(section, remove);

        report.Note($"FakeChroot command: Invoke /bin/true - same preload by hand = {(invoke.Median - byHand.Median).TotalMilliseconds:F1} ms " +
                    $"({Report.Ratio(invoke, byHand)}; goal: at most 10 ms); the chroot route by hand would add " +
                    $"{(line.Median - byHand.Median).TotalMilliseconds:F1} ms; Remove {remove.Median.TotalMilliseconds:F1} ms (goal: at most 50 ms)");
    }
}

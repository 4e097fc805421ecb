namespace Sandbox.Bench;

/// <summary>
/// 8 independent sandboxes at once (each: Enter, sh -c 'sleep 0.05', Remove, on a thread of its own
/// as ForEach-Object -Parallel gives each runspace) against the same 8 one after another. Nothing is
/// shared between them, so at once should cost little more than one: goal at most 0.6x sequential.
/// </summary>
public static class ParallelBench
{
    private const int Sandboxes = 8;

    public static void Run(SandboxEngine engine, SandboxImage image, int runs, Report report)
    {
        const string section = "Parallel (busybox image, Bubblewrap)";
        var sequential = Measurement.Take($"{Sandboxes} cycles one after another", runs, () =>
        {
            for (var i = 0; i < Sandboxes; i++) Cycle(engine, image);
        });
        var parallel = Measurement.Take($"{Sandboxes} cycles at once, a thread each", runs, () =>
        {
            var failures = new Exception?[Sandboxes];
            var threads = Enumerable.Range(0, Sandboxes).Select(i => new Thread(() =>
            {
                try { Cycle(engine, image); }
                catch (Exception e) { failures[i] = e; }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            if (failures.FirstOrDefault(f => f is not null) is { } failure) throw failure;
        });
        report.Add(section, sequential);
        report.Add(section, parallel, sequential);
        report.Note($"Parallel: {Sandboxes} at once / one after another = {Report.Ratio(parallel, sequential)} (goal: at most 0.6x)");
    }

    private static void Cycle(SandboxEngine engine, SandboxImage image)
    {
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = image.Name, Provider = ProviderName.Bubblewrap });
        var result = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "sleep 0.05; echo slept" } });
        if (result.ExitCode != 0 || result.StdOut != "slept\n")
            throw new InvalidOperationException($"exit {result.ExitCode}, stdout '{result.StdOut}', stderr '{result.StdErr}'");
        engine.RemoveSandbox(sandbox);
    }
}

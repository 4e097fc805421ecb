using Sandbox;
using Sandbox.Bench;
using Sandbox.Images;
using Sandbox.Processes;
using Sandbox.Storage;

// Sandbox bench: each engine path against the raw tool it drives (and podman), in one run.
// Usage: bash bench/run.sh [--runs N] [--parallel]
var runs = args.Length >= 2 && args[0] == "--runs" ? int.Parse(args[1]) : 30;
var fakeChrootOnly = args.Contains("--fakechroot"); // bench/run.sh runs this part as an unprivileged user
var parallelOnly = args.Contains("--parallel"); // bash bench/run.sh --parallel: only the parallel section
var traceOnly = args.Contains("--trace"); // bash bench/run.sh --trace: only -Trace's cost (builds a minbase)
var work = Directory.CreateTempSubdirectory("sandbox-bench-").FullName;
var report = new Report();
try
{
    Console.WriteLine($"Sandbox bench: {runs} runs each after warm-up, as {Environment.UserName}, {Environment.ProcessorCount} cores");
    var engine = new SandboxEngine(new StoreLayout(Path.Combine(work, "store")));
    if (fakeChrootOnly)
    {
        FakeChrootBench.Run(engine, runs, work, report);
        report.Print();
        return;
    }

    if (traceOnly)
    {
        TraceBench.Run(engine, engine.Images.Build("bench-minbase", new ImageBuildOptions { Suite = "bookworm", Variant = "minbase" }, force: false), runs, report);
        report.Print();
        return;
    }

    // Bubblewrap, on a tiny busybox image: the per-sandbox overhead is all there is to see.
    var busybox = engine.Images.Import("bench-busybox", BusyboxRootFs.Create(Path.Combine(work, "tree")), force: false);
    ParallelBench.Run(engine, busybox, Math.Max(3, runs / 3), report);
    if (parallelOnly)
    {
        report.Print();
        return;
    }
    BubblewrapBench.Run(engine, busybox, runs, work, report);

    // Images and Nspawn, on a real bookworm minbase.
    var minbase = ImageBench.Run(engine, runs, work, report);
    TraceBench.Run(engine, minbase, runs, report);
    if (Environment.UserName == "root") NspawnBench.Run(engine, minbase, runs, report);
    else report.Note("Nspawn: not measured (needs root)");

    report.Print();
}
finally
{
    ToolRun.Run(new[] { "rm", "-rf", "--one-file-system", work });
}

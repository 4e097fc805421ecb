using Sandbox.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Get-SandboxStat -Changes walks the sandbox's upper layer on the host while the sandbox may still
/// run. A process inside swaps one of its folders for a link to a host folder thousands of times; the
/// old walk lstat'ed a folder and listed it later by path, so it listed (and sized) the host folder
/// through the link whenever the swap fell between the two. A walk by descriptors never follows it.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class TreeWalkRaceTests
{
    private const int SecretSize = 31337;
    private readonly ITestOutputHelper _output;

    public TreeWalkRaceTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// Twenty folders c0..c19 among 4000 plain files. The old walk lstat'ed a folder, went on through
    /// the rest of its parent, and only then listed it by path: the folder it meets first (see
    /// <see cref="FirstListed"/>) is the one with the widest window, so that is the one swapped.
    /// </summary>
    private const string MakeTree = """
        set -e
        mkdir -p /race/stash
        i=0; while [ $i -lt 20 ]; do mkdir /race/c$i; echo inside > /race/c$i/inside; i=$((i+1)); done
        i=0; while [ $i -lt 4000 ]; do : > /race/f$i; i=$((i+1)); done
        echo made
        """;

    /// <summary>
    /// Swaps <paramref name="name"/> for a link to the host folder and back, each state held a moment;
    /// the link is made beforehand under another name so that the folder is missing only for the time
    /// of one mv. It stops by itself after its time, so the test needs no way into the sandbox to stop it.
    /// </summary>
    private static string SwapLoop(string name, string hostFolder, int seconds) => $$"""
        ln -s {{hostFolder}} /race/l
        end=$(( $(date +%s) + {{seconds}} )); n=0
        while [ $(date +%s) -lt $end ]; do
          mv /race/{{name}} /race/stash/d; mv /race/l /race/{{name}}; sleep 0.1
          mv /race/{{name}} /race/l; mv /race/stash/d /race/{{name}}; sleep 0.1
          n=$((n+1))
        done
        echo "swapped $n"
        """;

    /// <summary>The c folder the kernel lists first in the layer's race folder (its readdir order, as any walk meets them).</summary>
    private static string FirstListed(ISandboxHarness harness, string sandbox) =>
        Directory.EnumerateDirectories(Path.Combine(harness.StateFolder(sandbox), "upper", "race"))
            .Select(Path.GetFileName).First(name => name!.StartsWith('c'))!;

    [SkippableFact]
    [Trait("User", "Root")]
    public void Changes_of_a_root_sandbox_racing_a_link_swap_never_list_host_files()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var scratch = new TemporaryFolder("walk-race-root");
        using var harness = new InProcessHarness();
        harness.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
        var sandbox = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        RaceChanges(scratch.Path, harness, sandbox.Id, () => harness.Engine.GetChanges(harness.Engine.GetSandbox(sandbox.Id)).ToList());
    }

    [SkippableFact]
    [Trait("User", "NonRoot")]
    public void Changes_of_a_rootless_sandbox_racing_a_link_swap_never_list_host_files()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var scratch = new TemporaryFolder("walk-race-user");
        // Two engine processes as the test user on one store: one runs the loop, the other walks.
        using var runner = new RemoteHarness();
        using var observer = new RemoteHarness(sharedStore: runner.StoreRoot);
        runner.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
        var sandbox = runner.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        RaceChanges(scratch.Path, runner, sandbox.Id, () => observer.Changes(sandbox.Id));
        observer.Remove(sandbox.Id);
    }

    /// <summary>
    /// Host files the walker's user can read (so only the walk, not permissions, keeps them out), with
    /// names and a size found nowhere else; then walks for as long as the loop runs (20 s, at most 1000 walks).
    /// </summary>
    private void RaceChanges(string scratch, ISandboxHarness runner, string sandbox, Func<IReadOnlyList<SandboxChange>> changes)
    {
        var host = Path.Combine(scratch, "host");
        Directory.CreateDirectory(host);
        File.SetUnixFileMode(host, (UnixFileMode)0b111_101_101);
        var secret = $"HOSTSECRET-{Guid.NewGuid():N}";
        for (var i = 0; i < 20; i++) File.WriteAllBytes(Path.Combine(host, $"{secret}-{i}"), new byte[SecretSize]);
        var made = runner.Invoke(sandbox, new SandboxCommand { Argv = new[] { "/bin/sh", "-c", MakeTree } });
        Assert.True(made.StdOut == "made\n", made.StdErr);
        var swapped = FirstListed(runner, sandbox);
        var loop = Task.Run(() => runner.Invoke(sandbox, new SandboxCommand
        {
            Argv = new[] { "/bin/sh", "-c", SwapLoop(swapped, host, 20) }, Timeout = TimeSpan.FromMinutes(3),
        }));
        var walks = 0;
        var leaks = new List<SandboxChange>();
        var sawInside = 0;
        var failures = new List<string>(); // a walk that fails because the sandbox renamed a folder is a defect too
        while (walks + failures.Count < 1000 && !loop.IsCompleted)
        {
            IReadOnlyList<SandboxChange> listed;
            try { listed = changes(); }
            catch (Exception e) when (e is SandboxException or IOException)
            {
                failures.Add(e.Message.Split('\n')[0]);
                continue;
            }
            walks++;
            leaks.AddRange(listed.Where(c => c.Path.Contains("HOSTSECRET", StringComparison.Ordinal) || c.Size == SecretSize));
            if (listed.Any(c => c.Path == $"/race/{swapped}/inside" || c.Path == "/race/stash/d/inside")) sawInside++;
        }
        var result = loop.Result;
        _output.WriteLine($"{walks} walks ({failures.Count} failed), {sawInside} went into the real folder, {leaks.Count} host entries listed; loop: {result.StdOut.Trim()} {result.StdErr.Trim()}");

        Assert.True(result.ExitCode == 0 && result.StdOut.StartsWith("swapped ", StringComparison.Ordinal), $"the swap loop ran: {result.StdOut} {result.StdErr}");
        Assert.True(walks > 0 && sawInside > 0, "the walks ran while the loop swapped, and went into the swapped folder");
        Assert.True(leaks.Count == 0, $"host entries listed through the planted link: {string.Join(", ", leaks.Take(5))}");
        Assert.True(failures.Count == 0, $"walks failed while the sandbox renamed its folders: {string.Join(" | ", failures.Distinct().Take(3))}");
    }
}

using System.Runtime.InteropServices;
using Sandbox.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Removal of a sandbox's layer while something still swaps its folders for links to a host folder.
/// Remove-Sandbox kills the sandbox's recorded processes first, so the swapper here is a thread of
/// the test standing for one that outlived that (or raced it): it exchanges each folder of the layer
/// with a link to the host folder (renameat2 RENAME_EXCHANGE, atomic, as fast as the kernel allows).
/// The old in-process removal checked "not a link" and then listed, chmod'ed and deleted by path, so
/// an exchange between the two made it delete the host folder's files and open up its mode.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class RemovalRaceTests
{
    private readonly ITestOutputHelper _output;

    public RemovalRaceTests(ITestOutputHelper output) => _output = output;

    private const int Pairs = 40;

    [DllImport("libc", SetLastError = true)]
    private static extern int renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    private const int AtFdCwd = -100;
    private const UnixFileMode HostMode = UnixFileMode.UserRead | UnixFileMode.UserExecute;
    private const uint RenameExchange = 2;

    [SkippableFact]
    public void Removing_a_root_sandbox_whose_folders_are_swapped_for_links_never_touches_the_link_targets()
    {
        Skip.If(Environment.UserName != "root", "this test runs the engine as root; run the tests as root (CI does).");
        using var scratch = new TemporaryFolder("removal-race");
        using ISandboxHarness harness = new InProcessHarness();
        harness.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(scratch.Path, "rootfs")));
        var host = Path.Combine(scratch.Path, "host");
        Directory.CreateDirectory(host);
        for (var i = 0; i < 10; i++) File.WriteAllText(Path.Combine(host, $"canary-{i}"), "precious\n");
        // r-x: the old removal "opened up" a folder without owner write by chmod through the path, so through the link too.
        File.SetUnixFileMode(host, HostMode);

        var exchanges = 0L;
        var failures = new List<string>();
        for (var trial = 0; trial < 8; trial++)
        {
            var sandbox = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
            // Folders d<i>, each with files (so the removal spends time inside), and links l<i> to the host folder.
            var made = harness.Invoke(sandbox.Id, new SandboxCommand
            {
                Argv = new[] { "/bin/sh", "-c", $$"""
                    set -e; mkdir /race; i=0
                    while [ $i -lt {{Pairs}} ]; do
                      mkdir /race/d$i; j=0; while [ $j -lt 20 ]; do : > /race/d$i/f$j; j=$((j+1)); done
                      ln -s {{host}} /race/l$i; i=$((i+1))
                    done
                    echo made
                    """ },
            });
            Assert.True(made.StdOut == "made\n", made.StdErr);
            var race = Path.Combine(harness.StateFolder(sandbox.Id), "upper", "race");

            // A thread of its own, not the thread pool: with the whole suite running the pool can be busy
            // for longer than a removal takes, and the swapper would start only after it (CI saw 0 exchanges).
            // The removal starts once the swapper is exchanging; only exchanges during the removal count.
            var stop = false;
            var removing = false;
            long duringRemoval = 0;
            using var swapping = new ManualResetEventSlim();
            var swapper = new Thread(() =>
            {
                while (!Volatile.Read(ref stop))
                {
                    for (var i = 0; i < Pairs; i++)
                        if (renameat2(AtFdCwd, Path.Combine(race, $"d{i}"), AtFdCwd, Path.Combine(race, $"l{i}"), RenameExchange) == 0
                            && Volatile.Read(ref removing))
                            duringRemoval++;
                    swapping.Set();
                }
            }) { IsBackground = true };
            swapper.Start();
            swapping.Wait();
            SandboxException? failed = null;
            Volatile.Write(ref removing, true);
            try { harness.Remove(sandbox.Id); }
            catch (SandboxException e) { failed = e; }
            finally
            {
                Volatile.Write(ref stop, true);
                swapper.Join();
                exchanges += duringRemoval;
            }

            // The host folder after every removal: that is the harm. A removal that gave up is a lesser
            // defect, counted and asserted at the end (the harness removes the leftover once the swapper stopped).
            Assert.Equal(10, Directory.GetFiles(host).Length);
            Assert.Equal(HostMode, File.GetUnixFileMode(host));
            if (failed is not null) failures.Add(failed.Message.Split('\n')[0]);
            else Assert.False(Directory.Exists(harness.StateFolder(sandbox.Id)), "the sandbox's folder is gone");
        }
        _output.WriteLine($"{exchanges} exchanges of a folder and a link happened during the removals; {failures.Count} removals failed");
        Assert.True(exchanges > 0, "the swapper raced the removals");
        Assert.True(failures.Count == 0, $"removals failed: {string.Join(" | ", failures)}");
    }
}

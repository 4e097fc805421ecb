using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A sandbox that fills the store's filesystem: the command that did it (and every later one) still
/// returns its result, only its figures are not recorded (with a warning); a new sandbox fails with
/// StoreFull naming the store, not with a raw IOException. The store is on an 8 MiB tmpfs.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class StoreFullTests
{
    [SkippableFact]
    public void A_full_store_keeps_command_results_and_refuses_new_sandboxes_with_StoreFull()
    {
        Skip.If(Environment.UserName != "root", "mounting a small tmpfs needs root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("store-full");
        var mountPoint = Path.Combine(folder.Path, "small");
        Directory.CreateDirectory(mountPoint);
        RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=8m", "sandbox-test-full", mountPoint);
        try
        {
            var log = new RecordingLog();
            var engine = new SandboxEngine(new StoreLayout(Path.Combine(mountPoint, "store")), log);
            engine.Images.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(folder.Path, "tree")), force: false);
            var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });

            var fill = engine.Invoke(sandbox, new SandboxCommand
            {
                // The last pages too (bs=4k after 64k): recording the command must find no room at all.
                Argv = new[] { "sh", "-c", "dd if=/dev/zero of=/fill bs=64k 2>/dev/null; dd if=/dev/zero of=/fill2 bs=4k 2>/dev/null; echo filled" },
            });
            Assert.Equal("filled\n", fill.StdOut);
            Assert.Equal(0, fill.ExitCode);
            var later = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "echo", "still here" } });
            Assert.Equal("still here\n", later.StdOut);
            // The record of a command is a rewrite of files made with the sandbox: it still fits.
            Assert.Equal(2, engine.GetSandbox(sandbox.Id).CommandsRun);

            var error = Assert.Throws<SandboxException>(() =>
                engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap }));
            Assert.Equal("StoreFull", error.ErrorId);
            Assert.Contains(engine.Layout.Root, error.Message);
            Assert.NotNull(error.Fix);
            Assert.Single(Directory.GetDirectories(engine.Layout.SandboxesFolder)); // no half-made sandbox left

            // Freeing the space (removing the sandbox) makes the store usable again. The space comes
            // back once no mount namespace holds the removed overlay: one that another process made
            // while it was mounted (any bwrap or nspawn of the tests running beside this one copies
            // the host's mounts) keeps its files allocated until that process ends.
            engine.RemoveSandbox(engine.GetSandbox(sandbox.Id));
            var next = CreateOnceSpaceIsBack(engine, TimeSpan.FromMinutes(2));
            Assert.Equal("ok\n", engine.Invoke(next, new SandboxCommand { Argv = new[] { "echo", "ok" } }).StdOut);
            engine.RemoveSandbox(next);
        }
        finally
        {
            RunAsRoot.Command("umount", "--recursive", "--lazy", mountPoint);
        }
    }

    private static SandboxInfo CreateOnceSpaceIsBack(SandboxEngine engine, TimeSpan patience)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
            }
            catch (SandboxException e) when (e.ErrorId == "StoreFull" && waited.Elapsed < patience)
            {
                Thread.Sleep(500);
            }
        }
    }
}

using Sandbox.Sandboxes;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A named Enter in a full store (StoreFullTests' 8 MiB tmpfs): refused with StoreFull while the store
/// is full, leaving no sandbox behind; right after a removal frees the space (its deletion still under
/// way in the background) it succeeds by its retry, which takes back what its failed first attempt
/// took, so the name is never reported taken by that attempt; and the name is then held.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class StoreFullRetryTests
{
    private static SandboxCreateOptions Named(string name) =>
        new() { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap, Name = name };

    [SkippableFact]
    public void A_named_Enter_right_after_a_removal_in_a_full_store_gets_its_name()
    {
        Skip.If(Environment.UserName != "root", "mounting a small tmpfs needs root; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("store-full-retry");
        var mountPoint = Path.Combine(folder.Path, "small");
        Directory.CreateDirectory(mountPoint);
        RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=8m", "sandbox-test-full-retry", mountPoint);
        try
        {
            var engine = new SandboxEngine(new StoreLayout(Path.Combine(mountPoint, "store")), new RecordingLog());
            engine.Images.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(folder.Path, "tree")), force: false);
            var filler = engine.CreateSandbox(Named("filler"));
            engine.Invoke(filler, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", "dd if=/dev/zero of=/fill bs=64k 2>/dev/null; dd if=/dev/zero of=/fill2 bs=4k 2>/dev/null; true" },
            });
            var full = Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("after")));
            Assert.Equal("StoreFull", full.ErrorId);
            Assert.Equal(new[] { filler.Id }, Directory.GetDirectories(engine.Layout.SandboxesFolder).Select(Path.GetFileName));

            engine.RemoveSandbox(engine.GetSandbox(filler.Id));
            var after = engine.CreateSandbox(Named("after"));

            Assert.Equal("after", after.Name);
            Assert.Equal(new[] { after.Id }, Directory.GetDirectories(engine.Layout.SandboxesFolder).Select(Path.GetFileName));
            Assert.Equal(after.Id, File.ReadAllText(Path.Combine(engine.Layout.Root, SandboxNames.FolderName, SandboxNames.KeyOf("after"))));
            Assert.Equal("SandboxNameTaken", Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("after"))).ErrorId);
            engine.RemoveSandbox(after);
            StoreTrash.WaitForPending(TimeSpan.FromMinutes(1));
        }
        finally
        {
            RunAsRoot.Command("umount", "--recursive", "--lazy", mountPoint);
        }
    }
}

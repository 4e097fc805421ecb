using Sandbox.Sandboxes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// A sandbox's name is checked by its claim (names/KEY holds the id of the sandbox holding it,
/// SandboxNames), not by reading every sandbox of the store: an Enter costs the same however many
/// sandboxes are kept, and a state folder a sandbox's owner filled with something unreadable
/// stops nobody else's Enter. Claims never outlive their sandbox's say: a stale one frees the name,
/// a store from before claims still refuses a taken name, a planted link is not written through.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class SandboxNameClaimTests
{
    private static SandboxCreateOptions Named(string name) =>
        new() { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap, Name = name };

    [SkippableFact]
    public void Entering_reads_no_other_sandboxs_state_so_a_FIFO_planted_as_one_blocks_nothing()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-fifo");
        var engine = busybox.Engine;
        var first = engine.CreateSandbox(Named("first"));
        // What an owner of the store's folders could leave: a state folder whose state.json never ends.
        var planted = Path.Combine(engine.Layout.SandboxesFolder, "0123456789ab");
        Directory.CreateDirectory(planted);
        var fifo = Path.Combine(planted, "state.json");
        RunAsRoot.Command("mkfifo", fifo);

        var second = Task.Run(() => engine.CreateSandbox(Named("second")));
        var listed = second.ContinueWith(_ => engine.GetSandboxes().Select(s => s.Name).ToList(), TaskScheduler.Default);
        var finished = listed.Wait(TimeSpan.FromSeconds(30));
        if (!finished) ReleaseReaderOf(fifo); // the old code blocks in open(2) of the FIFO: let it go
        Assert.True(finished, "Enter and Get-Sandbox blocked on another sandbox's state.json (a FIFO)");
        Assert.Equal(new[] { "first", "second" }, listed.Result.Order());

        Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("first")));
        engine.RemoveSandbox(first);
        engine.RemoveSandbox(second.Result);
        Directory.Delete(planted, recursive: true);
    }

    [SkippableFact]
    public void A_name_held_by_a_sandbox_made_before_claims_existed_is_still_refused()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-old-store");
        var engine = busybox.Engine;
        var old = engine.CreateSandbox(Named("made-before"));
        var names = Path.Combine(engine.Layout.Root, SandboxNames.FolderName);
        Directory.Delete(names, recursive: true); // the store as an older version left it

        var error = Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("made-before")));

        Assert.Equal("SandboxNameTaken", error.ErrorId);
        Assert.Equal(old.Id, File.ReadAllText(Path.Combine(names, SandboxNames.KeyOf("made-before"))));
        engine.RemoveSandbox(old);
    }

    [SkippableFact]
    public void A_removed_sandboxs_name_is_free_again_its_claim_gone_and_a_stale_claim_frees_its_name()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-release");
        var engine = busybox.Engine;
        var names = Path.Combine(engine.Layout.Root, SandboxNames.FolderName);

        engine.RemoveSandbox(engine.CreateSandbox(Named("reused")));
        Assert.Empty(Directory.GetFiles(names));
        engine.RemoveSandbox(engine.CreateSandbox(Named("reused")));

        // A removal that died after its sandbox was gone but before it released the name.
        File.WriteAllText(Path.Combine(names, SandboxNames.KeyOf("stale")), "0123456789ab");
        var taken = engine.CreateSandbox(Named("stale"));
        Assert.Equal(taken.Id, File.ReadAllText(Path.Combine(names, SandboxNames.KeyOf("stale"))));
        engine.RemoveSandbox(taken);
    }

    [SkippableFact]
    public void A_claim_planted_as_a_link_is_not_written_through()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-link");
        using var precious = new PreciousFile("name-claim-precious");
        var engine = busybox.Engine;
        engine.RemoveSandbox(engine.CreateSandbox(Named("warm-up"))); // makes names/
        var claim = Path.Combine(engine.Layout.Root, SandboxNames.FolderName, SandboxNames.KeyOf("linked"));
        File.WriteAllText(claim, "");
        precious.PlantLinkAt(claim);

        var sandbox = engine.CreateSandbox(Named("linked"));

        precious.AssertUntouched();
        Assert.Null(new FileInfo(claim).LinkTarget);
        Assert.Equal(sandbox.Id, File.ReadAllText(claim));
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void A_claim_written_over_a_longer_file_keeps_no_tail_so_its_name_stays_taken()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-tail");
        var engine = busybox.Engine;
        engine.RemoveSandbox(engine.CreateSandbox(Named("warm-up"))); // makes names/
        // A longer claim left there (cut short by nothing: planted, or a crash mid-write of another format).
        var claim = Path.Combine(engine.Layout.Root, SandboxNames.FolderName, SandboxNames.KeyOf("tail"));
        File.WriteAllText(claim, "0123456789abcdef-and-a-tail");

        var sandbox = engine.CreateSandbox(Named("tail"));

        Assert.Equal(sandbox.Id, File.ReadAllText(claim));
        var error = Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("tail")));
        Assert.Equal("SandboxNameTaken", error.ErrorId);
        Assert.Single(engine.GetSandboxes());
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void Stale_claims_are_collected_by_the_reap_never_through_a_link_and_held_ones_are_kept()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-collect");
        using var precious = new PreciousFile("name-claim-collect-precious");
        var engine = busybox.Engine;
        var held = engine.CreateSandbox(Named("held"));
        var names = Path.Combine(engine.Layout.Root, SandboxNames.FolderName);
        string Claim(string name) => Path.Combine(names, SandboxNames.KeyOf(name));
        File.WriteAllText(Claim("gone"), "0123456789ab");   // its sandbox is gone (a removal that died)
        File.WriteAllText(Claim("renamed"), held.Id);     // its sandbox holds another name
        File.WriteAllText(Claim("empty"), "");            // a claim a full store cut short
        File.WriteAllText(Claim("linked"), "");
        precious.PlantLinkAt(Claim("linked"));            // a link: unlinked, never followed
        var notAClaim = Path.Combine(names, "README");    // not a claim's name: left alone
        File.WriteAllText(notAClaim, "x");

        engine.ReapOrphans();

        Assert.Equal(new[] { Claim("held"), notAClaim }.Order(), Directory.GetFileSystemEntries(names).Order());
        Assert.Equal(held.Id, File.ReadAllText(Claim("held")));
        precious.AssertUntouched();
        Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("held")));
        engine.RemoveSandbox(held);
        engine.ReapOrphans();
        Assert.Equal(new[] { notAClaim }, Directory.GetFileSystemEntries(names));
    }

    [SkippableFact]
    public void A_leftover_of_the_one_time_claiming_that_is_not_a_folder_does_not_stop_it()
    {
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("name-claim-staging");
        var engine = busybox.Engine;
        var old = engine.CreateSandbox(Named("made-before"));
        Directory.Delete(Path.Combine(engine.Layout.Root, SandboxNames.FolderName), recursive: true); // the store as an older version left it
        File.WriteAllText(Path.Combine(engine.Layout.Root, "names-new"), "not a folder"); // whatever a claiming that died left

        var error = Assert.Throws<SandboxException>(() => engine.CreateSandbox(Named("made-before")));

        Assert.Equal("SandboxNameTaken", error.ErrorId);
        Assert.False(Path.Exists(Path.Combine(engine.Layout.Root, "names-new")));
        Assert.Equal(old.Id, File.ReadAllText(Path.Combine(engine.Layout.Root, SandboxNames.FolderName, SandboxNames.KeyOf("made-before"))));
        var next = engine.CreateSandbox(Named("made-after"));
        engine.RemoveSandbox(next);
        engine.RemoveSandbox(old);
    }

    private static void ReleaseReaderOf(string fifo)
    {
        using var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write);
    }
}

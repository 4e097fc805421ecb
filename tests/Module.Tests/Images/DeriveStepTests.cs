using Sandbox.Images.Derive;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Derive;

/// <summary>
/// New-SandboxImage -From -Run through the engine, as root (Bubblewrap and Nspawn): what a step
/// writes becomes the derived image, seen by fresh sandboxes; the parent is untouched; chains stack;
/// the cache runs a step once; a cancelled step leaves nothing. Rootless, FakeChroot and a killed
/// owner are in tests/Pester/Derive.Tests.ps1 (they need other users and processes).
/// </summary>
[Trait("Area", "Images")]
[Trait("User", "Root")]
public sealed class DeriveStepTests
{
    /// <summary>Adds, modifies, deletes a file, replaces a folder with one of other contents, and chowns a file.</summary>
    private const string EveryKindOfChange =
        "echo added > /data/added.txt && echo modified > /data/file.txt && rm /data/delete-me.txt && " +
        "rm -rf /data/nested && mkdir /data/nested && echo fresh > /data/nested/fresh.txt && chown 1000:1000 /data/file.txt";

    private const string ChecksEveryKindOfChange =
        "cat /data/added.txt /data/file.txt; test -e /data/delete-me.txt && echo delete-me-still-there; " +
        "ls -A /data/nested; stat -c %u:%g /data/file.txt";

    private static void RequireRootWith(ProviderName provider)
    {
        Skip.If(Environment.UserName != "root", "these tests run the engine as root; run the tests as root (CI does).");
        if (provider == ProviderName.Nspawn)
            Skip.If(!File.Exists("/usr/bin/systemd-nspawn"), "systemd-container is not installed (bash tools/setup.sh installs it).");
    }

    private static DeriveStep Step(string name, string from, ProviderName provider, string script, IReadOnlyList<BindMount>? mounts = null) => new()
    {
        Name = name, From = from, Provider = provider, Network = NetworkMode.None,
        Argv = new[] { "sh", "-c", script }, Mounts = mounts ?? Array.Empty<BindMount>(),
    };

    private static string Run(SandboxEngine engine, string image, ProviderName provider, string script)
    {
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = image, Provider = provider });
        try { return engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", script } }).StdOut; }
        finally { engine.RemoveSandbox(sandbox); }
    }

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void A_fresh_sandbox_of_the_derived_image_sees_every_change_and_the_parent_stays_byte_identical(ProviderName provider)
    {
        RequireRootWith(provider);
        using var store = new BusyboxStore("derive-changes");
        var parent = store.Engine.Images.Get(HarnessFixture.ImageName);
        var before = TreeSnapshot.Take(parent.RootFs);

        var derived = store.Engine.DeriveImage(Step("changed", parent.Name, provider, EveryKindOfChange));

        Assert.Equal(parent.Id, derived.ParentId);
        Assert.Equal("added\nmodified\nfresh.txt\n1000:1000\n", Run(store.Engine, "changed", provider, ChecksEveryKindOfChange));
        Assert.Empty(TreeSnapshot.Take(parent.RootFs).DifferencesFrom(before));
        Assert.Contains("original content", Run(store.Engine, parent.Name, provider, "cat /data/file.txt; ls /data/nested"));
        Assert.Empty(store.Engine.GetSandboxes()); // the step's sandbox went with it
    }

    [SkippableTheory]
    [InlineData(ProviderName.Bubblewrap)]
    [InlineData(ProviderName.Nspawn)]
    public void A_chain_of_three_derived_images_sees_all_three_steps(ProviderName provider)
    {
        RequireRootWith(provider);
        using var store = new BusyboxStore("derive-chain");
        store.Engine.DeriveImage(Step("one", HarnessFixture.ImageName, provider, "echo 1 > /data/one && rm /data/file.txt"));
        store.Engine.DeriveImage(Step("two", "one", provider, "echo 2 > /data/two && rm -rf /data/nested"));
        var three = store.Engine.DeriveImage(Step("three", "two", provider, "echo 3 > /data/three && mkdir /data/nested && echo 3 > /data/nested/x"));

        Assert.Equal(new[] { "three", "two", "one", HarnessFixture.ImageName }, three.Chain);
        Assert.Equal("1\n2\n3\nx\n", Run(store.Engine, "three", provider,
            "cat /data/one /data/two /data/three; test -e /data/file.txt && echo file-back; ls -A /data/nested"));
    }

    [SkippableFact]
    public void The_same_derive_again_runs_nothing_a_changed_step_or_a_rebuilt_parent_runs_again()
    {
        RequireRootWith(ProviderName.Bubblewrap);
        using var store = new BusyboxStore("derive-cache");
        using var counter = new TemporaryFolder("derive-counter");
        var mounts = new[] { new BindMount(counter.Path, "/counter", ReadOnly: false) };
        var count = Path.Combine(counter.Path, "count");
        int Runs() => File.Exists(count) ? File.ReadAllLines(count).Length : 0;
        DeriveStep Counting(string extra) => Step("app", HarnessFixture.ImageName, ProviderName.Bubblewrap, "echo run >> /counter/count" + extra, mounts);

        var first = store.Engine.DeriveImage(Counting(""));
        var again = store.Engine.DeriveImage(Counting(""));
        Assert.Equal(1, Runs());
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(first.Created, again.Created);

        var changed = store.Engine.DeriveImage(Counting(" && echo changed > /data/changed"));
        Assert.Equal(2, Runs());
        Assert.NotEqual(first.Id, changed.Id);

        // Rebuild the parent with other content: a new content id, so the child's key changes.
        using var tree = new TemporaryFolder("derive-parent2");
        var newTree = BusyboxTree.Create(Path.Combine(tree.Path, "tree"));
        File.WriteAllText(Path.Combine(newTree, "data/rebuilt"), "yes\n");
        var rebuilt = store.Engine.Images.Import(HarnessFixture.ImageName, newTree, force: true);
        var child = store.Engine.DeriveImage(Counting(" && echo changed > /data/changed"));
        Assert.Equal(3, Runs());
        Assert.Equal(rebuilt.Id, child.ParentId);

        store.Engine.DeriveImage(Counting(" && echo changed > /data/changed"));
        Assert.Equal(3, Runs());
        store.Engine.DeriveImage(new DeriveStep
        {
            Name = "app", From = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap, Network = NetworkMode.None,
            Argv = new[] { "sh", "-c", "echo run >> /counter/count && echo changed > /data/changed" }, Mounts = mounts, Force = true,
        });
        Assert.Equal(4, Runs()); // -Force
    }

    [SkippableFact]
    public void A_failing_step_publishes_nothing_and_quotes_its_stderr_without_terminal_escapes()
    {
        RequireRootWith(ProviderName.Bubblewrap);
        using var store = new BusyboxStore("derive-fail");
        var error = Assert.Throws<SandboxException>(() => store.Engine.DeriveImage(
            Step("broken", HarnessFixture.ImageName, ProviderName.Bubblewrap, "touch /data/partial; printf 'no such package\\033[2J\\n' >&2; exit 100")));
        Assert.Equal("DeriveStepFailed", error.ErrorId);
        Assert.Contains("no such package?[2J", error.Message);
        Assert.DoesNotContain('\u001b', error.Message);
        Assert.Null(store.Engine.Images.TryGet("broken"));
        Assert.Empty(store.Engine.GetSandboxes());
    }

    [SkippableFact]
    public void A_cancelled_step_removes_its_sandbox_and_publishes_nothing()
    {
        RequireRootWith(ProviderName.Bubblewrap);
        using var store = new BusyboxStore("derive-cancel");
        using var counter = new TemporaryFolder("derive-started");
        var started = Path.Combine(counter.Path, "started");
        using var cancellation = new CancellationTokenSource();
        var derive = Task.Run(() => store.Engine.DeriveImage(Step("slow", HarnessFixture.ImageName, ProviderName.Bubblewrap,
            "echo x > /data/x && touch /counter/started && sleep 600", new[] { new BindMount(counter.Path, "/counter", ReadOnly: false) }),
            cancellation.Token));
        Assert.True(Poll.Until(() => File.Exists(started), TimeSpan.FromSeconds(120)), "the step never started");
        cancellation.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => derive.GetAwaiter().GetResult());
        Assert.Null(store.Engine.Images.TryGet("slow"));
        Assert.Empty(store.Engine.GetSandboxes());
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(store.Root, "sandboxes")));
    }

    [SkippableFact]
    public void A_script_step_runs_by_its_shebang_leaves_no_copy_of_itself_and_its_bytes_are_part_of_the_key()
    {
        RequireRootWith(ProviderName.Bubblewrap);
        using var store = new BusyboxStore("derive-script");
        using var host = new TemporaryFolder("derive-script-host");
        var script = Path.Combine(host.Path, "provision.sh");
        DeriveStep Scripted(string body)
        {
            File.WriteAllText(script, body);
            return new DeriveStep
            {
                Name = "scripted", From = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap, Network = NetworkMode.None,
                Script = DeriveStep.ReadScript(script),
            };
        }

        var first = store.Engine.DeriveImage(Scripted("#!/bin/sh\necho \"$0\" > /data/ran-as\n"));
        var ranAs = Run(store.Engine, "scripted", ProviderName.Bubblewrap, "cat /data/ran-as").Trim();
        Assert.StartsWith("/.sandbox-derive-step-", ranAs);
        Assert.Equal("gone\n", Run(store.Engine, "scripted", ProviderName.Bubblewrap, $"test -e {ranAs} || echo gone; ls -A / | grep sandbox-derive"));
        Assert.Equal(first.Id, store.Engine.DeriveImage(Scripted("#!/bin/sh\necho \"$0\" > /data/ran-as\n")).Id);

        var second = store.Engine.DeriveImage(Scripted("echo second > /data/ran-as\n")); // no shebang: run with sh
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal("second\n", Run(store.Engine, "scripted", ProviderName.Bubblewrap, "cat /data/ran-as"));
    }
}

using System.Globalization;
using Sandbox.Namespaces;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// The host uid ranges booted machines get: one per sandbox, claimed host-wide so two machines
/// never share a root, outside every /etc/subuid and /etc/subgid range, and given back on release.
/// </summary>
public sealed class BootIdRangeTests
{
    private static SandboxInfo Sandbox(string stateFolder) => new()
    {
        Id = Guid.NewGuid().ToString("N"), Name = "ids", Provider = "Nspawn", Image = "none", Created = DateTimeOffset.UtcNow,
        Boot = true, StatePath = stateFolder,
    };

    [SkippableFact]
    [Trait("User", "Root")]
    public void Each_sandbox_claims_a_range_of_its_own_and_release_gives_it_back()
    {
        Skip.If(Environment.UserName != "root", "the claims live in /run, root's.");
        using var folder = new TemporaryFolder("boot-ids");
        var first = Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, "a")).FullName);
        var second = Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, "b")).FullName);
        try
        {
            var a = BootIdRange.Claim(first);
            var b = BootIdRange.Claim(second);

            Assert.NotEqual(a.Base, b.Base);
            Assert.True(a.Base + BootIdRange.Size <= b.Base || b.Base + BootIdRange.Size <= a.Base, "ranges overlap");
            Assert.Equal(a, BootIdRange.Of(first));
            Assert.Equal($"--private-users={a.Base}:65536", a.NspawnOption);
            foreach (var range in new[] { a, b })
            {
                Assert.InRange(range.Base, BootIdRange.FirstBase, 0x8000_0000u - BootIdRange.Size);
                Assert.DoesNotContain(SubordinateStarts(), s => s.Start < range.Base + BootIdRange.Size && range.Base < s.Start + s.Count);
            }
            Assert.Equal(first.StatePath, File.ReadAllText(ClaimOf(a)));
        }
        finally
        {
            BootIdRange.Release(first);
            BootIdRange.Release(second);
        }
        Assert.Null(BootIdRange.Of(first));
        Assert.False(File.Exists(Path.Combine(first.StatePath, "boot-id-range")));
    }

    /// <summary>
    /// Under sudo the state folder is the caller's: root wrote the range's record there by path, so a
    /// link the caller put at its name had root truncate the file it leads to and write a number there.
    /// </summary>
    [SkippableFact]
    [Trait("User", "Root")]
    public void A_link_planted_at_the_range_record_gets_no_write_through_it()
    {
        Skip.If(Environment.UserName != "root", "the claims live in /run, root's.");
        using var folder = new TemporaryFolder("boot-ids-link");
        var victim = Path.Combine(folder.Path, "precious");
        File.WriteAllText(victim, "root's own\n");
        var sandbox = Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, "state")).FullName);
        File.CreateSymbolicLink(BootIdRange.RecordFile(sandbox), victim);
        try
        {
            var range = BootIdRange.Claim(sandbox);

            Assert.Equal("root's own\n", File.ReadAllText(victim));
            Assert.Equal(range, BootIdRange.Of(sandbox));
        }
        finally { BootIdRange.Release(sandbox); }
        Assert.Equal("root's own\n", File.ReadAllText(victim));
    }

    /// <summary>
    /// In a store the state folder is reached beneath its checked root only: under sudo the caller can
    /// swap sandboxes/ID for a link to a folder of root's, and a fallback to the path (when the beneath
    /// open refused the link) had root create the record there, and release delete one there.
    /// </summary>
    [SkippableFact]
    [Trait("User", "Root")]
    public void A_state_folder_in_a_store_swapped_for_a_link_gets_no_record_made_or_deleted_through_it()
    {
        Skip.If(Environment.UserName != "root", "the claims live in /run, root's.");
        using var folder = new TemporaryFolder("boot-ids-swap");
        var store = Directory.CreateDirectory(Path.Combine(folder.Path, "store")).FullName;
        File.SetUnixFileMode(store, (UnixFileMode)0b111_000_000);
        Directory.CreateDirectory(Path.Combine(store, "sandboxes"));
        global::Sandbox.Storage.StoreRootGuard.Verify(store, 0, engineIsRoot: true);
        var victims = Directory.CreateDirectory(Path.Combine(folder.Path, "roots-folder")).FullName;
        var planted = Path.Combine(victims, "boot-id-range");
        File.WriteAllText(planted, "root's own\n");
        var stateFolder = Path.Combine(store, "sandboxes", "swapped");
        File.CreateSymbolicLink(stateFolder, victims);
        var sandbox = Sandbox(stateFolder);
        sandbox.StoreRoot = store;

        Assert.Null(BootIdRange.Of(sandbox));
        Assert.Equal("SandboxSetupFailed", Assert.Throws<SandboxException>(() => BootIdRange.Claim(sandbox)).ErrorId);
        BootIdRange.Release(sandbox);

        Assert.Equal("root's own\n", File.ReadAllText(planted));
        Assert.Equal(new[] { planted }, Directory.GetFileSystemEntries(victims));
        Assert.DoesNotContain(Directory.GetFiles(BootIdRange.ClaimFolder), claim => File.ReadAllText(claim) == stateFolder); // the refused claim's range given back
    }

    /// <summary>
    /// The claim folder was made by path (Directory.CreateDirectory): a link at its name, or a folder
    /// another user made there, was taken as it was, and root made its claim files wherever that led.
    /// It is now made and checked level by level like the other folders of root's below /run/sandbox.
    /// On a folder of root's standing for /run: the real one is every engine's on this machine.
    /// </summary>
    [SkippableTheory]
    [Trait("User", "Root")]
    [InlineData("link")]
    [InlineData("folder of another user's")]
    public void A_claim_folder_that_is_a_link_or_not_roots_is_refused_and_no_claim_is_made_in_it(string planted)
    {
        Skip.If(Environment.UserName != "root", "the claim folder must be root's; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("boot-ids-claim-folder");
        var run = Directory.CreateDirectory(Path.Combine(folder.Path, "run")).FullName;
        var claims = Path.Combine(Directory.CreateDirectory(Path.Combine(run, "sandbox")).FullName, "boot-id-ranges");
        var elsewhere = Directory.CreateDirectory(Path.Combine(folder.Path, "elsewhere")).FullName;
        if (planted == "link") File.CreateSymbolicLink(claims, elsewhere);
        else
        {
            Directory.CreateDirectory(claims, (UnixFileMode)0b111_000_000);
            RunAsRoot.Command("chown", "nobody", claims);
            elsewhere = claims;
        }
        var sandbox = Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, "state")).FullName);

        var error = Record.Exception(() => BootIdRange.Claim(sandbox, sandbox.StatePath, 0, run));

        Assert.Empty(Directory.GetFileSystemEntries(elsewhere));
        Assert.Equal("BootIdClaimFolderUnusable", Assert.IsType<SandboxException>(error).ErrorId);
        Assert.Contains(claims, error.Message);
        Assert.Null(BootIdRange.Of(sandbox));
    }

    [SkippableFact]
    [Trait("User", "Root")]
    public void A_missing_claim_folder_is_made_roots_and_closed_to_others()
    {
        Skip.If(Environment.UserName != "root", "the claim folder must be root's; run the tests as root (CI does).");
        using var folder = new TemporaryFolder("boot-ids-claim-folder-new");
        var run = Directory.CreateDirectory(Path.Combine(folder.Path, "run")).FullName;
        var sandbox = Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, "state")).FullName);

        var range = BootIdRange.Claim(sandbox, sandbox.StatePath, 0, run);

        var claims = Path.Combine(run, "sandbox", "boot-id-ranges");
        Assert.Equal(0b111_000_000u, global::Sandbox.Native.FileStatus.Of(claims)!.Value.Permissions);
        Assert.Equal(0u, global::Sandbox.Native.FileStatus.Of(claims)!.Value.Uid);
        Assert.Equal(sandbox.StatePath, File.ReadAllText(Path.Combine(claims, range.Base.ToString(CultureInfo.InvariantCulture))));
        Assert.Equal(range, BootIdRange.Of(sandbox));
    }

    [SkippableFact]
    [Trait("User", "Root")]
    public void A_claim_whose_sandbox_is_gone_is_taken_over_and_a_live_one_is_not()
    {
        Skip.If(Environment.UserName != "root", "the claims live in /run, root's.");
        using var folder = new TemporaryFolder("boot-ids");
        SandboxInfo NewSandbox() => Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, Guid.NewGuid().ToString("N"))).FullName);
        var owner = NewSandbox();
        var held = BootIdRange.Claim(owner);
        var later = new List<SandboxInfo>();
        try
        {
            // A live claim is never released by another sandbox, even one that wrongly records the range.
            var impostor = NewSandbox();
            File.WriteAllText(BootIdRange.RecordFile(impostor), held.Base.ToString(CultureInfo.InvariantCulture));
            BootIdRange.Release(impostor);
            Assert.True(File.Exists(ClaimOf(held)));

            // Nor is it taken by a claim starting at its slot while its sandbox lives.
            var contender = NewSandbox();
            later.Add(contender);
            Assert.NotEqual(held, BootIdRange.Claim(contender, held.Slot));

            // Its sandbox's folder vanishes without a release (a killed engine): the claim is stale and taken over.
            Directory.Delete(owner.StatePath, recursive: true);
            var successor = NewSandbox();
            later.Add(successor);
            Assert.Equal(held, BootIdRange.Claim(successor, held.Slot));
            Assert.Equal(successor.StatePath, File.ReadAllText(ClaimOf(held)));
        }
        finally
        {
            foreach (var sandbox in later) BootIdRange.Release(sandbox);
            if (File.Exists(ClaimOf(held)) && File.ReadAllText(ClaimOf(held)) == owner.StatePath) File.Delete(ClaimOf(held));
        }
        Assert.False(File.Exists(ClaimOf(held)));
    }

    /// <summary>An account id anywhere in a range (first id, last id) makes it skipped; one just past it does not.</summary>
    [Theory]
    [InlineData(0u, 2)]
    [InlineData(BootIdRange.Size - 1, 2)]
    [InlineData(BootIdRange.Size, 1)]
    public void A_range_holding_an_account_id_is_skipped(uint offsetFromSlot1, int expectedSlot)
    {
        var account = (long)BootIdRange.FirstBase + BootIdRange.Size + offsetFromSlot1;
        var taken = new List<(long, long)> { (account, 1) };

        var range = BootIdRange.FirstFree(1, taken, _ => true);

        Assert.NotNull(range);
        Assert.Equal(expectedSlot, range.Slot);
        Assert.False(range.Base <= account && account < range.Base + (long)BootIdRange.Size, "the range holds the account");
    }

    [Fact]
    public void No_range_is_found_when_none_can_be_claimed_and_the_search_wraps_around()
    {
        Assert.Null(BootIdRange.FirstFree(5, Array.Empty<(long, long)>(), _ => false));
        var tried = new List<int>();
        BootIdRange.FirstFree(BootIdRange.Slots - 1, Array.Empty<(long, long)>(), r => { tried.Add(r.Slot); return tried.Count == 2; });
        Assert.Equal(new[] { BootIdRange.Slots - 1, 0 }, tried);
    }

    /// <summary>The enumeration sees the files' accounts: root (0) and nogroup (65534 on Debian) at least.</summary>
    [Fact]
    public void Account_ids_include_the_files_users_and_groups()
    {
        var ids = global::Sandbox.Native.AccountIds.All();
        Assert.Contains(0u, ids);
        Assert.Contains(ids, id => id == 65534u);
    }

    /// <summary>
    /// A real group (made with groupadd, removed after) whose gid lies in a range: a claim starting at
    /// that range's slot skips it, so no machine's root or group shares an id with an existing account.
    /// </summary>
    [SkippableFact]
    [Trait("User", "Root")]
    public void A_claim_skips_a_range_an_existing_group_lives_in()
    {
        Skip.If(Environment.UserName != "root", "adding a group and the claims in /run need root.");
        using var folder = new TemporaryFolder("boot-ids");
        var sandbox = Sandbox(Directory.CreateDirectory(Path.Combine(folder.Path, "s")).FullName);
        const int slot = 4321;
        var gid = BootIdRange.FirstBase + slot * BootIdRange.Size + 12345;
        var group = "sbx-bootid-" + Guid.NewGuid().ToString("N")[..8];
        RunAsRoot.Command("groupadd", "-g", gid.ToString(CultureInfo.InvariantCulture), group);
        try
        {
            var range = BootIdRange.Claim(sandbox, slot);
            try
            {
                Assert.NotEqual(slot, range.Slot);
                Assert.False(range.Base <= gid && gid < range.Base + BootIdRange.Size, "the range holds the group's gid");
            }
            finally { BootIdRange.Release(sandbox); }
        }
        finally { RunAsRoot.Command("groupdel", group); }
    }

    private static string ClaimOf(BootIdRange range) => Path.Combine(BootIdRange.ClaimFolder, range.Base.ToString(CultureInfo.InvariantCulture));

    private static IEnumerable<(long Start, long Count)> SubordinateStarts() =>
        new[] { "/etc/subuid", "/etc/subgid" }.Where(File.Exists).SelectMany(File.ReadLines)
            .Select(line => line.Split(':')).Where(f => f.Length == 3)
            .Select(f => (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture)));
}

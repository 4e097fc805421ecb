using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// FakeChroot as the unprivileged user consuming an image derived by Bubblewrap rootless: its copy is
/// the flattened tree (FlatView), so the added, modified, deleted and replaced files are exactly as
/// a Bubblewrap sandbox sees them, and no whiteout or opaque marker reaches the copy.
/// </summary>
[Trait("Area", "Layers")]
[Trait("Provider", "FakeChroot")]
[Trait("User", "NonRoot")]
public sealed class FakeChrootDerivedImageTests(FakeChrootHarnessFixture fixture) : IClassFixture<FakeChrootHarnessFixture>
{
    [SkippableFact]
    public void A_FakeChroot_sandbox_of_a_derived_image_sees_the_flattened_tree()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var harness = fixture.Harness;
        var builder = harness.Create(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var made = harness.Invoke(builder.Id, new SandboxCommand
        {
            Argv = new[]
            {
                "sh", "-c", "set -e; echo added > /data/added.txt; echo modified > /data/file.txt; rm /data/delete-me.txt; " +
                            "rm -r /data/nested; mkdir /data/nested; echo only > /data/nested/only.txt",
            },
        });
        Assert.True(made.ExitCode == 0, made.StdErr);
        var image = harness.Commit(builder.Id, "fake-derived");
        harness.Remove(builder.Id);
        Assert.Equal(2, image.Layers.Count);

        var sandbox = harness.Create(new SandboxCreateOptions { Image = "fake-derived", Provider = ProviderName.FakeChroot });
        var seen = harness.Invoke(sandbox.Id, new SandboxCommand
        {
            Argv = new[] { "sh", "-c", "cat /data/added.txt /data/file.txt; test ! -e /data/delete-me.txt && echo deleted; ls -A /data/nested; find / -xdev -type c 2>/dev/null | wc -l" },
        });
        Assert.True(seen.ExitCode == 0, seen.StdErr);
        Assert.Equal("added\nmodified\ndeleted\nonly.txt\n0\n", seen.StdOut);
        // Compared with the image as its layers show it: nothing changed yet.
        Assert.Empty(((RemoteHarness)harness).Changes(sandbox.Id));
        harness.Remove(sandbox.Id);
    }
}

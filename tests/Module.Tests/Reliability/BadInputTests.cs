using Sandbox.Images;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Every parameter that takes a name, path, bind spec or other input is checked: each bad value gets
/// its own error id, a message that names the fix, and leaves the store exactly as it was.
/// </summary>
[Trait("Area", "Reliability")]
public sealed class BadInputTests : IClassFixture<RootHarnessFixture>
{
    private readonly RootHarnessFixture _fixture;

    public BadInputTests(RootHarnessFixture fixture) => _fixture = fixture;

    private const string Image = HarnessFixture.ImageName;

    public static TheoryData<string, string, Action<SandboxEngine, SandboxInfo>> Cases => new()
    {
        { "image name with ../", "InvalidName", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = "../etc" }) },
        { "image name with /", "InvalidName", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = "a/b" }) },
        { "empty image name", "InvalidName", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = "" }) },
        { "missing image", "ImageNotFound", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = "no-such-image" }) },
        { "sandbox name with ../", "InvalidName", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = Image, Name = "../../x" }) },
        { "sandbox name with a space", "InvalidName", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = Image, Name = "a b" }) },
        { "relative bind source", "InvalidBind", (_, _) => BindMount.Parse("relative/dir:/mnt", false) },
        { "missing bind source", "InvalidBind", (_, _) => BindMount.Parse("/no/such/folder:/mnt", false) },
        { "relative bind target", "InvalidBind", (_, _) => BindMount.Parse("/tmp:mnt", false) },
        { "bind source with ..", "InvalidBind", (_, _) => BindMount.Parse("/tmp/../etc:/mnt", false) },
        { "bind over /", "InvalidBind", (_, _) => BindMount.Parse("/tmp:/", false) },
        { "empty bind", "InvalidBind", (_, _) => BindMount.Parse("", true) },
        { "bind target with a comma", "InvalidBind", (_, _) => BindMount.Parse("/tmp:/mnt/a,b", false) },
        { "bind target with a second colon", "InvalidBind", (_, _) => BindMount.Parse("/tmp:/mnt/a:b", false) },
        { "bind target with a newline", "InvalidBind", (_, _) => BindMount.Parse("/tmp:/mnt/a\nb", false) },
        { "bind target with a . segment", "InvalidBind", (_, _) => BindMount.Parse("/tmp:/mnt/./b", false) },
        { "bind of the store", "BindRefused", (e, _) => CreateWithBind(e, $"{e.Layout.Root}:/store") },
        { "bind of an image's rootfs", "BindRefused", (e, _) => CreateWithBind(e, $"{e.Images.Get(Image).RootFs}:/img") },
        { "bind of a folder holding the store", "BindRefused", (e, _) => CreateWithBind(e, $"{Path.GetDirectoryName(e.Layout.Root)}:/up") },
        { "bind of /", "BindRefused", (e, _) => CreateWithBind(e, "/:/host") },
        { "bind of /proc/sys", "BindRefused", (e, _) => CreateWithBind(e, "/proc/sys:/proc/sys") },
        { "bind of /proc/sys elsewhere", "BindRefused", (e, _) => CreateWithBind(e, "/proc/sys:/mnt/sys") },
        { "bind of /sys", "BindRefused", (e, _) => CreateWithBind(e, "/sys:/mnt/sys") },
        { "bind of a device", "BindRefused", (e, _) => CreateWithBind(e, "/dev/null:/mnt/null") },
        { "bind of a link to /proc", "BindRefused", (e, _) => CreateWithBind(e, "/etc/mtab:/mnt/mtab") },
        { "bind of a link into the store", "BindRefused", (e, _) => ThroughLinkTo(Path.Combine(e.Layout.ImagesFolder, Image), link => CreateWithBind(e, $"{link}:/img")) },
        { "bind over the sandbox's /proc", "BindRefused", (e, _) => CreateWithBind(e, "/tmp:/proc/sys") },
        { "bind over the sandbox's /dev", "BindRefused", (e, _) => CreateWithBind(e, "/tmp:/dev") },
        { "variable name starting with a digit", "InvalidEnvironmentVariable", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = Image, Environment = new Dictionary<string, string> { ["1BAD"] = "x" } }) },
        { "variable name with =", "InvalidEnvironmentVariable", (e, s) => e.Invoke(s, new SandboxCommand { Argv = new[] { "true" }, Environment = new Dictionary<string, string> { ["A=B"] = "x" } }) },
        { "empty command", "EmptyCommand", (e, s) => e.Invoke(s, new SandboxCommand { Argv = Array.Empty<string>() }) },
        { "relative working directory", "InvalidPath", (e, s) => e.Invoke(s, new SandboxCommand { Argv = new[] { "true" }, WorkingDirectory = "tmp" }) },
        { "working directory with ..", "InvalidPath", (e, s) => e.Invoke(s, new SandboxCommand { Argv = new[] { "true" }, WorkingDirectory = "/tmp/../../etc" }) },
        { "zero timeout", "InvalidTimeout", (e, s) => e.Invoke(s, new SandboxCommand { Argv = new[] { "true" }, Timeout = TimeSpan.Zero }) },
        { "unknown user", "UserNotFound", (e, s) => e.Invoke(s, new SandboxCommand { Argv = new[] { "true" }, User = "no-such-user" }) },
        { "missing command", "CommandNotFound", (e, s) => e.Invoke(s, new SandboxCommand { Argv = new[] { "/no/such/program" } }) },
        { "missing sandbox", "SandboxNotFound", (e, _) => e.GetSandbox("no-such-sandbox") },
        { "missing import source", "ImageSourceNotFound", (e, _) => e.Images.Import("imported", "/no/such/rootfs.tar.zst", false) },
        { "image name with ../ on build", "InvalidName", (e, _) => e.Images.Build("../up", new ImageBuildOptions { Suite = "bookworm" }, false) },
        { "export into a missing folder", "InvalidPath", (e, _) => e.Images.Export(Image, "/no/such/folder/x.tar", false) },
        { "boot with Bubblewrap", "NotSupportedByProvider", (e, _) => e.CreateSandbox(new SandboxCreateOptions { Image = Image, Provider = ProviderName.Bubblewrap, Boot = true }) },
        { "image in use", "ImageInUse", (e, _) => e.RemoveImage(Image, force: false) },
        { "copy from a missing host path", "CopySourceMissing", (e, s) => e.Items.CopyInto(s, "/no/such/file", "/root") },
        { "copy out to a relative sandbox path", "InvalidPath", (e, s) => e.Items.CopyOutOf(s, "etc/passwd", "/tmp") },
        { "store root with a comma", "InvalidPath", (_, _) => new StoreLayout("/tmp/a,b") },
    };

    private static void CreateWithBind(SandboxEngine engine, string spec) => engine.CreateSandbox(new SandboxCreateOptions
    {
        Image = Image, Provider = ProviderName.Bubblewrap, Mounts = new[] { BindMount.Parse(spec, readOnly: false) },
    });

    /// <summary>Runs <paramref name="act"/> with a link in /tmp to <paramref name="target"/>, deleted afterwards.</summary>
    private static void ThroughLinkTo(string target, Action<string> act)
    {
        var link = Path.Combine(Path.GetTempPath(), $"sandbox-test-link-{Guid.NewGuid():N}");
        File.CreateSymbolicLink(link, target);
        try { act(link); }
        finally { File.Delete(link); }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Bad_input_is_refused_with_its_error_id_and_changes_nothing(string what, string errorId, Action<SandboxEngine, SandboxInfo> act)
    {
        Skip.If(_fixture.SkipReason is not null, _fixture.SkipReason);
        var engine = ((InProcessHarness)_fixture.Harness).Engine;
        var sandbox = engine.GetSandboxes().FirstOrDefault(s => s.Name == "bad-input")
                      ?? engine.CreateSandbox(new SandboxCreateOptions { Image = Image, Name = "bad-input", Provider = ProviderName.Bubblewrap });
        var before = TreeSnapshot.Take(engine.Layout.Root);

        var error = Assert.Throws<SandboxException>(() => act(engine, sandbox));

        Assert.True(errorId == error.ErrorId, $"{what}: expected {errorId}, got {error.ErrorId}: {error.Message}");
        Assert.False(string.IsNullOrWhiteSpace(error.Fix), $"{what}: the message names a fix");
        // A command that ran (even one that was refused inside) may update the sandbox's own totals,
        // its layer and overlayfs's scratch folder; nothing else may change.
        var differences = TreeSnapshot.Take(engine.Layout.Root).DifferencesFrom(before)
            .Where(d => !d.Contains("state.json") && !d.Contains("/upper") && !d.Contains("/work") && !d.Contains("/merged") && !d.Contains("locks/")).ToList();
        Assert.True(differences.Count == 0, $"{what} changed the store: {string.Join("; ", differences)}");
    }
}

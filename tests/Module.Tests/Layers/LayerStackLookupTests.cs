using Sandbox.Images.Layers;
using Sandbox.Providers;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Layers;

/// <summary>
/// Host-side reads through a stack of layers follow overlayfs's rules (TreeLookupStack): a whiteout
/// deletes, an opaque folder or a file in an upper layer hides what lower layers have under it, and
/// a file only a middle layer has is found. Used by SandboxRootReader (/etc/passwd for -User),
/// OverlayLayer.Measure (Get-SandboxStat -Changes) and FakeChroot's comparison.
/// </summary>
[Trait("Area", "Layers")]
[Trait("User", "Root")]
public sealed class LayerStackLookupTests : IDisposable
{
    private readonly TemporaryFolder _folder = new("layer-stack");
    private string Upper => Path.Combine(_folder.Path, "upper");
    private string Top => Path.Combine(_folder.Path, "top");
    private string Middle => Path.Combine(_folder.Path, "middle");
    private string Bottom => Path.Combine(_folder.Path, "bottom");

    public LayerStackLookupTests()
    {
        Skip.If(Environment.UserName != "root", "whiteouts are device nodes: run the tests as root (CI does).");
        Write(Bottom, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nold:x:1000:1000::/home/old:/bin/sh\n");
        Write(Bottom, "etc/shadow", "secret\n");
        Write(Bottom, "data/base.txt", "base\n");
        Write(Bottom, "opt/tool/bin", "tool\n");
        Write(Middle, "data/middle.txt", "middle\n");
        // The middle layer replaced /etc (rm -r + mkdir): opaque, with a passwd of its own.
        Write(Middle, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnew:x:1001:1001::/home/new:/bin/sh\n");
        Opaque(Path.Combine(Middle, "etc"));
        // The top layer deleted /data/base.txt and made /opt a file.
        Write(Top, "data/kept.txt", "kept\n");
        RunAsRoot.Command("mknod", Path.Combine(Top, "data/base.txt"), "c", "0", "0");
        Write(Top, "opt", "now a file\n");
        Directory.CreateDirectory(Upper);
    }

    [SkippableFact]
    public void The_stack_shows_what_the_overlay_shows()
    {
        using var stack = TreeLookupStack.Open(new[] { Top, Middle, Bottom });
        Assert.NotNull(stack.Status("data/middle.txt"));
        Assert.Equal(1, stack.Find("data/middle.txt")!.Value.Layer);
        Assert.Null(stack.Status("data/base.txt"));            // whiteout
        Assert.Null(stack.Status("etc/shadow"));               // under an opaque folder
        Assert.Equal(1, stack.Find("etc/passwd")!.Value.Layer); // the opaque folder's own
        Assert.Null(stack.Status("opt/tool/bin"));             // under a file that replaced the folder
        Assert.True(stack.Status("opt") is { IsRegularFile: true });
    }

    [SkippableFact]
    public void The_root_reader_never_reads_a_file_a_layer_above_hid_with_an_opaque_folder()
    {
        var reader = new SandboxRootReader(Upper, Top, Middle, Bottom);
        Assert.Null(reader.ReadFile("/etc/shadow", 1024));
        Assert.Contains("new:x:1001", System.Text.Encoding.UTF8.GetString(reader.ReadFile("/etc/passwd", 4096)!));
        Assert.Null(reader.ReadFile("/data/base.txt", 1024));
        Assert.Equal("middle\n", System.Text.Encoding.UTF8.GetString(reader.ReadFile("/data/middle.txt", 1024)!));
        Assert.False(reader.IsFile("/opt/tool/bin"));
    }

    [SkippableFact]
    public void Changes_are_measured_against_the_whole_chain()
    {
        var state = Path.Combine(_folder.Path, "state");
        Directory.CreateDirectory(state);
        var layer = new OverlayLayer(state, new[] { Top, Middle, Bottom }, "", userXattr: true);
        Write(layer.Upper, "data/middle.txt", "changed\n");
        Write(layer.Upper, "etc/shadow", "new secret\n"); // hidden in the image by the opaque /etc: added

        var changes = layer.Measure("box").Changes.ToDictionary(c => c.Path, c => c.Kind);

        Assert.Equal(SandboxChangeKind.Modified, changes["/data/middle.txt"]);
        Assert.Equal(SandboxChangeKind.Added, changes["/etc/shadow"]);
    }

    private static void Write(string layer, string relative, string text)
    {
        var path = Path.Combine(layer, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    private static void Opaque(string folder)
    {
        var y = "y"u8.ToArray();
        Assert.True(OverlayMarkers.lsetxattr(folder, OverlayMarkers.Opaque, y, 1, 0) == 0, $"user.overlay.opaque on {folder}");
    }

    public void Dispose() => _folder.Dispose();
}

using Sandbox.Images;
using Xunit;

namespace Sandbox.Tests.Support;

/// <summary>
/// A real Debian bookworm minbase, built once per test run with the engine's own builder
/// (mmdebstrap) and shared by every test that needs a real distribution.
/// </summary>
public sealed class DebianImageFixture : IDisposable
{
    public const string ImageName = "bookworm";
    public static readonly ImageBuildOptions Options = new() { Suite = "bookworm", Variant = "minbase" };

    private readonly InProcessHarness? _harness;

    public DebianImageFixture()
    {
        if (Environment.UserName != "root")
        {
            SkipReason = "building images in the shared store runs as root; run the tests as root (CI does).";
            return;
        }
        _harness = new InProcessHarness();
        Log = new RecordingLog();
        Engine = new SandboxEngine(_harness.Engine.Layout, Log);
        Image = Engine.Images.Build(ImageName, Options, force: false);
    }

    public string? SkipReason { get; }
    public SandboxEngine Engine { get; } = null!;
    public SandboxImage Image { get; } = null!;
    public RecordingLog Log { get; } = null!;

    public void Dispose() => _harness?.Dispose();
}

[CollectionDefinition(Name)]
public sealed class DebianImageCollection : ICollectionFixture<DebianImageFixture>
{
    public const string Name = "Debian image";
}

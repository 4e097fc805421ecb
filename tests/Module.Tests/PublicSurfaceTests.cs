using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// The engine's public types: what the cmdlets call and emit (PowerShell formats a public type's
/// properties) and nothing more. The engine loads into pwsh's process, so every public type is
/// surface that scripts can reach; a new one must be added here on purpose. Everything else is
/// internal and open to the engine's tests, EngineHost and the bench through InternalsVisibleTo.
/// </summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class PublicSurfaceTests
{
    private static readonly string[] Expected =
    {
        // Entry points the cmdlets call.
        "Sandbox.SandboxEngine",
        "Sandbox.Images.ImageStore",
        "Sandbox.SandboxItemCopier",
        "Sandbox.IEngineLog",
        "Sandbox.Processes.OutputLines",
        // Read by Invoke-SandboxCommand for its output limit.
        "Sandbox.Processes.ProcessSpec",
        // Inputs the cmdlets build.
        "Sandbox.SandboxCreateOptions",
        "Sandbox.SandboxCommand",
        "Sandbox.Images.ImageBuildOptions",
        "Sandbox.Images.Derive.DeriveStep",
        "Sandbox.BindMount",
        // What the cmdlets emit, and its enums.
        "Sandbox.SandboxInfo",
        "Sandbox.SandboxImage",
        "Sandbox.SandboxCommandResult",
        "Sandbox.SandboxStat",
        "Sandbox.SandboxChange",
        "Sandbox.SandboxProviderInfo",
        "Sandbox.ProviderName",
        "Sandbox.NetworkMode",
        "Sandbox.SandboxStatus",
        "Sandbox.SandboxChangeKind",
        // A result's trace (Invoke-SandboxCommand -Trace) and its parts.
        "Sandbox.SandboxTrace",
        "Sandbox.TracedFileAccess",
        "Sandbox.TracedProcess",
        "Sandbox.TracedConnect",
        "Sandbox.TracedPackage",
        "Sandbox.TraceSummary",
        "Sandbox.TraceOperation",
        "Sandbox.TraceAddressFamily",
        // Errors, turned into ErrorRecords by the cmdlets.
        "Sandbox.SandboxException",
        "Sandbox.SandboxErrorKind",
        "Sandbox.SandboxErrors",
    };

    [Fact]
    public void The_engine_exports_exactly_the_types_the_cmdlets_need()
    {
        var exported = typeof(SandboxEngine).Assembly.GetExportedTypes().Select(type => type.FullName).Order(StringComparer.Ordinal);

        Assert.Equal(Expected.Order(StringComparer.Ordinal), exported);
    }

    [Fact]
    public void Providers_and_their_command_lines_are_internal()
    {
        var engine = typeof(SandboxEngine).Assembly;

        Assert.All(new[] { "Sandbox.Providers.ISandboxProvider", "Sandbox.Providers.ProviderCatalog", "Sandbox.Providers.BubblewrapProvider",
            "Sandbox.Providers.CommandLines.BubblewrapCommandLine", "Sandbox.Providers.Failures.BackendFailureClassifier" },
            name => Assert.False(engine.GetType(name, throwOnError: true)!.IsPublic, name));
    }
}

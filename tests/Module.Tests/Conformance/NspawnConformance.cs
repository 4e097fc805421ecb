using Sandbox.Tests.Support;

namespace Sandbox.Tests.Conformance;

[Xunit.Trait("Provider", "Nspawn")]
[Xunit.Trait("User", "Root")]
public sealed class NspawnAsRoot(RootHarnessFixture fixture) : ProviderConformance<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Nspawn;

    // What systemd-nspawn always sets: the container interface (systemd.io/CONTAINER_INTERFACE).
    protected override IReadOnlyList<string> ProviderVariables => new[]
    {
        "container", "container_uuid", "container_host_id", "container_host_version_id", "NOTIFY_SOCKET", "USER", "LOGNAME",
    };
}

using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Conformance;

[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class BubblewrapAsRoot(RootHarnessFixture fixture) : ProviderConformance<RootHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

[Trait("Provider", "Bubblewrap")]
[Trait("User", "NonRoot")]
public sealed class BubblewrapAsUnprivilegedUser(UserHarnessFixture fixture) : ProviderConformance<UserHarnessFixture>(fixture)
{
    protected override ProviderName Provider => ProviderName.Bubblewrap;
}

using Sandbox.Providers;
using Xunit;

namespace Sandbox.Tests.CommandLines;

/// <summary>How a sandbox's record names its provider, and how that name becomes the enum the catalog is keyed by.</summary>
[Trait("Area", "CommandLines")]
[Trait("Needs", "Nothing")]
public sealed class ProviderCatalogTests
{
    private static SandboxInfo Recorded(string provider) => new()
    {
        Id = "0a1b2c", Name = "box", Provider = provider, Image = "bookworm", Created = DateTimeOffset.UnixEpoch,
    };

    [Theory]
    [InlineData("Bubblewrap", ProviderName.Bubblewrap)]
    [InlineData("Nspawn", ProviderName.Nspawn)]
    [InlineData("FakeChroot", ProviderName.FakeChroot)]
    public void A_recorded_provider_name_is_its_enum_value(string recorded, ProviderName kind)
    {
        Assert.Equal(kind, ProviderCatalog.KindOf(Recorded(recorded)));
    }

    [Theory]
    [InlineData("Auto")] // a choice at Enter-Sandbox, never what ran a sandbox
    [InlineData("2")] // Enum.TryParse would take a number
    [InlineData("bubblewrap")] // or another case
    [InlineData(" Nspawn")]
    [InlineData("Docker")]
    [InlineData("")]
    public void Anything_else_in_a_record_is_no_provider_of_this_module(string recorded)
    {
        var error = Assert.Throws<SandboxException>(() => ProviderCatalog.KindOf(Recorded(recorded)));
        Assert.Equal(SandboxErrorKind.NotInstalled, error.Kind);
        Assert.Contains("does not include it", error.Message);
    }
}

using Xunit;

namespace Sandbox.Tests.Support;

/// <summary>
/// A file outside the store with known contents, for the tests that plant a link to it where the
/// engine writes (as a sudo caller who owns the store's folders could): after the engine ran, the
/// file must still hold exactly what it held, so nothing was written through the link.
/// </summary>
public sealed class PreciousFile : IDisposable
{
    private const string Contents = "precious contents";
    private readonly TemporaryFolder _folder;

    public PreciousFile(string purpose)
    {
        _folder = new TemporaryFolder(purpose);
        Path = System.IO.Path.Combine(_folder.Path, "precious");
        File.WriteAllText(Path, Contents);
    }

    public string Path { get; }

    /// <summary>Replaces the file at <paramref name="place"/> by a link to this file.</summary>
    public void PlantLinkAt(string place)
    {
        File.Delete(place);
        File.CreateSymbolicLink(place, Path);
    }

    public void AssertUntouched() => Assert.Equal(Contents, File.ReadAllText(Path));

    public void Dispose() => _folder.Dispose();
}

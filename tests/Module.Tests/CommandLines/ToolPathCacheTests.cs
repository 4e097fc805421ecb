using Sandbox.Processes;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.CommandLines;

/// <summary>
/// Tool paths are found once per process and confirmed by one stat per use: a remembered path is
/// used while it exists, one that vanished is searched for again (a reinstall elsewhere is found),
/// and a tool not found is not remembered (one installed later is found at once).
/// </summary>
[Trait("Area", "CommandLines")]
public sealed class ToolPathCacheTests : IDisposable
{
    private readonly TemporaryFolder _folder = new("tool-cache");
    private readonly string _first;
    private readonly string _second;
    private readonly string _tool = $"sandbox-tool-{Guid.NewGuid():N}";

    public ToolPathCacheTests()
    {
        _first = Directory.CreateDirectory(Path.Combine(_folder.Path, "first")).FullName;
        _second = Directory.CreateDirectory(Path.Combine(_folder.Path, "second")).FullName;
    }

    private string SearchPath => $"{_first}:{_second}";

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_found_path_is_kept_while_it_exists_and_searched_again_once_it_vanished()
    {
        var cache = new ToolPathCache();
        File.WriteAllText(Path.Combine(_second, _tool), "");
        Assert.Equal(Path.Combine(_second, _tool), cache.Find(_tool, SearchPath));

        // A search would now find the first folder's; the remembered one still exists, so it stays.
        File.WriteAllText(Path.Combine(_first, _tool), "");
        Assert.Equal(Path.Combine(_first, _tool), ToolPathCache.Search(_tool, SearchPath));
        Assert.Equal(Path.Combine(_second, _tool), cache.Find(_tool, SearchPath));

        File.Delete(Path.Combine(_second, _tool));
        Assert.Equal(Path.Combine(_first, _tool), cache.Find(_tool, SearchPath));

        File.Delete(Path.Combine(_first, _tool));
        Assert.Null(cache.Find(_tool, SearchPath));
    }

    [Fact]
    public void A_tool_not_found_is_found_as_soon_as_it_is_installed()
    {
        var cache = new ToolPathCache();
        Assert.Null(cache.Find(_tool, SearchPath));
        File.WriteAllText(Path.Combine(_first, _tool), "");
        Assert.Equal(Path.Combine(_first, _tool), cache.Find(_tool, SearchPath));
    }

    [Fact]
    public void Another_search_path_is_searched_afresh()
    {
        var cache = new ToolPathCache();
        File.WriteAllText(Path.Combine(_first, _tool), "");
        File.WriteAllText(Path.Combine(_second, _tool), "");
        Assert.Equal(Path.Combine(_first, _tool), cache.Find(_tool, SearchPath));
        Assert.Equal(Path.Combine(_second, _tool), cache.Find(_tool, $"{_second}:{_first}"));
    }

    [Fact]
    public void The_locator_finds_the_backend_tools_through_its_cache_and_a_path_with_a_slash_as_it_is()
    {
        Assert.Equal(ToolPathCache.Search("sh", ToolLocator.SystemPath + ":" + Environment.GetEnvironmentVariable("PATH")), ToolLocator.Find("sh"));
        Assert.Equal(ToolLocator.Find("sh"), ToolLocator.Find("sh"));
        Assert.Null(ToolLocator.Find(Path.Combine(_first, _tool)));
    }
}

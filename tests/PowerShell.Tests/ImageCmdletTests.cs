using Sandbox.PowerShell.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>Images as a provisioning script handles them: import (cached), export, import the export back, remove.</summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class ImageCmdletTests(ModuleSession session)
{
    private readonly PowerShellSession _shell = session.Shell;

    [Fact]
    public void Importing_the_same_tree_twice_returns_the_cached_image()
    {
        var first = _shell.Ok("New-SandboxImage -Name cached-import -Path $args[0]", session.Tree).Single();
        var second = _shell.Ok("New-SandboxImage -Name cached-import -Path $args[0]", session.Tree).Single();
        try
        {
            Assert.Equal("Sandbox.SandboxImage", first.TypeNames[0]);
            Assert.Equal("import", first.Get<string>("Source"));
            Assert.Equal(first.Get<DateTimeOffset>("Created"), second.Get<DateTimeOffset>("Created"));
            Assert.Contains("cached-import", _shell.Ok("(Get-SandboxImage -Name 'cached-*').Name").Select(n => n.ToString()));
        }
        finally
        {
            _shell.Ok("Remove-SandboxImage -Name cached-import");
        }
        Assert.Empty(_shell.Ok("Get-SandboxImage -Name 'cached-*'"));
    }

    [Theory]
    [InlineData("exported.tar.gz")]
    [InlineData("exported.tar.zst")]
    public void Export_SandboxImage_writes_a_file_that_New_SandboxImage_imports_back(string fileName)
    {
        var tarball = Path.Combine(session.Folder, fileName);
        var file = Assert.IsType<FileInfo>(_shell.Ok("Export-SandboxImage -Name busybox -Path $args[0]", tarball).Single().BaseObject);
        Assert.True(file.Length > 0);

        // Piping the image object is how a script hands one cmdlet's image to the next.
        var output = _shell.Ok("New-SandboxImage -Name reimported -Path $args[0] | ForEach-Object { (Invoke-SandboxCommand -Image $_ -Command cat, /data/file.txt).StdOut }", tarball);
        try
        {
            Assert.Equal("original content\n", output.Single().BaseObject);
        }
        finally
        {
            _shell.Ok("Get-SandboxImage -Name reimported | Remove-SandboxImage");
        }
    }

    [Fact]
    public void Export_refuses_to_overwrite_a_file_without_Force()
    {
        var tarball = Path.Combine(session.Folder, "existing.tar.gz");
        File.WriteAllText(tarball, "keep me");
        var refused = _shell.Catch("Export-SandboxImage -Name busybox -Path $args[0] -ErrorAction Stop", tarball);
        Assert.Equal("ExportTargetExists,Sandbox.Commands.ExportSandboxImageCommand", refused?.FullyQualifiedErrorId);
        Assert.Contains("-Force", refused!.Exception.Message);
        Assert.Equal("keep me", File.ReadAllText(tarball));

        _shell.Ok("Export-SandboxImage -Name busybox -Path $args[0] -Force", tarball);
        Assert.NotEqual("keep me", File.ReadAllText(tarball));
    }
}

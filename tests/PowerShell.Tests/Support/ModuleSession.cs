using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests.Support;

/// <summary>
/// One imported module for the whole suite, over a store of its own (SANDBOX_HOME is process-wide,
/// so every test class shares this collection and runs one after another), with a busybox image
/// imported through New-SandboxImage.
/// </summary>
public sealed class ModuleSession : IDisposable
{
    public const string Image = "busybox";
    private readonly TemporaryFolder _folder = new("pwsh");
    private readonly string? _previousHome = Environment.GetEnvironmentVariable("SANDBOX_HOME");

    public ModuleSession()
    {
        Store = Path.Combine(_folder.Path, "store");
        Tree = BusyboxTree.Create(Path.Combine(_folder.Path, "tree"));
        Environment.SetEnvironmentVariable("SANDBOX_HOME", Store);
        Shell = new PowerShellSession();
        Shell.Ok("New-SandboxImage -Name $args[0] -Path $args[1]", Image, Tree);
    }

    public PowerShellSession Shell { get; }
    public string Store { get; }
    public string Tree { get; }
    public string Folder => _folder.Path;

    public void Dispose()
    {
        try { Shell.Run("Get-Sandbox | Remove-Sandbox"); }
        finally
        {
            Shell.Dispose();
            Environment.SetEnvironmentVariable("SANDBOX_HOME", _previousHome);
            _folder.Dispose();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ModuleSessionCollection : ICollectionFixture<ModuleSession>
{
    public const string Name = "Sandbox module in PowerShell 7.6";
}

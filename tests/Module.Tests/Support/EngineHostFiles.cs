namespace Sandbox.Tests.Support;

/// <summary>
/// A copy of the EngineHost program in a world-readable folder, because the test user may not be
/// able to traverse the folders the build put it in (a CI checkout under root's home, say).
/// </summary>
public static class EngineHostFiles
{
    private static readonly Lazy<string> Folder = new(Copy);

    public static string EntryAssembly => Path.Combine(Folder.Value, "EngineHost.dll");

    private static string Copy()
    {
        var folder = Directory.CreateTempSubdirectory("sandbox-test-enginehost-").FullName;
        foreach (var file in new[] { "EngineHost.dll", "EngineHost.runtimeconfig.json", "EngineHost.deps.json", "Sandbox.Engine.dll" })
            File.Copy(Path.Combine(AppContext.BaseDirectory, file), Path.Combine(folder, file));
        RunAsRoot.Command("chmod", "-R", "a+rX", folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(folder, recursive: true);
        return folder;
    }
}

using Sandbox.Processes;

namespace Sandbox.Bench;

/// <summary>A minimal busybox root filesystem, the same shape the tests use.</summary>
public static class BusyboxRootFs
{
    public static string Create(string folder)
    {
        foreach (var sub in new[] { "bin", "etc", "tmp", "root", "dev", "proc", "run" })
            Directory.CreateDirectory(Path.Combine(folder, sub));
        File.Copy(ToolLocator.Require("busybox", "busybox-static"), Path.Combine(folder, "bin/busybox"));
        var applets = ToolRun.Run(new[] { Path.Combine(folder, "bin/busybox"), "--list" }).StdOut;
        foreach (var applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(a => a != "busybox"))
            File.CreateSymbolicLink(Path.Combine(folder, "bin", applet), "busybox");
        File.WriteAllText(Path.Combine(folder, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        return folder;
    }
}

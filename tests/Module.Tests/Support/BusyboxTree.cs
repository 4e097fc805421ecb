using System.Diagnostics;

namespace Sandbox.Tests.Support;

/// <summary>
/// A tiny root filesystem made from busybox-static, for fast provider tests: a shell and the usual
/// applets, /etc/passwd with root and a user 'tester' (1000), and sample files of every kind the
/// copy-on-write tests change (plain, executable, symlink, nested, owned by another uid).
/// </summary>
public static class BusyboxTree
{
    public const string Busybox = "/bin/busybox";

    /// <summary>getent passwd|group|initgroups KEY, enough for systemd-nspawn --user.</summary>
    private const string GetentShim = """
        #!/bin/sh
        # getent for the test image: passwd and group by name or id, initgroups by user name.
        case "$1" in
          initgroups) exec awk -F: -v key="$2" '$1 == key { print key, $4; found = 1 } END { exit !found }' /etc/passwd ;;
          *) exec awk -F: -v key="$2" '$1 == key || $3 == key { print; found = 1 } END { exit !found }' "/etc/$1" ;;
        esac

        """;

    /// <summary>
    /// The files the conformance suite changes and checks, added to any root filesystem (the busybox
    /// tree, or a Debian tree for FakeChroot): a user 'tester' (1000) and /data with a file of
    /// every kind.
    /// </summary>
    public static void AddSamples(string folder)
    {
        foreach (var sub in new[] { "home/tester", "data/nested", "var/tmp", "tmp" })
            Directory.CreateDirectory(Path.Combine(folder, sub));
        File.AppendAllText(Path.Combine(folder, "etc/passwd"), "tester:x:1000:1000:tester:/home/tester:/bin/sh\n");
        File.AppendAllText(Path.Combine(folder, "etc/group"), "tester:x:1000:\n");
        File.WriteAllText(Path.Combine(folder, "etc/hostname"), "image\n");
        File.WriteAllText(Path.Combine(folder, "data/file.txt"), "original content\n");
        File.WriteAllText(Path.Combine(folder, "data/append.txt"), "first line\n");
        File.WriteAllText(Path.Combine(folder, "data/delete-me.txt"), "to be deleted\n");
        File.WriteAllText(Path.Combine(folder, "data/rename-me.txt"), "to be renamed\n");
        File.WriteAllText(Path.Combine(folder, "data/nested/deep.txt"), "deep\n");
        File.WriteAllText(Path.Combine(folder, "data/script.sh"), "#!/bin/sh\necho script ran\n");
        File.SetUnixFileMode(Path.Combine(folder, "data/script.sh"), (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(Path.Combine(folder, "data/link"), "file.txt");
        File.CreateSymbolicLink(Path.Combine(folder, "data/abs-link"), "/data/file.txt");
        File.SetUnixFileMode(Path.Combine(folder, "tmp"), (UnixFileMode)0b1_111_111_111);
        if (Environment.UserName == "root")
            Run("chown", "1000:1000", Path.Combine(folder, "home/tester"), Path.Combine(folder, "data/append.txt"));
    }

    public static string Create(string folder)
    {
        if (!File.Exists(Busybox)) throw new InvalidOperationException("busybox-static is not installed: apt-get install busybox-static");
        foreach (var sub in new[] { "bin", "etc", "tmp", "root", "dev", "proc", "run", "sys", "usr/bin" })
            Directory.CreateDirectory(Path.Combine(folder, sub));
        File.Copy(Busybox, Path.Combine(folder, "bin/busybox"));
        foreach (var applet in Run(Busybox, "--list").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (applet == "busybox") continue;
            File.CreateSymbolicLink(Path.Combine(folder, "bin", applet), "busybox");
        }
        File.WriteAllText(Path.Combine(folder, "etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        File.WriteAllText(Path.Combine(folder, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
        // systemd-nspawn --user looks users up with the image's getent, which busybox lacks.
        File.WriteAllText(Path.Combine(folder, "usr/bin/getent"), GetentShim);
        File.SetUnixFileMode(Path.Combine(folder, "usr/bin/getent"), (UnixFileMode)0b111_101_101);
        AddSamples(folder);
        // Readable by the unprivileged test user, who imports it into a store of their own.
        Run("chmod", "-R", "a+rX", folder);
        return folder;
    }

    private static string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{program} failed: {process.StandardError.ReadToEnd()}");
        return output;
    }
}

using System.Diagnostics;

namespace Sandbox.Tests.Support;

/// <summary>
/// A hostile program for the test images: "inject WORD..." types each word and Enter into the
/// terminal on its stdin with TIOCSTI, as if from that terminal's keyboard, and prints
/// "injected=yes" when the kernel took every key. Built statically with gcc, so it runs in the
/// busybox image (which has no perl or python to do the same).
/// </summary>
public static class KeystrokeInjector
{
    private const string Source = """
        #include <stdio.h>
        #include <sys/ioctl.h>
        static int push(char c) { return ioctl(0, TIOCSTI, &c); }
        int main(int argc, char **argv) {
            for (int i = 1; i < argc; i++) {
                for (const char *c = argv[i]; *c; c++)
                    if (push(*c) != 0) { perror("TIOCSTI"); return 1; }
                if (push('\n') != 0) { perror("TIOCSTI"); return 1; }
            }
            printf("injected=yes\n");
            return 0;
        }
        """;

    /// <summary>Why the injector cannot be built here, or null.</summary>
    public static string? Unavailable =>
        File.Exists("/usr/bin/gcc") && (File.Exists("/usr/lib/x86_64-linux-gnu/libc.a") || File.Exists("/usr/lib/aarch64-linux-gnu/libc.a"))
            ? null
            : "gcc and a static libc are needed to build the TIOCSTI injector (apt-get install gcc libc6-dev).";

    /// <summary>Compiles the injector into <paramref name="rootfs"/>/bin/inject (world-executable).</summary>
    public static void InstallInto(string rootfs)
    {
        var folder = Directory.CreateTempSubdirectory("sandbox-test-injector-").FullName;
        try
        {
            var source = Path.Combine(folder, "inject.c");
            File.WriteAllText(source, Source);
            var target = Path.Combine(rootfs, "bin", "inject");
            var start = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var word in new[] { "-static", "-Os", "-o", target, source }) start.ArgumentList.Add(word);
            using var gcc = Process.Start(start)!;
            var errors = gcc.StandardError.ReadToEnd();
            gcc.WaitForExit();
            if (gcc.ExitCode != 0) throw new InvalidOperationException($"gcc failed: {errors}");
            File.SetUnixFileMode(target, (UnixFileMode)0b111_101_101);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

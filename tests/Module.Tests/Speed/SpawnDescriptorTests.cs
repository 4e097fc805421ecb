using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Sandbox.Native;
using Sandbox.Processes;
using Xunit;

namespace Sandbox.Tests.Speed;

/// <summary>
/// Descriptors passed to a spawned process (bwrap's status pipe, root bwrap's held overlay) reach it
/// at the numbers PassedDescriptors gave them, and the child gets there without a close call per
/// descriptor of ours: pwsh holds ~170, and closing each below the passed one cost as many close
/// calls in the child and getrlimit calls here (one per file action) on every command. The test
/// process plays pwsh: it holds a hundred descriptors and passes one above them.
/// </summary>
[Trait("Area", "Speed")]
public sealed partial class SpawnDescriptorTests
{
    private const int F_DUPFD_CLOEXEC = 1030;
    private const int Held = 100;

    [Fact]
    public void The_passed_descriptor_is_descriptor_10_in_the_child_and_nothing_else_above_stderr_is_open()
    {
        using var held = new HeldDescriptors(Held);
        var (read, write) = HighPipe(Held + 20);
        try
        {
            var outcome = NativeProcessRunner.Run(new ProcessSpec
            {
                Argv = new[] { "/bin/sh", "-c", "echo through > /proc/$$/fd/10; ls /proc/$$/fd" },
                Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath },
                PassedDescriptors = Passing(write),
            });
            LibC.close(write);
            write = -1;

            Assert.Equal(0, outcome.ExitCode);
            Assert.Equal(new[] { "0", "1", "10", "2" }, outcome.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
            Assert.Equal("through\n", ReadAll(read));
        }
        finally
        {
            if (write >= 0) LibC.close(write);
            LibC.close(read);
        }
    }

    [Fact]
    public void Each_passed_descriptor_reaches_the_child_at_its_own_number_even_one_sitting_where_an_earlier_one_goes()
    {
        // Ours at K (some number above 10): the first K-10+1 entries pass pipe A, so the one at index
        // K-10 is placed on K, where pipe B still waits to be copied. Placed blindly, B's number in the
        // child got a second copy of A.
        var (readA, writeA) = HighPipe(11);
        var (readB, writeB) = HighPipe(11);
        try
        {
            var passed = new PassedDescriptors();
            int numberA = 0;
            for (var index = 0; index <= writeB - SpawnArguments.FirstPassedDescriptorNumber; index++) numberA = passed.Pass(writeA);
            var numberB = passed.Pass(writeB);
            Assert.Equal(writeB + 1, numberB);

            var outcome = NativeProcessRunner.Run(new ProcessSpec
            {
                Argv = new[] { "/bin/sh", "-c", $"echo to-a > /proc/$$/fd/{numberA}; echo to-b > /proc/$$/fd/{numberB}; ls /proc/$$/fd" },
                Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath },
                PassedDescriptors = passed,
            });
            LibC.close(writeA);
            LibC.close(writeB);
            writeA = writeB = -1;

            Assert.Equal(0, outcome.ExitCode);
            Assert.Equal("to-a\n", ReadAll(readA));
            Assert.Equal("to-b\n", ReadAll(readB));
            // stdio and exactly the passed ones: nothing else above stderr.
            Assert.Equal(Enumerable.Range(0, numberB + 1).Where(fd => fd is < 3 or >= 10).Select(fd => fd.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal),
                outcome.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        }
        finally
        {
            foreach (var fd in new[] { readA, writeA, readB, writeB }.Where(fd => fd >= 0)) LibC.close(fd);
        }
    }

    private static PassedDescriptors Passing(int descriptor)
    {
        var passed = new PassedDescriptors();
        Assert.Equal(SpawnArguments.FirstPassedDescriptorNumber, passed.Pass(descriptor));
        return passed;
    }

    [SkippableFact]
    public void The_child_closes_the_descriptors_it_does_not_keep_without_a_close_call_for_each()
    {
        Skip.IfNot(SyscallTrace.Available, "needs strace and root (tools/setup.sh installs strace; CI runs as root)");
        using var held = new HeldDescriptors(Held);
        var (read, write) = HighPipe(Held + 20);
        var marker = $"spawn-marker-{Guid.NewGuid():N}";
        try
        {
            var lines = SyscallTrace.Of(Environment.ProcessId, "close,close_range,execve", () =>
                NativeProcessRunner.Run(new ProcessSpec
                {
                    Argv = new[] { "/bin/true", marker },
                    Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath },
                    PassedDescriptors = Passing(write),
                }));

            var exec = lines.Single(line => line.Contains(" execve(") && line.Contains(marker));
            var child = Regex.Match(exec, @"^(\d+) ").Groups[1].Value;
            var before = lines.TakeWhile(line => line != exec).Where(line => line.StartsWith(child + " ", StringComparison.Ordinal)).ToList();
            // Descriptor 0 is closed to open /dev/null on it: stdio, not a descriptor of ours.
            var singleCloses = before.Count(line => SingleClose().Match(line) is { Success: true } close && int.Parse(close.Groups[1].Value) >= LibC.FirstInheritedDescriptorClosed);
            // Descriptors 3 to 9 one by one at most (below the passed one's number), the rest with one close_range.
            Assert.True(singleCloses <= SpawnArguments.FirstPassedDescriptorNumber - LibC.FirstInheritedDescriptorClosed,
                $"the child closed {singleCloses} descriptors one by one:\n{string.Join('\n', before)}");
            Assert.Contains(before, line => line.Contains(" close_range("));
        }
        finally
        {
            LibC.close(write);
            LibC.close(read);
        }
    }

    [GeneratedRegex(@"^\d+ +close\((\d+)")]
    private static partial Regex SingleClose();

    /// <summary>A pipe whose write end sits at <paramref name="atLeast"/> or above, close-on-exec, as pwsh's descriptors do.</summary>
    private static unsafe (int Read, int Write) HighPipe(int atLeast)
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, LibC.pipe2(fds, LibC.O_CLOEXEC));
        var high = fcntl(fds[1], F_DUPFD_CLOEXEC, atLeast);
        LibC.close(fds[1]);
        Assert.True(high >= atLeast, "no descriptor free above the held ones");
        return (fds[0], high);
    }

    private static unsafe string ReadAll(int fd)
    {
        var buffer = new byte[256];
        fixed (byte* start = buffer)
        {
            var count = read(fd, start, buffer.Length);
            return count <= 0 ? "" : System.Text.Encoding.ASCII.GetString(buffer, 0, (int)count);
        }
    }

    /// <summary>Descriptors of /dev/null held open (close-on-exec) while a test runs.</summary>
    private sealed class HeldDescriptors : IDisposable
    {
        private readonly List<int> _fds = new();

        public HeldDescriptors(int count)
        {
            for (var i = 0; i < count; i++) _fds.Add(LibC.open("/dev/null", LibC.O_RDONLY | LibC.O_CLOEXEC, 0));
        }

        public void Dispose()
        {
            foreach (var fd in _fds.Where(fd => fd >= 0)) LibC.close(fd);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    [DllImport("libc", SetLastError = true)]
    private static extern unsafe nint read(int fd, byte* buffer, nint count);
}

using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Processes;

namespace Sandbox.Tracing;

/// <summary>
/// Traces one command from the host side: strace (from Debian) is put before the backend, outside
/// the sandbox's namespaces, so nothing in the sandbox controls the tracer or its output. strace
/// writes to a FIFO in a private folder of ours (0700), which a thread of ours drains as it comes:
/// the trace costs no disk and at most <see cref="TraceCollector"/>'s bounds of memory, whatever
/// the command does; strace never waits on us for long, and the rest past the bounds is counted.
/// Dispose removes the folder.
/// <para>As root the private folder is made in /tmp, never in the sandbox's state folder: under sudo
/// that folder is the caller's, who could rename the trace folder away, put one of their own with a
/// link at the FIFO's name in its place, and have root's strace open that link for writing
/// (truncating any file of the host). /tmp is root's and sticky: nobody else can rename or replace
/// root's folder in it. A user's own tracer stays in the state folder, which only they can change.</para>
/// </summary>
internal sealed partial class CommandTracer : IDisposable
{
    /// <summary>Longest line kept: an execve with many long arguments; past it the line is skipped and counted.</summary>
    public const int MaxLineBytes = 1024 * 1024;

    private readonly string _folder;
    private readonly string _fifo;
    private readonly Thread _reader;
    private readonly TraceCollector _collector = new();
    private volatile bool _writerOpened;
    private Exception? _readerFailure;

    /// <param name="parentFolder">A folder of the user's (the sandbox's state folder) where a rootless private folder is made.</param>
    public CommandTracer(string parentFolder)
    {
        Strace = ToolLocator.Find("strace") ?? throw SandboxErrors.TraceToolMissing();
        _folder = Native.UserIdentity.IsRoot ? RootsPrivateFolder() : Path.Combine(parentFolder, "trace-" + Guid.NewGuid().ToString("N"));
        if (!Native.UserIdentity.IsRoot)
            Directory.CreateDirectory(_folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _fifo = Path.Combine(_folder, "strace.fifo");
        if (mkfifo(_fifo, 0x180 /* 0600 */) != 0)
            throw SandboxErrors.TraceFailed($"could not make the trace's FIFO {_fifo}: {Native.LibC.ErrorText(Marshal.GetLastPInvokeError())}");
        _reader = new Thread(Drain) { IsBackground = true, Name = "strace reader" };
        _reader.Start();
    }

    public string Strace { get; }

    /// <summary>The words to put right before the backend's program.</summary>
    public IReadOnlyList<string> Prefix => StraceCommandLine.Prefix(Strace, _fifo);

    /// <summary><paramref name="argv"/> with the tracer's words put in before index <paramref name="backendAt"/>.</summary>
    public IReadOnlyList<string> Wrap(IReadOnlyList<string> argv, int backendAt) =>
        argv.Take(backendAt).Concat(Prefix).Concat(argv.Skip(backendAt)).ToList();

    /// <summary>
    /// Waits until the reader has everything strace wrote (strace has exited: its end of the FIFO is
    /// closed) and returns what was collected. If strace never opened the FIFO (it failed to
    /// start), the reader is released by opening it for writing ourselves.
    /// </summary>
    public TraceCollector Finish()
    {
        if (!_writerOpened) ReleaseReader();
        _reader.Join();
        if (_readerFailure is not null) throw SandboxErrors.TraceFailed($"reading strace's output failed: {_readerFailure.Message}");
        return _collector;
    }

    /// <summary>
    /// A new 0700 folder of root's in /tmp (mkdtemp), after checking that /tmp is a real folder of root's
    /// that nobody else can rename entries in (sticky, or writable by root alone).
    /// </summary>
    private static string RootsPrivateFolder()
    {
        const uint sticky = 0x200, groupOrOtherWrite = 0x12;
        if (Native.FileStatus.Of(RootsTempFolder) is not { IsDirectory: true, Uid: 0 } temp
            || ((temp.Permissions & groupOrOtherWrite) != 0 && (temp.Permissions & sticky) == 0))
            throw SandboxErrors.TraceFailed($"{RootsTempFolder} is not a folder of root's that only root can rename entries in, so the trace has no private place to go");
        var template = Encoding.UTF8.GetBytes(RootsTempFolder + "/sandbox-trace-XXXXXX\0");
        if (mkdtemp(template) == IntPtr.Zero)
            throw SandboxErrors.TraceFailed($"could not make a private folder in {RootsTempFolder}: {Native.LibC.ErrorText(Marshal.GetLastPInvokeError())}");
        return Encoding.UTF8.GetString(template, 0, template.Length - 1);
    }

    private const string RootsTempFolder = "/tmp";

    private void ReleaseReader()
    {
        for (var attempt = 0; attempt < 500 && _reader.IsAlive && !_writerOpened; attempt++)
        {
            var fd = open(_fifo, Native.OpenFlags.O_WRONLY | Native.OpenFlags.O_NONBLOCK | Native.OpenFlags.O_CLOEXEC, 0);
            if (fd >= 0) { Native.LibC.close(fd); return; }
            Thread.Sleep(10); // ENXIO: the reader is not in open() yet
        }
    }

    private void Drain()
    {
        try
        {
            using var stream = new FileStream(_fifo, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
            _writerOpened = true;
            var buffer = new byte[64 * 1024];
            var line = new MemoryStream();
            var skipping = false;
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                var start = 0;
                for (var i = 0; i < read; i++)
                {
                    if (buffer[i] != (byte)'\n') continue;
                    Take(line, buffer, start, i - start, ref skipping, endOfLine: true);
                    start = i + 1;
                }
                Take(line, buffer, start, read - start, ref skipping, endOfLine: false);
            }
            if (line.Length > 0 && !skipping) _collector.Add(Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _readerFailure = e;
        }
    }

    /// <summary>Appends a piece of a line; at its end hands the line over, or counts it when it was too long.</summary>
    private void Take(MemoryStream line, byte[] buffer, int start, int count, ref bool skipping, bool endOfLine)
    {
        if (!skipping)
        {
            if (line.Length + count > MaxLineBytes)
            {
                skipping = true;
                line.SetLength(0);
            }
            else line.Write(buffer, start, count);
        }
        if (!endOfLine) return;
        if (skipping) _collector.AddOverlong();
        else _collector.Add(Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length));
        skipping = false;
        line.SetLength(0);
    }

    public void Dispose()
    {
        if (_reader.IsAlive) { ReleaseReader(); _reader.Join(5000); }
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { /* already gone */ }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial IntPtr mkdtemp(byte[] template);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkfifo(string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, uint mode);
}

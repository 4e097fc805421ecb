using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox;

/// <summary>
/// Copy-SandboxItem: files and folders into and out of a sandbox, as tar streams through a tar that
/// runs inside the sandbox. Paths in the sandbox are therefore resolved by the sandbox's own root:
/// a symlink planted there (to /etc/shadow, say) leads to the sandbox's file of that name, never the
/// host's, and links are copied as links, never followed. The host side only ever archives what the
/// caller named, or unpacks into the folder the caller named. Needs tar (and sh) in the image.
/// Out of a sandbox, the tar stream is hostile (the sandbox may have replaced its tar): it is
/// parsed here as it arrives from the pipe, never by a program and never held whole in memory,
/// within bounds on bytes and entries, and only data comes out (see <see cref="UntrustedTarExtractor"/>).
/// </summary>
public sealed class SandboxItemCopier
{
    private readonly SandboxEngine _engine;
    private readonly IEngineLog _log;

    internal SandboxItemCopier(SandboxEngine engine, IEngineLog log)
    {
        _engine = engine;
        _log = log;
    }

    /// <summary>Copies a host file or folder into the folder <paramref name="destination"/> of the sandbox (made if missing).</summary>
    public void CopyInto(SandboxInfo sandbox, string hostPath, string destination, CancellationToken cancellation = default)
    {
        var source = Path.GetFullPath(hostPath);
        if (!File.Exists(source) && !Directory.Exists(source))
            throw SandboxErrors.CopySourceMissing(hostPath);
        RequireSandboxPath(destination);

        var archive = HostCommand.Run(_log, new[]
        {
            ToolLocator.Require("tar", "tar"), "--create", "--file", "-", "--directory", Path.GetDirectoryName(source)!,
            "--", Path.GetFileName(source),
        }, cancellation: cancellation, binaryStdOut: true);
        if (archive.ExitCode != 0) throw CopyFailed(hostPath, archive.StdErr);

        var unpack = _engine.Invoke(sandbox, new SandboxCommand
        {
            Argv = new[] { "sh", "-c", "mkdir -p -- \"$1\" && exec tar -x -f - --no-same-owner -C \"$1\"", "copy-into", destination },
            StandardInput = archive.StdOutBytes,
        }, cancellation: cancellation);
        if (unpack.ExitCode != 0) throw CopyFailed(destination, unpack.StdErr);
    }

    /// <summary>Copies a file or folder of the sandbox into the host folder <paramref name="hostFolder"/>.</summary>
    public FileSystemInfo CopyOutOf(SandboxInfo sandbox, string sandboxPath, string hostFolder, CancellationToken cancellation = default)
    {
        RequireSandboxPath(sandboxPath);
        var target = Path.GetFullPath(hostFolder);
        if (!Directory.Exists(target))
            throw SandboxErrors.InvalidPath("-Destination", hostFolder, "it must be an existing folder on the host.");
        var trimmed = sandboxPath.TrimEnd('/');
        var parent = Path.GetDirectoryName(trimmed) is { Length: > 0 } folder ? folder : "/";
        var name = Path.GetFileName(trimmed);

        // The stream comes from the sandbox's own tar binary: every byte of it is the sandbox's
        // choice. It is parsed as it arrives, within bounds, and only files, folders and downward
        // links come out, as data. A bound crossed or a damaged stream kills the sandbox's tar.
        var limits = CopyOutLimits.For(target);
        UntrustedTarExtractor? extracted = null;
        SandboxCommandResult archive;
        try
        {
            archive = _engine.Invoke(sandbox, new SandboxCommand
            {
                Argv = new[] { "tar", "-c", "-f", "-", "-C", parent, "--", name },
                BinaryStdOut = true,
                StdOutConsumer = stream => extracted = UntrustedTarExtractor.Extract(stream, target, name, limits, Native.SudoCaller.Current),
            }, cancellation: cancellation);
        }
        catch (StdOutConsumerException e) when (e.InnerException is SandboxException error)
        {
            // The extractor's own error (a bound, a damaged stream) says best what went wrong; tar's
            // stderr may say why (the path does not exist), so it goes along.
            throw SandboxErrors.WithTarStderr(error, e.StdErr);
        }
        catch (StdOutConsumerException e)
        {
            throw CopyFailed(sandboxPath, $"reading the sandbox's tar stream failed ({e.InnerException!.Message}). {e.StdErr}");
        }
        if (archive.ExitCode != 0 || extracted is null)
            throw CopyFailed(sandboxPath, (archive.TimedOut ? "the sandbox's tar did not finish within the timeout." : archive.StdErr.Trim())
                + (extracted is null ? "" : " " + extracted.DescribeWritten()));

        foreach (var (entry, reason) in extracted.Skipped)
            _log.Verbose($"Copy-SandboxItem left out '{entry}': {reason}.");

        var copied = Path.Combine(target, name);
        if (!extracted.ItemCreated)
            throw SandboxErrors.CopyRefused(sandboxPath, extracted.Skipped.FirstOrDefault(s => s.Name.Trim('/') == name).Reason
                ?? "the sandbox's tar produced nothing for it");
        // Under sudo what was made is the caller's already, each entry given as it was made (see the
        // extractor): nothing is re-owned here by its path, which the caller could have swapped since.
        return Directory.Exists(copied) && new DirectoryInfo(copied).LinkTarget is null ? new DirectoryInfo(copied) : new FileInfo(copied);
    }

    private static void RequireSandboxPath(string path)
    {
        if (!path.StartsWith('/') || path.Split('/').Contains(".."))
            throw SandboxErrors.InvalidPath("The sandbox path", path, "it must be absolute inside the sandbox.");
    }

    private static SandboxException CopyFailed(string path, string detail) => SandboxErrors.CopyFailed(path, detail);
}

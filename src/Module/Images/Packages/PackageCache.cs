using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Images.Packages;

/// <summary>
/// The store's pool of downloaded .deb files, one folder per suite and architecture (and mirror):
/// <c>STORE/cache/apt/bookworm-amd64/&lt;sha256&gt;-&lt;apt's name&gt;</c>. A build is offered the entries
/// whose content still hashes to the name (<see cref="Seed"/>: hard links into the build's own staging
/// folder, or copies when the entries are someone else's, copied into the chroot by mmdebstrap), and
/// the packages it downloaded are taken back in afterwards as copies of ours (<see cref="Absorb"/>).
///
/// Why the hash is ours: apt trusts any file in /var/cache/apt/archives whose size matches the index
/// and installs it without checking its hash (apt-get prints "Need to get 0 B"), so a truncated or
/// replaced entry would break or poison every later build. An entry is checked against its name each
/// time it is offered, and dropped if it does not match; apt then downloads (and verifies) it again.
/// Entries only ever appear by rename of a complete file, so concurrent builds never see half of one.
/// The folders are the store owner's (0700): a rootless build's subordinate ids never write here,
/// only the user's own mmdebstrap process does, outside the build's namespace.
/// </summary>
internal sealed partial class PackageCache
{
    private PackageCache(string folder) => Folder = folder;

    /// <summary>This suite's pool: <c>cache/apt/&lt;suite&gt;-&lt;arch&gt;[-&lt;mirror hash&gt;]</c>.</summary>
    public string Folder { get; }

    public static PackageCache For(string storeRoot, ImageBuildOptions options)
    {
        var suite = SafeName().IsMatch(options.Suite) ? options.Suite : "suite-" + ShortHash(options.Suite);
        var architecture = options.Architecture is { } arch && SafeName().IsMatch(arch) ? arch : HostArchitecture();
        var key = $"{suite}-{architecture}";
        // Another mirror may publish different files under the same names (a derivative, a snapshot).
        if (options.Mirror is { Length: > 0 } mirror) key += "-" + ShortHash(mirror);
        return new PackageCache(Path.Combine(storeRoot, "cache", "apt", key));
    }

    /// <summary>
    /// Makes the pool's folders (0700, the store owner's) and refuses any that is a link or someone
    /// else's: the store guard checks <c>cache</c> itself, this the two levels below it.
    /// </summary>
    public void EnsureCreated()
    {
        var apt = Path.GetDirectoryName(Folder)!;
        foreach (var folder in new[] { Path.GetDirectoryName(apt)!, apt, Folder })
        {
            PrivateFiles.EnsureFolder(folder);
            var status = FileStatus.Of(folder);
            var owner = SudoCaller.Current is { } sudo ? (uint)sudo.Uid : UserIdentity.EffectiveUid;
            if (status is not { IsDirectory: true } || (status.Value.Uid != owner && status.Value.Uid != UserIdentity.EffectiveUid))
                throw SandboxErrors.PackageCacheUnsafe(folder);
        }
    }

    /// <summary>
    /// Fills <paramref name="seedFolder"/> (a new folder) with hard links, under apt's names, to every
    /// entry whose content hashes to its name; drops the entries that do not (and anything that is not
    /// an entry). Returns apt's names of what it offered.
    /// </summary>
    public HashSet<string> Seed(string seedFolder, IEngineLog log)
    {
        Directory.CreateDirectory(seedFolder, PrivateFiles.FolderMode);
        var offered = new HashSet<string>(StringComparer.Ordinal);
        // Held by descriptor: under sudo the caller could swap the pool for a link to /etc, whose every file Drop would delete.
        using var pool = HeldStoreFolder.Open(Folder);
        foreach (var path in Directory.EnumerateFileSystemEntries(pool.Path))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.')) continue; // another build's file on its way in
            if (!DebFileName.TryParseEntry(name, out var expected, out var archiveName))
            {
                Drop(path, log, "it is not a package the cache stored");
                continue;
            }
            if (offered.Contains(archiveName)) continue;
            if (FileStatus.Of(path) is not { IsRegularFile: true } entry) { Drop(path, log, "it is not a regular file"); continue; }
            var offer = Path.Combine(seedFolder, archiveName);
            bool matches;
            if (entry.Uid == UserIdentity.EffectiveUid)
            {
                // Link first, then hash the link: the seed folder is the build's own, so what was hashed is
                // what the build gets, whatever happens to the pool's name meanwhile (a link is never followed).
                // link(2) never follows a final link; failing (removed meanwhile by another build), apt downloads it.
                if (Link(path, offer) != 0) continue;
                using var file = UntrustedFile.OpenRegular(offer);
                matches = file is not null && Sha256(file) == expected;
            }
            else
            {
                // Someone else's entry (under sudo the pool is the caller's): a link would share its inode,
                // which its owner can still write after the hash and before root's build installs it. A
                // copy of our own, hashed as it is written, is what the build gets.
                if (CopyHashed(path, offer) is not { } copied) continue;
                matches = copied == expected;
            }
            if (!matches)
            {
                var made = FileStatus.Of(offer);
                File.Delete(offer);
                // A copy was read from the entry itself; a link must still be the entry (not a name swapped in meanwhile).
                if (made is not null && (made.Value.Inode == entry.Inode || entry.Uid != UserIdentity.EffectiveUid))
                    Drop(path, log, "its content does not match its SHA-256");
                continue;
            }
            offered.Add(archiveName);
        }
        return offered;
    }

    /// <summary>
    /// Takes the package files a build left in <paramref name="incoming"/> (its /var/cache/apt/archives,
    /// written there by the user's own mmdebstrap process) into the pool: only regular files with apt's
    /// names whose content hashes to what the build's signed <paramref name="index"/> says (null: the
    /// builder checked every file against the signed index itself and the build could not reach
    /// them, as debootstrap's --cache-dir), made 0600 and the store owner's, named by their hash,
    /// moved in by rename. What the cache offered is skipped (the build never rewrites it).
    /// Returns apt's names of the new entries, and how many files the index did not name.
    /// </summary>
    public (List<string> Added, int Unlisted) Absorb(string incoming, IReadOnlySet<string> offered, Func<PackageIndex?> index)
    {
        var added = new List<string>();
        var unlisted = 0;
        if (FileStatus.Of(incoming) is not { IsDirectory: true }) return (added, unlisted);
        PackageIndex? signed = null;
        var indexRead = false;
        using var pool = HeldStoreFolder.Open(Folder); // see Seed
        foreach (var path in Directory.EnumerateFileSystemEntries(incoming))
        {
            var name = Path.GetFileName(path);
            if (!DebFileName.IsArchiveName(name) || offered.Contains(name)) continue;
            // Copied, never re-owned or re-moded in place: root then changes no file it did not make. The
            // name is the build's, and whoever wrote there (the build's maintainer scripts) could make it a
            // hard link to a file of root's at any moment; a check of the name and a change through the
            // descriptor were two instants, and a loop swapping the name won the race between them.
            var partial = Path.Combine(pool.Path, $".new-{Guid.NewGuid():N}");
            if (CopyHashed(path, partial, handOver: true) is not { } hash) continue;
            // The index is read only when there is something to check (a warm build has nothing new).
            if (!indexRead) { signed = index(); indexRead = true; }
            var entry = Path.Combine(pool.Path, DebFileName.EntryName(hash, name));
            var listed = signed is null || signed.Names(name, hash);
            if (!listed) unlisted++;
            if (!listed || FileStatus.Of(entry) is not null)
            {
                File.Delete(partial); // left out, or a concurrent build brought the same file
                continue;
            }
            File.Move(partial, entry, overwrite: true);
            added.Add(name);
        }
        return (added, unlisted);
    }

    /// <summary>
    /// Deletes the entries of other versions of the packages this build installed (same name and
    /// architecture): the suite has moved on from them, and every build would copy them into its
    /// chroot for nothing. Bounds the pool to about one version of each package a build used.
    /// </summary>
    public int PruneSuperseded(IReadOnlySet<string> installed)
    {
        var current = installed.Select(PackageAndArchitecture).ToHashSet(StringComparer.Ordinal);
        var pruned = 0;
        using var pool = HeldStoreFolder.Open(Folder); // see Seed
        foreach (var path in Directory.EnumerateFiles(pool.Path))
        {
            if (!DebFileName.TryParseEntry(Path.GetFileName(path), out _, out var archiveName)) continue;
            if (installed.Contains(archiveName) || !current.Contains(PackageAndArchitecture(archiveName))) continue;
            File.Delete(path);
            pruned++;
        }
        return pruned;
    }

    /// <summary>"dash_0.5.12-2_amd64.deb" -> "dash amd64".</summary>
    private static string PackageAndArchitecture(string archiveName)
    {
        var parts = archiveName[..^4].Split('_');
        return $"{parts[0]} {parts[^1]}";
    }

    /// <summary>
    /// Renames into the pool: <paramref name="path"/> lies in the build's held staging folder and the pool
    /// is held (HeldStoreFolder), so both names lead to those very folders. Across file systems the
    /// checked file itself (<paramref name="file"/>, never the name again) is copied to a hidden name
    /// first, so the entry appears whole.
    /// </summary>
    private static void Drop(string path, IEngineLog log, string why)
    {
        log.Verbose($"Package cache: dropped {Path.GetFileName(path)}: {why}; apt downloads it again if needed.");
        try { File.Delete(path); } // unlinks a link or file itself, never what a link points to
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Copies a regular file (never through a link) into a new file of ours, 0600 (with
    /// <paramref name="handOver"/>, given to the sudo caller through its descriptor, as the pool's
    /// entries are theirs); the SHA-256 of what was written, or null when it cannot be read.
    /// </summary>
    private static string? CopyHashed(string path, string copy, bool handOver = false)
    {
        using var source = UntrustedFile.OpenRegular(path);
        if (source is null) return null;
        using var target = new FileStream(copy, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        string? hash = null;
        try
        {
            if (handOver) SudoCaller.Current?.HandOverHeld((int)target.SafeFileHandle.DangerousGetHandle(), copy);
            hash = Sha256(source, copyTo: target);
            return hash;
        }
        finally
        {
            if (hash is null)
            {
                // Refused (too large, sparse, changed while read) or failed (a full disk): no part of it is offered or kept.
                target.Dispose();
                File.Delete(copy);
            }
        }
    }

    /// <summary>
    /// The largest file the cache hashes or copies. Debian's largest packages are about 1-2 GiB; under
    /// sudo the pool is the caller's, and a sparse file of terabytes under an entry's name had root
    /// write every block of it into the build (root's writes pass the caller's quota and the reserved
    /// blocks) until the file system was full.
    /// </summary>
    internal const long MaxPackageBytes = 4L << 30;

    /// <summary>
    /// The file's SHA-256, read by offset through the open handle (never its name again: the handle stays
    /// open, and ours, for what follows). With <paramref name="copyTo"/>, each block hashed is the block
    /// written there, so the hash is of the copy, whatever the source's owner does to it meanwhile.
    /// Null when the file is larger than <see cref="MaxPackageBytes"/>, or is not the size it had when the
    /// read began (written to meanwhile: a file that kept growing kept the loop copying for ever).
    /// </summary>
    private static string? Sha256(SafeFileHandle file, Stream? copyTo = null)
    {
        var size = RandomAccess.GetLength(file);
        if (size > MaxPackageBytes || IsSparse(file, size)) return null;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long offset = 0;
        int read;
        while (offset < size && (read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, size - offset)), offset)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            copyTo?.Write(buffer, 0, read);
            offset += read;
        }
        if (offset != size || RandomAccess.Read(file, buffer.AsSpan(0, 1), offset) != 0) return null;
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>
    /// Whether less than half of the file's size is allocated: a package is compressed and never
    /// sparse, and a caller's pool of sparse entries of 4 GiB each had root write 4 GiB of real blocks
    /// for each while costing the caller nothing (a file system that compresses may report fewer blocks:
    /// the entry is then not used, and apt downloads the package again).
    /// </summary>
    private static bool IsSparse(SafeFileHandle file, long size) =>
        FileStatus.OfDescriptor((int)file.DangerousGetHandle()) is not { } status || (long)status.Blocks * 512 < size / 2;

    private static string ShortHash(string text) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12].ToLowerInvariant();

    /// <summary>dpkg's name for this machine's architecture (the one mmdebstrap builds without --architectures).</summary>
    private static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "armhf",
        Architecture.X86 => "i386",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64el",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex SafeName();

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}

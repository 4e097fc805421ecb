using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Images.Packages;

/// <summary>
/// What a build's signed package index says each archive file must hash to: apt's archive name
/// ("dash_0.5.12-2_amd64.deb") to the SHA-256 values the suite's Packages lists give it. Trusted
/// through the chain apt trusts and nothing the build could write: each list's InRelease verified by
/// gpgv against the host's archive keyrings (<see cref="TrustedKeyrings"/>), each Packages list by
/// the hash that verified InRelease gives it.
///
/// Why: the files a build leaves in its /var/cache/apt/archives (<see cref="PackageCache.Absorb"/>)
/// are within reach of every maintainer script the build runs, and apt installs any same-size file
/// it finds there without checking its hash. Taken into the cache after a hash of themselves only,
/// one planted file would be offered to every later build of the suite. Only a file whose hash this
/// index names is taken in; anything else is left out (and apt downloads it next time).
/// </summary>
internal sealed class PackageIndex
{
    private readonly Dictionary<string, HashSet<string>> _hashes = new(StringComparer.Ordinal);

    /// <summary>A list file larger than this is not read (bookworm's main is about 50 MB).</summary>
    internal const long MaxListBytes = 512L * 1024 * 1024;

    /// <summary>How many InRelease files of one build are checked at most.</summary>
    internal const int MaxReleases = 32;

    /// <summary>The host keyrings whose keys may sign a list: Debian's archive keyring and apt's trusted keys (binary ones; gpgv reads no armour).</summary>
    internal static IEnumerable<string> TrustedKeyrings()
    {
        var candidates = new List<string> { "/usr/share/keyrings/debian-archive-keyring.gpg", "/etc/apt/trusted.gpg" };
        if (Directory.Exists("/etc/apt/trusted.gpg.d"))
            candidates.AddRange(Directory.EnumerateFiles("/etc/apt/trusted.gpg.d", "*.gpg").Order(StringComparer.Ordinal));
        return candidates.Where(File.Exists);
    }

    /// <summary>Whether <paramref name="archiveName"/> with content hashing to <paramref name="sha256"/> is a package the index names.</summary>
    public bool Names(string archiveName, string sha256) =>
        _hashes.TryGetValue(archiveName, out var hashes) && hashes.Contains(sha256);

    public int Count => _hashes.Count;

    /// <summary>
    /// The index of the lists a build left in <paramref name="listsFolder"/> (its /var/lib/apt/lists,
    /// copied out before mmdebstrap's cleanup). Lists that cannot be verified add nothing; the reason
    /// is logged at verbose level.
    /// </summary>
    public static PackageIndex FromLists(string listsFolder, string suite, IEngineLog log)
    {
        var index = new PackageIndex();
        if (!Directory.Exists(listsFolder)) return index;
        var gpgv = ToolLocator.Find("gpgv");
        var keyrings = TrustedKeyrings().ToList();
        if (gpgv is null || keyrings.Count == 0)
        {
            log.Verbose("Package cache: gpgv or the archive keyrings are missing here, so no downloaded package can be checked against the signed index; none is kept.");
            return index;
        }
        // A build has a handful of sources; a folder with more lists than this is not one to spend gpgv runs on.
        foreach (var release in Directory.EnumerateFiles(listsFolder, "*_InRelease").Take(MaxReleases))
        {
            var prefix = Path.GetFileName(release)[..^"InRelease".Length];
            if (Verified(gpgv, keyrings, release) is not { } signedText)
            {
                log.Verbose($"Package cache: {Path.GetFileName(release)} is not signed by a trusted key here; its packages are not kept.");
                continue;
            }
            // A list signed by any trusted key is not enough: it must be this build's suite (or its
            // -updates, -security), and still valid, or another repository's key could vouch for a
            // package this suite's builds would later be offered under the same name.
            if (!IsForSuite(signedText, suite, DateTimeOffset.UtcNow))
            {
                log.Verbose($"Package cache: {Path.GetFileName(release)} is not a current index of {suite}; its packages are not kept.");
                continue;
            }
            var listHashes = ReleaseHashes(signedText);
            foreach (var list in Directory.EnumerateFiles(listsFolder, prefix + "*_Packages"))
            {
                var relative = Path.GetFileName(list)[prefix.Length..].Replace('_', '/');
                var bytes = UntrustedFile.ReadRegular(list, MaxListBytes);
                if (bytes is null || !listHashes.TryGetValue(relative, out var expected) || Sha256(bytes) != expected)
                {
                    log.Verbose($"Package cache: {Path.GetFileName(list)} does not match its signed InRelease; its packages are not kept.");
                    continue;
                }
                index.AddPackages(Encoding.UTF8.GetString(bytes));
            }
        }
        return index;
    }

    /// <summary>
    /// Whether a (verified) Release text is an index of <paramref name="suite"/> (its Suite or
    /// Codename is the suite, or the suite followed by "-": bookworm-updates, bookworm-security)
    /// whose Valid-Until, if it has one, has not passed.
    /// </summary>
    internal static bool IsForSuite(string releaseText, string suite, DateTimeOffset now)
    {
        var fields = releaseText.Split('\n')
            .TakeWhile(line => line.Length > 0 && !line.StartsWith(' '))
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2)
            .GroupBy(parts => parts[0].Trim(), StringComparer.Ordinal)
            .ToDictionary(group => group.Key, group => group.First()[1].Trim(), StringComparer.Ordinal);
        bool Names(string field) => fields.TryGetValue(field, out var value)
            && (value == suite || value.StartsWith(suite + "-", StringComparison.Ordinal));
        if (!Names("Suite") && !Names("Codename")) return false;
        if (fields.TryGetValue("Valid-Until", out var until))
            return DateTimeOffset.TryParse(until.Replace(" UTC", " +00:00", StringComparison.Ordinal), CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal, out var validUntil) && validUntil > now;
        return true;
    }

    /// <summary>The SHA256 section of a (verified) Release text: path relative to the suite -> hash.</summary>
    internal static Dictionary<string, string> ReleaseHashes(string releaseText)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var inSection = false;
        foreach (var line in releaseText.Split('\n'))
        {
            if (!line.StartsWith(' '))
            {
                inSection = line.TrimEnd() == "SHA256:";
                continue;
            }
            if (!inSection) continue;
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 3 && IsSha256(fields[0])) hashes[fields[2]] = fields[0];
        }
        return hashes;
    }

    /// <summary>
    /// Adds each stanza's archive name with its SHA256: the name apt stores the download under, made
    /// from the stanza's Package, Version and Architecture (<see cref="DebFileName.ForPackage"/>), not
    /// the last part of its Filename. The two differ for every version with an epoch: the pool's
    /// file is "libgmp10_6.2.1+dfsg1-1.1_amd64.deb", apt's "libgmp10_2%3a6.2.1+dfsg1-1.1_amd64.deb".
    /// Named by Filename, none of the 11 epoch packages of a bookworm minbase build was ever taken into
    /// the cache, and every warm build downloaded them again.
    /// </summary>
    internal void AddPackages(string packagesText)
    {
        string? package = null, version = null, architecture = null, file = null, hash = null;
        foreach (var raw in packagesText.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                Add(package, version, architecture, file, hash);
                package = version = architecture = file = hash = null;
            }
            else if (line.StartsWith("Package: ", StringComparison.Ordinal)) package = line[9..].Trim();
            else if (line.StartsWith("Version: ", StringComparison.Ordinal)) version = line[9..].Trim();
            else if (line.StartsWith("Architecture: ", StringComparison.Ordinal)) architecture = line[14..].Trim();
            else if (line.StartsWith("Filename: ", StringComparison.Ordinal)) file = line[10..].Trim();
            else if (line.StartsWith("SHA256: ", StringComparison.Ordinal)) hash = line[8..].Trim().ToLowerInvariant();
        }
        Add(package, version, architecture, file, hash);
    }

    /// <summary>apt names a download with its Filename's extension: only a .deb stanza may vouch for a .deb name (not a .udeb's).</summary>
    private void Add(string? package, string? version, string? architecture, string? file, string? hash)
    {
        if (package is null || version is null || architecture is null || hash is null || !IsSha256(hash)) return;
        if (file is null || !file.EndsWith(".deb", StringComparison.Ordinal)) return;
        var name = DebFileName.ForPackage(package, version, architecture);
        if (!DebFileName.IsArchiveName(name)) return;
        if (!_hashes.TryGetValue(name, out var hashes)) _hashes[name] = hashes = new HashSet<string>(StringComparer.Ordinal);
        hashes.Add(hash);
    }

    /// <summary>The signed text of a clearsigned file when gpgv finds a good signature by a key of <paramref name="keyrings"/>; else null.</summary>
    private static string? Verified(string gpgv, IReadOnlyList<string> keyrings, string release)
    {
        // Read by us (never through a link, bounded) and handed to gpgv on stdin: gpgv opens no path of the build's.
        var bytes = UntrustedFile.ReadRegular(release, 4L * 1024 * 1024);
        if (bytes is null) return null;
        var argv = new List<string> { gpgv, "--quiet" };
        foreach (var keyring in keyrings) argv.AddRange(new[] { "--keyring", keyring });
        // Status lines on stderr: a good signature by a key that has neither expired nor been revoked says GOODSIG.
        argv.AddRange(new[] { "--status-fd", "2", "--output", "-", "-" });
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = argv,
            Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath, ["LANG"] = "C.UTF-8" },
            StandardInput = bytes,
            Timeout = TimeSpan.FromMinutes(1),
        }, null, CancellationToken.None, null);
        var goodSignature = outcome.StdErr.Split('\n').Any(line => line.StartsWith("[GNUPG:] GOODSIG ", StringComparison.Ordinal));
        return outcome.ExitCode == 0 && goodSignature && !outcome.StdOutTruncated ? outcome.StdOut : null;
    }

    private static bool IsSha256(string text) => text.Length == 64 && text.All(Uri.IsHexDigit);

    private static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
}

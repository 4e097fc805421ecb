using System.Text.RegularExpressions;

namespace Sandbox.Images.Packages;

/// <summary>
/// The names the package cache deals in: apt's archive names (<c>name_version_arch.deb</c>, an epoch's
/// ':' written '%3a') and the cache's own entries, <c>&lt;sha256&gt;-&lt;archive name&gt;</c>, which say
/// what the file's content must hash to. Anything else found in the cache or coming out of a build is
/// not a package file and is never offered to apt.
/// </summary>
internal static partial class DebFileName
{
    public const int HashLength = 64;

    // Debian policy: package names [a-z0-9][a-z0-9+.-]+, versions [A-Za-z0-9.+~:-] (':' as %3a), architectures [a-z0-9-].
    [GeneratedRegex(@"^[a-z0-9][a-z0-9+.-]*_[A-Za-z0-9.+~%-]+_[a-z0-9-]+\.deb\z")]
    private static partial Regex ArchiveNamePattern();

    [GeneratedRegex(@"^[0-9a-f]{64}\z")]
    private static partial Regex HashPattern();

    public static bool IsArchiveName(string name) => name.Length <= 255 - HashLength - 1 && ArchiveNamePattern().IsMatch(name);

    public static string EntryName(string sha256, string archiveName) => $"{sha256}-{archiveName}";

    /// <summary>Splits a cache entry's name into the hash it promises and apt's name for it; false for anything else.</summary>
    public static bool TryParseEntry(string entryName, out string sha256, out string archiveName)
    {
        sha256 = archiveName = "";
        if (entryName.Length <= HashLength + 1 || entryName[HashLength] != '-') return false;
        var hash = entryName[..HashLength];
        var name = entryName[(HashLength + 1)..];
        if (!HashPattern().IsMatch(hash) || !IsArchiveName(name)) return false;
        (sha256, archiveName) = (hash, name);
        return true;
    }

    /// <summary>
    /// apt's archive name of a package version (from dpkg's status file, or a Packages stanza): apt's
    /// pkgAcqArchive quotes each part with QuoteString, '_' and ':' (and '.' in the architecture), '%',
    /// spaces, controls and non-ASCII bytes as %xx, so an epoch's ':' is "%3a".
    /// </summary>
    public static string ForPackage(string package, string version, string architecture) =>
        $"{AptQuote(package, "_:")}_{AptQuote(version, "_:")}_{AptQuote(architecture, "_:.")}.deb";

    private static string AptQuote(string part, string bad)
    {
        var quoted = new System.Text.StringBuilder(part.Length);
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(part))
        {
            if (b <= 0x20 || b >= 0x7F || b == (byte)'%' || bad.Contains((char)b, StringComparison.Ordinal))
                quoted.Append('%').Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            else
                quoted.Append((char)b);
        }
        return quoted.ToString();
    }
}

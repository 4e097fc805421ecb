using System.Formats.Tar;
using System.Text;

namespace Sandbox.Storage;

/// <summary>One entry of an untrusted tar stream: its header, resolved through GNU long names and pax records.</summary>
internal sealed record TarStreamEntry(string Name, TarEntryType Type, int Mode, long Size, string LinkName);

/// <summary>
/// Reads a tar stream (ustar, GNU, pax) forward only, entry by entry, holding nothing but one header
/// block and the entry's metadata: an entry's data is read by the caller in chunks
/// (<see cref="ReadData"/>) or skipped in chunks. Written for untrusted streams, because
/// System.Formats.Tar allocates whatever a GNU long-name or pax header announces (a crafted header
/// announcing 1 GiB made it allocate 1 GiB): here metadata entries are refused beyond
/// <see cref="MaxMetadataBytes"/>, every number is checked, and every malformation is an
/// <see cref="InvalidDataException"/>, a stream that ends early an <see cref="EndOfStreamException"/>.
/// </summary>
internal sealed class TarStreamReader(Stream stream)
{
    /// <summary>The most a long name, long link or pax header may hold: names are at most PATH_MAX (4096) anyway.</summary>
    public const int MaxMetadataBytes = 64 * 1024;

    /// <summary>
    /// Metadata headers before one entry: an honest tar writes at most a long name, a long link and a
    /// pax header; an endless run of them would otherwise never count as an entry.
    /// </summary>
    public const int MaxMetadataHeaders = 8;

    private const int Block = 512;
    private readonly byte[] _header = new byte[Block];
    private readonly byte[] _skip = new byte[64 * 1024];
    private long _dataLeft, _paddingLeft;

    /// <summary>The next entry, or null at the end marker (a zero block). The previous entry's unread data is skipped.</summary>
    public TarStreamEntry? Next()
    {
        SkipRest();
        string? longName = null, longLink = null;
        Dictionary<string, string>? pax = null;
        for (var headers = 1; ; headers++)
        {
            if (headers > MaxMetadataHeaders + 1)
                throw new InvalidDataException($"more than {MaxMetadataHeaders} metadata headers come before one entry");
            if (!ReadBlock(_header, atBoundary: true)) throw new EndOfStreamException("the stream ends without the archive's end marker");
            if (!_header.AsSpan().ContainsAnyExcept((byte)0)) return null;
            VerifyChecksum(_header);
            var type = (TarEntryType)_header[156];
            var size = Number(_header.AsSpan(124, 12), "size");
            switch (type)
            {
                case TarEntryType.LongPath:
                    longName = CString(ReadMetadata(size, "a GNU long name"));
                    continue;
                case TarEntryType.LongLink:
                    longLink = CString(ReadMetadata(size, "a GNU long link"));
                    continue;
                case TarEntryType.ExtendedAttributes:
                    pax = PaxRecords(ReadMetadata(size, "a pax header"));
                    continue;
                case TarEntryType.GlobalExtendedAttributes:
                    ReadMetadata(size, "a pax global header"); // nothing in it is used
                    continue;
            }

            var name = longName ?? HeaderName(_header);
            var link = longLink ?? CString(_header.AsSpan(157, 100));
            if (pax is not null)
            {
                if (pax.TryGetValue("path", out var path)) name = path;
                if (pax.TryGetValue("linkpath", out var linkPath)) link = linkPath;
                if (pax.TryGetValue("size", out var paxSize))
                    size = long.TryParse(paxSize, System.Globalization.NumberStyles.None, null, out var parsed)
                        ? parsed : throw new InvalidDataException($"the pax size '{Shorten(paxSize)}' is not a number");
            }
            // A name is what the kernel reads up to its first NUL: one inside it (a pax value keeps
            // them) would make the name checked differ from the name created.
            if (name.Contains('\0') || link.Contains('\0'))
                throw new InvalidDataException("an entry's name or link target holds a NUL byte");
            var mode = (int)Math.Min(Number(_header.AsSpan(100, 8), "mode"), int.MaxValue);
            if (type == TarEntryType.SparseFile)
                // Old GNU sparse headers continue in blocks the size does not count: not followed.
                throw new InvalidDataException("it holds a GNU sparse file, which is not accepted");
            if (type is TarEntryType.Directory or TarEntryType.SymbolicLink or TarEntryType.HardLink
                    or TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo && size != 0)
                throw new InvalidDataException($"a {type} entry announces {size} bytes of data");
            // Every other type (unknown ones too) is followed by its data, read or skipped.
            (_dataLeft, _paddingLeft) = (size, Padding(size));
            return new TarStreamEntry(name, type, mode, size, link);
        }
    }

    /// <summary>Reads the current entry's data into <paramref name="buffer"/>; 0 once it is all read.</summary>
    public int ReadData(Span<byte> buffer)
    {
        if (_dataLeft == 0) return 0;
        var want = (int)Math.Min(buffer.Length, _dataLeft);
        var got = stream.Read(buffer[..want]);
        if (got == 0) throw new EndOfStreamException("the stream ends in the middle of a file's data");
        _dataLeft -= got;
        return got;
    }

    private void SkipRest()
    {
        while (_dataLeft > 0) ReadData(_skip);
        while (_paddingLeft > 0)
        {
            var got = stream.Read(_skip.AsSpan(0, (int)_paddingLeft));
            if (got == 0) throw new EndOfStreamException("the stream ends in the padding of a file's data");
            _paddingLeft -= got;
        }
    }

    private static long Padding(long size) => (Block - size % Block) % Block;

    /// <summary>Reads a whole block; false if the stream ended exactly before it (and <paramref name="atBoundary"/> allows that).</summary>
    private bool ReadBlock(byte[] block, bool atBoundary)
    {
        var done = 0;
        while (done < Block)
        {
            var got = stream.Read(block.AsSpan(done));
            if (got == 0)
            {
                if (done == 0 && atBoundary) return false;
                throw new EndOfStreamException("the stream ends in the middle of a header");
            }
            done += got;
        }
        return true;
    }

    private byte[] ReadMetadata(long size, string what)
    {
        if (size > MaxMetadataBytes)
            throw new InvalidDataException($"{what} announces {size} bytes; at most {MaxMetadataBytes} are accepted");
        var data = new byte[size];
        var done = 0;
        while (done < data.Length)
        {
            var got = stream.Read(data.AsSpan(done));
            if (got == 0) throw new EndOfStreamException($"the stream ends in the middle of {what}");
            done += got;
        }
        (_dataLeft, _paddingLeft) = (0, Padding(size));
        SkipRest();
        return data;
    }

    private static void VerifyChecksum(byte[] header)
    {
        var stored = Number(header.AsSpan(148, 8), "checksum");
        long unsigned = 0, signed = 0;
        for (var i = 0; i < Block; i++)
        {
            var b = i is >= 148 and < 156 ? (byte)' ' : header[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        // Old tars summed signed bytes; both are what an honest header holds.
        if (stored != unsigned && stored != signed) throw new InvalidDataException("a header's checksum does not match: this is not a tar stream");
    }

    /// <summary>An octal field (NUL or space ended), or GNU base-256 (high bit set); never negative, never past 2^63.</summary>
    private static long Number(ReadOnlySpan<byte> field, string what)
    {
        if ((field[0] & 0x80) != 0)
        {
            if ((field[0] & 0x40) != 0) throw new InvalidDataException($"a header's {what} is negative");
            long big = field[0] & 0x3F;
            foreach (var b in field[1..])
            {
                if (big > (long.MaxValue >> 8)) throw new InvalidDataException($"a header's {what} is too large");
                big = (big << 8) | b;
            }
            return big;
        }
        long value = 0;
        var i = 0;
        while (i < field.Length && field[i] == ' ') i++;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++)
        {
            if (value > (long.MaxValue >> 3)) throw new InvalidDataException($"a header's {what} is too large");
            value = value * 8 + (field[i] - '0');
        }
        if (i < field.Length && field[i..].ContainsAnyExcept((byte)0, (byte)' '))
            throw new InvalidDataException($"a header's {what} is not an octal number");
        return value;
    }

    /// <summary>ustar splits a long name into prefix and name; GNU headers use those bytes for other fields.</summary>
    private static string HeaderName(byte[] header)
    {
        var name = CString(header.AsSpan(0, 100));
        var ustar = header.AsSpan(257, 6).SequenceEqual("ustar\0"u8);
        var prefix = ustar ? CString(header.AsSpan(345, 155)) : "";
        return prefix.Length > 0 ? $"{prefix}/{name}" : name;
    }

    private static string CString(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end >= 0 ? bytes[..end] : bytes);
    }

    /// <summary>pax records, "length key=value\n" each; a malformed one makes the stream malformed.</summary>
    private static Dictionary<string, string> PaxRecords(byte[] data)
    {
        var records = new Dictionary<string, string>();
        var rest = data.AsSpan();
        while (rest.Length > 0 && rest[0] != 0)
        {
            var space = rest.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(rest[..space]), System.Globalization.NumberStyles.None, null, out var length)
                || length <= space + 1 || length > rest.Length || rest[length - 1] != '\n')
                throw new InvalidDataException("a pax header has a malformed record");
            var record = rest[(space + 1)..(length - 1)];
            var equals = record.IndexOf((byte)'=');
            if (equals <= 0) throw new InvalidDataException("a pax header has a record without '='");
            // Text never holds a NUL; one is a name cut where the kernel reads it. Only extended
            // attribute values are raw bytes by definition (an SELinux label ends with a NUL), and
            // nothing reads them here.
            if (record[..equals].Contains((byte)0)
                || (record[(equals + 1)..].Contains((byte)0) && !record.StartsWith("SCHILY.xattr."u8)))
                throw new InvalidDataException("a pax header has a record with a NUL byte in its key or value");
            records[Encoding.UTF8.GetString(record[..equals])] = Encoding.UTF8.GetString(record[(equals + 1)..]);
            rest = rest[length..];
        }
        return records;
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";
}

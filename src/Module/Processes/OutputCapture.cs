using System.Text;

namespace Sandbox.Processes;

/// <summary>
/// What one output stream of a process left us: its bytes kept up to a limit (beyond it only
/// counted, so no output size can exhaust memory), and, when a line callback is given, every line
/// handed over as it completes. A line longer than <see cref="MaxLinePieceBytes"/> is handed over in
/// pieces of that size: one line without a newline (head -c 1G /dev/zero) must not be held whole.
/// </summary>
internal sealed class OutputCapture
{
    public const int MaxLinePieceBytes = 64 * 1024;

    private readonly long _limit;
    private readonly Action<string>? _onLine;
    private byte[] _kept = Array.Empty<byte>();
    private int _keptLength;
    private readonly byte[]? _line;
    private int _lineLength;

    public OutputCapture(long limit, Action<string>? onLine)
    {
        _limit = Math.Min(limit, Array.MaxLength);
        _onLine = onLine;
        if (onLine is not null) _line = new byte[MaxLinePieceBytes];
    }

    /// <summary>Every byte the process wrote to this stream, kept or not.</summary>
    public long Seen { get; private set; }

    /// <summary>True when the kept bytes are not all the stream had (over the limit, or cut off).</summary>
    public bool Truncated => Seen > _keptLength || CutOff;

    /// <summary>Set when the stream was abandoned before its end (a leftover process held it open).</summary>
    public bool CutOff { get; set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        Seen += data.Length;
        Keep(data);
        if (_onLine is not null) SplitLines(data);
    }

    /// <summary>The stream ended: a last line without a newline is still a line.</summary>
    public void Complete()
    {
        if (_onLine is not null && _lineLength > 0) EmitLine(_lineLength);
    }

    public byte[] Bytes() => _kept.AsSpan(0, _keptLength).ToArray();

    /// <summary>The kept bytes as UTF-8 text; a character cut in half by the limit is left out, not mangled.</summary>
    public string Text()
    {
        var length = _keptLength;
        if (Seen > _keptLength) length = Utf8.CompleteLength(_kept.AsSpan(0, length));
        return Encoding.UTF8.GetString(_kept, 0, length);
    }

    private void Keep(ReadOnlySpan<byte> data)
    {
        var room = (int)Math.Min(_limit - _keptLength, data.Length);
        if (room <= 0) return;
        if (_keptLength + room > _kept.Length)
        {
            // Grow by doubling, but never past the limit: memory stays within the limit plus one copy.
            var size = (int)Math.Min(_limit, Math.Max(Math.Max(4096L, _kept.Length * 2L), _keptLength + (long)room));
            Array.Resize(ref _kept, size);
        }
        data[..room].CopyTo(_kept.AsSpan(_keptLength));
        _keptLength += room;
    }

    private void SplitLines(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            var newline = data.IndexOf((byte)'\n');
            var take = newline >= 0 ? newline : data.Length;
            var room = MaxLinePieceBytes - _lineLength;
            if (take > room)
            {
                // A line longer than a piece: hand over a full piece, cut at a character boundary.
                data[..room].CopyTo(_line.AsSpan(_lineLength));
                _lineLength += room;
                var piece = Utf8.CompleteLength(_line.AsSpan(0, _lineLength));
                if (piece == 0) piece = _lineLength;
                var rest = _lineLength - piece;
                EmitLine(piece);
                _line.AsSpan(piece, rest).CopyTo(_line);
                _lineLength = rest;
                data = data[room..];
                continue;
            }
            data[..take].CopyTo(_line.AsSpan(_lineLength));
            _lineLength += take;
            if (newline < 0) return;
            var length = _lineLength > 0 && _line![_lineLength - 1] == '\r' ? _lineLength - 1 : _lineLength;
            EmitLine(length);
            _lineLength = 0;
            data = data[(newline + 1)..];
        }
    }

    private void EmitLine(int length)
    {
        var text = Encoding.UTF8.GetString(_line!, 0, length);
        _lineLength = 0;
        _onLine!(text);
    }
}

/// <summary>UTF-8 boundaries, so that a cut never splits a character.</summary>
internal static class Utf8
{
    /// <summary>The length of <paramref name="bytes"/> without a trailing incomplete character.</summary>
    public static int CompleteLength(ReadOnlySpan<byte> bytes)
    {
        // Look back at most 3 bytes for the start of the last character.
        for (var back = 1; back <= Math.Min(4, bytes.Length); back++)
        {
            var b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue; // a continuation byte: keep looking
            var needed = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return needed > back ? bytes.Length - back : bytes.Length;
        }
        return bytes.Length;
    }
}

using System.Text;
using Sandbox.Processes;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>Plain-data tests of how one output stream is kept and split into lines.</summary>
[Trait("Area", "Reliability")]
public sealed class OutputCaptureTests
{
    [Fact]
    public void Bytes_beyond_the_limit_are_counted_not_kept()
    {
        var capture = new OutputCapture(limit: 10, onLine: null);
        capture.Write(Encoding.ASCII.GetBytes("0123456"));
        capture.Write(Encoding.ASCII.GetBytes("789abcdef"));

        Assert.Equal(16, capture.Seen);
        Assert.Equal("0123456789", capture.Text());
        Assert.True(capture.Truncated);
    }

    [Fact]
    public void A_character_cut_by_the_limit_is_left_out_not_mangled()
    {
        var capture = new OutputCapture(limit: 4, onLine: null);
        capture.Write(Encoding.UTF8.GetBytes("abcé")); // é is 2 bytes: only its first fits

        Assert.Equal("abc", capture.Text());
        Assert.Equal(new byte[] { (byte)'a', (byte)'b', (byte)'c', 0xC3 }, capture.Bytes());
    }

    [Fact]
    public void Lines_split_across_reads_and_crlf_endings_come_out_whole()
    {
        var lines = new List<string>();
        var capture = new OutputCapture(limit: 1024, lines.Add);
        foreach (var chunk in new[] { "one\r", "\ntw", "o\n\nthr", "ee" }) capture.Write(Encoding.UTF8.GetBytes(chunk));
        capture.Complete();

        Assert.Equal(new[] { "one", "two", "", "three" }, lines);
    }

    [Fact]
    public void A_line_longer_than_a_piece_is_handed_over_in_pieces_on_character_boundaries()
    {
        var lines = new List<string>();
        var capture = new OutputCapture(limit: 0, lines.Add);
        // 'é' (2 bytes) at an odd offset, so the piece boundary falls inside a character.
        var text = "x" + new string('é', OutputCapture.MaxLinePieceBytes);
        capture.Write(Encoding.UTF8.GetBytes(text + "\n"));
        capture.Complete();

        Assert.True(lines.Count >= 2);
        Assert.All(lines, line => Assert.True(Encoding.UTF8.GetByteCount(line) <= OutputCapture.MaxLinePieceBytes));
        Assert.Equal(text, string.Concat(lines));
        Assert.DoesNotContain('\uFFFD', string.Concat(lines));
        Assert.True(capture.Truncated);
        Assert.Equal("", capture.Text());
    }
}

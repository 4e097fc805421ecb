namespace Sandbox.Storage;

/// <summary>
/// A read-only view of an untrusted stream that counts what was read and throws the given error
/// once more than <paramref name="maxBytes"/> would have been accepted: the bound holds whatever
/// reads it (TarReader skipping an entry's data included).
/// </summary>
internal sealed class BoundedStream(Stream inner, long maxBytes, Func<Exception> overLimit) : Stream
{
    /// <summary>Bytes read so far.</summary>
    public long Consumed { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Consumed += n;
        if (Consumed > maxBytes) throw overLimit();
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

namespace Sandbox.Storage;

/// <summary>
/// A read-only view of an untrusted stream that counts what was read and throws the given error
/// once more than <paramref name="maxBytes"/> would have been accepted: the bound holds whatever
/// reads it (TarReader skipping an entry's data included).
/// </summary>
internal sealed class BoundedStream(Stream inner, long maxBytes, Func<Exception> overLimit) : Processes.ForwardReadStream
{
    /// <summary>Bytes read so far.</summary>
    public long Consumed { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Consumed += n;
        if (Consumed > maxBytes) throw overLimit();
        return n;
    }
}

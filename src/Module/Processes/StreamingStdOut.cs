namespace Sandbox.Processes;

/// <summary>
/// A command's stdout handed to a consumer as it arrives, instead of being kept: the consumer reads
/// a <see cref="Stream"/> on a thread of its own while <see cref="PipePump"/> reads the pipe. The two
/// meet in one fixed buffer: the pump waits in <see cref="Write"/> until the consumer has taken
/// the previous chunk, so while the consumer does not read, the pipe fills and the command blocks
/// (back-pressure), and memory stays one chunk whatever the command writes.
/// The consumer is expected to read to the end. If it throws, or returns before the end, it wants
/// no more: <paramref name="stop"/> kills the command's tree (so nothing endless runs unread), and
/// whatever still arrives is dropped. Its exception is kept for the runner to rethrow.
/// </summary>
internal sealed class StreamingStdOut
{
    private readonly Action<Stream> _consumer;
    private readonly object _gate = new();
    private readonly byte[] _chunk = new byte[64 * 1024];
    private int _chunkStart, _chunkLength;
    private bool _ended, _cutOff, _consumerDone;
    private Thread? _thread;
    private Action? _stop;

    public StreamingStdOut(Action<Stream> consumer) => _consumer = consumer;

    /// <summary>What the consumer threw, if it did.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Bytes the command wrote to stdout, taken or dropped.</summary>
    public long Seen { get; private set; }

    /// <summary>Starts the consumer; <paramref name="stop"/> kills the command when the consumer is done early.</summary>
    public void Start(Action stop)
    {
        _stop = stop;
        _thread = new Thread(Consume) { IsBackground = true, Name = "sandbox stdout consumer" };
        _thread.Start();
    }

    /// <summary>Waits until the consumer returned (after the pump reached the end of stdout).</summary>
    public void Join() => _thread?.Join();

    /// <summary>Called by the pump with each chunk read; blocks until the consumer has taken it.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            Seen += data.Length;
            while (data.Length > 0)
            {
                while (_chunkLength > 0 && !_consumerDone) Monitor.Wait(_gate);
                if (_consumerDone) return; // nobody reads any more: dropped
                var take = Math.Min(data.Length, _chunk.Length);
                data[..take].CopyTo(_chunk);
                (_chunkStart, _chunkLength) = (0, take);
                data = data[take..];
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>stdout reached its end; <paramref name="cutOff"/> when it was abandoned before it.</summary>
    public void Complete(bool cutOff = false)
    {
        lock (_gate)
        {
            _ended = true;
            _cutOff |= cutOff;
            Monitor.PulseAll(_gate);
        }
    }

    private void Consume()
    {
        var reachedEnd = false;
        try
        {
            var stream = new ReadSide(this);
            _consumer(stream);
            reachedEnd = stream.ReachedEnd;
        }
        catch (Exception e)
        {
            Failure = e;
        }
        finally
        {
            lock (_gate)
            {
                _consumerDone = true;
                Monitor.PulseAll(_gate);
            }
            if (!reachedEnd) _stop?.Invoke();
        }
    }

    /// <summary>Copies what the pump handed over into <paramref name="buffer"/>; 0 at the end; waits for data.</summary>
    private int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0) return 0;
        lock (_gate)
        {
            while (_chunkLength == 0 && !_ended) Monitor.Wait(_gate);
            if (_chunkLength == 0)
            {
                if (_cutOff) throw new IOException("the command's output was cut off before its end");
                return 0;
            }
            var n = Math.Min(buffer.Length, _chunkLength);
            _chunk.AsSpan(_chunkStart, n).CopyTo(buffer);
            _chunkStart += n;
            _chunkLength -= n;
            if (_chunkLength == 0) Monitor.PulseAll(_gate);
            return n;
        }
    }

    /// <summary>The consumer's view: a forward-only stream that blocks until bytes arrive.</summary>
    private sealed class ReadSide(StreamingStdOut owner) : ForwardReadStream
    {
        public bool ReachedEnd { get; private set; }

        public override int Read(Span<byte> buffer)
        {
            var n = owner.Read(buffer);
            if (n == 0 && buffer.Length > 0) ReachedEnd = true;
            return n;
        }
    }
}

/// <summary>
/// A stdout consumer failed (see <see cref="ProcessSpec.StdOutConsumer"/>): what it threw, with
/// what the command said on stderr (kept up to its usual limit) and how it ended, for the caller
/// to report together.
/// </summary>
internal sealed class StdOutConsumerException(Exception failure, string stdErr, int? exitCode)
    : Exception($"Reading the command's output failed: {failure.Message}", failure)
{
    public string StdErr { get; } = stdErr;

    /// <summary>The command's exit code; null when it was killed (as it is when the consumer failed first).</summary>
    public int? ExitCode { get; } = exitCode;
}

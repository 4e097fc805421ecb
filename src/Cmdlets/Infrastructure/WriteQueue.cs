namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// The bounded queue of writes the pipeline thread performs for a running engine call (see
/// <see cref="PipelineBridge"/>), waited on with Monitor: the pipeline thread waits in it for the
/// whole command, and BlockingCollection's SemaphoreSlim spins with sched_yield before it blocks,
/// taking CPU from the command being started (seen in perf on every Invoke-SandboxCommand).
/// Adding waits while the queue is full (back-pressure) until there is room, the queue is closed
/// (InvalidOperationException) or the token is cancelled (OperationCanceledException).
/// </summary>
internal sealed class WriteQueue
{
    private readonly Queue<Action> _writes = new();
    private readonly int _capacity;
    private bool _closed;

    public WriteQueue(int capacity) => _capacity = capacity;

    public void Add(Action write, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested(); // a stopping pipeline takes no more writes, room or not
        var registration = default(CancellationTokenRegistration);
        try
        {
            lock (_writes)
            {
                while (!_closed && _writes.Count >= _capacity)
                {
                    cancellation.ThrowIfCancellationRequested();
                    // Registered once, only when it has to wait; disposed outside the lock, since
                    // disposing waits for a callback that may itself be waiting for the lock.
                    if (registration == default) registration = cancellation.Register(WakeAll);
                    Monitor.Wait(_writes);
                }
                if (_closed) throw new InvalidOperationException("The queue of writes is closed.");
                _writes.Enqueue(write);
                Monitor.PulseAll(_writes);
            }
        }
        finally
        {
            registration.Dispose();
        }
    }

    /// <summary>No more writes: the consumer ends once it has taken those queued, a waiting producer gives up.</summary>
    public void Close()
    {
        lock (_writes)
        {
            _closed = true;
            Monitor.PulseAll(_writes);
        }
    }

    /// <summary>The writes in order, waiting for each, until the queue is closed and empty.</summary>
    public IEnumerable<Action> Consume()
    {
        while (true)
        {
            Action next;
            lock (_writes)
            {
                while (_writes.Count == 0 && !_closed) Monitor.Wait(_writes);
                if (_writes.Count == 0) yield break;
                next = _writes.Dequeue();
                Monitor.PulseAll(_writes); // room for a producer waiting on a full queue
            }
            yield return next;
        }
    }

    private void WakeAll()
    {
        lock (_writes) Monitor.PulseAll(_writes);
    }
}

using System.Management.Automation;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// Connects the engine to a cmdlet. PowerShell only accepts Write-* calls on the pipeline thread,
/// but the engine reports progress and streamed output from reader threads. So long operations run
/// on a worker task while the pipeline thread drains a queue of writes; Ctrl-C (StopProcessing)
/// cancels the worker's token, which kills the command's whole process tree.
/// </summary>
internal sealed class PipelineBridge : IEngineLog, IDisposable
{
    private readonly PSCmdlet _cmdlet;
    private readonly int _pipelineThread = Environment.CurrentManagedThreadId;
    private WriteQueue? _writes; // the queue of the Run in progress, if any
    private readonly CancellationTokenSource _stop = new();
    private readonly int _progressId = Random.Shared.Next(1, int.MaxValue);

    /// <summary>Writes waiting for the pipeline thread, at most.</summary>
    internal const int QueueCapacity = 256;

    public PipelineBridge(PSCmdlet cmdlet) => _cmdlet = cmdlet;

    public CancellationToken Stopping => _stop.Token;

    public void Verbose(string message) => Post(() => _cmdlet.WriteVerbose(message));

    public void Progress(string activity, string status, int? percent) => Post(() =>
        _cmdlet.WriteProgress(new ProgressRecord(_progressId, activity, status)
        {
            PercentComplete = percent ?? -1,
            RecordType = percent >= 100 ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        }));

    public void WriteObject(object value) => Post(() => _cmdlet.WriteObject(value));

    public void WriteError(ErrorRecord record) => Post(() => _cmdlet.WriteError(record));

    /// <summary>Runs <paramref name="work"/> on a worker while this (pipeline) thread performs its writes.</summary>
    public T Run<T>(Func<CancellationToken, T> work)
    {
        // A queue per run, closed by the worker when it is done: the pump below then ends exactly
        // when the last write is made. (Waking the pump with a dummy write and testing the task's
        // completion raced: the wake-up could be consumed before the task counted as completed,
        // and the pipeline thread waited forever. Seen in a PowerShell 7.6 runspace with -Stream.)
        // Bounded: a command printing faster than the pipeline consumes (yes | head -c 1G with
        // -Stream) makes the reader wait when the queue is full, so the command's pipe fills and the
        // command itself waits. Memory stays at most QueueCapacity lines (each at most 64 KiB).
        var writes = new WriteQueue(QueueCapacity);
        Volatile.Write(ref _writes, writes);
        // A thread of its own, not the thread pool: the work blocks for as long as the command runs,
        // and 8 or 32 runspaces of ForEach-Object -Parallel each blocking a pool thread starved the
        // pool (it adds about one thread a second), so independent commands waited on one another
        // and all finished together. Kept for the next cmdlet call (see DedicatedThreads).
        // Completed last, after the queue was closed: the failure path below leaves once the task is
        // complete, and the worker must be done with the queue by then.
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = done.Task;
        Processes.DedicatedThreads.Start(() =>
        {
            T value = default!;
            Exception? failure = null;
            try { value = work(_stop.Token); }
            catch (Exception e) { failure = e; }
            finally { writes.Close(); }
            if (failure is null) done.SetResult(value);
            else done.SetException(failure);
        });
        try
        {
            foreach (var write in writes.Consume()) write();
        }
        catch
        {
            // A write failed (the pipeline is stopping): stop the work too before leaving.
            _stop.Cancel();
            try { task.Wait(); } catch (AggregateException) { /* the write's failure is the one to report */ }
            throw;
        }
        finally
        {
            Volatile.Write(ref _writes, null);
            writes.Close(); // a straggling reader's write is dropped, not queued for nobody
        }
        return task.GetAwaiter().GetResult();
    }

    public void Stop() => _stop.Cancel();

    private void Post(Action write)
    {
        if (Environment.CurrentManagedThreadId == _pipelineThread)
        {
            write();
            return;
        }
        // Off the pipeline thread a write can only be made while Run pumps; one arriving after the
        // run ended (a straggling reader thread) is dropped: PowerShell refuses writes by then.
        // The wait for room ends when the pipeline stops (Ctrl-C, or a write failed): the pump
        // that stopped consuming must not leave the producer blocked forever.
        try { Volatile.Read(ref _writes)?.Add(write, _stop.Token); }
        catch (InvalidOperationException) { /* the run's queue is closed */ }
        catch (OperationCanceledException) { /* the pipeline is stopping: nobody will write this */ }
    }

    public void Dispose() => _stop.Dispose();
}

using System.Collections.Concurrent;
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
    private readonly BlockingCollection<Action> _writes = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly int _progressId = Random.Shared.Next(1, int.MaxValue);

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

    /// <summary>Runs <paramref name="work"/> on a worker while this (pipeline) thread performs its writes.</summary>
    public T Run<T>(Func<CancellationToken, T> work)
    {
        var task = Task.Run(() =>
        {
            try { return work(_stop.Token); }
            finally { _writes.Add(() => { }); } // wake the pump
        });
        while (!task.IsCompleted)
        {
            if (_writes.TryTake(out var write, Timeout.Infinite)) write();
        }
        while (_writes.TryTake(out var remaining)) remaining();
        return task.GetAwaiter().GetResult();
    }

    public void Stop() => _stop.Cancel();

    private void Post(Action write)
    {
        if (Environment.CurrentManagedThreadId == _pipelineThread) write();
        else _writes.Add(write);
    }

    public void Dispose()
    {
        _stop.Dispose();
        _writes.Dispose();
    }
}

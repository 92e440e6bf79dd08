namespace Rose.Cli;

/// <summary>Turns the first Ctrl+C into a cancellation the pipeline honours between matrices, so the
/// temporary output folder is removed and --out is untouched; a second Ctrl+C kills the process.</summary>
public sealed class InterruptSignal : IDisposable
{
    private readonly CancellationTokenSource _source = new();

    private InterruptSignal() => Console.CancelKeyPress += OnCancel;

    public CancellationToken Token => _source.Token;

    public static InterruptSignal Install() => new();

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_source.IsCancellationRequested) return;
        e.Cancel = true;
        Console.Error.WriteLine();
        Console.Error.WriteLine("interrupt: stopping after the current matrix (Ctrl+C again to kill)");
        _source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        _source.Dispose();
    }
}

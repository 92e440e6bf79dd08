namespace Rose.Cli;

/// <summary>Turns the first Ctrl+C into a cancellation the pipeline honours between matrices: --out is
/// untouched and the layers completed so far stay saved for --resume (the partial folder is removed
/// only when no layer completed); a second Ctrl+C kills the process, which keeps them too.</summary>
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
        Console.Error.WriteLine("interrupt: stopping after the current matrix; completed layers stay saved for --resume (Ctrl+C again to kill)");
        _source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        _source.Dispose();
    }
}

using System.Diagnostics;

namespace Rose.Cli;

/// <summary>A one-line progress bar on stderr with an ETA; redraws at most ten times a second.
/// When stderr is not a terminal it prints a plain line every few seconds instead.</summary>
public sealed class ConsoleProgress : IProgress<ProgressUpdate>, IDisposable
{
    private readonly string _title;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private TimeSpan _lastDraw = TimeSpan.FromDays(-1);
    private bool _drawn;
    private string _lastStep = "";
    private readonly object _gate = new();

    public ConsoleProgress(string title) => _title = title;

    public void Report(ProgressUpdate value)
    {
        lock (_gate)
        {
            var now = _clock.Elapsed;
            bool last = value.Done >= value.Total;
            var interval = _interactive ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(5);
            // In a log (stderr redirected) every new step — e.g. "layer 3/80" — gets its own line, so
            // a long run can be followed and scripts can react to it.
            string step = StepOf(value.Stage);
            bool newStep = !_interactive && step != _lastStep;
            if (!last && !newStep && now - _lastDraw < interval) return;
            _lastStep = step;
            _lastDraw = now;
            double fraction = value.Total > 0 ? Math.Clamp((double)value.Done / value.Total, 0, 1) : 0;
            string eta = fraction > 0 && !last ? $" ETA {Format(TimeSpan.FromSeconds(now.TotalSeconds * (1 - fraction) / fraction))}" : "";
            const int width = 30;
            int filled = (int)(fraction * width);
            string line = $"{_title} [{new string('#', filled)}{new string(' ', width - filled)}] {fraction,4:P0} {value.Stage} {Format(now)}{eta}";
            if (_interactive) { Console.Error.Write("\r" + line.PadRight(Math.Max(line.Length, 100))); _drawn = true; }
            else Console.Error.WriteLine(line);
        }
    }

    private static string StepOf(string stage)
    {
        var words = stage.Split(' ', 3);
        return words.Length >= 2 ? words[0] + " " + words[1] : stage;
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");

    public void Dispose()
    {
        lock (_gate)
            if (_drawn) { Console.Error.WriteLine(); _drawn = false; }
    }
}

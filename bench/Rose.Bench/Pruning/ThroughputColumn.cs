using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Rose.Bench.Pruning;

/// <summary>Throughput beside wall time: the case's declared work (<see cref="IDeclaresWork"/>)
/// divided by its mean time, in TFLOP/s or GB/s. Cases declaring the other unit show "-"; the
/// column is hidden in a summary where no case declares its unit.</summary>
public sealed class ThroughputColumn(WorkUnit unit) : IColumn
{
    public string Id => $"{nameof(ThroughputColumn)}.{unit}";

    public string ColumnName => unit == WorkUnit.Flop ? "TFLOP/s" : "GB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => (int)unit;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => unit == WorkUnit.Flop
        ? "Declared floating-point operations per invocation / Mean, in 10^12 per second"
        : "Declared bytes read and written per invocation / Mean, in 10^9 per second";

    public bool IsAvailable(Summary summary) =>
        summary.BenchmarksCases.Any(c => BenchCaseInstance.Work(c)?.Unit == unit);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var work = BenchCaseInstance.Work(benchmarkCase);
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (work is not { } w || w.Unit != unit || meanNs is not > 0) return "-";
        double perSecond = w.Amount / (meanNs.Value * 1e-9);
        double scaled = unit == WorkUnit.Flop ? perSecond / 1e12 : perSecond / 1e9;
        return scaled.ToString(scaled >= 100 ? "F1" : scaled >= 1 ? "F2" : "F4", System.Globalization.CultureInfo.InvariantCulture);
    }

    public override string ToString() => ColumnName;
}

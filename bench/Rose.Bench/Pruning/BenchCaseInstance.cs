using BenchmarkDotNet.Running;

namespace Rose.Bench.Pruning;

/// <summary>Rebuilds a benchmark case's object in the host process (parameterless constructor plus
/// the case's parameter values, no setup) so the column and the filter can ask it about itself.</summary>
internal static class BenchCaseInstance
{
    public static IDeviceBenchmark? Create(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (!typeof(IDeviceBenchmark).IsAssignableFrom(type) || type.IsAbstract) return null;
        var instance = (IDeviceBenchmark)Activator.CreateInstance(type)!;
        foreach (var parameter in benchmarkCase.Parameters.Items)
            type.GetProperty(parameter.Name)?.SetValue(instance, parameter.Value);
        return instance;
    }

    public static BenchWork? Work(BenchmarkCase benchmarkCase) => Create(benchmarkCase)?.DeclaredWork();
}

namespace Rose.Bench.Pruning;

/// <summary>One benchmark shape: a weight of <see cref="Rows"/>×<see cref="Cols"/> (out × in
/// features) and calibration sequences of <see cref="Tokens"/> tokens. Primitives that only see
/// the input side (Hessian fold, Cholesky) use Cols and Tokens alone.</summary>
public sealed record BenchShape(int Rows, int Cols, int Tokens)
{
    /// <summary>BenchmarkDotNet prints this in the parameter column.</summary>
    public override string ToString() => $"{Rows}x{Cols} t{Tokens}";
}

/// <summary>The shape sets behind the "quick" and "full" benchmark categories.</summary>
public static class BenchShapes
{
    /// <summary>LLaMA-2-7B's linears: q/k/v/o 4096×4096, gate/up 11008×4096, down 4096×11008,
    /// 2048-token calibration sequences.</summary>
    public static IReadOnlyList<BenchShape> Full { get; } =
        [new(4096, 4096, 2048), new(11008, 4096, 2048), new(4096, 11008, 2048)];

    /// <summary>The same three aspect ratios scaled down (÷16) so the CPU runs each case in
    /// milliseconds on two cores.</summary>
    public static IReadOnlyList<BenchShape> Quick { get; } =
        [new(256, 256, 256), new(688, 256, 256), new(256, 688, 256)];

    /// <summary>One shape per distinct input width, for the primitives whose cost does not depend
    /// on the row count (printed as n×n).</summary>
    public static IEnumerable<BenchShape> DistinctInputs(IEnumerable<BenchShape> shapes) =>
        shapes.DistinctBy(s => s.Cols).Select(s => new BenchShape(s.Cols, s.Cols, s.Tokens));
}

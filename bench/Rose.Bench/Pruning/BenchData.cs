namespace Rose.Bench.Pruning;

/// <summary>Deterministic synthetic inputs shaped like a transformer linear's: weights ~ N(0, 0.02²),
/// activations whose per-column scale is log-normal with a few large outlier columns (as LLaMA
/// activations have), so ROSE's block losses spread out the way they do on real layers.</summary>
public static class BenchData
{
    public static float[] Weights(int rows, int cols, int seed = 1) =>
        Gaussian((long)rows * cols, 0.02f, new Random(seed));

    /// <summary>tokens × cols activations, row-major, column j scaled by <see cref="ColumnScales"/>[j].</summary>
    public static float[] Activations(int tokens, int cols, int seed = 2)
    {
        var scale = ColumnScales(cols);
        var x = Gaussian((long)tokens * cols, 1f, new Random(seed));
        for (int t = 0; t < tokens; t++)
        {
            var row = x.AsSpan(t * cols, cols);
            for (int j = 0; j < cols; j++) row[j] *= scale[j];
        }
        return x;
    }

    /// <summary>Per-input-column activation scales: log-normal, about one column in a hundred an
    /// outlier channel twenty times larger, and every 128-column block (ROSE's ordering block) on
    /// its own level between 0.25 and 2 (golden-ratio spaced, so any two or more blocks differ).
    /// Independent columns alone average out over a block and ROSE would not reorder (r ≈ 0.02);
    /// with block levels r ≈ 0.8 > 0.5 at every shape, so the benchmarks run ROSE's permuted path,
    /// the one real layers with uneven block losses take.</summary>
    public static float[] ColumnScales(int cols, int seed = 5)
    {
        var rng = new Random(seed);
        var scale = new float[cols];
        for (int j = 0; j < cols; j++)
        {
            double level = 0.25 + 1.75 * ((j / 128 * 0.6180339887) % 1.0);
            scale[j] = (float)level * MathF.Exp(0.8f * Normal(rng));
            if (rng.Next(100) == 0) scale[j] *= 20f;
        }
        return scale;
    }

    /// <summary>The score statistic one fold of <see cref="Activations"/> would give in expectation
    /// (s_j = 2·tokens·scale_j², the official statistic after one sequence), without the fold.</summary>
    public static float[] ScoreStatistic(int tokens, int cols) =>
        [.. ColumnScales(cols).Select(c => 2f * tokens * c * c)];

    /// <summary>A symmetric cols×cols matrix with a dominant diagonal: the permutation benchmark only
    /// moves it, so it need not come from a fold.</summary>
    public static float[] SymmetricMatrix(int n, int seed = 3)
    {
        var a = Gaussian((long)n * n, 1f, new Random(seed));
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < i; j++) a[i * n + j] = a[j * n + i];
            a[i * n + i] = Math.Abs(a[i * n + i]) + n;
        }
        return a;
    }

    /// <summary>A uniformly random permutation of 0..n−1 (Fisher–Yates): the worst case for a gather,
    /// where ROSE's own order moves whole blocks.</summary>
    public static int[] Permutation(int n, int seed = 4)
    {
        var p = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(p);
        return p;
    }

    private static float[] Gaussian(long count, float sigma, Random rng)
    {
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = sigma * Normal(rng);
        return a;
    }

    private static float Normal(Random rng)
    {
        // Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
        double u = 1.0 - rng.NextDouble(), v = rng.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
    }
}

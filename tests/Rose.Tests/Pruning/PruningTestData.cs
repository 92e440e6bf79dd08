using NUnit.Framework;
using Rose.Pruning;

namespace Rose.Tests.Pruning;

/// <summary>Seeded random fixtures shared by the pruning tests.</summary>
internal static class PruningTestData
{
    public static float[] Gaussian(Random rng, int count, double scale = 1.0)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            // Box–Muller; 1 − U keeps the log argument in (0, 1].
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    /// <summary>Calibration sequences with per-column scales spread over two orders of magnitude
    /// (like real activations) and optionally some always-zero (dead) columns.</summary>
    public static List<float[]> Sequences(Random rng, int count, int tokens, int cols, ISet<int>? deadColumns = null)
    {
        var scales = new double[cols];
        for (int j = 0; j < cols; j++) scales[j] = Math.Pow(10, rng.NextDouble() * 2 - 1);
        var list = new List<float[]>();
        for (int s = 0; s < count; s++)
        {
            var x = Gaussian(rng, tokens * cols);
            for (int t = 0; t < tokens; t++)
                for (int j = 0; j < cols; j++)
                    x[t * cols + j] = deadColumns?.Contains(j) == true ? 0f : (float)(x[t * cols + j] * scales[j]);
            list.Add(x);
        }
        return list;
    }

    public static LayerInputStatistics Statistics(IPruningBackend backend, Random rng, int cols, int tokens,
        int sequences = 3, ISet<int>? deadColumns = null)
    {
        var stats = new LayerInputStatistics(backend, cols);
        foreach (var x in Sequences(rng, sequences, tokens, cols, deadColumns)) stats.Fold(x, tokens);
        return stats;
    }

    /// <summary>Statistics equal to <paramref name="stats"/>, in an instance of their own (holding no shared factor).</summary>
    public static LayerInputStatistics CopyOf(LayerInputStatistics stats) =>
        LayerInputStatistics.FromHost(stats.Backend, stats.DownloadHessian(), stats.DownloadScale(ScoreStatistic.Official),
            stats.DownloadScale(ScoreStatistic.Mean), stats.Columns, stats.SampleCount);

    public static LayerInputStatistics UniformStatistics(IPruningBackend backend, int cols)
    {
        var h = new float[cols * cols];
        for (int j = 0; j < cols; j++) h[j * cols + j] = 1f;
        var s = Enumerable.Repeat(1f, cols).ToArray();
        return LayerInputStatistics.FromHost(backend, h, s, s, cols, 1);
    }

    public static int CountZeros(ReadOnlySpan<float> w)
    {
        int z = 0;
        foreach (float v in w)
            if (v == 0f) z++;
        return z;
    }

    /// <summary>Asserts every N:M group of every row (groups anchored at col mod M = 0) holds at
    /// least min(N, group width) zeros.</summary>
    public static void AssertNmValid(float[] w, int rows, int cols, NmPattern nm)
    {
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += nm.M)
            {
                int gw = Math.Min(nm.M, cols - c0);
                int zeros = 0;
                for (int g = 0; g < gw; g++)
                    if (w[r * cols + c0 + g] == 0f) zeros++;
                Assert.That(zeros, Is.GreaterThanOrEqualTo(Math.Min(nm.N, gw)), $"row {r}, group at column {c0}");
            }
    }
}

using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Rose.Pruning.Cpu;

namespace Rose.Bench.Pruning;

/// <summary>The CPU backend's GEMM (C += alpha·A·B, the Hessian fold's XᵀX and the OBS trailing update)
/// in its versions, side by side: the register-blocked kernel the backend uses and the row-axpy
/// formulation it replaced (kept here as the baseline), on a fold of 2048 tokens into 688 columns (upper
/// triangle), a trailing update of a 128-wide block into 688 × 560, and a fold of one of the sample's
/// 512-token windows into its 172-wide MLP input, where the kernel without its narrow 8- and 4-wide
/// blocks (WithoutNarrowTail) leaves the last 12 columns to the scalar loop.</summary>
[BenchmarkCategory("quick"), ProcessCount(1), WarmupCount(1), IterationCount(3)]
public class DenseGemmBenchmark
{
    private float[] _a = [], _b = [], _c = [];
    private int _m, _n, _k;
    private bool _upper;

    [Params("fold 688x2048", "trailing 688x560x128", "fold 172x512")]
    public string Case { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        (_m, _n, _k, _upper) = Case switch
        {
            "fold 688x2048" => (688, 688, 2048, true),
            "fold 172x512" => (172, 172, 512, true),
            _ => (688, 560, 128, false),
        };
        var rng = new Random(1);
        _a = Enumerable.Range(0, _m * _k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, _k * _n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _c = new float[_m * _n];
    }

    [Benchmark(Baseline = true)]
    public void AxpyRows() => AxpyMultiplyAdd(_m, _n, _k, 0.5f, _a, _k, _b, _n, _c, _n, _upper);

    [Benchmark]
    public void RegisterBlocked() => DenseKernels.MultiplyAdd(_m, _n, _k, 0.5f, _a, 0, _k, _b, 0, _n, _c, 0, _n, _upper);

    [Benchmark]
    public void WithoutNarrowTail() => DenseKernels.MultiplyAdd(_m, _n, _k, 0.5f, _a, 0, _k, _b, 0, _n, _c, 0, _n, _upper, narrowTail: false);

    /// <summary>The previous kernel: per row of C and per kk, one TensorPrimitives axpy over a 512-column
    /// tile (C goes through memory once per kk), tiles of 16 rows × 128 depth.</summary>
    private static void AxpyMultiplyAdd(int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float[] c, int ldc, bool upper)
    {
        const int rowTile = 16, colTile = 512, depthTile = 128;
        Parallel.For(0, (m + rowTile - 1) / rowTile, tile =>
        {
            int r0 = tile * rowTile, r1 = Math.Min(m, r0 + rowTile);
            for (int j0 = upper ? r0 / colTile * colTile : 0; j0 < n; j0 += colTile)
            {
                int jw = Math.Min(colTile, n - j0);
                for (int k0 = 0; k0 < k; k0 += depthTile)
                {
                    int kw = Math.Min(depthTile, k - k0);
                    for (int r = r0; r < r1; r++)
                    {
                        var cRow = c.AsSpan(r * ldc + j0, jw);
                        for (int kk = k0; kk < k0 + kw; kk++)
                        {
                            float aik = alpha * a[r * lda + kk];
                            if (aik == 0f) continue;
                            TensorPrimitives.MultiplyAdd(b.AsSpan(kk * ldb + j0, jw), aik, cRow, cRow);
                        }
                    }
                }
            }
        });
    }
}

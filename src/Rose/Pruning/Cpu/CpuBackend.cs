using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rose.Pruning.Cpu;

/// <summary>The reference backend: host float[] storage, row-parallel loops (Parallel.For),
/// SIMD through TensorPrimitives, double accumulation inside the factorizations.</summary>
public sealed class CpuBackend : IPruningBackend
{
    public string Name => "cpu";

    public void Synchronize() { }

    public void Dispose() { }

    // ---- memory -------------------------------------------------------------------------

    public BackendMatrix Allocate(int rows, int cols) => new CpuMatrix(rows, cols);

    public BackendMatrix Upload(ReadOnlySpan<float> data, int rows, int cols)
    {
        BackendContracts.Upload(data.Length, rows, cols);
        return new CpuMatrix(data.ToArray(), rows, cols);
    }

    public BackendVector AllocateVector(int length) => new CpuVector(new float[length]);

    public BackendVector UploadVector(ReadOnlySpan<float> data) => new CpuVector(data.ToArray());

    public BackendMatrix UploadInPlace(float[] data, int rows, int cols)
    {
        BackendContracts.Upload(data.Length, rows, cols);
        return new CpuMatrix(data, rows, cols);
    }

    public void Download(BackendMatrix source, Span<float> destination)
    {
        var m = M(source);
        BackendContracts.MatrixDownload(destination.Length, m.Data.Length);
        // A matrix over the destination itself (UploadInPlace) already holds it.
        if (m.Data.Length > 0 && Unsafe.AreSame(ref m.Data[0], ref MemoryMarshal.GetReference(destination))) return;
        m.Data.CopyTo(destination);
    }

    public void Download(BackendVector source, Span<float> destination)
    {
        var v = V(source);
        BackendContracts.VectorDownload(destination.Length, v.Data.Length);
        v.Data.CopyTo(destination);
    }

    public BackendMatrix Clone(BackendMatrix source)
    {
        var m = M(source);
        return new CpuMatrix((float[])m.Data.Clone(), m.Rows, m.Cols);
    }

    // ---- calibration statistics ----------------------------------------------------------

    public void FoldSequence(BackendMatrix hessian, BackendVector sOfficial, BackendVector sMean,
        ReadOnlySpan<float> x, int tokens, int sequenceIndex)
    {
        // Not M(): the fold reads and writes only H's upper triangle, so the lower one is completed once,
        // when H is next read for anything else, instead of after every window (a 7B down_proj's mirror cost
        // as much as its fold's GEMM).
        var h = BackendContracts.OwnMatrix<CpuMatrix>(hessian, "CPU");
        var so = V(sOfficial);
        var sm = V(sMean);
        int cols = h.Cols;
        BackendContracts.FoldInput(h.Rows, h.Cols, so.Length, sm.Length, x.Length, tokens, sequenceIndex);

        double k = sequenceIndex;
        double keep = (k - 1) / k;

        // Pooled: a window's inputs are hundreds of KB even for the sample, and a fresh pair of
        // large-object arrays per fold (thousands per prune) keeps the collector busy.
        var xs = ArrayPool<float>.Shared.Rent(x.Length);
        var xt = ArrayPool<float>.Shared.Rent(x.Length);
        try
        {
            x.CopyTo(xs);
            DenseKernels.Transpose(xs.AsSpan(0, x.Length), tokens, cols, xt);
            // H·keep rounded first, then the products: the old samples' weight applied in the GEMM's first pass
            // over each tile of the upper triangle, as a separate pass over all of H did.
            DenseKernels.MultiplyAdd(cols, cols, tokens, (float)(2.0 / k), xt, 0, tokens, xs, 0, cols, h.Data, 0, cols,
                upperTilesOnly: true, beta: (float)keep);
            h.LowerTrianglePending = true;

            // Column squared norms: each ‖X[:, j]‖² is a contiguous row of Xᵀ.
            Parallel.For(0, cols, j =>
            {
                // Double accumulation: the statistic is a long sum of squares.
                double norm = 0;
                var col = xt.AsSpan(j * tokens, tokens);
                for (int t = 0; t < col.Length; t++) norm += (double)col[t] * col[t];
                so.Data[j] = (float)(so.Data[j] * keep + 2.0 / (k * k) * norm);
                sm.Data[j] = (float)(sm.Data[j] * keep + norm / k);
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
            ArrayPool<float>.Shared.Return(xt);
        }
    }

    // ---- Hessian preparation and factorization -------------------------------------------

    public HessianPreparation PrepareHessian(BackendMatrix hessian, BackendMatrix weight)
    {
        var h = M(hessian);
        var w = M(weight);
        int n = h.Cols;
        BackendContracts.HessianMatchesWeight(h.Rows, h.Cols, w.Cols);
        var dead = new List<int>();
        double sum = 0;
        for (int j = 0; j < n; j++)
        {
            if (h.Data[j * n + j] == 0f)
            {
                h.Data[j * n + j] = 1f;
                dead.Add(j);
            }
            sum += h.Data[j * n + j];
        }
        if (dead.Count > 0)
        {
            Parallel.For(0, w.Rows, r =>
            {
                var row = w.Row(r);
                foreach (int j in dead) row[j] = 0f;
            });
        }
        return new HessianPreparation(n == 0 ? 0 : sum / n, dead.Count);
    }

    public void AddDiagonal(BackendMatrix matrix, float value)
    {
        var m = M(matrix);
        int n = Math.Min(m.Rows, m.Cols);
        for (int i = 0; i < n; i++) m.Data[i * m.Cols + i] += value;
    }

    public bool CholeskyInverseUpper(BackendMatrix hessian, BackendMatrix upper)
    {
        var h = M(hessian);
        var u = M(upper);
        int n = h.Rows;
        BackendContracts.CholeskyShapes(h.Rows, h.Cols, u.Rows, u.Cols);
        return InverseCholeskyFactor.TryCompute(h.Data, u.Data, n);
    }

    public void SetIdentity(BackendMatrix matrix)
    {
        var m = M(matrix);
        Array.Clear(m.Data);
        for (int i = 0; i < Math.Min(m.Rows, m.Cols); i++) m.Data[i * m.Cols + i] = 1f;
    }

    // ---- scores and ROSE ordering --------------------------------------------------------

    public BackendMatrix Scores(BackendMatrix weight, BackendVector statistic)
    {
        var w = M(weight);
        var s = V(statistic);
        BackendContracts.StatisticMatchesWeight(s.Length, w.Cols);
        var sqrtS = SquareRoots(s);
        var result = new CpuMatrix(w.Rows, w.Cols);
        Parallel.For(0, w.Rows, r => Score(w.Row(r), sqrtS, result.Row(r)));
        return result;
    }

    private static float[] SquareRoots(CpuVector s)
    {
        var roots = new float[s.Length];
        TensorPrimitives.Sqrt(s.Data, roots);
        return roots;
    }

    /// <summary>|W|·sqrt(s) of one row, or of a run of its columns: ROSE's and Wanda's metric.</summary>
    private static void Score(ReadOnlySpan<float> weights, ReadOnlySpan<float> sqrtS, Span<float> destination)
    {
        TensorPrimitives.Abs(weights, destination);
        TensorPrimitives.Multiply(destination[..weights.Length], sqrtS, destination);
    }

    public void OrderingLosses(BackendMatrix scores, int blockWidth, MaskRule rule,
        Span<double> columnLoss, Span<double> blockLoss)
    {
        var s = M(scores);
        int rows = s.Rows, cols = s.Cols;
        int blocks = BackendContracts.OrderingLosses(cols, blockWidth, columnLoss.Length, blockLoss.Length);
        var colLoss = new double[cols];
        var blkLoss = new double[blocks];
        Parallel.For(0, blocks, b =>
        {
            int c0 = b * blockWidth, w = Math.Min(blockWidth, cols - c0);
            if (rule.Pattern is { } nm)
            {
                // One block = one group; L keeps the N smallest scores of every row.
                var sel = new bool[w];
                var scratch = new float[w];
                int count = Math.Min(nm.N, w);
                for (int r = 0; r < rows; r++)
                {
                    var vals = s.Data.AsSpan(r * cols + c0, w);
                    Selection.SmallestStable(vals, count, sel, scratch);
                    for (int j = 0; j < w; j++)
                        if (sel[j]) colLoss[c0 + j] += vals[j];
                }
            }
            else
            {
                long numel = (long)rows * w;
                long k = MaskRule.ThresholdIndex(rule.Sparsity, numel);
                float t = float.PositiveInfinity;
                if (k < numel)
                {
                    // Pooled: a block of a 7B MLP matrix is 1.4M scores, and a fresh 5.6 MB array per block
                    // cost more in page faults and collections than the select itself.
                    var scratch = ArrayPool<float>.Shared.Rent((int)numel);
                    try
                    {
                        for (int r = 0; r < rows; r++) s.Data.AsSpan(r * cols + c0, w).CopyTo(scratch.AsSpan(r * w, w));
                        t = RadixSelect.KthSmallest(scratch.AsSpan(0, (int)numel), k);
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(scratch);
                    }
                }
                AddScoresAtMost(s.Data, rows, cols, c0, w, t, colLoss.AsSpan(c0, w));
            }
            double total = 0;
            for (int j = 0; j < w; j++) total += colLoss[c0 + j];
            blkLoss[b] = total;
        });
        colLoss.CopyTo(columnLoss);
        blkLoss.CopyTo(blockLoss);
    }

    /// <summary>loss[j] += s[r, c0 + j] for every row r in order, where s ≤ t: each column's sum takes the same
    /// terms in the same order as the plain loop (a skipped score adds +0, which leaves a sum of non-negative
    /// scores as it is), four columns at a time in double.</summary>
    private static void AddScoresAtMost(float[] scores, int rows, int cols, int c0, int width, float t, Span<double> loss)
    {
        var tv = Vector128.Create(t);
        for (int r = 0; r < rows; r++)
        {
            var vals = scores.AsSpan(r * cols + c0, width);
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; j + 4 <= width; j += 4)
                {
                    var v = Vector128.Create<float>(vals[j..]);
                    var kept = Vector128.ConditionalSelect(Vector128.LessThanOrEqual(v, tv), v, Vector128<float>.Zero);
                    var sum = Vector256.Create<double>(loss[j..]) + Vector256.Create(Vector128.WidenLower(kept), Vector128.WidenUpper(kept));
                    sum.CopyTo(loss[j..]);
                }
            }
            for (; j < width; j++)
                if (vals[j] <= t) loss[j] += vals[j];
        }
    }

    public void GatherColumns(BackendMatrix source, ReadOnlySpan<int> permutation, BackendMatrix destination)
    {
        var s = M(source);
        var d = M(destination);
        BackendContracts.GatherDestination(s, d);
        var perm = CheckedPermutation(permutation, s.Cols);
        Parallel.For(0, s.Rows, r =>
        {
            var src = s.Row(r);
            var dst = d.Row(r);
            for (int j = 0; j < perm.Length; j++) dst[j] = src[perm[j]];
        });
    }

    public BackendMatrix PermuteSymmetric(BackendMatrix source, ReadOnlySpan<int> permutation)
    {
        var s = M(source);
        BackendContracts.SymmetricSource(s.Rows, s.Cols);
        var perm = CheckedPermutation(permutation, s.Cols);
        var d = new CpuMatrix(s.Rows, s.Cols);
        Parallel.For(0, s.Rows, i =>
        {
            var src = s.Row(perm[i]);
            var dst = d.Row(i);
            for (int j = 0; j < perm.Length; j++) dst[j] = src[perm[j]];
        });
        return d;
    }

    private static int[] CheckedPermutation(ReadOnlySpan<int> permutation, int n)
    {
        BackendContracts.Permutation(permutation, n);
        return permutation.ToArray();
    }

    // ---- OBS (SparseGPT) -----------------------------------------------------------------

    public void ObsBlockSweep(BackendMatrix weight, BackendMatrix upper, int i1, int i2, MaskRule rule,
        BackendMatrix error, BackendVector rowLoss)
    {
        var w = M(weight);
        var u = M(upper);
        var e = M(error);
        var loss = V(rowLoss);
        int rows = w.Rows, cols = w.Cols, width = i2 - i1;
        BackendContracts.ObsBlock(rows, cols, u.Rows, u.Cols, e.Rows, e.Cols, loss.Length, i1, i2, rule);
        var nm = rule.Pattern;

        var ud = u.Data;
        var wd = w.Data;
        float threshold = float.PositiveInfinity;
        if (nm is null)
        {
            long numel = (long)rows * width;
            long k = MaskRule.ThresholdIndex(rule.Sparsity, numel);
            if (k < numel)
            {
                // Pooled: one block's metrics are 5.6 MB for a 7B MLP matrix, 32 to 86 blocks per matrix.
                var m = ArrayPool<float>.Shared.Rent((int)numel);
                try
                {
                    Parallel.For(0, rows, r =>
                    {
                        for (int i = 0; i < width; i++)
                        {
                            float d = ud[(i1 + i) * cols + i1 + i];
                            float x = wd[r * cols + i1 + i];
                            m[r * width + i] = x * x / (d * d);
                        }
                    });
                    threshold = RadixSelect.KthSmallest(m.AsSpan(0, (int)numel), k);
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(m);
                }
            }
        }

        Parallel.For(0, rows, r =>
        {
            Span<float> w1 = width <= 1024 ? stackalloc float[width] : new float[width];
            Span<bool> mask = width <= 1024 ? stackalloc bool[width] : new bool[width];
            wd.AsSpan(r * cols + i1, width).CopyTo(w1);
            int groupM = nm?.M ?? 0;
            Span<float> groupVals = groupM is > 0 and <= 64 ? stackalloc float[groupM] : new float[groupM];
            Span<float> groupScratch = groupM is > 0 and <= 64 ? stackalloc float[groupM] : new float[groupM];
            Span<bool> groupSel = groupM is > 0 and <= 64 ? stackalloc bool[groupM] : new bool[groupM];
            if (nm is null)
            {
                for (int i = 0; i < width; i++)
                {
                    float d = ud[(i1 + i) * cols + i1 + i];
                    mask[i] = w1[i] * w1[i] / (d * d) <= threshold;
                }
            }
            double rowLossSum = 0;
            for (int i = 0; i < width; i++)
            {
                int c = i1 + i;
                float d = ud[c * cols + c];
                if (nm is { } pat && c % pat.M == 0)
                {
                    int gw = Math.Min(pat.M, i2 - c);
                    for (int g = 0; g < gw; g++)
                    {
                        float dg = ud[(c + g) * cols + c + g];
                        groupVals[g] = w1[i + g] * w1[i + g] / (dg * dg);
                    }
                    Selection.SmallestStable(groupVals.Slice(0, gw), Math.Min(pat.N, gw), groupSel, groupScratch);
                    for (int g = 0; g < gw; g++) mask[i + g] = groupSel[g];
                }
                float wi = w1[i];
                float q = mask[i] ? 0f : wi;
                wd[r * cols + c] = q;
                float diff = wi - q;
                float err = diff / d;
                rowLossSum += diff * diff / (d * d);
                e.Data[r * e.Cols + i] = err;
                if (err != 0f)
                {
                    var tail = w1.Slice(i);
                    TensorPrimitives.MultiplyAdd(ud.AsSpan(c * cols + c, width - i), -err, tail, tail);
                }
            }
            loss.Data[r] += (float)(rowLossSum / 2);
        });
    }

    public void TrailingUpdate(BackendMatrix weight, BackendMatrix error, BackendMatrix upper, int i1, int i2)
    {
        var w = M(weight);
        var e = M(error);
        var u = M(upper);
        int cols = w.Cols, n = cols - i2, width = i2 - i1;
        if (n <= 0 || width <= 0) return;
        DenseKernels.MultiplyAdd(w.Rows, n, width, -1f, e.Data, 0, e.Cols, u.Data, i1 * cols + i2, cols,
            w.Data, i2, cols);
    }

    // ---- one-shot masks ------------------------------------------------------------------

    public void MagnitudePrune(BackendMatrix weight, MaskRule rule)
    {
        var w = M(weight);
        if (rule.Pattern is { } nm)
        {
            PruneGroupsByMetric(w, null, nm);
            return;
        }
        long numel = w.Data.LongLength;
        long k = MaskRule.ThresholdIndex(rule.Sparsity, numel);
        if (k >= numel)
        {
            Array.Clear(w.Data);
            return;
        }
        var abs = new float[numel];
        TensorPrimitives.Abs(w.Data, abs);
        float t = RadixSelect.KthSmallest(abs, k);
        Parallel.For(0, w.Rows, r =>
        {
            var row = w.Row(r);
            for (int j = 0; j < row.Length; j++)
                if (Math.Abs(row[j]) <= t) row[j] = 0f;
        });
    }

    public void WandaPrune(BackendMatrix weight, BackendVector statistic, MaskRule rule)
    {
        var w = M(weight);
        var s = V(statistic);
        BackendContracts.StatisticMatchesWeight(s.Length, w.Cols);
        var sqrtS = SquareRoots(s);
        if (rule.Pattern is { } nm)
        {
            PruneGroupsByMetric(w, sqrtS, nm);
            return;
        }
        int count = (int)Math.Min(w.Cols, MaskRule.ThresholdIndex(rule.Sparsity, w.Cols));
        // Each row's metric is formed in buffers of the task's own, not in a whole score matrix and fresh arrays per row.
        Parallel.For(0, w.Rows, () => new RowBuffers(w.Cols), (r, _, buffers) =>
        {
            var row = w.Row(r);
            Score(row, sqrtS, buffers.Metric);
            Selection.SmallestStable(buffers.Metric, count, buffers.Selected, buffers.Scratch);
            for (int j = 0; j < row.Length; j++)
                if (buffers.Selected[j]) row[j] = 0f;
            return buffers;
        }, _ => { });
    }

    /// <summary>One task's working arrays for a row's (or a group's) metric and selection.</summary>
    private sealed class RowBuffers(int length)
    {
        public float[] Metric { get; } = new float[length];
        public bool[] Selected { get; } = new bool[length];
        public float[] Scratch { get; } = new float[length];
    }

    /// <summary>N:M by |W|, or by Wanda's |W|·sqrt(s) when <paramref name="sqrtS"/> is given: the N smallest of every
    /// group per row, ties to the lower index; a partial last group prunes min(N, width).</summary>
    private static void PruneGroupsByMetric(CpuMatrix w, float[]? sqrtS, NmPattern nm)
    {
        Parallel.For(0, w.Rows, () => new RowBuffers(nm.M), (r, _, buffers) =>
        {
            var row = w.Row(r);
            for (int c0 = 0; c0 < row.Length; c0 += nm.M)
            {
                int gw = Math.Min(nm.M, row.Length - c0);
                var vals = buffers.Metric.AsSpan(0, gw);
                if (sqrtS is null) TensorPrimitives.Abs(row.Slice(c0, gw), vals);
                else Score(row.Slice(c0, gw), sqrtS.AsSpan(c0, gw), vals);
                Selection.SmallestStable(vals, Math.Min(nm.N, gw), buffers.Selected, buffers.Scratch);
                for (int g = 0; g < gw; g++)
                    if (buffers.Selected[g]) row[c0 + g] = 0f;
            }
            return buffers;
        }, _ => { });
    }

    /// <summary>The matrix behind a handle, whole: a Hessian the fold left upper-only is completed first.</summary>
    private static CpuMatrix M(BackendMatrix m)
    {
        var matrix = BackendContracts.OwnMatrix<CpuMatrix>(m, "CPU");
        matrix.CompleteLowerTriangle();
        return matrix;
    }

    private static CpuVector V(BackendVector v) => BackendContracts.OwnVector<CpuVector>(v, "CPU");
}

using NUnit.Framework;
using Rose.Pruning;

namespace Rose.Tests.Pruning;

/// <summary>An independent, deliberately plain SparseGPT in double precision: explicit H⁻¹ by
/// Gauss–Jordan, upper Cholesky by the textbook formula, OBS with straightforward loops and sorts.</summary>
internal static class NaiveSparseGpt
{
    public sealed record Output(double[] Weight, bool[] Pruned, double Loss);

    public static Output Run(float[] weight, int rows, int cols, float[] hessian, double sparsity, NmPattern? nm,
        int blockSize, double damp)
    {
        var w = new double[rows, cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) w[r, c] = weight[r * cols + c];
        var h = new double[cols, cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) h[i, j] = hessian[i * cols + j];

        for (int j = 0; j < cols; j++)
            if (h[j, j] == 0)
            {
                h[j, j] = 1;
                for (int r = 0; r < rows; r++) w[r, j] = 0;
            }
        double mean = 0;
        for (int j = 0; j < cols; j++) mean += h[j, j];
        mean /= cols;
        for (int j = 0; j < cols; j++) h[j, j] += damp * mean;

        var u = UpperCholesky(GaussJordanInverse(h));

        int b = blockSize;
        if (nm is { } p) b = Math.Max(p.M, b - b % p.M);
        var pruned = new bool[rows * cols];
        double loss = 0;
        for (int i1 = 0; i1 < cols; i1 += b)
        {
            int i2 = Math.Min(i1 + b, cols), width = i2 - i1;
            var mask = new bool[rows, width];
            if (nm is null)
            {
                var m = new List<double>();
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < width; i++)
                        m.Add(w[r, i1 + i] * w[r, i1 + i] / (u[i1 + i, i1 + i] * u[i1 + i, i1 + i]));
                var sorted = m.OrderBy(v => v).ToList();
                int k = (int)Math.Floor(sparsity * sorted.Count);
                double t = k >= sorted.Count ? double.PositiveInfinity : sorted[k];
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < width; i++) mask[r, i] = m[r * width + i] <= t;
            }
            var err = new double[rows, width];
            for (int i = 0; i < width; i++)
            {
                int c = i1 + i;
                double d = u[c, c];
                if (nm is { } pat && c % pat.M == 0)
                {
                    int gw = Math.Min(pat.M, i2 - c);
                    for (int r = 0; r < rows; r++)
                    {
                        var chosen = Enumerable.Range(0, gw)
                            .OrderBy(g => w[r, c + g] * w[r, c + g] / (u[c + g, c + g] * u[c + g, c + g]))
                            .ThenBy(g => g)
                            .Take(Math.Min(pat.N, gw));
                        foreach (int g in chosen) mask[r, i + g] = true;
                    }
                }
                for (int r = 0; r < rows; r++)
                {
                    double wv = w[r, c];
                    double q = mask[r, i] ? 0 : wv;
                    double e = (wv - q) / d;
                    loss += (wv - q) * (wv - q) / (d * d) / 2;
                    for (int j = c; j < i2; j++) w[r, j] -= e * u[c, j];
                    w[r, c] = q;
                    err[r, i] = e;
                    pruned[r * cols + c] = mask[r, i];
                }
            }
            for (int r = 0; r < rows; r++)
                for (int j = i2; j < cols; j++)
                {
                    double s = 0;
                    for (int i = 0; i < width; i++) s += err[r, i] * u[i1 + i, j];
                    w[r, j] -= s;
                }
        }
        var flat = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) flat[r * cols + c] = w[r, c];
        return new Output(flat, pruned, loss);
    }

    public static double[,] GaussJordanInverse(double[,] a)
    {
        int n = a.GetLength(0);
        var m = (double[,])a.Clone();
        var inv = new double[n, n];
        for (int i = 0; i < n; i++) inv[i, i] = 1;
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
                if (Math.Abs(m[r, col]) > Math.Abs(m[pivot, col])) pivot = r;
            for (int c = 0; c < n; c++)
            {
                (m[col, c], m[pivot, c]) = (m[pivot, c], m[col, c]);
                (inv[col, c], inv[pivot, c]) = (inv[pivot, c], inv[col, c]);
            }
            double p = m[col, col];
            for (int c = 0; c < n; c++) { m[col, c] /= p; inv[col, c] /= p; }
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = m[r, col];
                if (f == 0) continue;
                for (int c = 0; c < n; c++) { m[r, c] -= f * m[col, c]; inv[r, c] -= f * inv[col, c]; }
            }
        }
        return inv;
    }

    /// <summary>Upper U with UᵀU = A: U[i,i] = sqrt(A[i,i] − Σ_k U[k,i]²), U[i,j] = (A[i,j] − Σ_k U[k,i]U[k,j]) / U[i,i].</summary>
    public static double[,] UpperCholesky(double[,] a)
    {
        int n = a.GetLength(0);
        var u = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            double s = a[i, i];
            for (int k = 0; k < i; k++) s -= u[k, i] * u[k, i];
            u[i, i] = Math.Sqrt(s);
            for (int j = i + 1; j < n; j++)
            {
                double t = a[i, j];
                for (int k = 0; k < i; k++) t -= u[k, i] * u[k, j];
                u[i, j] = t / u[i, i];
            }
        }
        return u;
    }
}

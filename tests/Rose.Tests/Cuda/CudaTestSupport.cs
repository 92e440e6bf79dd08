using NUnit.Framework;
using Rose.Cuda;
using Rose.Pruning;
using Rose.Tests.Native;

namespace Rose.Tests.Cuda;

/// <summary>One CUDA backend on the shared test context for the whole run, and comparisons.</summary>
internal static class CudaTestSupport
{
    private static readonly object Gate = new();
    private static CudaBackend? _backend;

    /// <summary>Ignores the test (with the reason) without a GPU; otherwise the shared backend.</summary>
    public static CudaBackend Backend()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireLibrary("cublas");
        GpuTestEnvironment.RequireLibrary("cusolver");
        GpuTestEnvironment.RequireNvrtc();
        lock (Gate)
            return _backend ??= new CudaBackend(context);
    }

    public static float[] Download(IPruningBackend backend, BackendMatrix m)
    {
        var a = new float[m.Count];
        backend.Download(m, a);
        return a;
    }

    public static float[] Download(IPruningBackend backend, BackendVector v)
    {
        var a = new float[v.Length];
        backend.Download(v, a);
        return a;
    }

    public static double MaxAbs(ReadOnlySpan<float> a)
    {
        double m = 0;
        foreach (float v in a) m = Math.Max(m, Math.Abs((double)v));
        return m;
    }

    /// <summary>Asserts max |expected − actual| ≤ tolerance, naming the worst index.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (!(d <= worst)) { worst = d; at = i; }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance),
            $"{what}: max |Δ| {worst:G4} at {at} (cpu {(at >= 0 ? expected[at] : 0)}, cuda {(at >= 0 ? actual[at] : 0)}), tolerance {tolerance:G4}");
    }

    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tolerance, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
        for (int i = 0; i < expected.Length; i++)
            Assert.That(Math.Abs(expected[i] - actual[i]), Is.LessThanOrEqualTo(tolerance),
                $"{what}[{i}]: cpu {expected[i]:R}, cuda {actual[i]:R}");
    }

    /// <summary>Positions where exactly one of the two is zero.</summary>
    public static int MaskMismatches(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = 0;
        for (int i = 0; i < a.Length; i++)
            if ((a[i] == 0f) != (b[i] == 0f)) n++;
        return n;
    }

    /// <summary>Rounds to multiples of 1/8 so that many exact ties appear (tie-rule tests).</summary>
    public static float[] Quantized(float[] a)
    {
        var q = new float[a.Length];
        for (int i = 0; i < a.Length; i++) q[i] = MathF.Round(a[i] * 8f) / 8f;
        return q;
    }
}

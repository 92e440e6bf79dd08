using NUnit.Framework;
using Rose.Cuda;
using Rose.Cuda.Forward;
using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;
using Rose.Tests.Native;

namespace Rose.Tests.CudaForward;

/// <summary>Each forward kernel against the CPU reference on edge shapes; skipped without a GPU.</summary>
[TestFixture]
[Category("Gpu")]
public sealed class ForwardKernelTests
{
    private static ForwardKernels? _kernels;

    internal static ForwardKernels Kernels(CudaContext context)
    {
        GpuTestEnvironment.RequireNvrtc();
        return _kernels ??= new ForwardKernels(context, new KernelCompiler(cache: null));
    }

    internal static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    private static float[] Download(DeviceBuffer<byte> buffer, DType dtype, int count)
    {
        var bytes = buffer.ToArray();
        var result = new float[count];
        FloatConversion.ToSingle(dtype, bytes.AsSpan(0, count * dtype.ElementSize()), result);
        return result;
    }

    private static void AssertClose(float[] actual, float[] expected, double absolute, double relative, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = absolute + relative * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tolerance))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (tolerance {tolerance})");
        }
    }

    /// <summary>For values rounded to a 16-bit dtype by the same fp32 operations on both sides, where only a
    /// library function (sincosf, expf) may differ from .NET's by an fp32 ulp: nearly every element is
    /// bit-identical (so a missing or extra rounding step fails), and the rare one whose function value
    /// crossed a rounding boundary is off by at most <paramref name="absolute"/>.</summary>
    private static void AssertMostlyExact(float[] actual, float[] expected, double absolute, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        int exact = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(actual[i]) == BitConverter.SingleToUInt32Bits(expected[i])) exact++;
            else if (!(Math.Abs(actual[i] - expected[i]) <= absolute))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (tolerance {absolute})");
        }
        Assert.That(exact, Is.GreaterThanOrEqualTo(expected.Length * 0.999), $"{what}: only {exact} of {expected.Length} elements are bit-identical");
    }

    /// <summary>Half an ulp of the storage format, relative: the rounding a narrow output adds.</summary>
    private static double Rounding(DType dtype) => dtype switch { DType.BF16 => 1.0 / 256, DType.F16 => 1.0 / 2048, _ => 0 };

    [TestCase(1, 8, DType.F32)]
    [TestCase(7, 256, DType.F32)]
    [TestCase(130, 4096, DType.BF16)]
    [TestCase(1000, 200, DType.F16)]
    [TestCase(1000, 64, DType.F32)]
    public void RmsNormMatchesCpu(int tokens, int dim, DType dtype)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        var x = Stored(Random(tokens * dim, 1, 3f), dtype, out var xBytes);
        var w = Stored(Random(dim, 2), dtype, out _);
        // HF: round(w · round(x · inv)), inv from the fp32 mean of squares (the CPU reference's).
        var inv = new float[tokens * dim];
        var ones = Enumerable.Repeat(1f, dim).ToArray();
        CpuMath.RmsNorm(x, ones, inv, tokens, dim, 1e-5f);
        var expected = Stored(inv, dtype, out _);
        for (int i = 0; i < expected.Length; i++) expected[i] = w[i % dim] * expected[i];
        expected = Stored(expected, dtype, out _);
        using var dx = DeviceBuffer<byte>.FromHost(context, xBytes);
        using var dw = DeviceBuffer<float>.FromHost(context, w);
        using var dy = DeviceBuffer<byte>.Allocate(context, (long)tokens * dim * dtype.ElementSize());
        k.RmsNorm(dtype, dy.Pointer, dx.Pointer, dw.Pointer, tokens, dim, 1e-5f);
        // An inv one fp32 ulp off may flip a rounding: one unit of the dtype, relative.
        AssertClose(Download(dy, dtype, tokens * dim), expected, 1e-6, 1e-5 + 2 * Rounding(dtype), $"rmsnorm {tokens}×{dim} {dtype}");
    }

    /// <summary>The values as a tensor of <paramref name="dtype"/> holds them (rounded), and its bytes.</summary>
    internal static float[] Stored(float[] values, DType dtype, out byte[] bytes)
    {
        bytes = new byte[values.Length * dtype.ElementSize()];
        FloatConversion.FromSingle(dtype, values, bytes);
        var rounded = new float[values.Length];
        FloatConversion.ToSingle(dtype, bytes, rounded);
        return rounded;
    }

    [TestCase(1, 8, 2, 1, DType.F32)]
    [TestCase(7, 64, 4, 1, DType.F32)]
    [TestCase(130, 128, 2, 1, DType.F32)]
    [TestCase(1000, 64, 8, 1, DType.F32)]
    [TestCase(130, 8, 3, 2, DType.F32)]
    [TestCase(130, 128, 2, 2, DType.BF16)]
    [TestCase(1000, 64, 4, 1, DType.BF16)]
    [TestCase(130, 64, 3, 2, DType.F16)]
    public void RopeMatchesCpuWithPositionsRestartingPerSequence(int seqLen, int headDim, int heads, int batch, DType dtype)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        var invFreq = Rose.Models.ModelConfig.InverseFrequencies(headDim, 10000, null);
        int rows = seqLen * batch, width = heads * headDim;
        // 16-bit entries take projections that hold values of their dtype, as the forward gives them.
        var x = Random(rows * width, 3);
        FloatRounding.RoundInPlace(dtype, x);
        var expected = (float[])x.Clone();
        var rope = new RotaryEmbedding(invFreq);
        for (int b = 0; b < batch; b++) rope.Apply(expected.AsSpan(b * seqLen * width, seqLen * width), seqLen, heads, dtype);
        using var dx = DeviceBuffer<float>.FromHost(context, x);
        using var df = DeviceBuffer<float>.FromHost(context, invFreq);
        k.Rope(dtype, dx.Pointer, df.Pointer, rows, heads, headDim, seqLen);
        // Angles reach ~1000 rad: sinf/cosf and MathF differ by an ulp of the angle's reduction, which
        // in a 16-bit dtype can move cos or sin to the neighbouring value (|x| ≤ 1: a few ulps of it).
        if (dtype == DType.F32) AssertClose(dx.ToArray(), expected, 2e-4, 1e-4, $"rope T={seqLen} d={headDim}");
        else AssertMostlyExact(dx.ToArray(), expected, 8 * Rounding(dtype), $"rope T={seqLen} d={headDim} {dtype}");
    }

    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void RoundMatchesTheHostConversion(DType dtype)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        var x = Random(100_003, 15, 50f);
        x[0] = float.NaN; x[1] = 1e-40f; x[2] = -0f; x[3] = 70000f;
        var expected = (float[])x.Clone();
        FloatRounding.RoundInPlace(dtype, expected);
        using var dx = DeviceBuffer<float>.FromHost(context, x);
        k.Round(dtype, dx.Pointer, x.Length);
        var actual = dx.ToArray();
        for (int i = 0; i < x.Length; i++)
            if (!(float.IsNaN(expected[i]) && float.IsNaN(actual[i])))
                Assert.That(BitConverter.SingleToUInt32Bits(actual[i]), Is.EqualTo(BitConverter.SingleToUInt32Bits(expected[i])), $"{dtype} element {i}: {x[i]:R}");
    }

    [TestCase(1, 8, 1, DType.F32)]
    [TestCase(7, 64, 4, DType.F32)]
    [TestCase(130, 128, 1, DType.F32)]
    [TestCase(130, 8, 4, DType.F32)]
    [TestCase(1000, 64, 4, DType.F32)]
    [TestCase(1000, 128, 1, DType.BF16)]
    [TestCase(130, 256, 4, DType.F16)]
    [TestCase(33, 96, 1, DType.F32)]
    // Sliding windows: one key (the query itself), windows inside one key tile and across several,
    // starting tiles the block never loads, and the 16-key tiles of head_dim 256.
    [TestCase(33, 96, 1, DType.F32, 1)]
    [TestCase(130, 64, 4, DType.F32, 7)]
    [TestCase(300, 128, 1, DType.BF16, 100)]
    [TestCase(130, 256, 4, DType.F16, 40)]
    [TestCase(70, 64, 2, DType.F32, 70)]
    public void CausalAttentionMatchesCpu(int tokens, int headDim, int groups, DType outType, int window = 0)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        int kvHeads = 2, heads = kvHeads * groups;
        var q = Random(tokens * heads * headDim, 4, 2f);
        var kk = Random(tokens * kvHeads * headDim, 5, 2f);
        var v = Random(tokens * kvHeads * headDim, 6);
        var expected = new float[q.Length];
        int? w = window == 0 ? null : window;
        CausalAttention.Forward(q, kk, v, expected, tokens, heads, kvHeads, headDim, window: w);
        using var dq = DeviceBuffer<float>.FromHost(context, q);
        using var dk = DeviceBuffer<float>.FromHost(context, kk);
        using var dv = DeviceBuffer<float>.FromHost(context, v);
        using var dout = DeviceBuffer<byte>.Allocate(context, (long)q.Length * outType.ElementSize());
        k.Attention(outType, dout.Pointer, dq.Pointer, dk.Pointer, dv.Pointer, 1, tokens, heads, kvHeads, headDim, tensorCores: false, window: w);
        AssertClose(Download(dout, outType, q.Length), expected, 2e-5, 1e-4 + Rounding(outType), $"attention T={tokens} d={headDim} g={groups} W={window}");
    }

    /// <summary>The tensor-core kernel rounds q, k, v and the probabilities to the 16-bit dtype. Inputs
    /// already representable in it leave only the probabilities' rounding (relative half-ulp ε on
    /// each weight of an average of |v| ≤ 1, so at most ε absolute) and the output's.</summary>
    [TestCase(1, 128, 1, 1, DType.BF16)]
    [TestCase(17, 64, 4, 1, DType.BF16)]
    [TestCase(64, 128, 2, 1, DType.F16)]
    [TestCase(130, 128, 4, 2, DType.BF16)]
    [TestCase(200, 64, 1, 3, DType.F16)]
    [TestCase(1000, 128, 1, 1, DType.BF16)]
    [TestCase(17, 64, 4, 1, DType.BF16, 1)]
    [TestCase(130, 128, 4, 2, DType.BF16, 50)]
    [TestCase(200, 64, 1, 3, DType.F16, 64)]
    [TestCase(300, 128, 2, 1, DType.F16, 129)]
    public void TensorCoreAttentionMatchesCpu(int tokens, int headDim, int groups, int batch, DType dtype, int window = 0)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        int kvHeads = 2, heads = kvHeads * groups;
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim;
        float[] Representable(float[] a)
        {
            var bytes = new byte[a.Length * dtype.ElementSize()];
            FloatConversion.FromSingle(dtype, a, bytes);
            FloatConversion.ToSingle(dtype, bytes, a);
            return a;
        }
        var q = Representable(Random(batch * tokens * qWidth, 14, 2f));
        var kk = Representable(Random(batch * tokens * kvWidth, 15, 2f));
        var v = Representable(Random(batch * tokens * kvWidth, 16));
        int? w = window == 0 ? null : window;
        var expected = BatchedCpuAttention(q, kk, v, batch, tokens, heads, kvHeads, headDim, w);
        using var dq = DeviceBuffer<float>.FromHost(context, q);
        using var dk = DeviceBuffer<float>.FromHost(context, kk);
        using var dv = DeviceBuffer<float>.FromHost(context, v);
        // Filled with a value no output can have, so a row left unwritten shows.
        using var dout = DeviceBuffer<byte>.FromHost(context, Enumerable.Repeat((byte)0xAB, q.Length * dtype.ElementSize()).ToArray());
        k.Attention(dtype, dout.Pointer, dq.Pointer, dk.Pointer, dv.Pointer, batch, tokens, heads, kvHeads, headDim, tensorCores: true, window: w);
        double eps = 2 * Rounding(dtype);
        AssertClose(Download(dout, dtype, q.Length), expected, eps, Rounding(dtype), $"tensor-core attention T={tokens} d={headDim} g={groups} b={batch} {dtype} W={window}");
    }

    [Test]
    public void TensorCoreAttentionRejectsWhatItDoesNotCover()
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        Assert.That(ForwardKernels.TensorCoreAttentionSupports(DType.F32, 128), Is.False);
        Assert.That(ForwardKernels.TensorCoreAttentionSupports(DType.BF16, 96), Is.False);
        Assert.Throws<ArgumentException>(() => k.Attention(DType.F32, CUdeviceptr.Null, CUdeviceptr.Null, CUdeviceptr.Null,
            CUdeviceptr.Null, 1, 4, 2, 2, 128, tensorCores: true));
    }

    /// <summary>The CPU reference over each sequence of a batch on its own.</summary>
    private static float[] BatchedCpuAttention(float[] q, float[] k, float[] v, int batch, int tokens, int heads, int kvHeads, int headDim,
        int? window = null)
    {
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim;
        var expected = new float[q.Length];
        for (int b = 0; b < batch; b++)
            CausalAttention.Forward(q.AsSpan(b * tokens * qWidth, tokens * qWidth), k.AsSpan(b * tokens * kvWidth, tokens * kvWidth),
                v.AsSpan(b * tokens * kvWidth, tokens * kvWidth), expected.AsSpan(b * tokens * qWidth, tokens * qWidth), tokens, heads, kvHeads, headDim,
                window: window);
        return expected;
    }

    [Test]
    public void AttentionKeepsSequencesOfABatchApart()
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        const int tokens = 70, headDim = 64, heads = 4, kvHeads = 1, batch = 3;
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim;
        var q = Random(batch * tokens * qWidth, 7);
        var kk = Random(batch * tokens * kvWidth, 8);
        var v = Random(batch * tokens * kvWidth, 9);
        var expected = BatchedCpuAttention(q, kk, v, batch, tokens, heads, kvHeads, headDim);
        using var dq = DeviceBuffer<float>.FromHost(context, q);
        using var dk = DeviceBuffer<float>.FromHost(context, kk);
        using var dv = DeviceBuffer<float>.FromHost(context, v);
        using var dout = DeviceBuffer<float>.Allocate(context, q.Length);
        k.Attention(DType.F32, dout.Pointer, dq.Pointer, dk.Pointer, dv.Pointer, batch, tokens, heads, kvHeads, headDim);
        AssertClose(dout.ToArray(), expected, 2e-5, 1e-4, "batched attention");
    }

    [TestCase(DType.F32)]
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    public void SwiGluEmbeddingAndResidualMatchCpu(DType dtype)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        const int n = 1000 * 7 + 3;
        var gate = Random(n, 10, 4f);
        var up = Random(n, 11);
        var expected = (float[])gate.Clone();
        CpuMath.SiluMultiply(expected, up, dtype);
        using var dg = DeviceBuffer<float>.FromHost(context, gate);
        using var du = DeviceBuffer<float>.FromHost(context, up);
        using var dact = DeviceBuffer<byte>.Allocate(context, (long)n * dtype.ElementSize());
        k.SwiGlu(dtype, dact.Pointer, dg.Pointer, du.Pointer, n);
        // expf and MathF.Exp may differ by an ulp, which can move silu's rounded value to its neighbour.
        if (dtype == DType.F32) AssertClose(Download(dact, dtype, n), expected, 1e-6, 1e-5, "swiglu");
        else AssertMostlyExact(Download(dact, dtype, n), expected, 16 * Rounding(dtype), $"swiglu {dtype}");

        const int vocab = 37, hidden = 24, rows = 130;
        var table = Random(vocab * hidden, 12);
        var ids = Enumerable.Range(0, rows).Select(i => (i * 7) % vocab).ToArray();
        var tableBytes = new byte[table.Length * dtype.ElementSize()];
        FloatConversion.FromSingle(dtype, table, tableBytes);
        var stored = new float[table.Length];
        FloatConversion.ToSingle(dtype, tableBytes, stored);
        using var dtable = DeviceBuffer<byte>.FromHost(context, tableBytes);
        using var dids = DeviceBuffer<int>.FromHost(context, ids);
        using var dh = DeviceBuffer<byte>.Allocate(context, rows * hidden * dtype.ElementSize());
        k.Embedding(dtype, dh.Pointer, dtable.Pointer, dids.Pointer, rows, hidden, vocab);
        var h = Download(dh, dtype, rows * hidden);
        for (int r = 0; r < rows; r++)
            Assert.That(h.AsSpan(r * hidden, hidden).ToArray(), Is.EqualTo(stored.AsSpan(ids[r] * hidden, hidden).ToArray()), $"row {r}");

        // The projection is rounded to the dtype, then the sum: the same fp32 operations and
        // round-to-nearest-even on both sides, so the results agree to the bit.
        var delta = Random(rows * hidden, 13);
        var bias = Random(hidden, 14);
        using var dd = DeviceBuffer<float>.FromHost(context, delta);
        using var db = DeviceBuffer<float>.FromHost(context, bias);
        k.ResidualAdd(dtype, dh.Pointer, dd.Pointer, db.Pointer, rows, hidden);
        k.ResidualAdd(dtype, dh.Pointer, dd.Pointer, CUdeviceptr.Null, rows, hidden);
        var summed = Download(dh, dtype, rows * hidden);
        float R(float v) => Stored([v], dtype, out _)[0];
        for (int i = 0; i < summed.Length; i++)
        {
            float once = R(h[i] + R(delta[i] + bias[i % hidden]));
            Assert.That(summed[i], Is.EqualTo(R(once + R(delta[i]))), $"residual {i}");
        }
    }

    [TestCase(1, 1000, 256)]
    [TestCase(7, 1000, 300)]
    [TestCase(130, 4099, 1024)]
    [TestCase(1000, 258, 0)]
    public void ChunkedLossMatchesCpuLogSumExp(int rows, int vocab, int chunk)
    {
        var context = GpuTestEnvironment.RequireGpu();
        var k = Kernels(context);
        const int hidden = 64;
        var norm = Random(hidden, 15, 0.5f).Select(v => v + 1).ToArray();
        var weight = Random(vocab * hidden, 16, 0.5f);
        var x = Random(rows * hidden, 17, 2f);
        var targets = Enumerable.Range(0, rows).Select(i => i == rows - 1 && rows > 1 ? -1 : (i * 131) % vocab).ToArray();
        var cpu = new LanguageModelHead(norm, weight, vocab, hidden, 1e-5f);
        var logits = new float[rows * vocab];
        cpu.Logits(x, logits, rows);

        using var blas = new CublasHandle(context);
        using var head = new CudaLanguageModelHead(context, k, blas, norm, weight, vocab, hidden, 1e-5f, DType.F32) { VocabChunk = chunk };
        using var dx = DeviceBuffer<byte>.FromHost(context, System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
        var nll = head.TokenLosses(dx, targets, rows);
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] < 0) { Assert.That(nll[r], Is.EqualTo(0f)); continue; }
            var row = logits.AsSpan(r * vocab, vocab);
            double max = double.NegativeInfinity, sum = 0;
            foreach (float v in row) max = Math.Max(max, v);
            foreach (float v in row) sum += Math.Exp(v - max);
            double expected = max + Math.Log(sum) - row[targets[r]];
            Assert.That(nll[r], Is.EqualTo(expected).Within(1e-4 + 1e-5 * Math.Abs(expected)), $"row {r}");
        }
    }
}

using NUnit.Framework;
using Rose.Cuda.Forward;
using Rose.Data;
using Rose.Modeling;
using Rose.Native;
using Rose.Pruning;
using Rose.SafeTensors;
using Rose.Synthesis;
using Rose.Tests.Native;
using Rose.Tests.Support;
using static Rose.Tests.Cuda.CudaTestSupport;

namespace Rose.Tests.Cuda;

/// <summary>A layer pruned where the device runner holds it (kernels/convert.cu widening it to fp32 for
/// the pruner, narrowing the result back) against the host route it replaces (fp32 up, fp32 down, rounded
/// on the host, uploaded again for the next forward): the same weights and the same next-layer states,
/// to the bit.</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public sealed class ResidentWeightTests
{
    [TestCase(DType.BF16)]
    [TestCase(DType.F16)]
    [TestCase(DType.F32)]
    public void DeviceConversionsMatchTheHostConversion(DType dtype)
    {
        var gpu = Backend();
        // Odd sizes (no whole warps or blocks), values that round: ties to even in both 16-bit formats,
        // subnormals, fp16 underflow and overflow, ±0, ±∞ and NaN.
        const int rows = 37, cols = 131;
        var rng = new Random(11);
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++)
            values[i] = (i % 97) switch
            {
                0 => float.NaN,
                1 => float.NegativeInfinity,
                2 => -0f,
                3 => 1e-40f,
                4 => 3e-8f,
                5 => -70000f,
                6 => BitConverter.Int32BitsToSingle(0x3F808000),  // bf16 tie, rounds to even (down)
                7 => BitConverter.Int32BitsToSingle(0x3F818000),  // bf16 tie, rounds to even (up)
                8 => 1f + 1f / 2048,                                // fp16 tie, rounds down
                9 => 1f + 3f / 2048,                                // fp16 tie, rounds up
                _ => (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-30, 12))),
            };
        int size = dtype.ElementSize();
        var stored = new byte[values.Length * size];
        FloatConversion.FromSingle(dtype, values, stored);
        var widened = new float[values.Length];
        FloatConversion.ToSingle(dtype, stored, widened);

        using var tensor = DeviceBuffer<byte>.FromHost(gpu.Context, stored);
        using (var w = gpu.Widen(tensor, dtype, rows, cols))
            AssertSameValues(Download(gpu, w), widened, "widened on the device");

        using var raw = gpu.Upload(values, rows, cols);
        using var narrowed = DeviceBuffer<byte>.Allocate(gpu.Context, stored.Length);
        gpu.Narrow(raw, narrowed, dtype);
        gpu.Synchronize();
        AssertSameValues(Widened(dtype, narrowed.ToArray()), widened, "narrowed on the device");

        var host = new float[values.Length];
        gpu.DownloadWidened(narrowed, dtype, host);
        AssertSameValues(host, widened, "downloaded widened");

        Assert.Throws<ArgumentException>(() => gpu.Widen(tensor, dtype, rows, cols + 1));
        Assert.Throws<ArgumentException>(() => gpu.DownloadWidened(narrowed, dtype, new float[values.Length - 1]));
    }

    [TestCase(DType.BF16, "0.7")]
    [TestCase(DType.F16, "2:4")]
    public void LayerPrunedWhereTheRunnerHoldsItMatchesTheHostRoute(DType dtype, string spec)
    {
        var gpu = Backend();
        var dir = TinyModelFactory.TempDir("resident");
        try
        {
            string modelDir = Path.Combine(dir, "model");
            // 344 columns: a partial OBS block and ROSE block; head_dim 64 with GQA 2:1.
            var arch = SyntheticArchitecture.Tiny with { Hidden = 128, Intermediate = 344, Heads = 2, KvHeads = 1, Layers = 2 };
            SyntheticCheckpoint.Write(arch, dtype, modelDir, seed: 3);
            using var model = LlamaModel.Open(modelDir);
            var tokens = model.Tokenizer.Encode(File.ReadAllText(BundledSample.CalibrationText), addBos: true);
            var windows = CalibrationSampler.Sequential(tokens, 4, 64);
            var pattern = spec.Contains(':') ? NmPattern.Parse(spec) : (NmPattern?)null;
            var options = new PruneOptions(PruneMethod.Rose, pattern is null ? 0.7 : 0, pattern);
            using var resident = new CudaCalibrationRunner(model, windows, gpu);
            using var host = new CudaCalibrationRunner(model, windows, gpu);
            for (int l = 0; l < model.LayerCount; l++)
            {
                var a = model.LoadLayer(l);
                var b = model.LoadLayer(l);
                var sa = resident.CollectStatistics(a, gpu);
                var sb = host.CollectStatistics(b, gpu);
                try
                {
                    Assert.That(host.ResidentWeight(a, LinearKind.Q), Is.Null, "a runner holds only the layer it ran");
                    foreach (var kind in LinearKinds.All)
                    {
                        var la = a[kind];
                        var weight = resident.ResidentWeight(a, kind);
                        Assert.That(weight, Is.Not.Null, $"layer {l} {kind} is held by the runner");
                        var ra = MatrixPruner.Prune(gpu, la.Weight, la.OutFeatures, la.InFeatures, sa[kind.InputGroup()], options, weight);
                        var lb = b[kind];
                        var rb = MatrixPruner.Prune(gpu, lb.Weight, lb.OutFeatures, lb.InFeatures, sb[kind.InputGroup()], options);
                        // The host route's fp32 result as a checkpoint of the model's dtype stores it.
                        FloatRounding.RoundInPlace(dtype, lb.Weight);
                        AssertSameValues(la.Weight, lb.Weight, $"layer {l} {kind}");
                        Assert.That(ra.Loss, Is.EqualTo(rb.Loss), $"layer {l} {kind} loss");
                        Assert.That(ra.Sparsity, Is.GreaterThan(0.45), $"layer {l} {kind} pruned");
                    }
                }
                finally
                {
                    foreach (var s in sa.Values.Concat(sb.Values)) s.Dispose();
                }
                resident.Advance(a);
                host.Advance(b);
                Assert.That(resident.ResidentWeight(a, LinearKind.Q), Is.Null, "the layer is let go after its forward");
            }
            AssertSameStates(resident, host, "states after both layers");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A bf16 checkpoint with one linear stored in fp32: that one is pruned from the host, so the
    /// writer gets its fp32 result unrounded, as before; the others are held. Weights and next-layer states
    /// equal the all-host route's.</summary>
    [Test]
    public void ALinearStoredInAnotherDtypeIsNotHeld()
    {
        var gpu = Backend();
        var dir = TinyModelFactory.TempDir("mixed");
        try
        {
            string q = LinearKinds.WeightName(0, LinearKind.Q);
            var modelDir = TinyModelFactory.Create(new TinyModelSpec
            {
                DType = DType.BF16,
                Layers = 1,
                TensorDTypes = new Dictionary<string, DType> { [q] = DType.F32 },
            }, Path.Combine(dir, "model"));
            using var model = LlamaModel.Open(modelDir);
            Assert.That(model.Checkpoint.GetInfo(q).DType, Is.EqualTo(DType.F32), "the fixture is mixed");
            var rng = new Random(4);
            var windows = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 24).Select(_ => rng.Next(model.Config.VocabSize)).ToArray()).ToArray();
            var options = new PruneOptions(PruneMethod.SparseGpt, 0.5, null);
            using var held = new CudaCalibrationRunner(model, windows, gpu);
            using var host = new CudaCalibrationRunner(model, windows, gpu);
            var a = model.LoadLayer(0);
            var b = model.LoadLayer(0);
            var sa = held.CollectStatistics(a, gpu);
            var sb = host.CollectStatistics(b, gpu);
            try
            {
                Assert.That(held.ResidentWeight(a, LinearKind.Q), Is.Null, "q_proj is stored in fp32, the compute dtype is bf16");
                foreach (var kind in LinearKinds.All)
                {
                    var weight = held.ResidentWeight(a, kind);
                    Assert.That(weight is null, Is.EqualTo(kind == LinearKind.Q), $"{kind} held");
                    var la = a[kind];
                    MatrixPruner.Prune(gpu, la.Weight, la.OutFeatures, la.InFeatures, sa[kind.InputGroup()], options, weight);
                    var lb = b[kind];
                    MatrixPruner.Prune(gpu, lb.Weight, lb.OutFeatures, lb.InFeatures, sb[kind.InputGroup()], options);
                    if (kind != LinearKind.Q) FloatRounding.RoundInPlace(DType.BF16, lb.Weight);
                    AssertSameValues(la.Weight, lb.Weight, kind.ToString());
                }
            }
            finally
            {
                foreach (var s in sa.Values.Concat(sb.Values)) s.Dispose();
            }
            Assert.That(a[LinearKind.Q].Weight.Any(v => FloatRounding.Round(DType.BF16, v) != v), Is.True,
                "q_proj's pruned values reach the host unrounded");
            held.Advance(a);
            host.Advance(b);
            AssertSameStates(held, host, "states after the layer");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The two runners' activations, as they save them, byte for byte.</summary>
    private static void AssertSameStates(CudaCalibrationRunner a, CudaCalibrationRunner b, string what)
    {
        using var sa = new MemoryStream();
        using var sb = new MemoryStream();
        a.SaveStates(sa);
        b.SaveStates(sb);
        Assert.That(sa.ToArray(), Is.EqualTo(sb.ToArray()), what);
    }

    private static float[] Widened(DType dtype, byte[] stored)
    {
        var values = new float[stored.Length / dtype.ElementSize()];
        FloatConversion.ToSingle(dtype, stored, values);
        return values;
    }

    /// <summary>Bit-for-bit, except that any NaN matches any NaN (the device keeps a NaN's sign and
    /// payload where the host writes the canonical one; a pruned weight is never NaN).</summary>
    private static void AssertSameValues(float[] actual, float[] expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) && float.IsNaN(actual[i])) continue;
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
        }
    }
}

using NUnit.Framework;
using Rose.Cuda;
using Rose.Native;

namespace Rose.Tests.Native;

/// <summary>Driver, kernel launch, cuBLAS and cuSOLVER against CPU references; skipped without a GPU.</summary>
[TestFixture]
[Category("Gpu")]
public sealed class GpuNativeTests
{
    private static float[] RandomFloats(int n, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        }

        return values;
    }

    private static CudaModule LoadSmoke(CudaContext context)
    {
        GpuTestEnvironment.RequireNvrtc();
        return new KernelCompiler(cache: null).LoadModule(context, "smoke.cu");
    }

    [Test]
    public void ContextDescribesTheDevice()
    {
        var context = GpuTestEnvironment.RequireGpu();
        var (free, total) = context.MemoryInfo();

        Assert.That(context.Name, Is.Not.Empty);
        Assert.That(context.ComputeCapabilityMajor, Is.GreaterThanOrEqualTo(5));
        Assert.That(context.TotalMemory, Is.GreaterThan(0));
        Assert.That(total, Is.EqualTo(context.TotalMemory));
        Assert.That(free, Is.InRange(1L, total));
        Assert.That(CudaDriver.Version, Is.GreaterThanOrEqualTo(11000));
        Assert.That(CudaLibraries.LoadedFrom("cuda"), Does.Contain("libcuda"));
        TestContext.Out.WriteLine($"{context}; driver {CudaDriver.Version}; libcuda from {CudaLibraries.LoadedFrom("cuda")}");
    }

    /// <summary>A thread starts with no current context, and the driver refuses to work there until it binds
    /// one: every wrapper binds first, so work handed to another thread (a prefetch task, a thread-pool worker)
    /// runs there too. The CPU emulator refuses such calls as a GPU does.</summary>
    [Test]
    public void AFreshThreadIsRefusedUntilAWrapperBindsTheContext()
    {
        var context = GpuTestEnvironment.RequireGpu();
        int unbound = -1;
        float[] values = [];
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                unbound = Rose.Native.Interop.CuDriver.cuCtxSynchronize();
                using var buffer = context.Allocate<float>(64);
                buffer.Fill(1.5f);
                values = buffer.ToArray();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        Assert.That(unbound, Is.EqualTo(201), "cuCtxSynchronize on a thread with no current context: CUDA_ERROR_INVALID_CONTEXT");
        Assert.That(failure, Is.Null);
        Assert.That(values, Has.Length.EqualTo(64).And.All.EqualTo(1.5f));
    }

    [Test]
    public void DeviceBufferRoundTripsClearsFillsAndCopiesOnDevice()
    {
        var context = GpuTestEnvironment.RequireGpu();
        var data = RandomFloats(1000, 1);
        using var a = DeviceBuffer<float>.FromHost(context, data);
        using var b = context.Allocate<float>(1000);

        b.CopyFrom(a);
        Assert.That(b.ToArray(), Is.EqualTo(data));

        a.Clear();
        Assert.That(a.ToArray(), Is.All.EqualTo(0f));

        a.Fill(2.5f);
        Assert.That(a.ToArray(), Is.All.EqualTo(2.5f));

        var part = new float[10];
        b.CopyTo(part, offset: 990);
        Assert.That(part, Is.EqualTo(data[990..]));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.CopyTo(new float[11], offset: 990));
    }

    [Test]
    public void AsyncCopiesThroughPinnedMemoryOnAStream()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var stream = context.CreateStream();
        using var host = new PinnedHostBuffer<int>(context, 4096);
        using var back = new PinnedHostBuffer<int>(context, 4096);
        for (var i = 0; i < 4096; i++)
        {
            host.Span[i] = i * 7 - 3;
        }

        using var device = context.Allocate<int>(4096);
        device.ClearAsync(stream);
        device.CopyFromAsync(host, stream);
        device.CopyToAsync(back, stream);
        stream.Synchronize();

        Assert.That(back.Span.ToArray(), Is.EqualTo(host.Span.ToArray()));
    }

    [Test]
    public void SmokeAxpyMatchesTheCpu()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var module = LoadSmoke(context);
        var kernel = module.GetKernel("rose_smoke_axpy");
        const int n = 10_000;
        const float a = 1.5f;
        var x = RandomFloats(n, 2);
        var y = RandomFloats(n, 3);
        using var dx = DeviceBuffer<float>.FromHost(context, x);
        using var dy = DeviceBuffer<float>.FromHost(context, y);
        // Blocking: a pageable upload returns before its DMA lands, and only a blocking stream
        // waits for the legacy stream it was queued on.
        using var stream = context.CreateStream(nonBlocking: false);
        using var start = context.CreateEvent();
        using var end = context.CreateEvent();

        start.Record(stream);
        kernel.Launch(Dim3.Cover(n, 256), 256, 0, stream, dy, dx, a, n);
        end.Record(stream);
        stream.Synchronize();
        var result = dy.ToArray();

        Assert.That(end.ElapsedMillisecondsSince(start), Is.GreaterThanOrEqualTo(0f));
        for (var i = 0; i < n; i++)
        {
            // The GPU may fuse a*x+y into one FMA; either rounding is acceptable.
            var fused = MathF.FusedMultiplyAdd(a, x[i], y[i]);
            Assert.That(result[i], Is.EqualTo(fused).Within(1e-6f), $"element {i}");
        }
    }

    [Test]
    public void MissingKernelNameIsACudaExceptionNamingIt()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var module = LoadSmoke(context);

        var e = Assert.Throws<CudaException>(() => module.GetKernel("no_such_kernel"));
        Assert.That(e!.StatusName, Is.EqualTo("CUDA_ERROR_NOT_FOUND"));
        Assert.That(e.Message, Does.Contain("no_such_kernel"));
    }

    [Test]
    public void CommonHeaderConversionsAndWarpReductionsMatchTheCpu()
    {
        var context = GpuTestEnvironment.RequireGpu();
        using var module = LoadSmoke(context);
        const int n = 1000; // not a multiple of 32: the last warp is partial
        var input = RandomFloats(n, 4, scale: 1000f);
        input[0] = float.NaN;
        input[1] = 1.00390625f;          // exactly between two bf16 values: ties to even
        input[2] = 70000f;               // overflows fp16
        input[3] = -0f;
        input[4] = 3.3895314e38f;        // largest finite float rounds up to bf16 infinity
        using var din = DeviceBuffer<float>.FromHost(context, input);
        using var bf16 = context.Allocate<ushort>(n);
        using var half = context.Allocate<ushort>(n);
        using var bf16Back = context.Allocate<float>(n);
        using var halfBack = context.Allocate<float>(n);
        var warps = (n + 31) / 32;
        using var sums = context.Allocate<float>(warps);
        using var maxes = context.Allocate<float>(warps);

        module.GetKernel("rose_smoke_convert").Launch(Dim3.Cover(n, 128), 128, 0, null,
            din, bf16, half, bf16Back, halfBack, sums, maxes, n);
        context.Synchronize();

        var gotBf16 = bf16.ToArray();
        var gotHalf = half.ToArray();
        var gotBf16Back = bf16Back.ToArray();
        var gotHalfBack = halfBack.ToArray();
        for (var i = 0; i < n; i++)
        {
            var expectedBf16 = ToBf16(input[i]);
            Assert.That(gotBf16[i], Is.EqualTo(expectedBf16), $"bf16 of {input[i]:R}");
            Assert.That(BitConverter.SingleToUInt32Bits(gotBf16Back[i]), Is.EqualTo((uint)expectedBf16 << 16), $"bf16 back of {input[i]:R}");
            var expectedHalf = (Half)input[i];
            if (Half.IsNaN(expectedHalf))
            {
                Assert.That(float.IsNaN(gotHalfBack[i]), Is.True);
                continue;
            }

            Assert.That(gotHalf[i], Is.EqualTo(BitConverter.HalfToUInt16Bits(expectedHalf)), $"fp16 of {input[i]:R}");
            Assert.That(gotHalfBack[i], Is.EqualTo((float)expectedHalf), $"fp16 back of {input[i]:R}");
        }

        var gotSums = sums.ToArray();
        var gotMaxes = maxes.ToArray();
        for (var w = 1; w < warps; w++) // warp 0 holds the NaN
        {
            var lane = input.AsSpan(w * 32, Math.Min(32, n - w * 32));
            var sum = 0.0;
            var max = float.MinValue;
            foreach (var v in lane)
            {
                sum += v;
                max = MathF.Max(max, v);
            }

            Assert.That(gotSums[w], Is.EqualTo(sum).Within(1e-3), $"warp {w} sum");
            Assert.That(gotMaxes[w], Is.EqualTo(max), $"warp {w} max");
        }
    }

    /// <summary>Round-to-nearest-even float→bf16, the CPU definition the kernel must match.</summary>
    private static ushort ToBf16(float f)
    {
        var u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u)
        {
            return (ushort)((u >> 16) | 0x40u);
        }

        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    [Test]
    public void CublasSgemmMatchesTheCpu()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireLibrary("cublas");
        const int m = 37, n = 23, k = 51;
        var a = RandomFloats(m * k, 5); // column-major m×k
        var b = RandomFloats(k * n, 6); // column-major k×n
        var c = RandomFloats(m * n, 7);
        using var da = DeviceBuffer<float>.FromHost(context, a);
        using var db = DeviceBuffer<float>.FromHost(context, b);
        using var dc = DeviceBuffer<float>.FromHost(context, c);
        using var blas = new CublasHandle(context);
        blas.SetMathMode(CublasMathMode.Pedantic);

        blas.Sgemm(CublasOperation.None, CublasOperation.None, m, n, k, 2f, da.Pointer, m, db.Pointer, k, 0.5f, dc.Pointer, m);
        var got = dc.ToArray();

        Assert.That(blas.Version, Is.GreaterThan(0));
        for (var j = 0; j < n; j++)
        {
            for (var i = 0; i < m; i++)
            {
                var dot = 0.0;
                for (var p = 0; p < k; p++)
                {
                    dot += (double)a[p * m + i] * b[j * k + p];
                }

                var expected = 2 * dot + 0.5 * c[j * m + i];
                Assert.That(got[j * m + i], Is.EqualTo(expected).Within(1e-4), $"C[{i},{j}]");
            }
        }
    }

    [Test]
    public void CublasGemmStridedBatchedExMatchesSgemmPerBatch()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireLibrary("cublas");
        const int m = 16, n = 8, k = 12, batches = 3;
        var a = RandomFloats(m * k * batches, 8);
        var b = RandomFloats(k * n * batches, 9);
        using var da = DeviceBuffer<float>.FromHost(context, a);
        using var db = DeviceBuffer<float>.FromHost(context, b);
        using var batched = context.Allocate<float>(m * n * batches);
        using var single = context.Allocate<float>(m * n);
        using var blas = new CublasHandle(context);
        blas.SetMathMode(CublasMathMode.Pedantic);

        blas.GemmStridedBatchedEx(CublasOperation.None, CublasOperation.None, m, n, k,
            1f, da.Pointer, CudaDataType.R32F, m, m * k, db.Pointer, CudaDataType.R32F, k, k * n,
            0f, batched.Pointer, CudaDataType.R32F, m, m * n, batches, CublasComputeType.Compute32FPedantic);
        var all = batched.ToArray();
        for (var batch = 0; batch < batches; batch++)
        {
            blas.GemmEx(CublasOperation.None, CublasOperation.None, m, n, k,
                1f, da.PointerAt(batch * m * k), CudaDataType.R32F, m, db.PointerAt(batch * k * n), CudaDataType.R32F, k,
                0f, single.Pointer, CudaDataType.R32F, m, CublasComputeType.Compute32FPedantic);
            Assert.That(single.ToArray(), Is.EqualTo(all[(batch * m * n)..((batch + 1) * m * n)]).Within(1e-5f), $"batch {batch}");
        }
    }

    [Test]
    public void CusolverCholeskyAndInverseMatchTheCpu()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireLibrary("cusolver");
        const int n = 24;
        var spd = SymmetricPositiveDefinite(n, 10); // symmetric, so row- and column-major agree
        var expectedL = CholeskyLower(spd, n);
        var expectedInverse = Inverse(spd, n);
        using var da = DeviceBuffer<float>.FromHost(context, spd.Select(v => (float)v).ToArray());
        using var solver = new CusolverHandle(context);

        var infoPotrf = solver.Spotrf(FillMode.Lower, n, da);
        var factor = da.ToArray();
        var infoPotri = solver.Spotri(FillMode.Lower, n, da);
        var inverse = da.ToArray();

        Assert.That(infoPotrf, Is.Zero);
        Assert.That(infoPotri, Is.Zero);
        Assert.That(CusolverHandle.Version, Is.GreaterThan(0));
        for (var j = 0; j < n; j++)
        {
            for (var i = j; i < n; i++) // lower triangle, column-major (i, j) at j*n+i
            {
                Assert.That(factor[j * n + i], Is.EqualTo(expectedL[i * n + j]).Within(1e-4), $"L[{i},{j}]");
                Assert.That(inverse[j * n + i], Is.EqualTo(expectedInverse[i * n + j]).Within(1e-4), $"inv[{i},{j}]");
            }
        }
    }

    [Test]
    public void CusolverReportsANonPositiveDefiniteMinor()
    {
        var context = GpuTestEnvironment.RequireGpu();
        GpuTestEnvironment.RequireLibrary("cusolver");
        float[] notSpd = [1, 2, 2, 1]; // eigenvalues 3 and -1
        using var da = DeviceBuffer<float>.FromHost(context, notSpd);
        using var solver = new CusolverHandle(context);

        Assert.That(solver.Spotrf(FillMode.Lower, 2, da), Is.EqualTo(2));
    }

    private static double[] SymmetricPositiveDefinite(int n, int seed)
    {
        var m = RandomFloats(n * n, seed);
        var a = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = 0.0;
                for (var p = 0; p < n; p++)
                {
                    sum += (double)m[i * n + p] * m[j * n + p];
                }

                a[i * n + j] = sum + (i == j ? n : 0);
            }
        }

        return a;
    }

    private static double[] CholeskyLower(double[] a, int n)
    {
        var l = new double[n * n];
        for (var j = 0; j < n; j++)
        {
            var diag = a[j * n + j];
            for (var p = 0; p < j; p++)
            {
                diag -= l[j * n + p] * l[j * n + p];
            }

            l[j * n + j] = Math.Sqrt(diag);
            for (var i = j + 1; i < n; i++)
            {
                var sum = a[i * n + j];
                for (var p = 0; p < j; p++)
                {
                    sum -= l[i * n + p] * l[j * n + p];
                }

                l[i * n + j] = sum / l[j * n + j];
            }
        }

        return l;
    }

    /// <summary>Gauss-Jordan inverse in double (row-major).</summary>
    private static double[] Inverse(double[] a, int n)
    {
        var work = (double[])a.Clone();
        var inv = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            inv[i * n + i] = 1;
        }

        for (var col = 0; col < n; col++)
        {
            var pivot = work[col * n + col];
            for (var j = 0; j < n; j++)
            {
                work[col * n + j] /= pivot;
                inv[col * n + j] /= pivot;
            }

            for (var row = 0; row < n; row++)
            {
                if (row == col)
                {
                    continue;
                }

                var factor = work[row * n + col];
                for (var j = 0; j < n; j++)
                {
                    work[row * n + j] -= factor * work[col * n + j];
                    inv[row * n + j] -= factor * inv[col * n + j];
                }
            }
        }

        return inv;
    }
}

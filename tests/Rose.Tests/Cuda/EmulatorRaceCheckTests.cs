using NUnit.Framework;
using Rose.Cuda;
using Rose.Native;
using Rose.Tests.Native;

namespace Rose.Tests.Cuda;

/// <summary>The CPU emulator's race check against our own kernels. In shared memory: a barrier taken out of
/// the kernel text makes the launch fail with both source lines. In device memory, between the threads of a
/// block or between blocks of a launch: a kernel run in place, or a grid-stride loop that strides too short,
/// fails the same way, as does an access outside every allocation that the guard page after it would miss, one
/// at an address that is not a multiple of its size, or a read of device memory nothing has written.
/// The kernels as they are pass (every other GPU test runs with the checks on too). Only the emulator checks
/// races in device memory: on a GPU, compute-sanitizer's racecheck covers shared memory (its memcheck finds
/// accesses out of bounds).</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public sealed class EmulatorRaceCheckTests
{
    private static CudaContext RequireEmulator()
    {
        var context = GpuTestEnvironment.RequireEmulator(
            "the race check is the CPU emulator's; on a GPU, run compute-sanitizer --tool racecheck (shared memory only)");
        GpuTestEnvironment.RequireNvrtc();
        if (Environment.GetEnvironmentVariable("ROSE_EMU_RACECHECK") == "0")
            Assert.Ignore("ROSE_EMU_RACECHECK=0 builds the emulator's kernels without the race check");
        return context;
    }

    /// <summary>A kernel file as it is, compiled afresh (no cache) and loaded.</summary>
    private static CudaModule LoadKernels(CudaContext context, string file) =>
        context.LoadModule(new KernelCompiler(cache: null).Compile(file, context).Image);

    /// <summary>The text with the <paramref name="occurrence"/>-th (from 1) <paramref name="statement"/> removed.</summary>
    private static string Without(string text, string statement, int occurrence)
    {
        int at = -1;
        for (int i = 0; i < occurrence; i++)
        {
            at = text.IndexOf(statement, at + 1, StringComparison.Ordinal);
            Assert.That(at, Is.GreaterThanOrEqualTo(0), $"the kernel text has {i} of {statement}, not {occurrence}");
        }

        return string.Concat(text.AsSpan(0, at), text.AsSpan(at + statement.Length));
    }

    /// <summary>Runs <paramref name="launch"/> and synchronizes; the emulator's reason when it fails, else null.</summary>
    private static string? RaceOf(CudaContext context, Action launch)
    {
        try
        {
            launch();
            context.Synchronize();
            return null;
        }
        catch (Exception e) when (e is CudaException or RoseException)
        {
            return EmulatorDriver.LastLaunchError();
        }
    }

    /// <summary>rose_rmsnorm_f32 (128 threads, 3 rows of 200) with rose_common.cuh's rose_block_sum edited by
    /// <paramref name="edit"/> (the function's text from its signature on, returned changed): the emulator's
    /// reason when the launch fails, else null. The kernel as it is runs clean.</summary>
    private static string? RmsNormWithBlockSum(CudaContext context, Func<string, string> edit)
    {
        const int rows = 3, dim = 200;
        var random = new Random(5);
        var x = Enumerable.Range(0, rows * dim).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        using var dx = DeviceBuffer<float>.FromHost(context, x);
        using var dw = DeviceBuffer<float>.FromHost(context, Enumerable.Repeat(1f, dim).ToArray());
        using var output = context.Allocate<float>(rows * dim);

        string? RmsNorm(IReadOnlyList<KeyValuePair<string, string>> headers)
        {
            using var module = context.LoadModule(new KernelCompiler(cache: null, headers).Compile("rmsnorm.cu", context).Image);
            var kernel = module.GetKernel("rose_rmsnorm_f32");
            return RaceOf(context, () => kernel.Launch(rows, 128, 0, null, output, dx, dw, rows, dim, 1e-5f));
        }

        var headers = KernelSources.Headers.ToList();
        int common = headers.FindIndex(h => h.Key == "rose_common.cuh");
        string text = headers[common].Value;
        int start = text.IndexOf("float rose_block_sum(", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThan(0), "rose_common.cuh defines rose_block_sum");
        headers[common] = new(headers[common].Key, string.Concat(text.AsSpan(0, start), edit(text[start..])));
        Assert.That(RmsNorm(KernelSources.Headers), Is.Null, "rmsnorm.cu as it is");
        return RmsNorm(headers);
    }

    [Test]
    public void BlockSumWithoutItsBarrierBetweenWriteAndReadRaces()
    {
        var context = RequireEmulator();
        // The second barrier of rose_block_sum: between lane 0 of each warp writing its partial sum and warp 0's lanes reading them.
        string? race = RmsNormWithBlockSum(context, blockSum =>
        {
            int second = blockSum.IndexOf("__syncthreads();", blockSum.IndexOf("__syncthreads();", StringComparison.Ordinal) + 1,
                StringComparison.Ordinal);
            return blockSum.Remove(second, "__syncthreads();".Length);
        });
        Assert.That(race, Does.Contain("shared-memory race").And.Contain("`scratch`").And.Contain("rose_common.cuh:"), race);
        TestContext.Out.WriteLine(race);
    }

    /// <summary>The initialization check in shared memory: rose_block_sum reading every lane's slot of `scratch`
    /// instead of only the slots of the block's warps sums what the block before left in the rest.</summary>
    [Test]
    public void BlockSumReadingSlotsNoWarpWroteReadsUnwrittenSharedMemory()
    {
        var context = RequireEmulator();
        const string guarded = "v = lane < warps ? scratch[lane] : 0.0f;";
        string? error = RmsNormWithBlockSum(context, blockSum =>
        {
            Assert.That(blockSum, Does.Contain(guarded), "rose_block_sum reads only its warps' slots");
            return blockSum.Replace(guarded, "v = scratch[lane];", StringComparison.Ordinal);
        });
        Assert.That(error, Does.Contain("read of unwritten shared memory in block").And.Contain("of `scratch` at rose_common.cuh:")
            .And.Contain("which no thread of the block has written"), error);
        TestContext.Out.WriteLine(error);
    }

    [Test]
    public void ObsSweepWithoutTheWarpBarrierAfterLoadingItsRowRaces()
    {
        var context = RequireEmulator();
        const int rows = 5, width = 40, warps = 2;
        var random = new Random(9);
        var w = Enumerable.Range(0, rows * width).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        // An upper factor with a unit diagonal and small terms above it.
        var u = new float[width * width];
        for (int i = 0; i < width; i++)
        for (int j = i; j < width; j++)
            u[i * width + j] = i == j ? 1f : 0.01f * (float)(random.NextDouble() - 0.5);
        using var du = DeviceBuffer<float>.FromHost(context, u);
        using var threshold = DeviceBuffer<float>.FromHost(context, [0.01f]);
        using var error = context.Allocate<float>(rows * width);
        using var loss = DeviceBuffer<float>.FromHost(context, new float[rows]);
        int shared = width * (width + 1) / 2 * sizeof(float) + warps * width * (sizeof(float) + 1);

        string? Sweep(string source)
        {
            using var dw = DeviceBuffer<float>.FromHost(context, w);
            using var module = context.LoadModule(new KernelCompiler(cache: null).CompileSource(source, "obs.cu", KernelCompiler.ArchitectureFor(context)).Image);
            var kernel = module.GetKernel("rose_obs_sweep");
            return RaceOf(context, () => kernel.Launch(1, warps * 32, shared, null,
                dw, width, rows, du, width, 0, width, 0, 0, threshold, error, width, loss, 1));
        }

        string obs = KernelSources.Get("obs.cu");
        Assert.That(Sweep(obs), Is.Null, "obs.cu as it is");
        string? race = Sweep(Without(obs, "__syncwarp();", 1));
        Assert.That(race, Does.Contain("shared-memory race").And.Contain("dynamic shared memory").And.Contain("obs.cu:"), race);
        TestContext.Out.WriteLine(race);
    }

    /// <summary>rose_reverse (out[k] = in[count−1−k]) run in place: over several blocks, a block reads what
    /// another block writes; in one block, thread k writes element k, which thread count−1−k reads, with no
    /// barrier between (and none would help: a thread's read and write are one step).</summary>
    [TestCase(4, 4096, "device-memory race between blocks", "in the same launch")]
    [TestCase(1, 200, "device-memory race in block (0,0,0)", "with no __syncthreads")]
    public void ReversingInPlaceRaces(int blocks, int count, string kind, string detail)
    {
        var context = RequireEmulator();
        var values = Enumerable.Range(0, count).Select(i => (float)i).ToArray();
        using var a = DeviceBuffer<float>.FromHost(context, values);
        using var b = context.Allocate<float>(count);
        using var module = LoadKernels(context, "cholesky.cu");
        var kernel = module.GetKernel("rose_reverse");

        Assert.That(RaceOf(context, () => kernel.Launch(blocks, 256, 0, null, a, b, (long)count)), Is.Null, "into another buffer");
        Assert.That(b.ToArray(), Is.EqualTo(values.Reverse().ToArray()));
        string? race = RaceOf(context, () => kernel.Launch(blocks, 256, 0, null, a, a, (long)count));
        Assert.That(race, Does.Contain(kind).And.Contain("-byte allocation at cholesky.cu:").And.Contain(detail), race);
        TestContext.Out.WriteLine(race);
    }

    /// <summary>The bounds check that comes with the race check: rose_reverse told of one element more than its
    /// output holds writes just past the output's end, short of the page that would fault, where a GPU's
    /// allocator may have put another allocation.</summary>
    [Test]
    public void ACountOneLongerThanTheOutputWritesOutOfBounds()
    {
        var context = RequireEmulator();
        const int count = 200;
        using var a = DeviceBuffer<float>.FromHost(context, new float[count]);
        using var shorter = context.Allocate<float>(count - 1);
        using var module = LoadKernels(context, "cholesky.cu");
        var kernel = module.GetKernel("rose_reverse");

        Assert.That(RaceOf(context, () => kernel.Launch(1, 256, 0, null, a, shorter, (long)count - 1)), Is.Null, "the count it holds");
        string? error = RaceOf(context, () => kernel.Launch(1, 256, 0, null, a, shorter, (long)count));
        Assert.That(error, Does.Contain("device-memory access out of bounds in block (0,0,0): thread (199,0,0) writes byte 796 of a 796-byte allocation at cholesky.cu:"), error);
        TestContext.Out.WriteLine(error);
    }

    /// <summary>The alignment check that comes with the race check: a GPU stops a kernel whose n-byte access is
    /// not at a multiple of n, where a CPU reads and writes anyway. rose_narrow_bf16 handed an output one byte
    /// into its buffer writes its 2-byte values at odd addresses.</summary>
    [Test]
    public void NarrowingToAnOddAddressIsMisaligned()
    {
        var context = RequireEmulator();
        const int count = 40;
        using var x = DeviceBuffer<float>.FromHost(context, Enumerable.Range(0, count).Select(i => (float)i).ToArray());
        using var y = context.Allocate<ushort>(count + 1);
        using var module = LoadKernels(context, "convert.cu");
        var kernel = module.GetKernel("rose_narrow_bf16");

        Assert.That(RaceOf(context, () => kernel.Launch(1, 256, 0, null, x, y.Pointer, (long)count)), Is.Null, "at the buffer's start");
        string? error = RaceOf(context, () => kernel.Launch(1, 256, 0, null, x, new CUdeviceptr(y.Pointer.Value + 1), (long)count));
        Assert.That(error, Does.Contain("misaligned 2-byte write in block (0,0,0)").And.Contain("byte 1 of a 82-byte allocation at rose_io.cuh:")
            .And.Contain("not a multiple of 2"), error);
        TestContext.Out.WriteLine(error);
    }

    /// <summary>The initialization check that comes with the race check: rose_reverse reading a buffer that was
    /// allocated and never written reads whatever the GPU left there (here the 0xff fill, NaN, which a max or a
    /// comparison would drop without a trace); once a memset has written it, the same launch is clean.</summary>
    [Test]
    public void ReversingAFreshAllocationReadsUnwrittenMemory()
    {
        var context = RequireEmulator();
        const int count = 300;
        using var fresh = context.Allocate<float>(count);
        using var output = context.Allocate<float>(count);
        using var module = LoadKernels(context, "cholesky.cu");
        var kernel = module.GetKernel("rose_reverse");

        string? error = RaceOf(context, () => kernel.Launch(2, 256, 0, null, fresh, output, (long)count));
        Assert.That(error, Does.Contain("read of unwritten device memory in block").And.Contain("of a 1200-byte allocation at cholesky.cu:"), error);
        TestContext.Out.WriteLine(error);
        fresh.ClearAsync(null);
        Assert.That(RaceOf(context, () => kernel.Launch(2, 256, 0, null, fresh, output, (long)count)), Is.Null, "after a memset");
    }

    /// <summary>The initialization check covers the emulated libraries' inputs too: a GEMM whose B was allocated
    /// and never written fails when its work runs (reported by the next synchronization, as a GPU reports a
    /// failed kernel), and runs once an upload has written B.</summary>
    [Test]
    public void AGemmReadingAnOperandNothingWroteFails()
    {
        var context = RequireEmulator();
        GpuTestEnvironment.RequireLibrary("cublas");
        const int m = 8, n = 5, k = 3;
        using var a = DeviceBuffer<float>.FromHost(context, new float[m * k]);
        using var b = context.Allocate<float>(k * n);
        using var c = context.Allocate<float>(m * n);
        using var blas = new CublasHandle(context);

        void Gemm() => blas.Sgemm(CublasOperation.None, CublasOperation.None, m, n, k, 1f, a.Pointer, m, b.Pointer, k, 0f, c.Pointer, m);
        Assert.Throws<CudaException>(() => { Gemm(); context.Synchronize(); }, "B was never written");
        b.CopyFrom(new float[k * n]);
        Assert.DoesNotThrow(() => { Gemm(); context.Synchronize(); }, "after an upload");
    }

    /// <summary>rose_set_identity's grid-stride loop striding one block instead of the grid: blocks write each other's elements.</summary>
    [Test]
    public void GridStrideLoopStridingOneBlockRacesBetweenBlocks()
    {
        var context = RequireEmulator();
        const int rows = 40, cols = 50;
        using var m = context.Allocate<float>(rows * cols);

        string? SetIdentity(string source)
        {
            using var module = context.LoadModule(new KernelCompiler(cache: null).CompileSource(source, "cholesky.cu", KernelCompiler.ArchitectureFor(context)).Image);
            var kernel = module.GetKernel("rose_set_identity");
            return RaceOf(context, () => kernel.Launch(3, 128, 0, null, m, rows, cols));
        }

        string cholesky = KernelSources.Get("cholesky.cu");
        int kernelAt = cholesky.IndexOf("rose_set_identity(", StringComparison.Ordinal);
        const string stride = "idx += (long long)gridDim.x * blockDim.x";
        int strideAt = cholesky.IndexOf(stride, kernelAt, StringComparison.Ordinal);
        Assert.That(kernelAt >= 0 && strideAt > kernelAt, "cholesky.cu's rose_set_identity strides over the grid");

        Assert.That(SetIdentity(cholesky), Is.Null, "cholesky.cu as it is");
        string? race = SetIdentity(string.Concat(cholesky.AsSpan(0, strideAt), "idx += blockDim.x", cholesky.AsSpan(strideAt + stride.Length)));
        Assert.That(race, Does.Contain("device-memory race between blocks").And.Contain(" wrote at cholesky.cu:"), race);
        TestContext.Out.WriteLine(race);
    }
}

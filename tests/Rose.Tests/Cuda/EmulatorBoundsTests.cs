using NUnit.Framework;
using Rose.Native;
using Rose.Tests.Native;

namespace Rose.Tests.Cuda;

/// <summary>The CPU emulator's bounds check on library calls: cuBLAS and cuSOLVER read and write their
/// operands without looking at their allocations, so on a GPU a leading dimension or a size one too large
/// reads or writes past the end of a buffer. The emulated libraries refuse such a call instead, naming the
/// operand; a call whose operands fit runs. (Kernels are checked by the race check's bounds check,
/// <see cref="EmulatorRaceCheckTests"/>.)</summary>
[TestFixture, Category("Gpu"), NonParallelizable]
public sealed class EmulatorBoundsTests
{
    private const string OnAGpu = "the bounds check of library operands is the CPU emulator's; on a GPU, run compute-sanitizer --tool memcheck";

    [Test]
    public void AGemmWhoseOutputDoesNotFitIsRefused()
    {
        var context = GpuTestEnvironment.RequireEmulator(OnAGpu);
        GpuTestEnvironment.RequireLibrary("cublas");
        const int m = 8, n = 5, k = 3;
        using var a = DeviceBuffer<float>.FromHost(context, new float[m * k]);
        using var b = DeviceBuffer<float>.FromHost(context, new float[k * n]);
        using var c = DeviceBuffer<float>.FromHost(context, new float[m * n]);
        using var shortC = DeviceBuffer<float>.FromHost(context, new float[m * n - 1]);
        using var blas = new CublasHandle(context);

        Assert.DoesNotThrow(() => blas.Sgemm(CublasOperation.None, CublasOperation.None, m, n, k, 1f, a.Pointer, m, b.Pointer, k, 0f, c.Pointer, m));
        context.Synchronize();
        var e = Assert.Throws<CudaException>(() =>
            blas.Sgemm(CublasOperation.None, CublasOperation.None, m, n, k, 1f, a.Pointer, m, b.Pointer, k, 0f, shortC.Pointer, m));
        Assert.That(e!.StatusName, Is.EqualTo("CUBLAS_STATUS_INVALID_VALUE"));
        // Reading A as k × m (transposed) with lda = k + 1 reaches past its m·k floats too.
        e = Assert.Throws<CudaException>(() =>
            blas.Sgemm(CublasOperation.Transpose, CublasOperation.None, m, n, k, 1f, a.Pointer, k + 1, b.Pointer, k, 0f, c.Pointer, m));
        Assert.That(e!.StatusName, Is.EqualTo("CUBLAS_STATUS_INVALID_VALUE"));
    }

    [Test]
    public void ACholeskyOfAMatrixLargerThanItsBufferIsRefused()
    {
        var context = GpuTestEnvironment.RequireEmulator(OnAGpu);
        GpuTestEnvironment.RequireLibrary("cusolver");
        const int n = 6;
        var h = new float[n * n];
        for (int i = 0; i < n; i++) h[i * n + i] = 2f;
        using var a = DeviceBuffer<float>.FromHost(context, h);
        using var solver = new CusolverHandle(context);

        Assert.That(solver.Spotrf(FillMode.Lower, n, a.Pointer, n), Is.EqualTo(0), "the n × n it holds");
        var e = Assert.Throws<CudaException>(() => solver.Spotrf(FillMode.Lower, n + 1, a.Pointer, n + 1));
        Assert.That(e!.StatusName, Does.Contain("INVALID_VALUE"));
    }
}

using Rose.Native.Interop;

namespace Rose.Native;

public enum FillMode
{
    Lower = 0,
    Upper = 1,
}

/// <summary>
/// A cuSOLVER dense handle. The typed methods allocate their workspace and devInfo, wait for the
/// result and return devInfo: 0 on success, i &gt; 0 when the leading minor of order i is not
/// positive definite, i &lt; 0 when argument -i was wrong.
/// </summary>
public sealed unsafe class CusolverHandle : IDisposable
{
    private IntPtr _handle;
    private CudaStream? _stream;

    public CusolverHandle(CudaContext context)
    {
        CudaLibraries.Require(CudaLibrarySearch.Cusolver, nameof(CusolverApi.cusolverDnCreate));
        Context = context;
        context.MakeCurrent();
        IntPtr handle;
        CusolverApi.Check(CusolverApi.cusolverDnCreate(&handle), nameof(CusolverApi.cusolverDnCreate));
        _handle = handle;
    }

    public CudaContext Context { get; }

    public IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
            return _handle;
        }
    }

    /// <summary>cuSOLVER version as major*1000 + minor*100 + patch (cusolverGetVersion's encoding).</summary>
    public static int Version
    {
        get
        {
            CudaLibraries.Require(CudaLibrarySearch.Cusolver, nameof(CusolverApi.cusolverGetProperty));
            int major, minor, patch;
            CusolverApi.Check(CusolverApi.cusolverGetProperty(CusolverApi.MAJOR_VERSION, &major), nameof(CusolverApi.cusolverGetProperty));
            CusolverApi.Check(CusolverApi.cusolverGetProperty(CusolverApi.MINOR_VERSION, &minor), nameof(CusolverApi.cusolverGetProperty));
            CusolverApi.Check(CusolverApi.cusolverGetProperty(CusolverApi.PATCH_LEVEL, &patch), nameof(CusolverApi.cusolverGetProperty));
            return major * 1000 + minor * 100 + patch;
        }
    }

    public void SetStream(CudaStream? stream)
    {
        CusolverApi.Check(CusolverApi.cusolverDnSetStream(Handle, CudaStream.HandleOf(stream)), nameof(CusolverApi.cusolverDnSetStream));
        _stream = stream;
    }

    /// <summary>In-place Cholesky factorisation of the n×n column-major matrix <paramref name="a"/>.</summary>
    public int Spotrf(FillMode uplo, int n, CUdeviceptr a, int lda)
    {
        Context.MakeCurrent();
        int lwork;
        CusolverApi.Check(CusolverApi.cusolverDnSpotrf_bufferSize(Handle, (int)uplo, n, a.Value, lda, &lwork),
            nameof(CusolverApi.cusolverDnSpotrf_bufferSize));
        int floats = lwork;
        return RunWithWorkspace((long)floats * sizeof(float), (work, info) =>
            CusolverApi.cusolverDnSpotrf(Handle, (int)uplo, n, a.Value, lda, work, floats, info), nameof(CusolverApi.cusolverDnSpotrf));
    }

    public int Spotrf(FillMode uplo, int n, DeviceBuffer<float> a) => Spotrf(uplo, n, CheckSquare(a, n), n);

    /// <summary>Inverse of an SPD matrix from its Cholesky factor (output of <see cref="Spotrf(FillMode,int,CUdeviceptr,int)"/>), in place; only the <paramref name="uplo"/> triangle is written.</summary>
    public int Spotri(FillMode uplo, int n, CUdeviceptr a, int lda)
    {
        Context.MakeCurrent();
        try
        {
            int lwork;
            CusolverApi.Check(CusolverApi.cusolverDnSpotri_bufferSize(Handle, (int)uplo, n, a.Value, lda, &lwork),
                nameof(CusolverApi.cusolverDnSpotri_bufferSize));
            int floats = lwork;
            return RunWithWorkspace((long)floats * sizeof(float), (work, info) =>
                CusolverApi.cusolverDnSpotri(Handle, (int)uplo, n, a.Value, lda, work, floats, info), nameof(CusolverApi.cusolverDnSpotri));
        }
        catch (EntryPointNotFoundException e)
        {
            // potri is deprecated in newer cuSOLVER releases; say so instead of a bare loader error.
            throw CudaException.EntryPointMissing(CudaLibrarySearch.Cusolver, nameof(CusolverApi.cusolverDnSpotri), e);
        }
    }

    public int Spotri(FillMode uplo, int n, DeviceBuffer<float> a) => Spotri(uplo, n, CheckSquare(a, n), n);

    /// <summary>In-place inverse of the non-unit triangular fp32 matrix in the <paramref name="uplo"/>
    /// triangle of the column-major <paramref name="a"/> (cusolverDnXtrtri, cuSOLVER 11.2+); the other
    /// triangle is untouched. devInfo i &gt; 0: A(i,i) = 0.</summary>
    public int Strtri(FillMode uplo, int n, CUdeviceptr a, int lda)
    {
        Context.MakeCurrent();
        try
        {
            const int nonUnit = 0, r32f = 0;
            nuint deviceBytes, hostBytes;
            CusolverApi.Check(CusolverApi.cusolverDnXtrtri_bufferSize(Handle, (int)uplo, nonUnit, n, r32f, a.Value, lda, &deviceBytes, &hostBytes),
                nameof(CusolverApi.cusolverDnXtrtri_bufferSize));
            nuint onDevice = deviceBytes, onHost = hostBytes;
            void* host = onHost > 0 ? System.Runtime.InteropServices.NativeMemory.Alloc(onHost) : null;
            try
            {
                return RunWithWorkspace((long)onDevice, (work, info) => CusolverApi.cusolverDnXtrtri(Handle, (int)uplo, nonUnit, n, r32f,
                    a.Value, lda, work, onDevice, host, onHost, info), nameof(CusolverApi.cusolverDnXtrtri));
            }
            finally
            {
                if (host != null) System.Runtime.InteropServices.NativeMemory.Free(host);
            }
        }
        catch (EntryPointNotFoundException e)
        {
            throw CudaException.EntryPointMissing(CudaLibrarySearch.Cusolver, nameof(CusolverApi.cusolverDnXtrtri), e);
        }
    }

    /// <summary>Solves A·X = B for <paramref name="nrhs"/> columns of B (overwritten) from A's Cholesky factor.</summary>
    public int Spotrs(FillMode uplo, int n, int nrhs, CUdeviceptr a, int lda, CUdeviceptr b, int ldb)
    {
        Context.MakeCurrent();
        using var info = new DeviceBuffer<int>(Context, 1);
        CusolverApi.Check(CusolverApi.cusolverDnSpotrs(Handle, (int)uplo, n, nrhs, a.Value, lda, b.Value, ldb, info.Pointer.Value),
            nameof(CusolverApi.cusolverDnSpotrs));
        return ReadInfo(info);
    }

    /// <summary>Runs a solver call with a device workspace of <paramref name="workBytes"/> and a devInfo
    /// word (their addresses are the call's arguments), and returns devInfo once the call is done.</summary>
    private int RunWithWorkspace(long workBytes, Func<ulong, ulong, int> call, string function)
    {
        using var work = new DeviceBuffer<byte>(Context, Math.Max(workBytes, 1));
        using var info = new DeviceBuffer<int>(Context, 1);
        CusolverApi.Check(call(work.Pointer.Value, info.Pointer.Value), function);
        return ReadInfo(info);
    }

    private int ReadInfo(DeviceBuffer<int> info)
    {
        // The copy is on the legacy default stream; wait for the solver's stream first when it has one.
        _stream?.Synchronize();
        Span<int> value = stackalloc int[1];
        info.CopyTo(value);
        return value[0];
    }

    private static CUdeviceptr CheckSquare(DeviceBuffer<float> a, int n)
    {
        if (a.Length < (long)n * n)
        {
            throw new ArgumentException($"a {n}x{n} matrix needs {(long)n * n} floats, the buffer holds {a.Length}", nameof(a));
        }

        return a.Pointer;
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
        {
            return;
        }

        var handle = _handle;
        _handle = IntPtr.Zero;
        Context.MakeCurrent();
        CusolverApi.Check(CusolverApi.cusolverDnDestroy(handle), nameof(CusolverApi.cusolverDnDestroy));
    }
}

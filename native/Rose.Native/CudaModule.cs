using System.Text;
using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>A loaded CUBIN or PTX image; kernels are looked up by their extern "C" name.</summary>
public sealed unsafe class CudaModule : IDisposable
{
    private readonly Dictionary<string, CudaKernel> _kernels = new(StringComparer.Ordinal);
    private IntPtr _handle;

    internal CudaModule(CudaContext context, ReadOnlySpan<byte> image)
    {
        Context = context;
        context.MakeCurrent();
        // PTX must be NUL-terminated text; a trailing zero after an ELF/fatbin image is harmless.
        var copy = new byte[image.Length + 1];
        image.CopyTo(copy);
        IntPtr handle;
        fixed (byte* p = copy)
        {
            CuDriver.Check(CuDriver.cuModuleLoadData(&handle, p), nameof(CuDriver.cuModuleLoadData));
        }

        _handle = handle;
    }

    public static CudaModule Load(CudaContext context, ReadOnlySpan<byte> image) => new(context, image);

    public CudaContext Context { get; }

    public IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
            return _handle;
        }
    }

    /// <summary>The kernel named <paramref name="name"/>; throws CUDA_ERROR_NOT_FOUND when absent.</summary>
    public CudaKernel GetKernel(string name)
    {
        lock (_kernels)
        {
            if (_kernels.TryGetValue(name, out var cached))
            {
                return cached;
            }

            Context.MakeCurrent();
            var utf8 = Encoding.UTF8.GetBytes(name + "\0");
            IntPtr function;
            fixed (byte* p = utf8)
            {
                var result = CuDriver.cuModuleGetFunction(&function, Handle, p);
                if (result != 0)
                {
                    var error = CuDriver.Error(result, nameof(CuDriver.cuModuleGetFunction));
                    throw new CudaException(error.Library, error.Function, error.Status, error.StatusName,
                        $"{error.Description}: kernel '{name}'");
                }
            }

            var kernel = new CudaKernel(this, name, function);
            _kernels.Add(name, kernel);
            return kernel;
        }
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
        {
            return;
        }

        Context.MakeCurrent();
        var handle = _handle;
        _handle = IntPtr.Zero;
        CuDriver.Check(CuDriver.cuModuleUnload(handle), nameof(CuDriver.cuModuleUnload));
    }
}

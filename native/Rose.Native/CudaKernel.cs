using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>A kernel function of a loaded module; valid while the module is.</summary>
public sealed unsafe class CudaKernel
{
    internal CudaKernel(CudaModule module, string name, IntPtr handle)
    {
        Module = module;
        Name = name;
        Handle = handle;
    }

    public CudaModule Module { get; }
    public string Name { get; }
    public IntPtr Handle { get; }

    /// <summary>
    /// Launches with typed arguments in the kernel's parameter order. Each argument's bits live in
    /// a stack slot whose address goes into the void** array cuLaunchKernel reads.
    /// </summary>
    public void Launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream? stream, params ReadOnlySpan<KernelArg> args)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        var count = args.Length;
        var slots = stackalloc ulong[Math.Max(count, 1)];
        var pointers = stackalloc void*[Math.Max(count, 1)];
        for (var i = 0; i < count; i++)
        {
            slots[i] = args[i].Bits;
            pointers[i] = &slots[i];
        }

        Module.Context.MakeCurrent();
        var result = CuDriver.cuLaunchKernel(Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            (uint)sharedBytes, CudaStream.HandleOf(stream), pointers, null);
        if (result != 0)
        {
            var error = CuDriver.Error(result, nameof(CuDriver.cuLaunchKernel));
            throw new CudaException(error.Library, error.Function, error.Status, error.StatusName,
                $"{error.Description}: kernel '{Name}' grid ({grid.X},{grid.Y},{grid.Z}) block ({block.X},{block.Y},{block.Z}) shared {sharedBytes} B");
        }
    }
}

using System.Runtime.InteropServices;

namespace Rose.Native;

/// <summary>
/// One kernel parameter, stored by value in 8 bytes with its size. The implicit conversions let a
/// launch read like a call: <c>kernel.Launch(grid, block, 0, stream, y, x, 1.5f, n)</c>. The C#
/// type must match the kernel's parameter type exactly (int vs long matters).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct KernelArg
{
    private readonly ulong _bits;

    private KernelArg(ulong bits, int size)
    {
        _bits = bits;
        Size = size;
    }

    public int Size { get; }

    internal ulong Bits => _bits;

    public static KernelArg From(int value) => new((uint)value, sizeof(int));
    public static KernelArg From(uint value) => new(value, sizeof(uint));
    public static KernelArg From(long value) => new((ulong)value, sizeof(long));
    public static KernelArg From(ulong value) => new(value, sizeof(ulong));
    public static KernelArg From(float value) => new(BitConverter.SingleToUInt32Bits(value), sizeof(float));
    public static KernelArg From(double value) => new(BitConverter.DoubleToUInt64Bits(value), sizeof(double));
    public static KernelArg From(IntPtr value) => new((ulong)value, IntPtr.Size);
    public static KernelArg From(CUdeviceptr value) => new(value.Value, sizeof(ulong));

    public static implicit operator KernelArg(int value) => From(value);
    public static implicit operator KernelArg(uint value) => From(value);
    public static implicit operator KernelArg(long value) => From(value);
    public static implicit operator KernelArg(ulong value) => From(value);
    public static implicit operator KernelArg(float value) => From(value);
    public static implicit operator KernelArg(double value) => From(value);
    public static implicit operator KernelArg(IntPtr value) => From(value);
    public static implicit operator KernelArg(CUdeviceptr value) => From(value);
}

/// <summary>Grid or block dimensions; an int converts to (x, 1, 1).</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(int x) => new(checked((uint)x));
    public static implicit operator Dim3(uint x) => new(x);

    /// <summary>Blocks needed to cover <paramref name="n"/> items with <paramref name="perBlock"/> each.</summary>
    public static Dim3 Cover(long n, int perBlock) => new(checked((uint)((n + perBlock - 1) / perBlock)));
}

namespace Rose.Native;

/// <summary>A device address, as the driver API passes it (64-bit).</summary>
public readonly record struct CUdeviceptr(ulong Value)
{
    public static CUdeviceptr Null => default;

    public bool IsNull => Value == 0;

    public CUdeviceptr AddBytes(long bytes) => new((ulong)((long)Value + bytes));

    public override string ToString() => $"0x{Value:x}";
}

using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rose.SafeTensors;

/// <summary>Conversions between float32 and the 16-bit and 64-bit storage formats.</summary>
public static class FloatConversion
{
    /// <summary>bfloat16 is the top half of a float32, so widening is exact.</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even to bfloat16, NaN to the canonical quiet NaN 0x7FC0 (as torch does).</summary>
    public static ushort SingleToBFloat16(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort src = ref MemoryMarshal.GetReference(source);
            ref float dst = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var packed = Vector256.LoadUnsafe(ref src, (nuint)i);
                var (lo, hi) = Vector256.Widen(packed);
                Vector256.ShiftLeft(lo, 16).AsSingle().StoreUnsafe(ref dst, (nuint)i);
                Vector256.ShiftLeft(hi, 16).AsSingle().StoreUnsafe(ref dst, (nuint)(i + Vector256<uint>.Count));
            }
        }
        for (; i < source.Length; i++)
            destination[i] = BFloat16ToSingle(source[i]);
    }

    public static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckLengths(source.Length, destination.Length);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float src = ref MemoryMarshal.GetReference(source);
            ref ushort dst = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var lo = RoundToBFloat16(Vector256.LoadUnsafe(ref src, (nuint)i));
                var hi = RoundToBFloat16(Vector256.LoadUnsafe(ref src, (nuint)(i + Vector256<float>.Count)));
                // Narrow keeps the low 16 bits of each lane, where the rounded result sits.
                Vector256.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        for (; i < source.Length; i++)
            destination[i] = SingleToBFloat16(source[i]);
    }

    /// <summary>Eight values rounded to bfloat16 as <see cref="SingleToBFloat16(float)"/> rounds each: the bits in the low half of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> RoundToBFloat16(Vector256<float> value)
    {
        var bits = value.AsUInt32();
        var bias = Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(bits, 16) & Vector256<uint>.One);
        var rounded = Vector256.ShiftRightLogical(bits + bias, 16);
        var isNumber = Vector256.Equals(value, value).AsUInt32();
        return Vector256.ConditionalSelect(isNumber, rounded, Vector256.Create(0x7FC0u));
    }

    public static void HalfToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToSingle(source, destination);
    }

    public static void SingleToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToHalf(source, destination);
    }

    public static void DoubleToSingle(ReadOnlySpan<double> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
            destination[i] = (float)source[i];
    }

    /// <summary>Converts <paramref name="destination"/>.Length elements of <paramref name="dtype"/>
    /// stored little-endian in <paramref name="source"/> to float32.</summary>
    public static void ToSingle(DType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if ((long)destination.Length * dtype.ElementSize() != source.Length)
            throw new ArgumentException($"{source.Length} bytes of {dtype.ToSafeTensorsString()} do not hold {destination.Length} elements");
        switch (dtype)
        {
            case DType.F32: MemoryMarshal.Cast<byte, float>(source).CopyTo(destination); break;
            case DType.F16: HalfToSingle(MemoryMarshal.Cast<byte, Half>(source), destination); break;
            case DType.BF16: BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination); break;
            case DType.F64: DoubleToSingle(MemoryMarshal.Cast<byte, double>(source), destination); break;
            default: throw new ArgumentException($"{dtype.ToSafeTensorsString()} is not a floating-point dtype", nameof(dtype));
        }
    }

    /// <summary>Converts float32 to <paramref name="dtype"/> (F32, F16 or BF16), writing little-endian bytes.</summary>
    public static void FromSingle(DType dtype, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if ((long)source.Length * dtype.ElementSize() != destination.Length)
            throw new ArgumentException($"{destination.Length} bytes of {dtype.ToSafeTensorsString()} do not hold {source.Length} elements");
        switch (dtype)
        {
            case DType.F32: MemoryMarshal.AsBytes(source).CopyTo(destination); break;
            case DType.F16: SingleToHalf(source, MemoryMarshal.Cast<byte, Half>(destination)); break;
            case DType.BF16: SingleToBFloat16(source, MemoryMarshal.Cast<byte, ushort>(destination)); break;
            case DType.F64:
                var doubles = MemoryMarshal.Cast<byte, double>(destination);
                for (int i = 0; i < source.Length; i++) doubles[i] = source[i];
                break;
            default: throw new ArgumentException($"cannot store float32 values as {dtype.ToSafeTensorsString()}", nameof(dtype));
        }
    }

    private static void CheckLengths(int source, int destination)
    {
        if (source != destination)
            throw new ArgumentException($"source has {source} elements but destination has {destination}");
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rose.SafeTensors;

/// <summary>Rounds float32 values to the nearest value of a 16-bit dtype and keeps them as float32, so fp32
/// buffers can hold tensors the reference keeps in that dtype. BF16: round to nearest even, NaN to the
/// canonical quiet NaN. F16: exactly the float32 → float16 → float32 casts (nearest even, float16's
/// subnormals, ±inf from 65520 up), NaN stays a NaN. F32: unchanged.
/// The 16-bit forward rounds every element of RoPE and SwiGLU several times, so the F16 rounding is done
/// with integer and float arithmetic here rather than through <see cref="Half"/>, whose casts cost about
/// four times as much per value.</summary>
public static class FloatRounding
{
    private const uint SignMask = 0x8000_0000;
    private const uint AbsMask = 0x7FFF_FFFF;
    private const uint Infinity = 0x7F80_0000;
    /// <summary>65520: halfway between float16's largest finite value 65504 and 65536; it and everything
    /// above round to infinity (the tie goes to the even neighbour, which is the overflow).</summary>
    private const uint HalfOverflow = 0x477F_F000;
    /// <summary>2⁻¹⁴, float16's smallest normal value; below it float16 has the fixed spacing 2⁻²⁴.</summary>
    private const uint HalfMinNormal = 0x3880_0000;
    /// <summary>Float32 spacing at 0.5 is 2⁻²⁴, so adding 0.5 rounds a value below 2⁻¹⁴ to float16's
    /// subnormal grid (nearest even), and subtracting it again is exact.</summary>
    private const float SubnormalShift = 0.5f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(DType dtype, float value) => dtype switch
    {
        DType.F32 => value,
        DType.BF16 => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(value)),
        DType.F16 => RoundToHalf(value),
        _ => throw Unsupported(dtype),
    };

    /// <summary>Rounds every value in place as <see cref="Round(DType, float)"/> does.</summary>
    public static void RoundInPlace(DType dtype, Span<float> values)
    {
        if (dtype == DType.F32) return;
        if (dtype is not (DType.BF16 or DType.F16)) throw Unsupported(dtype);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float v = ref MemoryMarshal.GetReference(values);
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                Round(dtype, Vector256.LoadUnsafe(ref v, (nuint)i)).StoreUnsafe(ref v, (nuint)i);
        }
        for (; i < values.Length; i++)
            values[i] = Round(dtype, values[i]);
    }

    /// <summary>Eight values rounded as <see cref="Round(DType, float)"/> rounds each (dtype F32, BF16 or F16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Round(DType dtype, Vector256<float> value) => dtype switch
    {
        DType.F32 => value,
        DType.BF16 => Vector256.ShiftLeft(FloatConversion.RoundToBFloat16(value), 16).AsSingle(),
        _ => RoundToHalf(value),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RoundToHalf(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint abs = bits & AbsMask;
        uint sign = bits & SignMask;
        if (abs >= HalfOverflow)
            return abs > Infinity ? value : BitConverter.UInt32BitsToSingle(sign | Infinity);
        if (abs < HalfMinNormal)
        {
            float onGrid = (BitConverter.UInt32BitsToSingle(abs) + SubnormalShift) - SubnormalShift;
            return BitConverter.UInt32BitsToSingle(sign | BitConverter.SingleToUInt32Bits(onGrid));
        }
        // Normal in float16: keep 10 of the 23 fraction bits, nearest even; a carry moves into the exponent.
        uint rounded = (abs + 0xFFFu + ((abs >> 13) & 1u)) & ~0x1FFFu;
        return BitConverter.UInt32BitsToSingle(sign | rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> RoundToHalf(Vector256<float> value)
    {
        var bits = value.AsUInt32();
        var abs = bits & Vector256.Create(AbsMask);
        var sign = bits & Vector256.Create(SignMask);
        var normal = (abs + Vector256.Create(0xFFFu) + (Vector256.ShiftRightLogical(abs, 13) & Vector256<uint>.One))
                     & Vector256.Create(~0x1FFFu);
        var shift = Vector256.Create(SubnormalShift);
        var subnormal = ((abs.AsSingle() + shift) - shift).AsUInt32();
        var isSubnormal = Vector256.LessThan(abs, Vector256.Create(HalfMinNormal));
        var overflows = Vector256.GreaterThanOrEqual(abs, Vector256.Create(HalfOverflow));
        var magnitude = Vector256.ConditionalSelect(isSubnormal, subnormal,
            Vector256.ConditionalSelect(overflows, Vector256.Create(Infinity), normal));
        var rounded = (sign | magnitude).AsSingle();
        // NaN keeps its own bits (a NaN either way).
        return Vector256.ConditionalSelect(Vector256.Equals(value, value), rounded, value);
    }

    private static ArgumentException Unsupported(DType dtype) =>
        new($"values are not rounded to {dtype.ToSafeTensorsString()}", nameof(dtype));
}

namespace Rose.SafeTensors;

/// <summary>Element types a safetensors file can hold (the subset Rose reads and writes).</summary>
public enum DType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

/// <summary>Sizes and the names a <see cref="DType"/> goes by in safetensors headers and HF configs.</summary>
public static class DTypes
{
    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.I8 or DType.U8 or DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>The spelling used in a safetensors header ("F32", "BOOL", ...).</summary>
    public static string ToSafeTensorsString(this DType dtype) => dtype switch
    {
        DType.F64 => "F64",
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.I64 => "I64",
        DType.I32 => "I32",
        DType.I16 => "I16",
        DType.I8 => "I8",
        DType.U8 => "U8",
        DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Parses a safetensors header dtype; the format is case-sensitive, so are we.</summary>
    public static bool TryParseSafeTensors(string? text, out DType dtype)
    {
        switch (text)
        {
            case "F64": dtype = DType.F64; return true;
            case "F32": dtype = DType.F32; return true;
            case "F16": dtype = DType.F16; return true;
            case "BF16": dtype = DType.BF16; return true;
            case "I64": dtype = DType.I64; return true;
            case "I32": dtype = DType.I32; return true;
            case "I16": dtype = DType.I16; return true;
            case "I8": dtype = DType.I8; return true;
            case "U8": dtype = DType.U8; return true;
            case "BOOL": dtype = DType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    public static DType ParseSafeTensors(string text) =>
        TryParseSafeTensors(text, out var dtype)
            ? dtype
            : throw new RoseException($"unknown safetensors dtype '{text}' (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");

    /// <summary>Maps a HF config <c>torch_dtype</c> ("float32", "bfloat16", also "torch.float16") to a dtype.</summary>
    public static bool TryParseTorchDtype(string? text, out DType dtype)
    {
        var name = text is not null && text.StartsWith("torch.", StringComparison.Ordinal) ? text[6..] : text;
        switch (name)
        {
            case "float32" or "float": dtype = DType.F32; return true;
            case "float16" or "half": dtype = DType.F16; return true;
            case "bfloat16": dtype = DType.BF16; return true;
            case "float64" or "double": dtype = DType.F64; return true;
            default: dtype = default; return false;
        }
    }

    public static DType ParseTorchDtype(string text) =>
        TryParseTorchDtype(text, out var dtype)
            ? dtype
            : throw new RoseException($"unsupported torch_dtype '{text}' (expected float32, float16 or bfloat16)");

    /// <summary>True for the dtypes <c>ReadFloat32</c> can convert from.</summary>
    public static bool IsFloatingPoint(this DType dtype) =>
        dtype is DType.F64 or DType.F32 or DType.F16 or DType.BF16;
}

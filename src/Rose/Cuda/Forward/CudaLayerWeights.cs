using Rose.Modeling;
using Rose.Native;
using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>One decoder layer's parameters on the device: the seven linears in the compute dtype,
/// both RMSNorm weights in fp32. Uploaded from the fp32 <see cref="DecoderLayerWeights"/>, so a
/// pruned layer goes up exactly like a loaded one.</summary>
public sealed class CudaLayerWeights : IDisposable
{
    private readonly Dictionary<LinearKind, DeviceLinear> _linears;

    private CudaLayerWeights(DeviceBuffer<float> inputNorm, DeviceBuffer<float> postNorm, Dictionary<LinearKind, DeviceLinear> linears,
        int? attentionWindow)
    {
        InputNorm = inputNorm;
        PostAttentionNorm = postNorm;
        _linears = linears;
        AttentionWindow = attentionWindow;
    }

    /// <summary>The layer's sliding-window length, or null for full causal attention (<see cref="DecoderLayerWeights.AttentionWindow"/>).</summary>
    public int? AttentionWindow { get; }

    public DeviceBuffer<float> InputNorm { get; }
    public DeviceBuffer<float> PostAttentionNorm { get; }
    public DeviceLinear this[LinearKind kind] => _linears[kind];

    public static CudaLayerWeights Upload(CudaContext context, DecoderLayerWeights layer, DType dtype, PinnedStaging? staging = null)
    {
        var linears = new Dictionary<LinearKind, DeviceLinear>();
        DeviceBuffer<float>? input = null, post = null;
        try
        {
            input = UploadVector(context, layer.InputNorm, staging);
            post = UploadVector(context, layer.PostAttentionNorm, staging);
            foreach (var kind in LinearKinds.All) linears[kind] = new DeviceLinear(context, layer[kind], dtype, staging);
            return new CudaLayerWeights(input, post, linears, layer.AttentionWindow);
        }
        catch
        {
            input?.Dispose();
            post?.Dispose();
            foreach (var l in linears.Values) l.Dispose();
            throw;
        }
    }

    /// <summary>Through the staging's stream when there is one: a plain copy would run on the legacy
    /// stream and wait for every kernel queued before it, which is what a prefetch must not do.</summary>
    internal static DeviceBuffer<float> UploadVector(CudaContext context, float[] values, PinnedStaging? staging)
    {
        if (staging is null) return DeviceBuffer<float>.FromHost(context, values);
        var buffer = DeviceBuffer<float>.Allocate(context, values.Length);
        try
        {
            staging.Upload<float>(values, buffer.Pointer);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        InputNorm.Dispose();
        PostAttentionNorm.Dispose();
        foreach (var l in _linears.Values) l.Dispose();
    }
}

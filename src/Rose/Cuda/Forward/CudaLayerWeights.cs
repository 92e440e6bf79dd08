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

    private CudaLayerWeights(DeviceBuffer<float> inputNorm, DeviceBuffer<float> postNorm, Dictionary<LinearKind, DeviceLinear> linears)
    {
        InputNorm = inputNorm;
        PostAttentionNorm = postNorm;
        _linears = linears;
    }

    public DeviceBuffer<float> InputNorm { get; }
    public DeviceBuffer<float> PostAttentionNorm { get; }
    public DeviceLinear this[LinearKind kind] => _linears[kind];

    public static CudaLayerWeights Upload(CudaContext context, DecoderLayerWeights layer, DType dtype, PinnedStaging? staging = null)
    {
        var linears = new Dictionary<LinearKind, DeviceLinear>();
        DeviceBuffer<float>? input = null, post = null;
        try
        {
            input = DeviceBuffer<float>.FromHost(context, layer.InputNorm);
            post = DeviceBuffer<float>.FromHost(context, layer.PostAttentionNorm);
            foreach (var kind in LinearKinds.All) linears[kind] = new DeviceLinear(context, layer[kind], dtype, staging);
            return new CudaLayerWeights(input, post, linears);
        }
        catch
        {
            input?.Dispose();
            post?.Dispose();
            foreach (var l in linears.Values) l.Dispose();
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

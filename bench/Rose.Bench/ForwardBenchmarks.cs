using BenchmarkDotNet.Attributes;
using Rose.Modeling;

namespace Rose.Bench;

/// <summary>One 512-token window of the bundled sample through every decoder layer and the
/// loss head, on the CPU.</summary>
[MemoryDiagnoser, BenchmarkCategory("quick")]
public class SampleForwardBenchmark
{
    private LlamaModel _model = null!;
    private DecoderLayerWeights[] _layers = [];
    private LanguageModelHead _head = null!;
    private int[] _window = [];
    private float[] _hidden = [];
    private DecoderLayerForward _forward = null!;

    [GlobalSetup]
    public void Setup()
    {
        _model = LlamaModel.Open(BundledSample.ModelDirectory);
        _layers = Enumerable.Range(0, _model.LayerCount).Select(_model.LoadLayer).ToArray();
        _head = _model.LoadHead();
        _window = _model.Tokenizer.Encode(File.ReadAllText(BundledSample.EvalText), addBos: true)[..512];
        _hidden = new float[_window.Length * _model.Shape.Hidden];
        _forward = new DecoderLayerForward(_model.Shape, _model.Rope);
    }

    [Benchmark]
    public double ForwardWindow512()
    {
        _model.Embed(_window, _hidden);
        foreach (var layer in _layers) _forward.Run(layer, _hidden, _window.Length);
        return _head.MeanNextTokenLoss(_hidden, _window, _window.Length);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();
}

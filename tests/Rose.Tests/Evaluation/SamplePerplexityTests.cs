using NUnit.Framework;
using Rose.Evaluation;
using Rose.Modeling;

namespace Rose.Tests.Evaluation;

[TestFixture]
public class SamplePerplexityTests
{
    [Test]
    public void BundledSampleMatchesIndependentImplementation()
    {
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var result = new PerplexityEvaluator(model).Evaluate(File.ReadAllText(BundledSample.EvalText), seqLen: 512);
        Assert.Multiple(() =>
        {
            Assert.That(result.Tokens, Is.EqualTo(98_593));
            Assert.That(result.Windows, Is.EqualTo(192));
            // 6.0513 from an independent fp32 implementation (DESIGN.md).
            Assert.That(result.Perplexity, Is.EqualTo(6.0513).Within(0.01));
        });
    }

    [Test]
    public void MaxWindowsCapsTheWindowsAndShortTextIsAnError()
    {
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var evaluator = new PerplexityEvaluator(model);
        var tokens = model.Tokenizer.Encode(File.ReadAllText(BundledSample.EvalText), addBos: true);
        var capped = evaluator.Evaluate(tokens, seqLen: 128, maxWindows: 3);
        Assert.That(capped.Windows, Is.EqualTo(3));
        Assert.That(capped.Perplexity, Is.GreaterThan(1).And.LessThan(100));
        Assert.Throws<RoseException>(() => evaluator.Evaluate(tokens[..100], seqLen: 128));
    }

    [Test]
    public void SmallBatchesGiveTheSameResult()
    {
        using var model = LlamaModel.Open(BundledSample.ModelDirectory);
        var tokens = model.Tokenizer.Encode(File.ReadAllText(BundledSample.EvalText), addBos: true);
        var whole = new PerplexityEvaluator(model).Evaluate(tokens, seqLen: 256, maxWindows: 9);
        var batched = new PerplexityEvaluator(model) { BatchMemoryBytes = 1 }.Evaluate(tokens, seqLen: 256, maxWindows: 9);
        Assert.That(batched.Perplexity, Is.EqualTo(whole.Perplexity).Within(1e-9));
    }
}

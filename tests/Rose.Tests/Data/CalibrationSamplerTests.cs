using NUnit.Framework;
using Rose.Data;

namespace Rose.Tests.Data;

[TestFixture]
public class CalibrationSamplerTests
{
    private const int Bos = 1;

    /// <summary>A stand-in tokenizer: BOS, then one token per space-separated word, each word
    /// being its own integer id. Documents built from distinct ids make any window traceable.</summary>
    private static int[] Encode(string text) =>
        [Bos, .. text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];

    /// <summary>Document d has <paramref name="lengths"/>[d] words with ids d·10000 + 2, +3, …</summary>
    private static string[] Documents(params int[] lengths) =>
        lengths.Select((n, d) => string.Join(' ', Enumerable.Range(0, n).Select(k => d * 10000 + 2 + k))).ToArray();

    private static int[] Iota(int n) => Enumerable.Range(0, n).ToArray();

    // ---- Sequential ----

    [Test]
    public void Sequential_TakesFirstNonOverlappingWindows()
    {
        var tokens = Iota(1000);
        var windows = CalibrationSampler.Sequential(tokens, nsamples: 3, seqlen: 128);
        Assert.That(windows, Has.Length.EqualTo(3));
        for (int i = 0; i < 3; i++)
            Assert.That(windows[i], Is.EqualTo(tokens[(i * 128)..((i + 1) * 128)]));
    }

    [Test]
    public void Sequential_ExactlyEnoughTokens()
    {
        var windows = CalibrationSampler.Sequential(Iota(512), nsamples: 4, seqlen: 128);
        Assert.That(windows[3], Is.EqualTo(Iota(512)[384..]));
    }

    [Test]
    public void Sequential_TooFewWindows_SaysWhatIsAvailable()
    {
        var e = Assert.Throws<RoseException>(() => CalibrationSampler.Sequential(Iota(1000), nsamples: 8, seqlen: 128))!;
        Assert.That(e.Message, Does.Contain("1000 tokens").And.Contain("7 windows").And.Contain("8 windows of 128"));
    }

    [Test]
    public void Sequential_NonPositiveArguments_AreErrors()
    {
        Assert.Throws<RoseException>(() => CalibrationSampler.Sequential(Iota(10), 0, 2));
        Assert.Throws<RoseException>(() => CalibrationSampler.Sequential(Iota(10), 1, 0));
    }

    // ---- EvalWindows ----

    [Test]
    public void EvalWindows_FloorOfTokensOverSeqlen()
    {
        // The sample tokenizer gives 98,593 tokens (BOS included) for tinystories-eval.txt.
        var tokens = Iota(98_593);
        var windows = CalibrationSampler.EvalWindows(tokens, 512, null);
        Assert.That(windows, Has.Length.EqualTo(192));
        Assert.That(windows.All(w => w.Length == 512));
        Assert.That(windows[191], Is.EqualTo(tokens[(191 * 512)..(192 * 512)]));
    }

    [Test]
    public void EvalWindows_CappedByMaxWindows()
    {
        Assert.That(CalibrationSampler.EvalWindows(Iota(98_593), 512, 40), Has.Length.EqualTo(40));
        Assert.That(CalibrationSampler.EvalWindows(Iota(1024), 512, 40), Has.Length.EqualTo(2));
    }

    [Test]
    public void EvalWindows_ShorterThanOneWindow_IsError()
    {
        var e = Assert.Throws<RoseException>(() => CalibrationSampler.EvalWindows(Iota(511), 512, null))!;
        Assert.That(e.Message, Does.Contain("511 tokens").And.Contain("512"));
    }

    // ---- Random (C4 protocol) ----

    [Test]
    public void Random_SameSeedSameSamples_DifferentSeedDifferentSamples()
    {
        var docs = Documents(5, 300, 40, 700, 129, 1000, 60);
        var a = CalibrationSampler.Random(docs, Encode, 16, 128, seed: 0);
        var b = CalibrationSampler.Random(docs, Encode, 16, 128, seed: 0);
        var c = CalibrationSampler.Random(docs, Encode, 16, 128, seed: 1);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
    }

    [Test]
    public void Random_EverySampleIsASeqlenSliceOfALongDocument()
    {
        const int seqlen = 128;
        var docs = Documents(5, 300, 40, 700, 128, 129, 1000, 60);
        var encoded = docs.Select(Encode).ToArray();
        var samples = CalibrationSampler.Random(docs, Encode, 64, seqlen, seed: 42);
        Assert.That(samples, Has.Length.EqualTo(64));
        foreach (var sample in samples)
        {
            Assert.That(sample, Has.Length.EqualTo(seqlen));
            // Each non-BOS id names its document and position, so the source is unambiguous.
            var anyWord = sample.First(t => t != Bos);
            var doc = encoded[(anyWord - 2) / 10000];
            Assert.That(doc, Has.Length.GreaterThan(seqlen), "documents of ≤ seqlen tokens are never sampled");
            int start = sample[0] == Bos ? 0 : Array.IndexOf(doc, sample[0]);
            Assert.That(sample, Is.EqualTo(doc[start..(start + seqlen)]));
            // The protocol draws start ≤ len − seqlen − 1, so a document's last token is never included.
            Assert.That(start, Is.LessThanOrEqualTo(doc.Length - seqlen - 1));
        }
    }

    [Test]
    public void Random_DocumentOfSeqlenPlusOneTokens_OnlyYieldsItsFirstWindow()
    {
        // 128 words + BOS = 129 tokens > seqlen 128; the only allowed start is 0.
        var docs = Documents(128);
        var samples = CalibrationSampler.Random(docs, Encode, 20, 128, seed: 3);
        var expected = Encode(docs[0])[..128];
        Assert.That(samples, Has.All.EqualTo(expected));
    }

    [Test]
    public void Random_FollowsReferenceDrawOrder()
    {
        // The reference loop: draw doc = randint(0, n−1) until long enough, then
        // start = randint(0, len − seqlen − 1); replayed here with System.Random's equivalents.
        const int seqlen = 64, seed = 1234;
        var docs = Documents(10, 80, 20, 200, 64, 500);
        var samples = CalibrationSampler.Random(docs, Encode, 12, seqlen, seed);

        var rng = new Random(seed);
        for (int s = 0; s < samples.Length; s++)
        {
            int[] tokens;
            do tokens = Encode(docs[rng.Next(docs.Length)]); while (tokens.Length <= seqlen);
            int start = rng.Next(tokens.Length - seqlen);
            Assert.That(samples[s], Is.EqualTo(tokens[start..(start + seqlen)]), $"sample {s}");
        }
    }

    [Test]
    public void Random_TokenizesEachDocumentAtMostOnce()
    {
        var docs = Documents(5, 300, 40, 700, 60);
        var calls = new Dictionary<string, int>();
        int[] CountingEncode(string text)
        {
            calls[text] = calls.GetValueOrDefault(text) + 1;
            return Encode(text);
        }
        CalibrationSampler.Random(docs, CountingEncode, 50, 128, seed: 7);
        Assert.That(calls.Values, Has.All.EqualTo(1));
    }

    [Test]
    public void Random_NoDocumentLongerThanSeqlen_IsError()
    {
        // The longest document is exactly seqlen tokens (127 words + BOS): not MORE than seqlen.
        var docs = Documents(5, 127, 40, 100);
        var e = Assert.Throws<RoseException>(() => CalibrationSampler.Random(docs, Encode, 4, 128, seed: 0))!;
        Assert.That(e.Message, Does.Contain("longer than 128 tokens").And.Contain("4 documents").And.Contain("longest: 128"));
    }

    [Test]
    public void Random_RareLongDocumentIsStillFound()
    {
        // One long document among many short ones: a miss streak as long as the corpus is likely
        // and must not be mistaken for "no long document".
        var lengths = Enumerable.Repeat(10, 200).Append(400).ToArray();
        var docs = Documents(lengths);
        var samples = CalibrationSampler.Random(docs, Encode, 3, 128, seed: 5);
        Assert.That(samples, Has.Length.EqualTo(3));
        Assert.That(samples.SelectMany(s => s).Where(t => t != Bos).All(t => (t - 2) / 10000 == 200));
    }

    [Test]
    public void Random_EmptyCorpusAndBadArguments_AreErrors()
    {
        Assert.Throws<RoseException>(() => CalibrationSampler.Random([], Encode, 1, 8, 0));
        Assert.Throws<RoseException>(() => CalibrationSampler.Random(Documents(20), Encode, 0, 8, 0));
        Assert.Throws<RoseException>(() => CalibrationSampler.Random(Documents(20), Encode, 1, -1, 0));
    }
}

namespace Rose.Data;

/// <summary>Cuts token windows for calibration and perplexity the way the SparseGPT / Wanda /
/// ROSE reference code does, so results are comparable with the papers.</summary>
public static class CalibrationSampler
{
    /// <summary>The first <paramref name="nsamples"/> non-overlapping windows
    /// [i·seqlen, (i+1)·seqlen) of a token stream (the whole text tokenized once, BOS first).</summary>
    public static int[][] Sequential(int[] tokens, int nsamples, int seqlen)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        RequirePositive(nsamples, "nsamples");
        RequirePositive(seqlen, "seqlen");
        int available = tokens.Length / seqlen;
        if (available < nsamples)
            throw new RoseException(
                $"sequential calibration asked for {nsamples} windows of {seqlen} tokens ({(long)nsamples * seqlen} tokens) " +
                $"but the text has only {tokens.Length} tokens ({available} windows); lower nsamples or seqlen, or use a longer text");
        return Windows(tokens, nsamples, seqlen);
    }

    /// <summary>The C4 protocol: <paramref name="nsamples"/> times, draw documents uniformly until
    /// one tokenizes to MORE than <paramref name="seqlen"/> tokens, then take seqlen tokens from a
    /// uniform start in [0, len − seqlen − 1]. Deterministic for a given <paramref name="seed"/>.</summary>
    /// <param name="encodeWithBos">Tokenizes one document, adding BOS as HF's <c>tokenizer(text)</c> does.</param>
    public static int[][] Random(IReadOnlyList<string> documents, Func<string, int[]> encodeWithBos,
                                 int nsamples, int seqlen, int seed)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(encodeWithBos);
        RequirePositive(nsamples, "nsamples");
        RequirePositive(seqlen, "seqlen");
        if (documents.Count == 0)
            throw new RoseException("random calibration: the corpus has no documents");

        var pool = new DocumentPool(documents, encodeWithBos, seqlen);
        var rng = new System.Random(seed);
        var samples = new int[nsamples][];
        for (int s = 0; s < nsamples; s++)
        {
            int[]? tokens;
            int misses = 0;
            while ((tokens = pool.LongTokens(rng.Next(documents.Count))) is null)
            {
                // Rejection sampling never ends if no document is long enough; once a streak of
                // misses as long as the corpus occurs, check every document once (without touching
                // the random stream, so the draws stay those of the reference protocol).
                if (++misses == documents.Count) pool.EnsureSomeDocumentIsLong();
            }
            int start = rng.Next(tokens.Length - seqlen);
            samples[s] = tokens.AsSpan(start, seqlen).ToArray();
        }
        return samples;
    }

    /// <summary>⌊tokens/seqlen⌋ non-overlapping windows for perplexity, capped at
    /// <paramref name="maxWindows"/> when given.</summary>
    public static int[][] EvalWindows(int[] tokens, int seqlen, int? maxWindows)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        RequirePositive(seqlen, "seqlen");
        if (maxWindows is { } cap) RequirePositive(cap, "maxWindows");
        int count = tokens.Length / seqlen;
        if (count == 0)
            throw new RoseException(
                $"evaluation text has only {tokens.Length} tokens, fewer than one window of {seqlen}; use a longer text or a smaller seqlen");
        if (maxWindows is { } max) count = Math.Min(count, max);
        return Windows(tokens, count, seqlen);
    }

    private static int[][] Windows(int[] tokens, int count, int seqlen)
    {
        var windows = new int[count][];
        for (int i = 0; i < count; i++)
            windows[i] = tokens.AsSpan(i * seqlen, seqlen).ToArray();
        return windows;
    }

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0) throw new RoseException($"{name} must be positive, got {value}");
    }

    /// <summary>Tokenizes each document at most once. Only documents longer than seqlen keep their
    /// tokens (they are the only ones cropped); short ones are just remembered as short, so
    /// memory stays bounded on large corpora.</summary>
    private sealed class DocumentPool(IReadOnlyList<string> documents, Func<string, int[]> encode, int seqlen)
    {
        private readonly Dictionary<int, int[]> _long = [];
        private readonly HashSet<int> _short = [];
        private int _longest;
        private bool _someLongKnown;

        /// <summary>The tokens of document <paramref name="index"/> if it has more than seqlen tokens, else null.</summary>
        public int[]? LongTokens(int index)
        {
            if (_long.TryGetValue(index, out var cached)) return cached;
            if (_short.Contains(index)) return null;
            var tokens = encode(documents[index])
                ?? throw new InvalidOperationException("the tokenizer returned null");
            if (tokens.Length > seqlen)
            {
                _long[index] = tokens;
                _someLongKnown = true;
                return tokens;
            }
            _short.Add(index);
            _longest = Math.Max(_longest, tokens.Length);
            return null;
        }

        public void EnsureSomeDocumentIsLong()
        {
            for (int i = 0; i < documents.Count && !_someLongKnown; i++)
                LongTokens(i);
            if (!_someLongKnown)
                throw new RoseException(
                    $"random calibration needs a document longer than {seqlen} tokens, but none of the {documents.Count} documents is " +
                    $"(longest: {_longest} tokens); use a smaller seqlen or the sequential sampler");
        }
    }
}

namespace Rose.Pruning.Cpu;

/// <summary>Order statistics used by the masks: k-th smallest value (equal to ascending-sorted[k])
/// and "the k smallest, ties broken by lower index" (equal to a stable ascending sort's first k).</summary>
internal static class Selection
{
    /// <summary>The k-th smallest (0-based) of <paramref name="scratch"/>, which is reordered.</summary>
    public static float KthSmallest(Span<float> scratch, int k)
    {
        if ((uint)k >= (uint)scratch.Length)
            throw new ArgumentOutOfRangeException(nameof(k));
        int lo = 0, hi = scratch.Length - 1;
        while (hi > lo)
        {
            if (hi - lo < 16)
            {
                InsertionSort(scratch.Slice(lo, hi - lo + 1));
                return scratch[k];
            }
            // Median of three as pivot, then a three-way partition so runs of ties terminate.
            int mid = lo + ((hi - lo) >> 1);
            float a = scratch[lo], b = scratch[mid], c = scratch[hi];
            float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
            int lt = lo, gt = hi, i = lo;
            while (i <= gt)
            {
                float v = scratch[i];
                if (v < pivot) { (scratch[lt], scratch[i]) = (scratch[i], scratch[lt]); lt++; i++; }
                else if (v > pivot) { (scratch[gt], scratch[i]) = (scratch[i], scratch[gt]); gt--; }
                else i++;
            }
            if (k < lt) hi = lt - 1;
            else if (k > gt) lo = gt + 1;
            else return pivot;
        }
        return scratch[k];
    }

    private static void InsertionSort(Span<float> s)
    {
        for (int i = 1; i < s.Length; i++)
        {
            float v = s[i];
            int j = i - 1;
            while (j >= 0 && s[j] > v) { s[j + 1] = s[j]; j--; }
            s[j + 1] = v;
        }
    }

    /// <summary>Marks in <paramref name="selected"/> the <paramref name="count"/> smallest values,
    /// ties at the threshold taken in index order (stable sort semantics).
    /// <paramref name="scratch"/> must be at least values.Length long.</summary>
    public static void SmallestStable(ReadOnlySpan<float> values, int count, Span<bool> selected, Span<float> scratch)
    {
        selected.Slice(0, values.Length).Clear();
        if (count <= 0) return;
        if (count >= values.Length) { selected.Slice(0, values.Length).Fill(true); return; }
        if (values.Length <= 16)
        {
            // Tiny groups (N:M): repeated first-minimum is cheaper than a select.
            for (int c = 0; c < count; c++)
            {
                int best = -1;
                for (int i = 0; i < values.Length; i++)
                    if (!selected[i] && (best < 0 || values[i] < values[best])) best = i;
                selected[best] = true;
            }
            return;
        }
        var s = scratch.Slice(0, values.Length);
        values.CopyTo(s);
        float t = KthSmallest(s, count - 1);
        int taken = 0;
        for (int i = 0; i < values.Length; i++)
            if (values[i] < t) { selected[i] = true; taken++; }
        for (int i = 0; i < values.Length && taken < count; i++)
            if (values[i] == t) { selected[i] = true; taken++; }
    }
}

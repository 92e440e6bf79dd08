// Order statistics shared by the mask kernels (scores.cu, obs.cu, masks.cu).
//
// rose_order_key maps a float to a uint32 whose unsigned order is the float order (-0 is folded
// onto +0 so that, as with float comparisons, the two are equal). The block radix select finds the
// k-th smallest (0-based) key of `count` keys in four 8-bit passes: each pass histograms the next
// digit of the keys that still match the prefix chosen so far, then one thread walks the 256 bins
// to the one holding rank k. It returns that exact key, which is ascending-sorted(values)[k], plus
// the rank left inside the ties of that key (how many equal keys precede the k-th element), which
// stable "k smallest" selections need. One thread block does the whole select.
#pragma once

__device__ __forceinline__ unsigned rose_order_key(float f)
{
    unsigned u = __float_as_uint(f);
    if (u == 0x80000000u)
        u = 0u;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float rose_order_key_value(unsigned key)
{
    return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// hist[bin] += 1 for every lane of the calling warp with bin < 256 (256 = no count), one atomic per
// distinct bin of the warp: metric keys crowd into a few bins, and 32 lanes hitting one shared word
// serialize otherwise.
__device__ __forceinline__ void rose_hist_add_aggregated(unsigned* hist, unsigned bin)
{
    const unsigned peers = __match_any_sync(__activemask(), bin);
    if (bin < 256u && (threadIdx.x & 31) == __ffs(peers) - 1)
        atomicAdd(&hist[bin], (unsigned)__popc(peers));
}

// Requires 0 <= k < count. All threads of the block must call it; `hist` is 256 shared words,
// `s_prefix` and `s_k` shared scalars. key_of(e) gives the key of element e in [0, count).
template <typename KeyOf>
__device__ unsigned rose_block_radix_select(long long count, long long k, KeyOf key_of,
                                            unsigned* hist, unsigned* s_prefix, long long* s_k,
                                            long long* rank_in_ties)
{
    if (threadIdx.x == 0)
    {
        *s_prefix = 0u;
        *s_k = k;
    }
    for (int pass = 0; pass < 4; ++pass)
    {
        const int shift = 24 - 8 * pass;
        for (int b = threadIdx.x; b < 256; b += blockDim.x)
            hist[b] = 0u;
        __syncthreads();
        const unsigned prefix = *s_prefix;
        // Bits above this pass's digit must equal the prefix (none on the first pass).
        const unsigned high_mask = pass == 0 ? 0u : (0xffffffffu << (shift + 8));
        for (long long e = threadIdx.x; e < count; e += blockDim.x)
        {
            const unsigned key = key_of(e);
            rose_hist_add_aggregated(hist, (key & high_mask) == prefix ? (key >> shift) & 255u : 256u);
        }
        __syncthreads();
        if (threadIdx.x == 0)
        {
            const long long kk = *s_k;
            long long before = 0;
            for (int b = 0; b < 256; ++b)
            {
                const long long c = (long long)hist[b];
                if (kk < before + c)
                {
                    *s_prefix = prefix | ((unsigned)b << shift);
                    *s_k = kk - before;
                    break;
                }
                before += c;
            }
        }
        __syncthreads();
    }
    const unsigned result = *s_prefix;
    *rank_in_ties = *s_k;
    // Nobody may reuse the shared state before everyone has read it.
    __syncthreads();
    return result;
}

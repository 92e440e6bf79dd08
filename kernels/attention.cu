// Causal grouped-query attention, flash style, fp32 math:
//   out[b, t, h, :] = Σ_{s ∈ S(t)} softmax_s(q[b,t,h]·k[b,s,g] · scale) · v[b,s,g],  g = h / (heads / kv_heads)
// with S(t) = {s ≤ t}, or with a sliding window W > 0 (window argument; 0 = none) the last W keys
// S(t) = {t − W < s ≤ t}, as HF masks Mistral/Qwen2 sliding-window layers.
// q is [batch·seq_len, heads, head_dim], k and v [batch·seq_len, kv_heads, head_dim], all fp32
// (the GEMM outputs after RoPE); out is [batch·seq_len, heads, head_dim] in the entry's dtype
// (_f32 / _bf16 / _f16), the o_proj input. Nothing seq_len × seq_len is ever stored: each block
// streams key/value tiles through shared memory and keeps an online softmax (running max m,
// running denominator l, rescaled accumulator) per query in registers.
//
// Launch: grid (ceil(seq_len / BQ), heads, batch), block 128 (4 warps), dynamic shared memory
//   4 · (KT·(head_dim+1) + KT·head_dim + BQ·head_dim) bytes, where
//   head_dim ≤ 128: KT = 32 keys per tile, QPW = 4 queries per warp;
//   head_dim ≤ 256: KT = 16, QPW = 2;   BQ = 4 · QPW queries per block.
// (At most 41 KB, under the 48 KB default limit.) Any head_dim ≤ 256 works; head_dim ≥ 32 uses
// every lane in P·V. Inside a tile lane j owns key k0+j for Q·Kᵀ, and lane d owns output
// columns d, d+32, ... for P·V; K rows are padded to head_dim+1 floats so lanes reading
// different rows hit different banks.
#include "rose_common.cuh"

#define ROSE_NEG_INF __int_as_float(0xff800000)

#include "rose_io.cuh"

#define ATT_WARPS 4
#define ATT_MAXQ 4   // queries per warp, at most
#define ATT_MAXC 8   // 32-column chunks of head_dim, at most (head_dim ≤ 256)

template <int K>
__device__ __forceinline__ void attention(typename RoseIo<K>::T* out, const float* q, const float* k, const float* v,
    int seq_len, int heads, int kv_heads, int head_dim, float scale, int window)
{
    extern __shared__ float smem[];
    const int kt = head_dim <= 128 ? 32 : 16;
    const int qpw = head_dim <= 128 ? 4 : 2;
    const int bq = ATT_WARPS * qpw;
    const int kstride = head_dim + 1;
    float* Ks = smem;                      // [kt][head_dim + 1]
    float* Vs = Ks + kt * kstride;         // [kt][head_dim]
    float* Qs = Vs + kt * head_dim;        // [bq][head_dim]

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    // Reverse order: the last query tiles have the most keys, so they start first.
    const int q0 = (gridDim.x - 1 - blockIdx.x) * bq;
    const int h = blockIdx.y;
    const int g = h / (heads / kv_heads);
    const long long qRow = (long long)heads * head_dim;
    const long long kvRow = (long long)kv_heads * head_dim;
    const long long seqBase = (long long)blockIdx.z * seq_len;
    const int qLast = min(seq_len, q0 + bq) - 1;

    for (int idx = threadIdx.x; idx < bq * head_dim; idx += blockDim.x)
    {
        const int qi = idx / head_dim;
        const int d = idx - qi * head_dim;
        const int t = q0 + qi;
        Qs[idx] = t < seq_len ? q[(seqBase + t) * qRow + (long long)h * head_dim + d] : 0.0f;
    }

    float m[ATT_MAXQ], l[ATT_MAXQ], acc[ATT_MAXQ][ATT_MAXC];
#pragma unroll
    for (int i = 0; i < ATT_MAXQ; i++)
    {
        m[i] = ROSE_NEG_INF;
        l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < ATT_MAXC; c++)
            acc[i][c] = 0.0f;
    }

    // Tiles wholly before the block's first query's window are never loaded.
    const int kFirst = window > 0 ? max(0, q0 - window + 1) / kt * kt : 0;
    for (int k0 = kFirst; k0 <= qLast; k0 += kt)
    {
        __syncthreads();   // the previous tile is consumed (first pass: Qs is staged)
        for (int idx = threadIdx.x; idx < kt * head_dim; idx += blockDim.x)
        {
            const int j = idx / head_dim;
            const int d = idx - j * head_dim;
            const int s = k0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (s < seq_len)
            {
                const long long off = (seqBase + s) * kvRow + (long long)g * head_dim + d;
                kv = k[off];
                vv = v[off];
            }
            Ks[j * kstride + d] = kv;
            Vs[j * head_dim + d] = vv;
        }
        __syncthreads();

#pragma unroll
        for (int i = 0; i < ATT_MAXQ; i++)
        {
            // Queries are interleaved over warps so every warp sees early and late positions.
            const int qi = i * ATT_WARPS + warp;
            const int t = q0 + qi;
            // Warp-uniform: the whole warp skips together, so the full-mask shuffles below are safe.
            // A tile wholly after t, or wholly before t's window, adds nothing.
            if (i >= qpw || t > qLast || k0 > t || (window > 0 && k0 + kt <= t - window + 1))
                continue;
            const float* qv = Qs + qi * head_dim;
            const int key = k0 + lane;
            float s = ROSE_NEG_INF;
            if (lane < kt && key <= t && (window <= 0 || key > t - window))
            {
                const float* kr = Ks + lane * kstride;
                float dot = 0.0f;
                for (int d = 0; d < head_dim; d++)
                    dot += qv[d] * kr[d];
                s = dot * scale;
            }
            // The tile holds a key of t's window (k0 ≤ t and it ends inside the window), so the tile
            // max (and mNew) is finite.
            const float mNew = fmaxf(m[i], rose_warp_max(s));
            const float p = s == ROSE_NEG_INF ? 0.0f : expf(s - mNew);
            const float corr = expf(m[i] - mNew);   // exp(−inf) = 0 on the first tile
            l[i] = l[i] * corr + rose_warp_sum(p);
            m[i] = mNew;
#pragma unroll
            for (int c = 0; c < ATT_MAXC; c++)
                acc[i][c] *= corr;
            const int jEnd = min(kt, t - k0 + 1);
            for (int j = 0; j < jEnd; j++)
            {
                const float pj = __shfl_sync(ROSE_FULL_MASK, p, j);
                const float* vr = Vs + j * head_dim;
#pragma unroll
                for (int c = 0; c < ATT_MAXC; c++)
                {
                    const int d = lane + 32 * c;
                    if (d < head_dim)
                        acc[i][c] += pj * vr[d];
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < ATT_MAXQ; i++)
    {
        const int t = q0 + i * ATT_WARPS + warp;
        if (i >= qpw || t > qLast)
            continue;
        const float inv = 1.0f / l[i];
        const long long base = (seqBase + t) * qRow + (long long)h * head_dim;
#pragma unroll
        for (int c = 0; c < ATT_MAXC; c++)
        {
            const int d = lane + 32 * c;
            if (d < head_dim)
                RoseIo<K>::store(out, base + d, acc[i][c] * inv);
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_f32(float* out, const float* q, const float* k, const float* v,
    int seq_len, int heads, int kv_heads, int head_dim, float scale, int window)
{
    attention<0>(out, q, k, v, seq_len, heads, kv_heads, head_dim, scale, window);
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_bf16(rose_bf16* out, const float* q, const float* k, const float* v,
    int seq_len, int heads, int kv_heads, int head_dim, float scale, int window)
{
    attention<1>(out, q, k, v, seq_len, heads, kv_heads, head_dim, scale, window);
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_f16(rose_half* out, const float* q, const float* k, const float* v,
    int seq_len, int heads, int kv_heads, int head_dim, float scale, int window)
{
    attention<2>(out, q, k, v, seq_len, heads, kv_heads, head_dim, scale, window);
}

// Causal grouped-query attention on tensor cores (mma.sync m16n8k16, fp32 accumulation), flash style:
//   out[b, t, h, :] = Σ_{s ∈ S(t)} softmax_s(q[b,t,h]·k[b,s,g] · scale) · v[b,s,g],  g = h / (heads / kv_heads)
// with S(t) = {s ≤ t}, or {t − W < s ≤ t} for a sliding window W > 0 (window argument; 0 = none).
// Same layouts as attention.cu: q [batch·seq_len, heads, HD], k and v [batch·seq_len, kv_heads, HD]
// fp32 (the GEMM outputs after RoPE); out [batch·seq_len, heads, HD] in the model's 16-bit dtype.
// q, k and v are rounded to that dtype (round to nearest even) as the model's own tensors are, the
// scores, the online softmax (running max m and denominator l per query) and both products
// accumulate in fp32; the probabilities enter P·V rounded to the dtype, as in FlashAttention.
// Nothing seq_len × seq_len is stored.
//
// Launch: grid (ceil(seq_len / 64), heads, batch), block 128 = 4 warps; warp w owns the 16 queries
// q0 + 16w .. q0 + 16w + 15 of the block's 64. Key tiles of 64 stream through static shared memory:
// K as [64][HD + 8] and V transposed as [HD][64 + 8] 16-bit values (the padding puts the 32-bit
// fragment loads of a warp on 32 different banks). Fragment layouts are PTX's for m16n8k16:
//   A (16×16): reg0 = (row g, k 2c..2c+1), reg1 = (row g+8, same k), reg2/reg3 = the same at k + 8;
//   B (16×8):  reg0 = (k 2c..2c+1, col g), reg1 = (k 2c+8..2c+9, col g);
//   C (16×8):  c0, c1 = (row g, cols 2c, 2c+1), c2, c3 = (row g+8, same cols);
// with g = lane / 4 and c = lane % 4; the score fragments of two adjacent 8-key tiles are exactly
// the A fragment of P for one 16-key step. HD is 64 or 128 (other head sizes use attention.cu).
#include "rose_common.cuh"

#define ROSE_NEG_INF __int_as_float(0xff800000)
#define MMA_KEYS 64
#define MMA_QUERIES 64

template <int Kind> struct MmaType;
template <> struct MmaType<1>
{
    static __device__ __forceinline__ unsigned short narrow(float v) { return rose_float_to_bf16(v); }
    static __device__ __forceinline__ void mma(float* d, const unsigned* a, unsigned b0, unsigned b1)
    {
#ifdef ROSE_CPU_EMULATOR   // tests/CudaEmulator: the PTX instruction's fragment semantics on the CPU
        rose_emu::mma_m16n8k16(d, a, b0, b1, rose_emu::bf16_to_float);
#else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
    }
};
template <> struct MmaType<2>
{
    static __device__ __forceinline__ unsigned short narrow(float v) { return rose_float_to_half(v); }
    static __device__ __forceinline__ void mma(float* d, const unsigned* a, unsigned b0, unsigned b1)
    {
#ifdef ROSE_CPU_EMULATOR   // tests/CudaEmulator: the PTX instruction's fragment semantics on the CPU
        rose_emu::mma_m16n8k16(d, a, b0, b1, rose_emu::half_to_float);
#else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
    }
};

template <int Kind>
__device__ __forceinline__ unsigned mma_pack(float lo, float hi)
{
    return (unsigned)MmaType<Kind>::narrow(lo) | ((unsigned)MmaType<Kind>::narrow(hi) << 16);
}

template <int Kind, int HD>
__device__ __forceinline__ void attention_mma(unsigned short* out, const float* q, const float* k, const float* v,
    int seq_len, int heads, int kv_heads, float scale, int window)
{
    constexpr int KS = HD + 8;            // K row stride (16-bit values)
    constexpr int VS = MMA_KEYS + 8;      // transposed V row stride
    constexpr int KSTEPS = HD / 16;       // k-steps of Q·Kᵀ
    constexpr int DTILES = HD / 8;        // 8-column tiles of the output
    __shared__ __align__(16) unsigned short Ks[MMA_KEYS * KS];
    __shared__ __align__(16) unsigned short Vt[HD * VS];

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int g = lane >> 2;
    const int c = lane & 3;
    // Reverse order: the last query tiles have the most keys, so they start first.
    const int q0 = (gridDim.x - 1 - blockIdx.x) * MMA_QUERIES;
    const int h = blockIdx.y;
    const int kvh = h / (heads / kv_heads);
    const long long qRow = (long long)heads * HD;
    const long long kvRow = (long long)kv_heads * HD;
    const long long seqBase = (long long)blockIdx.z * seq_len;
    const int blockLast = min(seq_len, q0 + MMA_QUERIES) - 1;
    const int wq0 = q0 + 16 * warp;          // the warp's first query
    const int rowA = wq0 + g, rowB = wq0 + g + 8;

    // The warp's Q fragments stay in registers for the whole key loop.
    unsigned qa[KSTEPS][4];
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++)
    {
#pragma unroll
        for (int r = 0; r < 4; r++)
        {
            const int t = (r & 1) ? rowB : rowA;
            const int d = kk * 16 + 2 * c + ((r & 2) ? 8 : 0);
            float x0 = 0.0f, x1 = 0.0f;
            if (t < seq_len)
            {
                const float* p = q + (seqBase + t) * qRow + (long long)h * HD + d;
                x0 = p[0];
                x1 = p[1];
            }
            qa[kk][r] = mma_pack<Kind>(x0, x1);
        }
    }

    float acc[DTILES][4];
#pragma unroll
    for (int i = 0; i < DTILES; i++)
        acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
    float mA = ROSE_NEG_INF, mB = ROSE_NEG_INF;   // running max of rows g and g+8
    float lA = 0.0f, lB = 0.0f;                   // this thread's share of the denominators

    // Tiles wholly before the block's first query's window are never loaded.
    const int kFirst = window > 0 ? max(0, q0 - window + 1) / MMA_KEYS * MMA_KEYS : 0;
    for (int k0 = kFirst; k0 <= blockLast; k0 += MMA_KEYS)
    {
        __syncthreads();   // the previous tile is consumed
        for (int idx = threadIdx.x; idx < MMA_KEYS * (HD / 2); idx += blockDim.x)
        {
            const int j = idx / (HD / 2);
            const int d = (idx - j * (HD / 2)) * 2;
            const int s = k0 + j;
            float k0v = 0.0f, k1v = 0.0f, v0 = 0.0f, v1 = 0.0f;
            if (s < seq_len)
            {
                const long long off = (seqBase + s) * kvRow + (long long)kvh * HD + d;
                k0v = k[off]; k1v = k[off + 1];
                v0 = v[off]; v1 = v[off + 1];
            }
            *(unsigned*)&Ks[j * KS + d] = mma_pack<Kind>(k0v, k1v);
            Vt[d * VS + j] = MmaType<Kind>::narrow(v0);
            Vt[(d + 1) * VS + j] = MmaType<Kind>::narrow(v1);
        }
        __syncthreads();
        // Warp-uniform: a tile wholly after the warp's last query, wholly before its first query's
        // window, or for rows past the end adds nothing.
        if (k0 > wq0 + 15 || wq0 >= seq_len || (window > 0 && k0 + MMA_KEYS <= wq0 - window + 1))
            continue;

        float s[MMA_KEYS / 8][4];
#pragma unroll
        for (int nt = 0; nt < MMA_KEYS / 8; nt++)
        {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            const unsigned short* kr = Ks + (nt * 8 + g) * KS + 2 * c;
#pragma unroll
            for (int kk = 0; kk < KSTEPS; kk++)
            {
                const unsigned b0 = *(const unsigned*)(kr + kk * 16);
                const unsigned b1 = *(const unsigned*)(kr + kk * 16 + 8);
                MmaType<Kind>::mma(s[nt], qa[kk], b0, b1);
            }
        }

        float tileA = ROSE_NEG_INF, tileB = ROSE_NEG_INF;
#pragma unroll
        for (int nt = 0; nt < MMA_KEYS / 8; nt++)
        {
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                const int key = k0 + nt * 8 + 2 * c + (e & 1);
                const int t = (e & 2) ? rowB : rowA;
                const bool visible = key <= t && key < seq_len && (window <= 0 || key > t - window);
                const float x = visible ? s[nt][e] * scale : ROSE_NEG_INF;
                s[nt][e] = x;
                if (e & 2) tileB = fmaxf(tileB, x);
                else tileA = fmaxf(tileA, x);
            }
        }
        // The four lanes of a quad hold one row between them.
        tileA = fmaxf(tileA, __shfl_xor_sync(ROSE_FULL_MASK, tileA, 1));
        tileA = fmaxf(tileA, __shfl_xor_sync(ROSE_FULL_MASK, tileA, 2));
        tileB = fmaxf(tileB, __shfl_xor_sync(ROSE_FULL_MASK, tileB, 1));
        tileB = fmaxf(tileB, __shfl_xor_sync(ROSE_FULL_MASK, tileB, 2));
        const float nA = fmaxf(mA, tileA), nB = fmaxf(mB, tileB);
        // A row with no key yet (one past seq_len) keeps everything at zero instead of NaN.
        const float baseA = nA == ROSE_NEG_INF ? 0.0f : nA, baseB = nB == ROSE_NEG_INF ? 0.0f : nB;
        const float corrA = expf(mA - baseA), corrB = expf(mB - baseB);
        mA = nA;
        mB = nB;
        lA *= corrA;
        lB *= corrB;
#pragma unroll
        for (int i = 0; i < DTILES; i++)
        {
            acc[i][0] *= corrA; acc[i][1] *= corrA;
            acc[i][2] *= corrB; acc[i][3] *= corrB;
        }
#pragma unroll
        for (int nt = 0; nt < MMA_KEYS / 8; nt++)
        {
            s[nt][0] = expf(s[nt][0] - baseA);
            s[nt][1] = expf(s[nt][1] - baseA);
            s[nt][2] = expf(s[nt][2] - baseB);
            s[nt][3] = expf(s[nt][3] - baseB);
            lA += s[nt][0] + s[nt][1];
            lB += s[nt][2] + s[nt][3];
        }

#pragma unroll
        for (int j = 0; j < MMA_KEYS / 16; j++)
        {
            unsigned pa[4];
            pa[0] = mma_pack<Kind>(s[2 * j][0], s[2 * j][1]);
            pa[1] = mma_pack<Kind>(s[2 * j][2], s[2 * j][3]);
            pa[2] = mma_pack<Kind>(s[2 * j + 1][0], s[2 * j + 1][1]);
            pa[3] = mma_pack<Kind>(s[2 * j + 1][2], s[2 * j + 1][3]);
#pragma unroll
            for (int dt = 0; dt < DTILES; dt++)
            {
                const unsigned short* vr = Vt + (dt * 8 + g) * VS + j * 16 + 2 * c;
                const unsigned b0 = *(const unsigned*)vr;
                const unsigned b1 = *(const unsigned*)(vr + 8);
                MmaType<Kind>::mma(acc[dt], pa, b0, b1);
            }
        }
    }

    lA += __shfl_xor_sync(ROSE_FULL_MASK, lA, 1);
    lA += __shfl_xor_sync(ROSE_FULL_MASK, lA, 2);
    lB += __shfl_xor_sync(ROSE_FULL_MASK, lB, 1);
    lB += __shfl_xor_sync(ROSE_FULL_MASK, lB, 2);
    const float invA = 1.0f / lA, invB = 1.0f / lB;
#pragma unroll
    for (int dt = 0; dt < DTILES; dt++)
    {
        const int d = dt * 8 + 2 * c;
        if (rowA < seq_len)
            *(unsigned*)(out + (seqBase + rowA) * qRow + (long long)h * HD + d) = mma_pack<Kind>(acc[dt][0] * invA, acc[dt][1] * invA);
        if (rowB < seq_len)
            *(unsigned*)(out + (seqBase + rowB) * qRow + (long long)h * HD + d) = mma_pack<Kind>(acc[dt][2] * invB, acc[dt][3] * invB);
    }
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_mma_bf16_128(unsigned short* out, const float* q, const float* k,
    const float* v, int seq_len, int heads, int kv_heads, float scale, int window)
{
    attention_mma<1, 128>(out, q, k, v, seq_len, heads, kv_heads, scale, window);
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_mma_bf16_64(unsigned short* out, const float* q, const float* k,
    const float* v, int seq_len, int heads, int kv_heads, float scale, int window)
{
    attention_mma<1, 64>(out, q, k, v, seq_len, heads, kv_heads, scale, window);
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_mma_f16_128(unsigned short* out, const float* q, const float* k,
    const float* v, int seq_len, int heads, int kv_heads, float scale, int window)
{
    attention_mma<2, 128>(out, q, k, v, seq_len, heads, kv_heads, scale, window);
}

extern "C" __global__ void __launch_bounds__(128) rose_attention_mma_f16_64(unsigned short* out, const float* q, const float* k,
    const float* v, int seq_len, int heads, int kv_heads, float scale, int window)
{
    attention_mma<2, 64>(out, q, k, v, seq_len, heads, kv_heads, scale, window);
}

// Embedding gather: out[r, c] = float(table[ids[r], c]) for r < rows, c < hidden.
// The table is in the model dtype (entry suffix _f32 / _bf16 / _f16); out is fp32 (the residual
// stream). An id outside [0, vocab) writes NaN to its row: the host validates ids, and NaN makes
// a miss impossible to overlook.
// Launch: grid (rows), block 256 (any size works); threads stride over the hidden columns.
#include "rose_common.cuh"

// Storage kinds: 0 = fp32, 1 = bf16, 2 = fp16 (bf16 and fp16 share the 16-bit carrier type,
// so the kind is a template tag rather than an overload).
template <int Kind> struct RoseIo;
template <> struct RoseIo<0>
{
    typedef float T;
    static __device__ __forceinline__ float load(const float* p, long long i) { return p[i]; }
    static __device__ __forceinline__ void store(float* p, long long i, float v) { p[i] = v; }
};
template <> struct RoseIo<1>
{
    typedef rose_bf16 T;
    static __device__ __forceinline__ float load(const rose_bf16* p, long long i) { return rose_bf16_to_float(p[i]); }
    static __device__ __forceinline__ void store(rose_bf16* p, long long i, float v) { p[i] = rose_float_to_bf16(v); }
};
template <> struct RoseIo<2>
{
    typedef rose_half T;
    static __device__ __forceinline__ float load(const rose_half* p, long long i) { return rose_half_to_float(p[i]); }
    static __device__ __forceinline__ void store(rose_half* p, long long i, float v) { p[i] = rose_float_to_half(v); }
};

template <int K>
__device__ __forceinline__ void embedding(float* out, const typename RoseIo<K>::T* table, const int* ids, int rows, int hidden, int vocab)
{
    const int r = blockIdx.x;
    if (r >= rows)
        return;
    const int id = ids[r];
    const bool valid = id >= 0 && id < vocab;
    float* dst = out + (long long)r * hidden;
    const long long base = valid ? (long long)id * hidden : 0;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x)
        dst[c] = valid ? RoseIo<K>::load(table, base + c) : __int_as_float(0x7fc00000);
}

extern "C" __global__ void rose_embedding_f32(float* out, const float* table, const int* ids, int rows, int hidden, int vocab)
{
    embedding<0>(out, table, ids, rows, hidden, vocab);
}

extern "C" __global__ void rose_embedding_bf16(float* out, const rose_bf16* table, const int* ids, int rows, int hidden, int vocab)
{
    embedding<1>(out, table, ids, rows, hidden, vocab);
}

extern "C" __global__ void rose_embedding_f16(float* out, const rose_half* table, const int* ids, int rows, int hidden, int vocab)
{
    embedding<2>(out, table, ids, rows, hidden, vocab);
}

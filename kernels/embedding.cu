// Embedding gather: out[r, c] = float(table[ids[r], c]) for r < rows, c < hidden.
// The table is in the model dtype (entry suffix _f32 / _bf16 / _f16); out is fp32 (the residual
// stream). An id outside [0, vocab) writes NaN to its row: the host validates ids, and NaN makes
// a miss impossible to overlook.
// Launch: grid (rows), block 256 (any size works); threads stride over the hidden columns.
#include "rose_io.cuh"

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

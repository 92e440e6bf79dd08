// Embedding gather: out[r, c] = table[ids[r], c] for r < rows, c < hidden, in the model dtype
// (entry suffix _f32 / _bf16 / _f16): the residual stream is stored in the model's dtype, as the
// reference implementation keeps its hidden states. An id outside [0, vocab) writes NaN to its
// row: the host validates ids, and NaN makes a miss impossible to overlook.
// Launch: grid (rows), block 256 (any size works); threads stride over the hidden columns.
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void embedding(typename RoseIo<K>::T* out, const typename RoseIo<K>::T* table, const int* ids,
                                          int rows, int hidden, int vocab)
{
    const int r = blockIdx.x;
    if (r >= rows)
        return;
    const int id = ids[r];
    const bool valid = id >= 0 && id < vocab;
    const long long dst = (long long)r * hidden;
    const long long base = valid ? (long long)id * hidden : 0;
    for (int c = threadIdx.x; c < hidden; c += blockDim.x)
    {
        if (valid)
            out[dst + c] = table[base + c];
        else
            RoseIo<K>::store(out, dst + c, __int_as_float(0x7fc00000));
    }
}

extern "C" __global__ void rose_embedding_f32(float* out, const float* table, const int* ids, int rows, int hidden, int vocab)
{
    embedding<0>(out, table, ids, rows, hidden, vocab);
}

extern "C" __global__ void rose_embedding_bf16(rose_bf16* out, const rose_bf16* table, const int* ids, int rows, int hidden, int vocab)
{
    embedding<1>(out, table, ids, rows, hidden, vocab);
}

extern "C" __global__ void rose_embedding_f16(rose_half* out, const rose_half* table, const int* ids, int rows, int hidden, int vocab)
{
    embedding<2>(out, table, ids, rows, hidden, vocab);
}

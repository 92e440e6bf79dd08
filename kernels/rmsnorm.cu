// HF LlamaRMSNorm per row: out[r, c] = (x[r, c] · inv) · w[c] with
// inv = 1 / sqrt(mean_c(x[r, c]²) + eps), the mean taken in fp32 (HF upcasts to fp32 for the
// variance). x and w are fp32; out is in the entry's dtype (_f32 / _bf16 / _f16), ready to be
// the input of the next GEMM. The product order (x·inv first, then ·w) is the CPU reference's.
// Launch: grid (rows), block 256 (a multiple of 32, at most 1024).
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void rmsnorm(typename RoseIo<K>::T* out, const float* x, const float* w, int rows, int dim, float eps)
{
    __shared__ float scratch[32];
    const int r = blockIdx.x;
    if (r >= rows)
        return;
    const float* row = x + (long long)r * dim;
    float sum = 0.0f;
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
        sum += row[c] * row[c];
    sum = rose_block_sum(sum, scratch);
    const float inv = 1.0f / sqrtf(sum / (float)dim + eps);
    const long long base = (long long)r * dim;
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
        RoseIo<K>::store(out, base + c, (row[c] * inv) * w[c]);
}

extern "C" __global__ void rose_rmsnorm_f32(float* out, const float* x, const float* w, int rows, int dim, float eps)
{
    rmsnorm<0>(out, x, w, rows, dim, eps);
}

extern "C" __global__ void rose_rmsnorm_bf16(rose_bf16* out, const float* x, const float* w, int rows, int dim, float eps)
{
    rmsnorm<1>(out, x, w, rows, dim, eps);
}

extern "C" __global__ void rose_rmsnorm_f16(rose_half* out, const float* x, const float* w, int rows, int dim, float eps)
{
    rmsnorm<2>(out, x, w, rows, dim, eps);
}

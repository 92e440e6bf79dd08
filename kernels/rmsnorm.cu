// HF LlamaRMSNorm per row, on the residual stream in the model dtype (_f32 / _bf16 / _f16):
//   inv = 1 / sqrt(mean_c(x[r, c]²) + eps)           (x widened to fp32, the mean in fp32)
//   out[r, c] = round(w[c] · round(x[r, c] · inv))   round = to the model dtype
// as HF computes it: the normalized row is cast back to the input dtype, then multiplied by the
// weight in that dtype (for fp32 both roundings are exact). w holds the weight's values in fp32.
// out is the input of the next GEMM. The product order (x·inv first, then ·w) is the CPU reference's.
// Launch: grid (rows), block 256 (a multiple of 32, at most 1024).
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void rmsnorm(typename RoseIo<K>::T* out, const typename RoseIo<K>::T* x, const float* w,
                                        int rows, int dim, float eps)
{
    __shared__ float scratch[32];
    const int r = blockIdx.x;
    if (r >= rows)
        return;
    const long long base = (long long)r * dim;
    float sum = 0.0f;
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
    {
        const float v = RoseIo<K>::load(x, base + c);
        sum += v * v;
    }
    sum = rose_block_sum(sum, scratch);
    const float inv = 1.0f / sqrtf(sum / (float)dim + eps);
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
        RoseIo<K>::store(out, base + c, w[c] * RoseIo<K>::round(RoseIo<K>::load(x, base + c) * inv));
}

extern "C" __global__ void rose_rmsnorm_f32(float* out, const float* x, const float* w, int rows, int dim, float eps)
{
    rmsnorm<0>(out, x, w, rows, dim, eps);
}

extern "C" __global__ void rose_rmsnorm_bf16(rose_bf16* out, const rose_bf16* x, const float* w, int rows, int dim, float eps)
{
    rmsnorm<1>(out, x, w, rows, dim, eps);
}

extern "C" __global__ void rose_rmsnorm_f16(rose_half* out, const rose_half* x, const float* w, int rows, int dim, float eps)
{
    rmsnorm<2>(out, x, w, rows, dim, eps);
}

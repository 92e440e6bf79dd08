// Residual add onto the residual stream in the model dtype, and bias add on fp32 GEMM outputs
// (row-major rows × cols):
//   rose_residual_add_{f32,bf16,f16}: d = round(delta[r, c] (+ bias[c] when bias is not null)),
//       hidden[r, c] = round(hidden[r, c] + d), round = to the model dtype: the projection's output
//       is a tensor of that dtype before the add, as in the reference (exact for fp32).
//   rose_bias_add_f32: x[r, c] += bias[c]
// Launch: grid ceil(rows·cols / 256), block 256; one element per thread (64-bit index).
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void residual_add(typename RoseIo<K>::T* hidden, const float* delta, const float* bias, int rows, int cols)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * cols)
        return;
    float d = delta[i];
    if (bias != nullptr)
        d += bias[i % cols];
    RoseIo<K>::store(hidden, i, RoseIo<K>::load(hidden, i) + RoseIo<K>::round(d));
}

extern "C" __global__ void rose_residual_add_f32(float* hidden, const float* delta, const float* bias, int rows, int cols)
{
    residual_add<0>(hidden, delta, bias, rows, cols);
}

extern "C" __global__ void rose_residual_add_bf16(rose_bf16* hidden, const float* delta, const float* bias, int rows, int cols)
{
    residual_add<1>(hidden, delta, bias, rows, cols);
}

extern "C" __global__ void rose_residual_add_f16(rose_half* hidden, const float* delta, const float* bias, int rows, int cols)
{
    residual_add<2>(hidden, delta, bias, rows, cols);
}

extern "C" __global__ void rose_bias_add_f32(float* x, const float* bias, int rows, int cols)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * cols)
        return;
    x[i] += bias[i % cols];
}

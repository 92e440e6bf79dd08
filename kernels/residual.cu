// Residual add and bias add on the fp32 residual stream / fp32 GEMM outputs (row-major
// rows × cols):
//   rose_residual_add_f32: hidden[r, c] += delta[r, c] (+ bias[c] when bias is not null)
//   rose_bias_add_f32:     x[r, c] += bias[c]
// Launch: grid ceil(rows·cols / 256), block 256; one element per thread (64-bit index).
#include "rose_common.cuh"

extern "C" __global__ void rose_residual_add_f32(float* hidden, const float* delta, const float* bias, int rows, int cols)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * cols)
        return;
    float d = delta[i];
    if (bias != nullptr)
        d += bias[i % cols];
    hidden[i] += d;
}

extern "C" __global__ void rose_bias_add_f32(float* x, const float* bias, int rows, int cols)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * cols)
        return;
    x[i] += bias[i % cols];
}

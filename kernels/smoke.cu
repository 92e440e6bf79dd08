// Smallest useful kernels: prove that compile, load, argument passing and the shared header work.
#include "rose_common.cuh"

extern "C" __global__ void rose_smoke_axpy(float* y, const float* x, float a, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

// Round-trips each input through the header's conversions and reduces each warp's values, so a
// GPU test can compare every helper in rose_common.cuh with its CPU definition.
// Launch with a multiple of 32 threads per block; n need not be a multiple of 32. warp_sum and
// warp_max hold ceil(n / 32) entries.
extern "C" __global__ void rose_smoke_convert(const float* in, unsigned short* bf16, unsigned short* half,
                                              float* bf16_back, float* half_back, float* warp_sum, float* warp_max, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const float v = i < n ? in[i] : 0.0f;
    if (i < n)
    {
        const rose_bf16 b = rose_float_to_bf16(v);
        const rose_half h = rose_float_to_half(v);
        bf16[i] = b;
        half[i] = h;
        bf16_back[i] = rose_bf16_to_float(b);
        half_back[i] = rose_half_to_float(h);
    }
    const float s = rose_warp_sum(v);
    const float m = rose_warp_max(i < n ? v : -3.402823466e38f);
    if ((threadIdx.x & 31) == 0 && i < n)
    {
        warp_sum[i >> 5] = s;
        warp_max[i >> 5] = m;
    }
}

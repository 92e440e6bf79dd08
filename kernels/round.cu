// Rounds fp32 values in place to the model dtype and back: x[i] = float(dtype(x[i])), round to
// nearest even (bf16 / fp16 entries; an fp32 model needs no call). The reference holds every
// projection's output as a tensor of the model's dtype; the forward keeps GEMM outputs in fp32
// buffers, so q, k and v are rounded here before RoPE and attention read them.
// Launch: grid ceil(n / 256), block 256; one element per thread (n counted in 64 bits).
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void round_to(float* x, long long n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] = RoseIo<K>::round(x[i]);
}

extern "C" __global__ void rose_round_bf16(float* x, long long n)
{
    round_to<1>(x, n);
}

extern "C" __global__ void rose_round_f16(float* x, long long n)
{
    round_to<2>(x, n);
}

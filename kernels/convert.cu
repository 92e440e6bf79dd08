// Conversions of a weight matrix between the model's storage dtype and the fp32 the pruning
// kernels work in, so a layer uploaded once for its calibration forward is pruned and used by the
// next forward without crossing PCIe again:
//   rose_widen_{bf16,f16}:  y[i] = float(x[i])             (exact)
//   rose_narrow_{bf16,f16}: y[i] = dtype(x[i])             (round to nearest even, as the host's
//                                                           conversion and torch's .to(dtype) do)
// fp32 models need neither (a device-to-device copy). Launch: block 256, grid-stride over n
// (n counted in 64 bits; any grid size is correct, ceil(n / 256) capped is the usual).
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void widen(const typename RoseIo<K>::T* x, float* y, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = RoseIo<K>::load(x, i);
}

template <int K>
__device__ __forceinline__ void narrow(const float* x, typename RoseIo<K>::T* y, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        RoseIo<K>::store(y, i, x[i]);
}

extern "C" __global__ void rose_widen_bf16(const rose_bf16* x, float* y, long long n) { widen<1>(x, y, n); }
extern "C" __global__ void rose_widen_f16(const rose_half* x, float* y, long long n) { widen<2>(x, y, n); }
extern "C" __global__ void rose_narrow_bf16(const float* x, rose_bf16* y, long long n) { narrow<1>(x, y, n); }
extern "C" __global__ void rose_narrow_f16(const float* x, rose_half* y, long long n) { narrow<2>(x, y, n); }

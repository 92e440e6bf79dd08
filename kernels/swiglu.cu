// SwiGLU: out[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + e^(−g)), from the fp32 GEMM outputs,
// computed as HF computes it on tensors of the entry's dtype (_f32 / _bf16 / _f16): the projections,
// silu's output and the product are each rounded to it, out = r(r(silu(r(gate))) · r(up)) (no
// rounding for fp32). out is in that dtype, the down_proj input.
// Launch: grid ceil(n / 256), block 256; one element per thread (n counted in 64 bits).
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void swiglu(typename RoseIo<K>::T* out, const float* gate, const float* up, long long n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float g = RoseIo<K>::round(gate[i]);
    const float a = RoseIo<K>::round(g / (1.0f + expf(-g)));
    RoseIo<K>::store(out, i, a * RoseIo<K>::round(up[i]));
}

extern "C" __global__ void rose_swiglu_f32(float* out, const float* gate, const float* up, long long n)
{
    swiglu<0>(out, gate, up, n);
}

extern "C" __global__ void rose_swiglu_bf16(rose_bf16* out, const float* gate, const float* up, long long n)
{
    swiglu<1>(out, gate, up, n);
}

extern "C" __global__ void rose_swiglu_f16(rose_half* out, const float* gate, const float* up, long long n)
{
    swiglu<2>(out, gate, up, n);
}

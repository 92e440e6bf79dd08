// Shared device helpers for every Rose kernel. Passed to NVRTC as an in-memory header, so it
// must not include anything: NVRTC 11.8 as packaged by Debian ships no cuda_fp16.h/cuda_bf16.h,
// hence the bit-level bf16 code and the inline-PTX fp16 conversions below.
#pragma once

typedef unsigned short rose_bf16;   // raw bfloat16 bits
typedef unsigned short rose_half;   // raw IEEE binary16 bits

#define ROSE_FULL_MASK 0xffffffffu

// bf16 is the top half of a binary32, so widening is exact.
__device__ __forceinline__ float rose_bf16_to_float(rose_bf16 v)
{
    return __uint_as_float(((unsigned)v) << 16);
}

// Round to nearest, ties to even (what torch's .to(bfloat16) does). NaN stays a quiet NaN
// with its sign instead of rounding into infinity.
__device__ __forceinline__ rose_bf16 rose_float_to_bf16(float f)
{
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (rose_bf16)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (rose_bf16)(u >> 16);
}

__device__ __forceinline__ float rose_half_to_float(rose_half v)
{
#ifdef ROSE_CPU_EMULATOR   // tests/CudaEmulator: the same conversion without PTX
    return rose_emu::half_to_float(v);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
    return f;
#endif
}

__device__ __forceinline__ rose_half rose_float_to_half(float f)
{
#ifdef ROSE_CPU_EMULATOR
    return rose_emu::float_to_half(f);
#else
    rose_half v;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(v) : "f"(f));
    return v;
#endif
}

// Butterfly reductions: every lane of the (full) warp ends with the result.
__device__ __forceinline__ float rose_warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(ROSE_FULL_MASK, v, offset);
    return v;
}

__device__ __forceinline__ float rose_warp_max(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v = fmaxf(v, __shfl_xor_sync(ROSE_FULL_MASK, v, offset));
    return v;
}

__device__ __forceinline__ double rose_warp_sum_double(double v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(ROSE_FULL_MASK, v, offset);
    return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (at most 1024); every thread gets the result.
// `scratch` is caller-provided shared memory of at least 32 floats.
__device__ __forceinline__ float rose_block_sum(float v, float* scratch)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = rose_warp_sum(v);
    __syncthreads();
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return rose_warp_sum(v);
}

// Typed loads and stores of the three storage kinds the forward kernels read and write, widened to
// or narrowed from fp32: 0 = fp32, 1 = bf16, 2 = fp16 (bf16 and fp16 share the 16-bit carrier
// type, so the kind is a template tag rather than an overload). round(v) is v rounded to the kind
// and widened back: what storing a value in a tensor of that dtype does to it.
#pragma once
#include "rose_common.cuh"

template <int Kind> struct RoseIo;
template <> struct RoseIo<0>
{
    typedef float T;
    static __device__ __forceinline__ float load(const float* p, long long i) { return p[i]; }
    static __device__ __forceinline__ void store(float* p, long long i, float v) { p[i] = v; }
    static __device__ __forceinline__ float round(float v) { return v; }
};
template <> struct RoseIo<1>
{
    typedef rose_bf16 T;
    static __device__ __forceinline__ float load(const rose_bf16* p, long long i) { return rose_bf16_to_float(p[i]); }
    static __device__ __forceinline__ void store(rose_bf16* p, long long i, float v) { p[i] = rose_float_to_bf16(v); }
    static __device__ __forceinline__ float round(float v) { return rose_bf16_to_float(rose_float_to_bf16(v)); }
};
template <> struct RoseIo<2>
{
    typedef rose_half T;
    static __device__ __forceinline__ float load(const rose_half* p, long long i) { return rose_half_to_float(p[i]); }
    static __device__ __forceinline__ void store(rose_half* p, long long i, float v) { p[i] = rose_float_to_half(v); }
    static __device__ __forceinline__ float round(float v) { return rose_half_to_float(rose_float_to_half(v)); }
};

// Grid-wide radix select: the k-th smallest (0-based) of `count` order keys (rose_order_key, so
// the result is exactly ascending-sorted(values)[k]), spread over every SM instead of the one
// block of rose_block_radix_select — for selections over millions of values (an OBS block of a
// 7B layer is 11008 x 128 metrics, a magnitude threshold a whole matrix).
// Four 8-bit passes, as in rose_select.cuh; the select state lives in global memory:
//   state[pass*256 + b]  histogram of digit b for pass 0..3 (zeroed by rose_grid_select_init)
//   state[1024]          key prefix chosen so far
//   state[1026..1027]    rank k left inside the prefix (long long, 8-byte aligned)
// Per pass: rose_grid_histogram (grid-stride over the keys, shared-memory histogram with
// warp-aggregated atomics, then one global atomicAdd per non-empty bin and block), then
// rose_grid_select_digit (one thread walks the 256 bins to the one holding rank k; after the
// last pass it writes the selected value as a float).
// Launch: init and digit with one block (256 threads / 1 thread); histogram with any grid of
// 256-thread blocks. Requires 0 <= k < count (the host handles k >= count: threshold +inf).
#include "rose_common.cuh"
#include "rose_select.cuh"

#define ROSE_SELECT_PREFIX 1024
#define ROSE_SELECT_K 1026

extern "C" __global__ void rose_grid_select_init(unsigned* state, long long k)
{
    for (int i = threadIdx.x; i < 4 * 256; i += blockDim.x)
        state[i] = 0u;
    if (threadIdx.x == 0)
    {
        state[ROSE_SELECT_PREFIX] = 0u;
        *(long long*)(state + ROSE_SELECT_K) = k;
    }
}

extern "C" __global__ void rose_float_keys(const float* values, long long count, unsigned* keys)
{
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
        keys[idx] = rose_order_key(values[idx]);
}

extern "C" __global__ void rose_grid_histogram(const unsigned* keys, long long count, unsigned* state, int pass)
{
    __shared__ unsigned hist[256];
    for (int b = threadIdx.x; b < 256; b += blockDim.x)
        hist[b] = 0u;
    __syncthreads();
    const unsigned prefix = state[ROSE_SELECT_PREFIX];
    const int shift = 24 - 8 * pass;
    const unsigned high_mask = pass == 0 ? 0u : (0xffffffffu << (shift + 8));
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const unsigned key = keys[idx];
        rose_hist_add_aggregated(hist, (key & high_mask) == prefix ? (key >> shift) & 255u : 256u);
    }
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x)
        if (hist[b] != 0u)
            atomicAdd(&state[pass * 256 + b], hist[b]);
}

extern "C" __global__ void rose_grid_select_digit(unsigned* state, int pass, float* result)
{
    if (threadIdx.x != 0 || blockIdx.x != 0)
        return;
    const int shift = 24 - 8 * pass;
    long long* k = (long long*)(state + ROSE_SELECT_K);
    long long before = 0;
    for (int b = 0; b < 256; ++b)
    {
        const long long c = (long long)state[pass * 256 + b];
        if (*k < before + c)
        {
            state[ROSE_SELECT_PREFIX] |= (unsigned)b << shift;
            *k -= before;
            break;
        }
        before += c;
    }
    if (pass == 3)
        *result = rose_order_key_value(state[ROSE_SELECT_PREFIX]);
}

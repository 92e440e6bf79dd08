// One-shot masks: magnitude (Wanda's repository) and Wanda, on row-major W (rows x cols).
//   magnitude threshold t = ascending(|W|)[k] over the whole matrix, k = floor(p*numel) from the
//       host: rose_abs_keys (keys[i] = order key of |W[i]|, flat grid-stride), then the grid-wide
//       radix select (grid_select.cu).
//   rose_prune_abs_le: W[i] <- 0 where |W[i]| <= t. Flat grid-stride.
//   rose_prune_groups (N:M): metric m = |W| (has_stat = 0) or |W|*sqrt(s_j); within each row's
//       group [g0, g0+gw) (g0 = j - j mod M, gw = min(M, cols-g0)) prune the min(N, gw) smallest,
//       ties to the lower column (rank counts smaller values and equal values at lower columns).
//       Reads the metric from `src`, an untouched copy of W, so writes cannot race with reads.
//       Flat grid-stride over rows*cols.
//   rose_wanda_rows: per row, metric |W|*sqrt(s_j); zero exactly `count` (1 <= count < cols)
//       smallest with stable ascending order: radix-select the (count-1)-th key t, prune every
//       key < t and the first (rank_in_ties + 1) keys == t in column order (block-wide prefix
//       count with warp ballots). Launch: grid = rows, blockDim a multiple of 32 (<= 1024).
#include "rose_common.cuh"
#include "rose_select.cuh"

extern "C" __global__ void rose_abs_keys(const float* w, long long count, unsigned* keys)
{
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
        keys[idx] = rose_order_key(fabsf(w[idx]));
}

extern "C" __global__ void rose_prune_abs_le(float* w, long long count, const float* threshold)
{
    const float t = *threshold;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
    {
        if (fabsf(w[idx]) <= t)
            w[idx] = 0.0f;
    }
}

__device__ __forceinline__ float rose_metric(const float* src, const float* s, int has_stat, long long idx, int j)
{
    return has_stat ? fabsf(src[idx]) * sqrtf(s[j]) : fabsf(src[idx]);
}

extern "C" __global__ void rose_prune_groups(float* w, const float* src, const float* s, int has_stat,
                                             int rows, int cols, int nm_n, int nm_m)
{
    const long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const long long r = idx / cols;
        const int j = (int)(idx - r * cols);
        const int g0 = j - j % nm_m;
        const int gw = min(nm_m, cols - g0);
        const int keep = min(nm_n, gw);
        const long long base = r * cols;
        const float v = rose_metric(src, s, has_stat, idx, j);
        int rank = 0;
        for (int g = g0; g < g0 + gw; ++g)
        {
            const float m = rose_metric(src, s, has_stat, base + g, g);
            rank += (m < v || (m == v && g < j)) ? 1 : 0;
        }
        if (rank < keep)
            w[idx] = 0.0f;
    }
}

extern "C" __global__ void rose_wanda_rows(float* w, const float* s, int rows, int cols, int count)
{
    __shared__ unsigned hist[256];
    __shared__ unsigned s_prefix;
    __shared__ long long s_k;
    __shared__ int warp_counts[32];
    float* row = w + (long long)blockIdx.x * cols;
    auto key_of = [&](long long e) {
        const int j = (int)e;
        return rose_order_key(fabsf(row[j]) * sqrtf(s[j]));
    };
    long long ties;
    const unsigned tkey = rose_block_radix_select((long long)cols, (long long)count - 1, key_of,
                                                  hist, &s_prefix, &s_k, &ties);
    const long long need = ties + 1;   // keys equal to t that are pruned, in column order
    long long taken = 0;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    for (int base = 0; base < cols; base += blockDim.x)
    {
        const int j = base + threadIdx.x;
        bool less = false, equal = false;
        if (j < cols)
        {
            const unsigned key = key_of(j);
            less = key < tkey;
            equal = key == tkey;
        }
        const unsigned ballot = __ballot_sync(ROSE_FULL_MASK, equal);
        if (lane == 0)
            warp_counts[warp] = __popc(ballot);
        __syncthreads();
        int before = __popc(ballot & ((1u << lane) - 1u));
        int total = 0;
        for (int q = 0; q < warps; ++q)
        {
            const int c = warp_counts[q];
            if (q < warp)
                before += c;
            total += c;
        }
        if (j < cols && (less || (equal && taken + before < need)))
            row[j] = 0.0f;
        taken += total;
        __syncthreads();
    }
}

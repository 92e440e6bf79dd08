// ROSE scores and ordering losses (row-major S: rows x cols).
//   rose_scores: S[r,j] = |W[r,j]| * sqrt(s_j) (fp32, the same two roundings as the host).
//       Flat grid-stride over rows*cols.
//   rose_block_thresholds: for column block b = [b*B, min((b+1)*B, cols)), t_b = the k-th smallest
//       (ascending-sorted(S_b)[k], k = floor(p*numel) computed on the host: k_full for full blocks,
//       k_last for the last block) by the block radix select of rose_select.cuh; +inf when
//       k >= numel (nothing above the threshold). Launch: grid = number of blocks, 1024 threads.
//   rose_ordering_column_loss: c_j = sum_r S[r,j] * [selected] in double, where selected is
//       S[r,j] <= t_b (unstructured, nm_n = 0) or, for N:M (block = one group of width w <= M),
//       rank of S[r,j] among its row's group < min(N, w), rank counting smaller values and equal
//       values at lower columns (a stable ascending sort's first N). Launch: block (32, 8), grid
//       ceil(cols/32); x = column, y strides over rows, partials meet in shared memory.
#include "rose_common.cuh"
#include "rose_select.cuh"

extern "C" __global__ void rose_scores(const float* w, const float* s, float* out, int rows, int cols)
{
    const long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const int j = (int)(idx % cols);
        out[idx] = fabsf(w[idx]) * sqrtf(s[j]);
    }
}

extern "C" __global__ void __launch_bounds__(1024) rose_block_thresholds(const float* s, int rows, int cols, int block_width,
                                                 long long k_full, long long k_last, float* thresholds)
{
    __shared__ unsigned hist[256];
    __shared__ unsigned s_prefix;
    __shared__ long long s_k;
    const int b = blockIdx.x;
    const int c0 = b * block_width;
    const int width = min(block_width, cols - c0);
    const long long count = (long long)rows * width;
    const long long k = b == (int)gridDim.x - 1 ? k_last : k_full;
    if (k < 0 || k >= count)
    {
        if (threadIdx.x == 0)
            thresholds[b] = __int_as_float(0x7f800000);
        return;
    }
    auto key_of = [&](long long e) {
        const long long r = e / width;
        const int j = (int)(e - r * width);
        return rose_order_key(s[r * cols + c0 + j]);
    };
    long long ties;
    const unsigned key = rose_block_radix_select(count, k, key_of, hist, &s_prefix, &s_k, &ties);
    if (threadIdx.x == 0)
        thresholds[b] = rose_order_key_value(key);
}

extern "C" __global__ void rose_ordering_column_loss(const float* s, int rows, int cols, int block_width,
                                                     const float* thresholds, int nm_n, double* column_loss)
{
    __shared__ double partial[8][33];
    const int j = blockIdx.x * 32 + threadIdx.x;
    double sum = 0.0;
    if (j < cols)
    {
        const int b = j / block_width;
        const int c0 = b * block_width;
        const int width = min(block_width, cols - c0);
        const float t = nm_n == 0 ? thresholds[b] : 0.0f;
        const int keep = min(nm_n, width);
        for (int r = threadIdx.y; r < rows; r += 8)
        {
            const float* row = s + (long long)r * cols;
            const float v = row[j];
            bool selected;
            if (nm_n == 0)
            {
                selected = v <= t;
            }
            else
            {
                int rank = 0;
                for (int g = c0; g < c0 + width; ++g)
                {
                    const float u = row[g];
                    rank += (u < v || (u == v && g < j)) ? 1 : 0;
                }
                selected = rank < keep;
            }
            if (selected)
                sum += (double)v;
        }
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols)
    {
        double total = 0.0;
        for (int y = 0; y < 8; ++y)
            total += partial[y][threadIdx.x];
        column_loss[j] = total;
    }
}

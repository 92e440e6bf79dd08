// Column permutations for ROSE (row-major, perm holds source indices).
//   rose_gather_columns: D[r,j] = S[r, perm[j]] (rows x cols). Flat grid-stride over rows*cols.
//   rose_permute_symmetric: D[i,j] = S[perm[i], perm[j]] (n x n). Flat grid-stride over n*n.
// Consecutive threads write consecutive destination columns; the gathered reads hit L2.
#include "rose_common.cuh"

extern "C" __global__ void rose_gather_columns(const float* src, float* dst, const int* perm, int rows, int cols)
{
    const long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const long long r = idx / cols;
        const int j = (int)(idx - r * cols);
        dst[idx] = src[r * cols + perm[j]];
    }
}

extern "C" __global__ void rose_permute_symmetric(const float* src, float* dst, const int* perm, int n)
{
    const long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const long long i = idx / n;
        const int j = (int)(idx - i * n);
        dst[idx] = src[(long long)perm[i] * n + perm[j]];
    }
}

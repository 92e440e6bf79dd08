// Calibration statistics of one linear input, folded one sequence k at a time (X: tokens x cols,
// row-major). H <- H*(k-1)/k + (2/k) X^T X is a cuBLAS Sgemm (beta = (k-1)/k); these kernels do
// the rest:
//   rose_column_norms_fold: n_j = sum_t X[t,j]^2 in double, then
//       s_official_j <- s_official_j*(k-1)/k + (2/k^2) n_j,   s_mean_j <- s_mean_j*(k-1)/k + n_j/k.
//       Launch: block (32, 8), grid ceil(cols/32); threadIdx.x picks the column (coalesced rows),
//       threadIdx.y strides over tokens, partial sums meet in shared memory.
//   rose_mirror_upper: H[i,j] <- H[j,i] for i > j (row-major), so H is exactly symmetric as on
//       the CPU. Launch: flat grid-stride over n*n.
//   rose_scale: a <- a*alpha (the fold of an empty sequence). Flat grid-stride.
#include "rose_common.cuh"

extern "C" __global__ void rose_column_norms_fold(const float* x, int tokens, int cols,
                                                  float* s_official, float* s_mean, double keep, double k)
{
    __shared__ double partial[8][33];
    const int j = blockIdx.x * 32 + threadIdx.x;
    double sum = 0.0;
    if (j < cols)
    {
        for (int t = threadIdx.y; t < tokens; t += 8)
        {
            const double v = (double)x[(long long)t * cols + j];
            sum += v * v;
        }
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols)
    {
        double norm = 0.0;
        for (int y = 0; y < 8; ++y)
            norm += partial[y][threadIdx.x];
        // Unfused, as the host reference computes it.
        s_official[j] = (float)__dadd_rn(__dmul_rn((double)s_official[j], keep), __dmul_rn(2.0 / (k * k), norm));
        s_mean[j] = (float)__dadd_rn(__dmul_rn((double)s_mean[j], keep), norm / k);
    }
}

extern "C" __global__ void rose_mirror_upper(float* h, int n)
{
    const long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const int i = (int)(idx / n);
        const int j = (int)(idx - (long long)i * n);
        if (i > j)
            h[idx] = h[(long long)j * n + i];
    }
}

extern "C" __global__ void rose_scale(float* a, long long count, float alpha)
{
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
        a[idx] = a[idx] * alpha;
}

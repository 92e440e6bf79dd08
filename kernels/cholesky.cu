// Hessian preparation and the helpers around the cuSOLVER factorizations (row-major n x n):
//   rose_prepare_diagonal: dead[j] = (H_jj == 0), then H_jj <- 1 for those; sum of the diagonal
//       (double) and the dead count go to out_sum/out_dead. Launch: ONE block, blockDim a multiple
//       of 32 (1024), threads stride over j.
//   rose_zero_dead_columns: W[r,j] <- 0 where dead[j]. Flat grid-stride over rows*cols.
//   rose_add_diagonal: M[i,i] += value for i < n. Flat.
//   rose_set_identity: M <- I (rows x cols). Flat grid-stride.
//   rose_zero_strict_lower: M[r,c] <- 0 for r > c (row-major), leaving the upper factor U. Flat.
//   rose_count_nonfinite: *flag += 1 for each non-finite entry. Flat grid-stride.
//   rose_reverse: out[k] = in[count-1-k], i.e. out = J·M·J for a square M (J the exchange matrix),
//       the reversed H whose one Cholesky factorization gives U directly. Flat grid-stride.
//   rose_anti_transpose_upper: with L⁻¹ (lower, column-major, cuSOLVER's) in `in`, writes row-major
//       U = J·L⁻¹·J: out[i,j] = in[(n-1-j)·n + (n-1-i)] for i <= j, 0 below the diagonal. If
//       J·H·J = L·Lᵀ then H⁻¹ = (J·L⁻¹·J)ᵀ(J·L⁻¹·J), so this U is the upper factor of H⁻¹.
//       Flat grid-stride over n*n.
#include "rose_common.cuh"

extern "C" __global__ void __launch_bounds__(1024) rose_prepare_diagonal(float* h, int n, unsigned char* dead, double* out_sum, int* out_dead)
{
    __shared__ double sums[32];
    __shared__ int counts[32];
    double sum = 0.0;
    int count = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
    {
        float d = h[(long long)j * n + j];
        const bool is_dead = d == 0.0f;
        if (is_dead)
        {
            d = 1.0f;
            h[(long long)j * n + j] = 1.0f;
            ++count;
        }
        dead[j] = is_dead ? 1 : 0;
        sum += (double)d;
    }
    sum = rose_warp_sum_double(sum);
    for (int offset = 16; offset > 0; offset >>= 1)
        count += __shfl_xor_sync(ROSE_FULL_MASK, count, offset);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    if (lane == 0)
    {
        sums[warp] = sum;
        counts[warp] = count;
    }
    __syncthreads();
    if (threadIdx.x == 0)
    {
        double total = 0.0;
        int dead_total = 0;
        for (int w = 0; w < (int)(blockDim.x >> 5); ++w)
        {
            total += sums[w];
            dead_total += counts[w];
        }
        *out_sum = total;
        *out_dead = dead_total;
    }
}

extern "C" __global__ void rose_zero_dead_columns(float* w, int rows, int cols, const unsigned char* dead)
{
    const long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const int j = (int)(idx % cols);
        if (dead[j])
            w[idx] = 0.0f;
    }
}

extern "C" __global__ void rose_add_diagonal(float* m, int n, int ld, float value)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        m[(long long)i * ld + i] += value;
}

extern "C" __global__ void rose_set_identity(float* m, int rows, int cols)
{
    const long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const long long r = idx / cols;
        m[idx] = (idx - r * cols) == r ? 1.0f : 0.0f;
    }
}

extern "C" __global__ void rose_zero_strict_lower(float* m, int n)
{
    const long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const long long r = idx / n;
        if (idx - r * n < r)
            m[idx] = 0.0f;
    }
}

extern "C" __global__ void rose_count_nonfinite(const float* m, long long count, int* flag)
{
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
    {
        if (!isfinite(m[idx]))
            atomicAdd(flag, 1);
    }
}

extern "C" __global__ void rose_reverse(const float* in, float* out, long long count)
{
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
        out[idx] = in[count - 1 - idx];
}

extern "C" __global__ void rose_anti_transpose_upper(const float* in, float* out, int n)
{
    const long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const int i = (int)(idx / n);
        const int j = (int)(idx - (long long)i * n);
        out[idx] = i <= j ? in[(long long)(n - 1 - j) * n + (n - 1 - i)] : 0.0f;
    }
}

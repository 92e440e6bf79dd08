// Calibration statistics of one linear input, folded one sequence k at a time (X: tokens x cols,
// row-major). H <- H*(k-1)/k + (2/k) X^T X is a cuBLAS Sgemm (beta = (k-1)/k); a batch of windows
// k0..k1 of the device pipeline is one GemmEx in the model's dtype with fp32 accumulation,
// H <- H*(k0-1)/k1 + (2/k1) sum X_k^T X_k (bf16/fp16 products are exact in fp32, so only the order
// of the fp32 sums differs from folding one window at a time); these kernels do the rest:
//   rose_column_norms_fold_windows_{f32,bf16,f16}: for each of `windows` sequences stored back to
//       back (in the model's dtype on the device pipeline, fp32 otherwise), k = first_k, first_k+1, ...
//       in order: n_j = sum_t X[t,j]^2 in double, then
//       s_official_j <- s_official_j*(k-1)/k + (2/k^2) n_j,   s_mean_j <- s_mean_j*(k-1)/k + n_j/k,
//       each step rounded to fp32 as the host reference does. Launch: block (32, 16), grid
//       ceil(cols/32); threadIdx.x picks the column (coalesced rows), threadIdx.y strides over
//       tokens, partial sums meet in shared memory.
//   rose_mirror_upper: H[i,j] <- H[j,i] for i > j (row-major), so H is exactly symmetric as on
//       the CPU. Launch: flat grid-stride over n*n.
//   rose_mirror_lower: H[i,j] <- H[j,i] for i < j: the batched fold computes only the blocks on and
//       below the diagonal (row-major), about half the GEMM work, and this fills the rest. Flat.
//   rose_scale: a <- a*alpha (the fold of an empty sequence). Flat grid-stride.
#include "rose_common.cuh"

template <typename T> __device__ __forceinline__ float rose_widen(T v);
template <> __device__ __forceinline__ float rose_widen<float>(float v) { return v; }
template <> __device__ __forceinline__ float rose_widen<rose_bf16>(rose_bf16 v) { return rose_bf16_to_float(v); }

template <typename T>
__device__ void rose_column_norms_fold_windows(const T* x, int windows, int tokens, int cols,
                                               float* s_official, float* s_mean, int first_k)
{
    __shared__ double partial[16][33];
    const int j = blockIdx.x * 32 + threadIdx.x;
    float so = 0.0f, sm = 0.0f;
    if (threadIdx.y == 0 && j < cols)
    {
        so = s_official[j];
        sm = s_mean[j];
    }
    for (int w = 0; w < windows; ++w)
    {
        const T* xw = x + (long long)w * tokens * cols;
        double sum = 0.0;
        if (j < cols)
        {
            for (int t = threadIdx.y; t < tokens; t += 16)
            {
                const double v = (double)rose_widen<T>(xw[(long long)t * cols + j]);
                sum += v * v;
            }
        }
        partial[threadIdx.y][threadIdx.x] = sum;
        __syncthreads();
        if (threadIdx.y == 0 && j < cols)
        {
            double norm = 0.0;
            for (int y = 0; y < 16; ++y)
                norm += partial[y][threadIdx.x];
            const double k = (double)(first_k + w);
            const double keep = (k - 1.0) / k;
            so = (float)__dadd_rn(__dmul_rn((double)so, keep), __dmul_rn(2.0 / (k * k), norm));
            sm = (float)__dadd_rn(__dmul_rn((double)sm, keep), norm / k);
        }
        __syncthreads();
    }
    if (threadIdx.y == 0 && j < cols)
    {
        s_official[j] = so;
        s_mean[j] = sm;
    }
}

extern "C" __global__ void rose_column_norms_fold_windows_f32(const float* x, int windows, int tokens, int cols,
                                                             float* s_official, float* s_mean, int first_k)
{
    rose_column_norms_fold_windows<float>(x, windows, tokens, cols, s_official, s_mean, first_k);
}

extern "C" __global__ void rose_column_norms_fold_windows_bf16(const rose_bf16* x, int windows, int tokens, int cols,
                                                              float* s_official, float* s_mean, int first_k)
{
    rose_column_norms_fold_windows<rose_bf16>(x, windows, tokens, cols, s_official, s_mean, first_k);
}

// fp16 shares rose_bf16's storage type, so it widens through a tagged wrapper.
struct rose_half_tag { rose_half bits; };
template <> __device__ __forceinline__ float rose_widen<rose_half_tag>(rose_half_tag v) { return rose_half_to_float(v.bits); }

extern "C" __global__ void rose_column_norms_fold_windows_f16(const rose_half_tag* x, int windows, int tokens, int cols,
                                                             float* s_official, float* s_mean, int first_k)
{
    rose_column_norms_fold_windows<rose_half_tag>(x, windows, tokens, cols, s_official, s_mean, first_k);
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

extern "C" __global__ void rose_mirror_lower(float* h, int n)
{
    const long long total = (long long)n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x)
    {
        const int i = (int)(idx / n);
        const int j = (int)(idx - (long long)i * n);
        if (i < j)
            h[idx] = h[(long long)j * n + i];
    }
}

extern "C" __global__ void rose_scale(float* a, long long count, float alpha)
{
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count;
         idx += (long long)gridDim.x * blockDim.x)
        a[idx] = a[idx] * alpha;
}

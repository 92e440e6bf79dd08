// Next-token NLL over a vocabulary processed in chunks, so a 128k vocabulary never needs a
// tokens × vocab logits buffer. For each row r (one token position) with target y[r]:
//   nll[r] = logsumexp_v(logits[r, v]) − logits[r, y[r]]
// The host computes the logits of vocabulary columns [v0, v0 + cols) with one GEMM (fp32,
// row-major rows × cols), then rose_lm_loss_chunk folds that chunk into a running
// (max m, sum s = Σ exp(logit − m)) per row, rescaling s when the max grows, and picks up the
// target's logit when it falls in the chunk. rose_lm_loss_finish gives m + log s − target.
// A negative target means "no prediction here" (nll 0, e.g. a window's last position).
//   rose_lm_loss_init:   grid ceil(rows / 256), block 256
//   rose_lm_loss_chunk:  grid (rows), block 256 (a multiple of 32)
//   rose_lm_loss_finish: grid ceil(rows / 256), block 256
#include "rose_common.cuh"

#define ROSE_NEG_INF __int_as_float(0xff800000)

extern "C" __global__ void rose_lm_loss_init(float* run_max, float* run_sum, float* target_logit, int rows)
{
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows)
        return;
    run_max[r] = ROSE_NEG_INF;
    run_sum[r] = 0.0f;
    target_logit[r] = __int_as_float(0x7fc00000);   // NaN until the target's chunk is seen
}

__device__ __forceinline__ float lm_block_max(float v, float* scratch)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = rose_warp_max(v);
    __syncthreads();
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : ROSE_NEG_INF;
    return rose_warp_max(v);
}

extern "C" __global__ void rose_lm_loss_chunk(const float* logits, int rows, int cols, int v0, const int* targets,
    float* run_max, float* run_sum, float* target_logit)
{
    __shared__ float scratch[32];
    const int r = blockIdx.x;
    if (r >= rows)
        return;
    const float* row = logits + (long long)r * cols;
    float mx = ROSE_NEG_INF;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        mx = fmaxf(mx, row[c]);
    mx = lm_block_max(mx, scratch);
    float sum = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        sum += expf(row[c] - mx);
    sum = rose_block_sum(sum, scratch);
    if (threadIdx.x == 0)
    {
        const float m = run_max[r];
        const float mNew = fmaxf(m, mx);
        run_sum[r] = run_sum[r] * expf(m - mNew) + sum * expf(mx - mNew);
        run_max[r] = mNew;
        const int y = targets[r];
        if (y >= v0 && y < v0 + cols)
            target_logit[r] = row[y - v0];
    }
}

extern "C" __global__ void rose_lm_loss_finish(const float* run_max, const float* run_sum, const float* target_logit,
    const int* targets, float* nll, int rows)
{
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows)
        return;
    nll[r] = targets[r] < 0 ? 0.0f : run_max[r] + logf(run_sum[r]) - target_logit[r];
}

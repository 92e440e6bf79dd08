// SparseGPT's in-block OBS sweep on columns [i1, i1+width) of W (rows x ldw, row-major) with the
// upper Cholesky factor U of H^-1 (row-major, ldu), U1 = U[i1:i2, i1:i2], d_i = U1[i,i]:
//   mask (unstructured): prune W1[r,i] when W1[r,i]^2 / d_i^2 <= t, t = ascending(all of
//       W1^2/d^2 over every row of the block)[floor(p*numel)], found beforehand by
//       rose_obs_keys (the metric's order keys, rows x width row-major) and the grid-wide radix
//       select (grid_select.cu); t = +inf when k >= numel (set by the host).
//       rose_obs_keys launch: block (32, 8), grid (ceil(width/32), any), rows strided over y.
//   mask (N:M): at every column c = i1+i with c mod M = 0, among the group's current (already
//       updated) W1[r, i:i+gw]^2/d^2 prune the min(N, gw) smallest, ties to the lower column.
//   for i in block: q = masked ? 0 : w_i;  e = (w_i - q)/d_i;  W[r, i1+i] = q;  E[r, i] = e;
//       W1[r, j] -= e * U1[i, j] for j > i (unfused, as the host);
//       loss_r += sum_i (w_i - q)^2 / d_i^2, row_loss[r] += loss_r / 2.
// Launch rose_obs_sweep with a multiple of 32 threads, at most 256; each warp owns one row at a time (lanes
// across the block's columns, rows strided over warps and blocks). Dynamic shared memory:
//   [stage_u ? width*(width+1)/2 floats: U1's upper triangle packed row by row]
//   [warps * width floats: each warp's working row] [warps * width bytes: each warp's mask].
// stage_u = 0 reads U1 from global memory instead (blocks too wide for 48 KB of shared memory).
#include "rose_common.cuh"
#include "rose_select.cuh"

extern "C" __global__ void rose_obs_keys(const float* w, int ldw, int rows, const float* u, int ldu,
                                         int i1, int width, unsigned* keys)
{
    const int i = blockIdx.x * 32 + threadIdx.x;
    if (i >= width)
        return;
    const float d = u[(long long)(i1 + i) * ldu + i1 + i];
    for (int r = blockIdx.y * 8 + threadIdx.y; r < rows; r += gridDim.y * 8)
    {
        const float x = w[(long long)r * ldw + i1 + i];
        keys[(long long)r * width + i] = rose_order_key(x * x / (d * d));
    }
}

extern "C" __global__ void __launch_bounds__(256) rose_obs_sweep(float* w, int ldw, int rows, const float* u, int ldu,
    int i1, int width, int nm_n, int nm_m, const float* threshold, float* err, int lde, float* row_loss, int stage_u)
{
    extern __shared__ float smem[];
    const int warps = blockDim.x >> 5;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int tri = stage_u ? width * (width + 1) / 2 : 0;
    float* su = smem;
    float* sw = smem + tri + warp * width;
    unsigned char* sm = (unsigned char*)(smem + tri + warps * width) + warp * width;
    const float* ug = u + (long long)i1 * ldu + i1;

    if (stage_u)
    {
        for (int i = warp; i < width; i += warps)
        {
            const int off = i * width - i * (i - 1) / 2;
            for (int j = i + lane; j < width; j += 32)
                su[off + j - i] = ug[(long long)i * ldu + j];
        }
        __syncthreads();
    }
    // U1[i, j] for j >= i.
    auto uat = [&](int i, int j) {
        return stage_u ? su[i * width - i * (i - 1) / 2 + (j - i)] : ug[(long long)i * ldu + j];
    };

    const float t = nm_m == 0 ? *threshold : 0.0f;
    for (int r = blockIdx.x * warps + warp; r < rows; r += gridDim.x * warps)
    {
        float* wrow = w + (long long)r * ldw + i1;
        for (int j = lane; j < width; j += 32)
        {
            const float x = wrow[j];
            sw[j] = x;
            if (nm_m == 0)
            {
                const float d = uat(j, j);
                sm[j] = (x * x / (d * d) <= t) ? 1 : 0;
            }
        }
        __syncwarp();

        double loss = 0.0;
        for (int i = 0; i < width; ++i)
        {
            const int c = i1 + i;
            if (nm_m != 0 && c % nm_m == 0)
            {
                const int gw = min(nm_m, i1 + width - c);
                const int keep = min(nm_n, gw);
                for (int g = lane; g < gw; g += 32)
                {
                    const float xg = sw[i + g];
                    const float dg = uat(i + g, i + g);
                    const float vg = xg * xg / (dg * dg);
                    int rank = 0;
                    for (int h = 0; h < gw; ++h)
                    {
                        const float xh = sw[i + h];
                        const float dh = uat(i + h, i + h);
                        const float vh = xh * xh / (dh * dh);
                        rank += (vh < vg || (vh == vg && h < g)) ? 1 : 0;
                    }
                    sm[i + g] = rank < keep ? 1 : 0;
                }
                __syncwarp();
            }
            const float wi = sw[i];
            const float d = uat(i, i);
            const float q = sm[i] ? 0.0f : wi;
            const float diff = wi - q;
            const float e = diff / d;
            loss += (double)(diff * diff / (d * d));
            if (lane == 0)
            {
                wrow[i] = q;
                err[(long long)r * lde + i] = e;
            }
            // Column i itself is never read again, so the update starts at i+1 and no lane
            // overwrites sw[i] while another may still be reading it.
            if (e != 0.0f)
            {
                for (int j = i + 1 + lane; j < width; j += 32)
                    sw[j] = __fadd_rn(sw[j], __fmul_rn(uat(i, j), -e));
            }
            __syncwarp();
        }
        if (lane == 0)
            row_loss[r] += (float)(loss / 2.0);
        __syncwarp();
    }
}

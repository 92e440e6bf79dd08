// HF rotate-half RoPE, in place on fp32 projections laid out [rows, heads, head_dim] with
// rows = batch · seq_len and position = row mod seq_len. For i < half = head_dim / 2:
//   θ = float(pos) · inv_freq[i]   (one fp32 product, as HF's fp32 position·inv_freq)
//   x'[i]        = x[i]·cos θ − x[i+half]·sin θ
//   x'[i + half] = x[i+half]·cos θ + x[i]·sin θ
// inv_freq (fp32, half entries) is precomputed on the host with the config's scaling.
// Launch: grid ceil(rows·heads·half / 256), block 256; one thread per rotated pair.
#include "rose_common.cuh"

extern "C" __global__ void rose_rope_f32(float* x, const float* inv_freq, int rows, int heads, int head_dim, int seq_len)
{
    const int half = head_dim >> 1;
    const long long pair = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long total = (long long)rows * heads * half;
    if (pair >= total)
        return;
    const int i = (int)(pair % half);
    const long long rowHead = pair / half;          // row · heads + head
    const int row = (int)(rowHead / heads);
    const int pos = row % seq_len;
    float s, c;
    sincosf((float)pos * inv_freq[i], &s, &c);
    float* v = x + rowHead * head_dim;
    const float a = v[i];
    const float b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
}

// HF rotate-half RoPE, in place on fp32 projections laid out [rows, heads, head_dim] with
// rows = batch · seq_len and position = row mod seq_len. For i < half = head_dim / 2:
//   θ = float(pos) · inv_freq[i]   (one fp32 product, as HF's fp32 position·inv_freq)
//   x'[i]        = x[i]·cos θ − x[i+half]·sin θ
//   x'[i + half] = x[i+half]·cos θ + x[i]·sin θ
// rose_rope_f32 computes it in fp32. rose_rope_bf16 / _f16 compute it as HF does on tensors of that
// dtype (x already holds values of it): cos and sin are cast to the dtype, each product and the sum
// are rounded to it:  x'[i] = r(r(x[i]·c) + r(−x[i+half]·s)),  x'[i+half] = r(r(x[i+half]·c) + r(x[i]·s)).
// inv_freq (fp32, half entries) is precomputed on the host with the config's scaling.
// Launch: grid ceil(rows·heads·half / 256), block 256; one thread per rotated pair.
#include "rose_io.cuh"

template <int K>
__device__ __forceinline__ void rope(float* x, const float* inv_freq, int rows, int heads, int head_dim, int seq_len)
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
    if (K == 0)
    {
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
        return;
    }
    c = RoseIo<K>::round(c);
    s = RoseIo<K>::round(s);
    v[i] = RoseIo<K>::round(RoseIo<K>::round(a * c) + RoseIo<K>::round(-b * s));
    v[i + half] = RoseIo<K>::round(RoseIo<K>::round(b * c) + RoseIo<K>::round(a * s));
}

extern "C" __global__ void rose_rope_f32(float* x, const float* inv_freq, int rows, int heads, int head_dim, int seq_len)
{
    rope<0>(x, inv_freq, rows, heads, head_dim, seq_len);
}

extern "C" __global__ void rose_rope_bf16(float* x, const float* inv_freq, int rows, int heads, int head_dim, int seq_len)
{
    rope<1>(x, inv_freq, rows, heads, head_dim, seq_len);
}

extern "C" __global__ void rose_rope_f16(float* x, const float* inv_freq, int rows, int heads, int head_dim, int seq_len)
{
    rope<2>(x, inv_freq, rows, heads, head_dim, seq_len);
}

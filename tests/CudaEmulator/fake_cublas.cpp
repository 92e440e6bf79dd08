// fake_cublas.cpp — a CPU stand-in for libcublas.so.13, exporting only the cuBLAS v2 entry points
// Rose P/Invokes (handle management, cublasSgemm_v2, cublasGemmEx, cublasGemmStridedBatchedEx).
// It exists so the Gpu test category can run on a machine without a GPU: the companion fake
// libcuda hands out host addresses as "device pointers", so every pointer here is dereferenced
// directly; each call is checked at once and its work queued on the handle's stream (emu_streams.h).
//
// Semantics follow NVIDIA's documentation: column-major storage, C = alpha·op(A)·op(B) + beta·C,
// products accumulated in fp32 (the 32F compute types), beta == 0 never reads C, 16-bit outputs
// rounded to nearest even. Each C element is summed over k strictly in order from 0.0f with a
// separate multiply and add (built with -ffp-contract=off), so results do not depend on blocking
// or threading and equal a naive fp32 loop bit for bit.

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "emu_census.h"
#include "emu_streams.h"
#include "emu_threads.h"

#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// cublasStatus_t values (cublas_api.h).
constexpr int kSuccess = 0;
constexpr int kNotInitialized = 1;
constexpr int kAllocFailed = 3;
constexpr int kInvalidValue = 7;
constexpr int kNotSupported = 15;

// cudaDataType_t values (library_types.h).
constexpr int kR32F = 0;
constexpr int kR16F = 2;
constexpr int kR16BF = 14;

// cublasOperation_t.
constexpr int kOpN = 0;
constexpr int kOpT = 1;
constexpr int kOpC = 2;

// cublasComputeType_t values that take float alpha/beta and accumulate in fp32. The FAST_* ones
// permit cuBLAS to round inputs down; computing them exactly in fp32 stays within what they allow.
constexpr int kCompute32F = 68;
constexpr int kCompute32FPedantic = 69;
constexpr int kCompute32FFast16F = 74;
constexpr int kCompute32FFast16BF = 75;
constexpr int kCompute32FFastTF32 = 77;

// Reported as CUBLAS_VERSION (major·10000 + minor·100 + patch): 13.1.0, matching the soname.
constexpr int kVersion = 130100;

struct Handle
{
    void* stream;
    int mathMode;
};

int fail(int status, const char* function, const char* format, ...) __attribute__((format(printf, 3, 4)));

// One stderr line per refused call, so an emulated test that fails says which request was not
// emulated instead of only a status number.
int fail(int status, const char* function, const char* format, ...)
{
    std::fprintf(stderr, "fake cuBLAS: %s: ", function);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    return status;
}

struct Bf16
{
    uint16_t bits;
};

inline float toFloat(float v) { return v; }
inline float toFloat(_Float16 v) { return static_cast<float>(v); }
inline float toFloat(Bf16 v)
{
    // bf16 is the top half of an fp32, so widening is exact.
    uint32_t bits = static_cast<uint32_t>(v.bits) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

template <typename T> T fromFloat(float v);
template <> inline float fromFloat<float>(float v) { return v; }
// The compiler's conversion rounds to nearest even, as cuBLAS's epilogue does.
template <> inline _Float16 fromFloat<_Float16>(float v) { return static_cast<_Float16>(v); }
template <> inline Bf16 fromFloat<Bf16>(float v)
{
    uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return Bf16{static_cast<uint16_t>((u >> 16) | 0x40u)}; // keep NaN a (quiet) NaN
    u += 0x7fffu + ((u >> 16) & 1u); // round to nearest, ties to even; overflow carries into inf
    return Bf16{static_cast<uint16_t>(u >> 16)};
}

// Register tile MR×NR and cache blocks. MR = 8 rows is two 4-float vectors; 8 accumulators plus
// the loads fit the 16 SSE registers every x86-64 has, so no -march flag is needed.
constexpr int MR = 8;
constexpr int NR = 4;
constexpr int KC = 256;  // depth of one packed block: an MR×KC sliver of A stays in L1
constexpr int MC = 128;  // MC×KC of packed A (128 KiB) stays in L2
constexpr int NC = 1024; // KC×NC of packed B (1 MiB) shared by the MC loop

typedef float v4 __attribute__((vector_size(16)));

inline int64_t roundUp(int64_t v, int64_t unit) { return (v + unit - 1) / unit * unit; }

struct GemmShape
{
    int m, n, k;
    bool transA, transB;
    int64_t lda, ldb;

    // A and B as stored (column-major, before the transposes).
    int64_t aRows() const { return transA ? k : m; }
    int64_t aCols() const { return transA ? m : k; }
    int64_t bRows() const { return transB ? n : k; }
    int64_t bCols() const { return transB ? k : n; }
};

// Packs op(A)[i0:i0+mc, p0:p0+kc] as MR-row panels, each stored p-major (MR floats per p), with
// rows past m zero so the kernel never branches on edges.
template <typename T>
void packA(const T* a, const GemmShape& s, int i0, int mc, int p0, int kc, float* dst)
{
    for (int ip = 0; ip < mc; ip += MR, dst += static_cast<int64_t>(MR) * kc)
    {
        int rows = std::min(MR, s.m - (i0 + ip));
        if (!s.transA)
        {
            for (int p = 0; p < kc; p++)
            {
                const T* col = a + (p0 + p) * s.lda + i0 + ip;
                float* out = dst + p * MR;
                int r = 0;
                for (; r < rows; r++) out[r] = toFloat(col[r]);
                for (; r < MR; r++) out[r] = 0.0f;
            }
        }
        else
        {
            for (int r = 0; r < MR; r++)
            {
                if (r >= rows)
                {
                    for (int p = 0; p < kc; p++) dst[p * MR + r] = 0.0f;
                    continue;
                }
                const T* row = a + (i0 + ip + r) * s.lda + p0;
                for (int p = 0; p < kc; p++) dst[p * MR + r] = toFloat(row[p]);
            }
        }
    }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] as NR-column panels, NR floats per p, zero past n.
template <typename T>
void packB(const T* b, const GemmShape& s, int j0, int nc, int p0, int kc, float* dst)
{
    for (int jp = 0; jp < nc; jp += NR, dst += static_cast<int64_t>(NR) * kc)
    {
        int cols = std::min(NR, s.n - (j0 + jp));
        if (!s.transB)
        {
            for (int c = 0; c < NR; c++)
            {
                if (c >= cols)
                {
                    for (int p = 0; p < kc; p++) dst[p * NR + c] = 0.0f;
                    continue;
                }
                const T* col = b + (j0 + jp + c) * s.ldb + p0;
                for (int p = 0; p < kc; p++) dst[p * NR + c] = toFloat(col[p]);
            }
        }
        else
        {
            for (int p = 0; p < kc; p++)
            {
                const T* row = b + (p0 + p) * s.ldb + j0 + jp;
                float* out = dst + p * NR;
                int c = 0;
                for (; c < cols; c++) out[c] = toFloat(row[c]);
                for (; c < NR; c++) out[c] = 0.0f;
            }
        }
    }
}

// acc[MR×NR] (column-major, ld) += Apanel·Bpanel over kc, or = when first. One multiply and one
// add per term in p order, exactly what `sum = sum + a*b` does.
inline void microKernel(const float* ap, const float* bp, int kc, float* acc, int64_t ld, bool first)
{
    v4 c00, c10, c01, c11, c02, c12, c03, c13;
    if (first)
    {
        c00 = c10 = c01 = c11 = c02 = c12 = c03 = c13 = v4{0.0f, 0.0f, 0.0f, 0.0f};
    }
    else
    {
        std::memcpy(&c00, acc + 0 * ld, 16); std::memcpy(&c10, acc + 0 * ld + 4, 16);
        std::memcpy(&c01, acc + 1 * ld, 16); std::memcpy(&c11, acc + 1 * ld + 4, 16);
        std::memcpy(&c02, acc + 2 * ld, 16); std::memcpy(&c12, acc + 2 * ld + 4, 16);
        std::memcpy(&c03, acc + 3 * ld, 16); std::memcpy(&c13, acc + 3 * ld + 4, 16);
    }
    for (int p = 0; p < kc; p++, ap += MR, bp += NR)
    {
        v4 a0, a1;
        std::memcpy(&a0, ap, 16);
        std::memcpy(&a1, ap + 4, 16);
        v4 t;
        t = a0 * bp[0]; c00 = c00 + t; t = a1 * bp[0]; c10 = c10 + t;
        t = a0 * bp[1]; c01 = c01 + t; t = a1 * bp[1]; c11 = c11 + t;
        t = a0 * bp[2]; c02 = c02 + t; t = a1 * bp[2]; c12 = c12 + t;
        t = a0 * bp[3]; c03 = c03 + t; t = a1 * bp[3]; c13 = c13 + t;
    }
    std::memcpy(acc + 0 * ld, &c00, 16); std::memcpy(acc + 0 * ld + 4, &c10, 16);
    std::memcpy(acc + 1 * ld, &c01, 16); std::memcpy(acc + 1 * ld + 4, &c11, 16);
    std::memcpy(acc + 2 * ld, &c02, 16); std::memcpy(acc + 2 * ld + 4, &c12, 16);
    std::memcpy(acc + 3 * ld, &c03, 16); std::memcpy(acc + 3 * ld + 4, &c13, 16);
}

// Writes C = alpha·acc + beta·C over rows [i0,i1) × cols [j0,j1); beta == 0 never reads C, so
// NaN garbage in an output buffer does not leak into the result (BLAS convention).
template <typename TC>
void finish(const float* acc, int64_t accLd, TC* c, int64_t ldc, float alpha, float beta,
            int i0, int i1, int j0, int j1)
{
    for (int j = j0; j < j1; j++)
    {
        const float* t = acc + j * accLd;
        TC* out = c + j * ldc;
        if (beta == 0.0f)
            for (int i = i0; i < i1; i++) out[i] = fromFloat<TC>(alpha * t[i]);
        else
            for (int i = i0; i < i1; i++)
            {
                float scaledProduct = alpha * t[i];
                float scaledC = beta * toFloat(out[i]);
                out[i] = fromFloat<TC>(scaledProduct + scaledC);
            }
    }
}

// Computes the fp32 products for rows [i0,i1) × cols [j0,j1) of the padded accumulator and then
// the C epilogue for that region. i0 and j0 are multiples of MR and NR.
template <typename TAB, typename TC>
void gemmRegion(const TAB* a, const TAB* b, TC* c, int64_t ldc, const GemmShape& s, float alpha,
                float beta, float* acc, int64_t accLd, int i0, int i1, int j0, int j1)
{
    std::vector<float> packedA(static_cast<size_t>(MC) * KC);
    std::vector<float> packedB(static_cast<size_t>(NC) * KC);
    for (int jc = j0; jc < j1; jc += NC)
    {
        int nc = std::min(NC, j1 - jc);
        int ncPadded = static_cast<int>(roundUp(nc, NR));
        for (int pc = 0; pc < s.k; pc += KC)
        {
            int kc = std::min(KC, s.k - pc);
            packB(b, s, jc, ncPadded, pc, kc, packedB.data());
            for (int ic = i0; ic < i1; ic += MC)
            {
                int mc = std::min(MC, i1 - ic);
                int mcPadded = static_cast<int>(roundUp(mc, MR));
                packA(a, s, ic, mcPadded, pc, kc, packedA.data());
                for (int jr = 0; jr < ncPadded; jr += NR)
                    for (int ir = 0; ir < mcPadded; ir += MR)
                        microKernel(packedA.data() + static_cast<int64_t>(ir) * kc,
                                    packedB.data() + static_cast<int64_t>(jr) * kc, kc,
                                    acc + (jc + jr) * accLd + ic + ir, accLd, pc == 0);
            }
        }
    }
    finish(acc, accLd, c, ldc, alpha, beta, i0, std::min(i1, s.m), j0, std::min(j1, s.n));
}

template <typename TC>
void scaleOnly(TC* c, int64_t ldc, int m, int n, float beta)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
        {
            TC* out = c + j * ldc + i;
            *out = beta == 0.0f ? fromFloat<TC>(0.0f) : fromFloat<TC>(beta * toFloat(*out));
        }
}

int workerCount(const GemmShape& s)
{
    // Threads only pay off once a product is a few million multiply-adds.
    double work = static_cast<double>(s.m) * s.n * s.k;
    if (work < 4.0e6) return 1;
    unsigned hw = std::thread::hardware_concurrency();
    return static_cast<int>(std::clamp(hw == 0 ? 1u : hw, 1u, 16u));
}

// One GEMM, already validated. The accumulator is padded to whole register tiles so the kernel
// never handles edges; work is split over column (or row) strips, one per thread, and because each
// element is summed in the same order either way, the result does not depend on the split.
template <typename TAB, typename TC>
void gemm(const GemmShape& s, float alpha, const TAB* a, const TAB* b, float beta, TC* c, int64_t ldc)
{
    if (s.m == 0 || s.n == 0) return;
    if (alpha == 0.0f || s.k == 0)
    {
        // BLAS: A and B are not referenced when alpha is zero; with k = 0 the product is empty.
        scaleOnly(c, ldc, s.m, s.n, beta);
        return;
    }
    int64_t accLd = roundUp(s.m, MR);
    int nPadded = static_cast<int>(roundUp(s.n, NR));
    std::vector<float> acc(static_cast<size_t>(accLd) * nPadded);
    int mPadded = static_cast<int>(accLd);

    int threads = workerCount(s);
    int colTiles = nPadded / NR, rowTiles = mPadded / MR;
    bool splitColumns = colTiles >= rowTiles || colTiles >= 2 * threads;
    int tiles = splitColumns ? colTiles : rowTiles;
    threads = std::min(threads, tiles);
    auto strip = [&](int t, int& lo, int& hi) {
        int unit = splitColumns ? NR : MR;
        lo = static_cast<int>(static_cast<int64_t>(tiles) * t / threads) * unit;
        hi = static_cast<int>(static_cast<int64_t>(tiles) * (t + 1) / threads) * unit;
    };
    rose_emu_threads::RunOnThreads(threads, [&](int t) {
        int lo, hi;
        strip(t, lo, hi);
        if (lo == hi) return;
        if (splitColumns)
            gemmRegion(a, b, c, ldc, s, alpha, beta, acc.data(), accLd, 0, mPadded, lo, hi);
        else
            gemmRegion(a, b, c, ldc, s, alpha, beta, acc.data(), accLd, lo, hi, 0, nPadded);
    });
}

// Validates the arguments shared by every GEMM entry point, as cuBLAS does (cublas<t>gemm:
// INVALID_VALUE if m, n, k < 0, a transpose is not N/T/C, or a leading dimension is too small).
int checkGemm(const char* function, const void* handle, int transA, int transB, int m, int n, int k,
              int64_t lda, int64_t ldb, int64_t ldc, GemmShape& shape)
{
    if (handle == nullptr) return fail(kNotInitialized, function, "null handle");
    auto validOp = [](int op) { return op == kOpN || op == kOpT || op == kOpC; };
    if (!validOp(transA) || !validOp(transB))
        return fail(kInvalidValue, function, "transa %d / transb %d is not a cublasOperation_t", transA, transB);
    if (m < 0 || n < 0 || k < 0) return fail(kInvalidValue, function, "negative size m=%d n=%d k=%d", m, n, k);
    // For real data OP_C is the plain transpose.
    shape = GemmShape{m, n, k, transA != kOpN, transB != kOpN, lda, ldb};
    if (lda < std::max<int64_t>(1, shape.aRows()) || ldb < std::max<int64_t>(1, shape.bRows()) || ldc < std::max(1, m))
        return fail(kInvalidValue, function, "leading dimension too small (m=%d n=%d k=%d lda=%lld ldb=%lld ldc=%lld)",
                    m, n, k, static_cast<long long>(lda), static_cast<long long>(ldb), static_cast<long long>(ldc));
    return kSuccess;
}

const char* typeName(int type)
{
    switch (type)
    {
    case kR32F: return "CUDA_R_32F";
    case kR16F: return "CUDA_R_16F";
    case kR16BF: return "CUDA_R_16BF";
    default: return "an unemulated cudaDataType";
    }
}

// The GemmEx type combinations cuBLAS lists for the 32F compute types with float scalars that
// Rose can ask for: A and B of one type (F32, F16 or BF16) with C fp32, or C of A's 16-bit type.
int checkTypes(const char* function, int aType, int bType, int cType, int computeType, int algo)
{
    bool computeOk = computeType == kCompute32F || computeType == kCompute32FPedantic ||
                     computeType == kCompute32FFast16F || computeType == kCompute32FFast16BF ||
                     computeType == kCompute32FFastTF32;
    if (!computeOk)
        return fail(kNotSupported, function, "compute type %d is not emulated (only the 32F ones with float alpha/beta)", computeType);
    auto known = [](int t) { return t == kR32F || t == kR16F || t == kR16BF; };
    if (!known(aType) || !known(bType) || !known(cType) || aType != bType || (cType != kR32F && cType != aType))
        return fail(kNotSupported, function, "types A=%d (%s) B=%d (%s) C=%d (%s) are not an emulated combination",
                    aType, typeName(aType), bType, typeName(bType), cType, typeName(cType));
    // cublasGemmAlgo_t: DEFAULT (-1), the explicit ALGO0..23 and the tensor-op range 99..115.
    // The emulator has one algorithm, so any valid choice gives the same result.
    if (!((algo >= -1 && algo <= 23) || (algo >= 99 && algo <= 115)))
        return fail(kInvalidValue, function, "algo %d is not a cublasGemmAlgo_t", algo);
    return kSuccess;
}

template <typename TAB>
void gemmTypedC(const GemmShape& s, float alpha, const void* a, const void* b, float beta, void* c, int cType, int64_t ldc)
{
    auto A = static_cast<const TAB*>(a);
    auto B = static_cast<const TAB*>(b);
    if (cType == kR32F) gemm(s, alpha, A, B, beta, static_cast<float*>(c), ldc);
    else if (cType == kR16F) gemm(s, alpha, A, B, beta, static_cast<_Float16*>(c), ldc);
    else gemm(s, alpha, A, B, beta, static_cast<Bf16*>(c), ldc);
}

void gemmTyped(const GemmShape& s, float alpha, const void* a, int abType, const void* b, float beta,
               void* c, int cType, int64_t ldc)
{
    if (abType == kR32F) gemmTypedC<float>(s, alpha, a, b, beta, c, cType, ldc);
    else if (abType == kR16F) gemmTypedC<_Float16>(s, alpha, a, b, beta, c, cType, ldc);
    else gemmTypedC<Bf16>(s, alpha, a, b, beta, c, cType, ldc);
}

int elementSize(int type) { return type == kR32F ? 4 : 2; }

constexpr int kExecutionFailed = 13;

// As the work runs: A and B, and C where beta makes it an input, hold nothing unwritten (the driver's
// initialization check); a GPU would compute with whatever the memory held.
int checkInputsWritten(const char* function, const GemmShape& s, const void* a, const void* b, int abSize, const void* c, int cSize,
                       int64_t ldc, float beta, int64_t batches = 1, int64_t strideA = 0, int64_t strideB = 0, int64_t strideC = 0)
{
    std::string why;
    if (!rose_emu::AllWritten(a, s.aRows(), s.aCols(), s.lda, abSize, &why, 0, batches, strideA))
        return fail(kExecutionFailed, function, "A reads %s", why.c_str());
    if (!rose_emu::AllWritten(b, s.bRows(), s.bCols(), s.ldb, abSize, &why, 0, batches, strideB))
        return fail(kExecutionFailed, function, "B reads %s", why.c_str());
    if (beta != 0.0f && !rose_emu::AllWritten(c, s.m, s.n, ldc, cSize, &why, 0, batches, strideC))
        return fail(kExecutionFailed, function, "C (beta %g) reads %s", beta, why.c_str());
    return kSuccess;
}

// A, B and C of every batch inside their allocations (the emulated driver's bounds; emu_streams.h):
// cuBLAS itself does not look, and on a GPU a matrix that does not fit is read or written past its end.
int checkOperands(const char* function, const GemmShape& s, const void* a, const void* b, int abSize, const void* c, int cSize,
                  int64_t ldc, int64_t batches = 1, int64_t strideA = 0, int64_t strideB = 0, int64_t strideC = 0)
{
    std::string why;
    if (!rose_emu::InsideDevice(a, s.aRows(), s.aCols(), s.lda, abSize, &why, batches, strideA))
        return fail(kInvalidValue, function, "A (%lld x %lld, lda %lld) does not fit in its allocation: %s", (long long)s.aRows(),
                    (long long)s.aCols(), (long long)s.lda, why.c_str());
    if (!rose_emu::InsideDevice(b, s.bRows(), s.bCols(), s.ldb, abSize, &why, batches, strideB))
        return fail(kInvalidValue, function, "B (%lld x %lld, ldb %lld) does not fit in its allocation: %s", (long long)s.bRows(),
                    (long long)s.bCols(), (long long)s.ldb, why.c_str());
    if (!rose_emu::InsideDevice(c, s.m, s.n, ldc, cSize, &why, batches, strideC))
        return fail(kInvalidValue, function, "C (%d x %d, ldc %lld) does not fit in its allocation: %s", s.m, s.n, (long long)ldc,
                    why.c_str());
    return kSuccess;
}

// The GEMM census (read through rose_emu_blas_census): calls and flops (2·m·n·k per product) by
// depth k, which tells a linear layer (k = its input features) from a Hessian fold (k = tokens), so
// a test can hold the flops a run asks for against the ones its report counts.
rose_emu::Census census;

void Count(const char* function, int m, int n, int k, int batch)
{
    census.Add(std::string(function) + " k=" + std::to_string(k), 2LL * m * n * k * batch);
}

} // namespace

// The census so far (not a cuBLAS function), one "calls flops what" line each: copied NUL-terminated
// into `buffer` when it fits in `size` bytes; returns the text's length either way.
EMU_EXPORT long long rose_emu_blas_census(char* buffer, long long size) { return census.CopyText(buffer, size); }

EMU_EXPORT void rose_emu_blas_census_reset() { census.Reset(); }

EMU_EXPORT int cublasCreate_v2(void** handle)
{
    if (handle == nullptr) return fail(kInvalidValue, "cublasCreate_v2", "null handle pointer");
    auto* h = new (std::nothrow) Handle{nullptr, 0};
    if (h == nullptr) return fail(kAllocFailed, "cublasCreate_v2", "out of memory");
    *handle = h;
    return kSuccess;
}

EMU_EXPORT int cublasDestroy_v2(void* handle)
{
    if (handle == nullptr) return fail(kNotInitialized, "cublasDestroy_v2", "null handle");
    delete static_cast<Handle*>(handle);
    return kSuccess;
}

EMU_EXPORT int cublasSetStream_v2(void* handle, void* stream)
{
    if (handle == nullptr) return fail(kNotInitialized, "cublasSetStream_v2", "null handle");
    static_cast<Handle*>(handle)->stream = stream;
    return kSuccess;
}

EMU_EXPORT int cublasSetMathMode(void* handle, int mode)
{
    if (handle == nullptr) return fail(kNotInitialized, "cublasSetMathMode", "null handle");
    // cublasMath_t: a base mode 0..3 (DEFAULT, TENSOR_OP, PEDANTIC, TF32_TENSOR_OP) plus the
    // DISALLOW_REDUCED_PRECISION_REDUCTION flag (16). All compute exact fp32 here.
    int base = mode & 0xf, flags = mode & ~0xf;
    if (base > 3 || (flags & ~16) != 0) return fail(kInvalidValue, "cublasSetMathMode", "math mode %d is not a cublasMath_t", mode);
    static_cast<Handle*>(handle)->mathMode = mode;
    return kSuccess;
}

EMU_EXPORT int cublasGetVersion_v2(void* handle, int* version)
{
    if (handle == nullptr) return fail(kNotInitialized, "cublasGetVersion_v2", "null handle");
    if (version == nullptr) return fail(kInvalidValue, "cublasGetVersion_v2", "null version pointer");
    *version = kVersion;
    return kSuccess;
}

EMU_EXPORT int cublasSgemm_v2(void* handle, int transA, int transB, int m, int n, int k, const float* alpha,
                              const float* a, int lda, const float* b, int ldb, const float* beta, float* c, int ldc)
{
    GemmShape shape;
    int status = checkGemm("cublasSgemm_v2", handle, transA, transB, m, n, k, lda, ldb, ldc, shape);
    if (status != kSuccess) return status;
    if (alpha == nullptr || beta == nullptr) return fail(kInvalidValue, "cublasSgemm_v2", "null alpha or beta");
    status = checkOperands("cublasSgemm_v2", shape, a, b, sizeof(float), c, sizeof(float), ldc);
    if (status != kSuccess) return status;
    Count("cublasSgemm_v2", m, n, k, 1);
    const float alphaValue = *alpha, betaValue = *beta;
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=] {
        if (int unwritten = checkInputsWritten("cublasSgemm_v2", shape, a, b, sizeof(float), c, sizeof(float), ldc, betaValue))
            return unwritten;
        try
        {
            gemm(shape, alphaValue, a, b, betaValue, c, ldc);
            rose_emu::MarkWritten(c, m, n, ldc, sizeof(float));
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, "cublasSgemm_v2", "out of host memory for a %dx%d accumulator", m, n);
        }
        return kSuccess;
    }, kSuccess);
}

EMU_EXPORT int cublasGemmEx(void* handle, int transA, int transB, int m, int n, int k, const void* alpha,
                            const void* a, int aType, int lda, const void* b, int bType, int ldb, const void* beta,
                            void* c, int cType, int ldc, int computeType, int algo)
{
    const char* fn = "cublasGemmEx";
    GemmShape shape;
    int status = checkGemm(fn, handle, transA, transB, m, n, k, lda, ldb, ldc, shape);
    if (status != kSuccess) return status;
    status = checkTypes(fn, aType, bType, cType, computeType, algo);
    if (status != kSuccess) return status;
    if (alpha == nullptr || beta == nullptr) return fail(kInvalidValue, fn, "null alpha or beta");
    status = checkOperands(fn, shape, a, b, elementSize(aType), c, elementSize(cType), ldc);
    if (status != kSuccess) return status;
    Count(fn, m, n, k, 1);
    const float alphaValue = *static_cast<const float*>(alpha), betaValue = *static_cast<const float*>(beta);
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=] {
        if (int unwritten = checkInputsWritten(fn, shape, a, b, elementSize(aType), c, elementSize(cType), ldc, betaValue))
            return unwritten;
        try
        {
            gemmTyped(shape, alphaValue, a, aType, b, betaValue, c, cType, ldc);
            rose_emu::MarkWritten(c, m, n, ldc, elementSize(cType));
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, fn, "out of host memory for a %dx%d accumulator", m, n);
        }
        return kSuccess;
    }, kSuccess);
}

EMU_EXPORT int cublasGemmStridedBatchedEx(void* handle, int transA, int transB, int m, int n, int k, const void* alpha,
                                          const void* a, int aType, int lda, long long strideA,
                                          const void* b, int bType, int ldb, long long strideB, const void* beta,
                                          void* c, int cType, int ldc, long long strideC, int batchCount,
                                          int computeType, int algo)
{
    const char* fn = "cublasGemmStridedBatchedEx";
    GemmShape shape;
    int status = checkGemm(fn, handle, transA, transB, m, n, k, lda, ldb, ldc, shape);
    if (status != kSuccess) return status;
    status = checkTypes(fn, aType, bType, cType, computeType, algo);
    if (status != kSuccess) return status;
    if (batchCount < 0) return fail(kInvalidValue, fn, "negative batchCount %d", batchCount);
    if (alpha == nullptr || beta == nullptr) return fail(kInvalidValue, fn, "null alpha or beta");
    status = checkOperands(fn, shape, a, b, elementSize(aType), c, elementSize(cType), ldc, batchCount, strideA, strideB, strideC);
    if (status != kSuccess) return status;
    Count(fn, m, n, k, batchCount);
    float alphaValue = *static_cast<const float*>(alpha), betaValue = *static_cast<const float*>(beta);
    // Strides count elements of each operand's own type.
    int abSize = elementSize(aType), cSize = elementSize(cType);
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=] {
        if (int unwritten = checkInputsWritten(fn, shape, a, b, abSize, c, cSize, ldc, betaValue, batchCount, strideA, strideB, strideC))
            return unwritten;
        try
        {
            for (int batch = 0; batch < batchCount; batch++)
            {
                auto aBatch = static_cast<const char*>(a) + batch * strideA * abSize;
                auto bBatch = static_cast<const char*>(b) + batch * strideB * abSize;
                auto cBatch = static_cast<char*>(c) + batch * strideC * cSize;
                gemmTyped(shape, alphaValue, aBatch, aType, bBatch, betaValue, cBatch, cType, ldc);
            }
            rose_emu::MarkWritten(c, m, n, ldc, cSize, batchCount, strideC);
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, fn, "out of host memory for a %dx%d accumulator", m, n);
        }
        return kSuccess;
    }, kSuccess);
}

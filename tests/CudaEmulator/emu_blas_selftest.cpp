// emu_blas_selftest.cpp — checks the CPU emulations of cuBLAS and cuSOLVER (fake_cublas.cpp,
// fake_cusolver.cpp) against plain naive references, linked against the built libcublas.so.13 and
// libcusolver.so.12. The emulators stand in for the real libraries in the Gpu test category, so a
// bug in them would be blamed on Rose; this catches it first. Shapes are small and odd, leading
// dimensions exceed the row counts, padding and "other triangle" entries hold sentinels that must
// survive, and beta = 0 outputs start as NaN. Exits nonzero when any check fails.

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

extern "C" {
int cublasCreate_v2(void** handle);
int cublasDestroy_v2(void* handle);
int cublasSetStream_v2(void* handle, void* stream);
int cublasSetMathMode(void* handle, int mode);
int cublasGetVersion_v2(void* handle, int* version);
int cublasSgemm_v2(void* handle, int transA, int transB, int m, int n, int k, const float* alpha, const float* a, int lda,
                   const float* b, int ldb, const float* beta, float* c, int ldc);
int cublasGemmEx(void* handle, int transA, int transB, int m, int n, int k, const void* alpha, const void* a, int aType,
                 int lda, const void* b, int bType, int ldb, const void* beta, void* c, int cType, int ldc,
                 int computeType, int algo);
int cublasGemmStridedBatchedEx(void* handle, int transA, int transB, int m, int n, int k, const void* alpha,
                               const void* a, int aType, int lda, long long strideA, const void* b, int bType, int ldb,
                               long long strideB, const void* beta, void* c, int cType, int ldc, long long strideC,
                               int batchCount, int computeType, int algo);

int cusolverGetVersion(int* version);
int cusolverGetProperty(int type, int* value);
int cusolverDnCreate(void** handle);
int cusolverDnDestroy(void* handle);
int cusolverDnSetStream(void* handle, void* stream);
int cusolverDnSpotrf_bufferSize(void* handle, int uplo, int n, float* a, int lda, int* lwork);
int cusolverDnSpotrf(void* handle, int uplo, int n, float* a, int lda, float* work, int lwork, int* devInfo);
int cusolverDnSpotri_bufferSize(void* handle, int uplo, int n, float* a, int lda, int* lwork);
int cusolverDnSpotri(void* handle, int uplo, int n, float* a, int lda, float* work, int lwork, int* devInfo);
int cusolverDnSpotrs(void* handle, int uplo, int n, int nrhs, const float* a, int lda, float* b, int ldb, int* devInfo);
int cusolverDnXtrtri_bufferSize(void* handle, int uplo, int diag, int64_t n, int dataTypeA, void* a, int64_t lda,
                                size_t* deviceBytes, size_t* hostBytes);
int cusolverDnXtrtri(void* handle, int uplo, int diag, int64_t n, int dataTypeA, void* a, int64_t lda, void* device,
                     size_t deviceBytes, void* host, size_t hostBytes, int* devInfo);
}

namespace {

int checks = 0, failures = 0;

void check(bool ok, const std::string& what)
{
    checks++;
    if (!ok)
    {
        failures++;
        if (failures <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    }
}

std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* format, ...)
{
    char buffer[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    return buffer;
}

// Deterministic values in [-1, 1) so failures reproduce.
struct Rng
{
    uint64_t state;
    float next()
    {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<float>((state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
    }
};

constexpr int kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14;
constexpr int kOpN = 0, kOpT = 1, kOpC = 2;
constexpr int kCompute16F = 64, kCompute32F = 68, kCompute32FPedantic = 69, kCompute32FFastTF32 = 77;
constexpr int kLower = 0, kUpper = 1, kNonUnit = 0, kUnit = 1;
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kSentinel = 12345.0f;

bool sameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// ---- 16-bit storage, written independently of the emulator --------------------------------

float bf16ToFloat(uint16_t h)
{
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// Nearest bf16 by comparing the two truncation candidates in double; ties go to the even one.
uint16_t floatToBf16(float f)
{
    if (std::isnan(f)) return 0x7fc0;
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    uint16_t down = static_cast<uint16_t>(u >> 16);
    uint16_t up = static_cast<uint16_t>(down + 1);
    double dDown = std::fabs(static_cast<double>(f) - bf16ToFloat(down));
    double dUp = std::fabs(static_cast<double>(f) - bf16ToFloat(up));
    if ((u & 0xffff) == 0) return down;
    if (dDown < dUp) return down;
    if (dUp < dDown) return up;
    return (down & 1) ? up : down;
}

// ---- storage of one operand in any of the three element types -----------------------------

struct Buffer
{
    int type;
    std::vector<unsigned char> bytes;
    Buffer(int t, size_t count) : type(t), bytes(count * (t == kR32F ? 4 : 2)) {}
    size_t count() const { return bytes.size() / (type == kR32F ? 4 : 2); }
    void* data() { return bytes.data(); }
    float get(size_t i) const
    {
        if (type == kR32F)
        {
            float f;
            std::memcpy(&f, bytes.data() + 4 * i, 4);
            return f;
        }
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        if (type == kR16BF) return bf16ToFloat(h);
        _Float16 x;
        std::memcpy(&x, &h, 2);
        return static_cast<float>(x);
    }
    // Stores the nearest representable value.
    void set(size_t i, float v)
    {
        if (type == kR32F)
        {
            std::memcpy(bytes.data() + 4 * i, &v, 4);
            return;
        }
        uint16_t h;
        if (type == kR16BF) h = floatToBf16(v);
        else
        {
            _Float16 x = static_cast<_Float16>(v);
            std::memcpy(&h, &x, 2);
        }
        std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    uint16_t raw16(size_t i) const
    {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        return h;
    }
};

Buffer randomBuffer(int type, size_t count, Rng& rng)
{
    Buffer b(type, count);
    for (size_t i = 0; i < count; i++) b.set(i, rng.next());
    return b;
}

// ---- GEMM ------------------------------------------------------------------------------------

struct GemmCase
{
    int transA, transB, m, n, k, lda, ldb, ldc;
    float alpha, beta;
};

// C = alpha·op(A)·op(B) + beta·C the naive way, each product summed in order from 0.0f in fp32,
// then rounded to C's type. Also the same product in double, for a tolerance check that does not
// rest on the summation-order argument.
void referenceGemm(const GemmCase& g, const Buffer& a, const Buffer& b, const Buffer& cIn, Buffer& cOut,
                   std::vector<double>& exact)
{
    exact.assign(static_cast<size_t>(g.m) * g.n, 0.0);
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++)
        {
            float acc = 0.0f;
            double accD = 0.0;
            for (int p = 0; p < g.k; p++)
            {
                float av = g.transA == kOpN ? a.get(i + static_cast<size_t>(p) * g.lda) : a.get(p + static_cast<size_t>(i) * g.lda);
                float bv = g.transB == kOpN ? b.get(p + static_cast<size_t>(j) * g.ldb) : b.get(j + static_cast<size_t>(p) * g.ldb);
                float prod = av * bv;
                acc = acc + prod;
                accD += static_cast<double>(av) * bv;
            }
            size_t at = i + static_cast<size_t>(j) * g.ldc;
            // BLAS: with alpha = 0 or k = 0 the product is not formed; beta = 0 never reads C.
            bool noProduct = g.alpha == 0.0f || g.k == 0;
            float scaledProduct = noProduct ? 0.0f : g.alpha * acc;
            float result;
            if (g.beta == 0.0f) result = scaledProduct;
            else if (noProduct) result = g.beta * cIn.get(at);
            else
            {
                float scaledC = g.beta * cIn.get(at);
                result = scaledProduct + scaledC;
            }
            cOut.set(at, result);
            exact[i + static_cast<size_t>(j) * g.m] = g.alpha * accD + (g.beta == 0.0f ? 0.0 : g.beta * static_cast<double>(cIn.get(at)));
        }
}

// Runs one GemmEx (or Sgemm when useSgemm) case and compares every element of C bit for bit with
// the naive reference, the padding rows of C with their sentinels, and the values with the double
// reference within a k-scaled fp32 (or 16-bit) tolerance.
void runGemmCase(void* blas, const GemmCase& g, int abType, int cType, int computeType, bool useSgemm, uint64_t seed)
{
    Rng rng{seed};
    int aRows = g.transA == kOpN ? g.m : g.k, aCols = g.transA == kOpN ? g.k : g.m;
    int bRows = g.transB == kOpN ? g.k : g.n, bCols = g.transB == kOpN ? g.n : g.k;
    (void)aRows;
    (void)bRows;
    Buffer a = randomBuffer(abType, static_cast<size_t>(g.lda) * std::max(aCols, 1), rng);
    Buffer b = randomBuffer(abType, static_cast<size_t>(g.ldb) * std::max(bCols, 1), rng);
    Buffer c(cType, static_cast<size_t>(g.ldc) * std::max(g.n, 1));
    for (size_t i = 0; i < c.count(); i++)
    {
        bool padding = static_cast<int>(i % g.ldc) >= g.m;
        c.set(i, padding ? kSentinel : (g.beta == 0.0f ? kNaN : rng.next()));
    }
    Buffer expected = c;
    std::vector<double> exact;
    referenceGemm(g, a, b, c, expected, exact);

    int status;
    if (useSgemm)
        status = cublasSgemm_v2(blas, g.transA, g.transB, g.m, g.n, g.k, &g.alpha, static_cast<const float*>(a.data()),
                                g.lda, static_cast<const float*>(b.data()), g.ldb, &g.beta, static_cast<float*>(c.data()), g.ldc);
    else
        status = cublasGemmEx(blas, g.transA, g.transB, g.m, g.n, g.k, &g.alpha, a.data(), abType, g.lda, b.data(), abType,
                              g.ldb, &g.beta, c.data(), cType, g.ldc, computeType, -1);
    std::string name = fmt("%s op(%d,%d) m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g types %d->%d compute %d",
                           useSgemm ? "Sgemm" : "GemmEx", g.transA, g.transB, g.m, g.n, g.k, g.lda, g.ldb, g.ldc,
                           g.alpha, g.beta, abType, cType, computeType);
    check(status == 0, name + ": status " + std::to_string(status));
    if (status != 0) return;

    int mismatches = 0, inexact = 0, padding = 0;
    double tolerance = (cType == kR32F ? 1e-6 : (cType == kR16F ? 1e-3 : 8e-3)) * (g.k + 4);
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.ldc; i++)
        {
            size_t at = i + static_cast<size_t>(j) * g.ldc;
            if (i >= g.m)
            {
                // The sentinel as stored (16-bit C rounds it), untouched by the reference.
                padding += cType == kR32F ? !sameBits(c.get(at), expected.get(at)) : c.raw16(at) != expected.raw16(at);
                continue;
            }
            bool same = cType == kR32F ? sameBits(c.get(at), expected.get(at)) : c.raw16(at) == expected.raw16(at);
            mismatches += !same;
            double want = exact[i + static_cast<size_t>(j) * g.m];
            inexact += !(std::fabs(c.get(at) - want) <= tolerance * (1.0 + std::fabs(want)));
        }
    check(mismatches == 0, name + fmt(": %d elements differ from the naive fp32 loop", mismatches));
    check(inexact == 0, name + fmt(": %d elements off the double reference", inexact));
    check(padding == 0, name + fmt(": %d padding rows of C were written", padding));
}

void testGemm(void* blas)
{
    // Every transpose pair Rose uses (NN, NT, TN) and the rest, OP_C reading as T for real data,
    // on odd shapes including k beyond one packed depth block (256) and m, n beyond one tile.
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 9, 17}, {33, 19, 70}, {9, 37, 300}, {3, 2, 0}};
    const int ops[] = {kOpN, kOpT, kOpC};
    uint64_t seed = 1;
    for (auto& s : shapes)
        for (int ta : ops)
            for (int tb : ops)
                for (float beta : {0.0f, 0.75f})
                {
                    int m = s[0], n = s[1], k = s[2];
                    GemmCase g{ta, tb, m, n, k, (ta == kOpN ? m : k) + 3, (tb == kOpN ? k : n) + 2, m + 1, 1.5f, beta};
                    if (g.lda < 1) g.lda = 1;
                    runGemmCase(blas, g, kR32F, kR32F, kCompute32F, true, seed++);
                }

    // GemmEx: fp32/fp16/bf16 inputs with fp32 output (Rose's forward and Hessian fold) and 16-bit
    // outputs, each 32F compute type, the layouts Rose uses plus TT.
    const int types[] = {kR32F, kR16F, kR16BF};
    const int computes[] = {kCompute32F, kCompute32FPedantic, kCompute32FFastTF32};
    const int pairs[][2] = {{kOpN, kOpN}, {kOpN, kOpT}, {kOpT, kOpN}, {kOpT, kOpT}};
    for (int abType : types)
        for (int cType : {kR32F, abType})
            for (int ci = 0; ci < 3; ci++)
                for (auto& op : pairs)
                    for (float beta : {0.0f, -0.5f})
                    {
                        GemmCase g{op[0], op[1], 11, 6, 29, (op[0] == kOpN ? 11 : 29) + 1, (op[1] == kOpN ? 29 : 6) + 5, 13, 0.5f, beta};
                        runGemmCase(blas, g, abType, cType, computes[ci], false, seed++);
                    }

    // Large enough to use threads (column strips, then row strips for a thin product) and several
    // cache blocks in every dimension; still bit-identical to the naive loop.
    runGemmCase(blas, GemmCase{kOpN, kOpT, 301, 1100, 520, 305, 1103, 302, 1.0f, 0.0f}, kR32F, kR32F, kCompute32F, true, 900);
    runGemmCase(blas, GemmCase{kOpT, kOpN, 2001, 3, 700, 701, 702, 2003, -2.0f, 1.0f}, kR32F, kR32F, kCompute32F, true, 901);
    runGemmCase(blas, GemmCase{kOpT, kOpN, 150, 70, 1030, 1030, 1031, 150, 1.0f, 0.0f}, kR16BF, kR32F, kCompute32F, false, 902);
    runGemmCase(blas, GemmCase{kOpN, kOpT, 130, 129, 600, 131, 129, 130, 0.25f, 0.5f}, kR16F, kR32F, kCompute32F, false, 903);

    // alpha = 0: A and B are not read (null here), C = beta·C; with beta = 0 too, C = 0 even over NaN.
    {
        float alpha = 0.0f, beta = 2.0f;
        std::vector<float> c = {1.0f, kNaN, 3.0f, kSentinel};
        int status = cublasSgemm_v2(blas, kOpN, kOpN, 1, 2, 4, &alpha, nullptr, 1, nullptr, 4, &beta, c.data(), 2);
        check(status == 0 && c[0] == 2.0f && std::isnan(c[1]) && c[2] == 6.0f && c[3] == kSentinel, "Sgemm alpha=0 scales C only");
        beta = 0.0f;
        status = cublasSgemm_v2(blas, kOpN, kOpN, 1, 2, 4, &alpha, nullptr, 1, nullptr, 4, &beta, c.data(), 2);
        check(status == 0 && sameBits(c[0], 0.0f) && sameBits(c[2], 0.0f) && c[3] == kSentinel, "Sgemm alpha=0 beta=0 zeroes C");
    }
}

void testStridedBatched(void* blas)
{
    // Three batches with strides larger than the matrices; each batch must equal a single GemmEx
    // on the same slices, for fp32 and for bf16 inputs with a bf16 output (strides in elements).
    for (int type : {kR32F, kR16BF})
    {
        const int m = 9, n = 5, k = 7, batches = 3, lda = 10, ldb = 8, ldc = 11;
        const long long strideA = lda * k + 13, strideB = ldb * n + 3, strideC = ldc * n + 7;
        Rng rng{77 + static_cast<uint64_t>(type)};
        Buffer a = randomBuffer(type, strideA * batches, rng), b = randomBuffer(type, strideB * batches, rng);
        Buffer c = randomBuffer(type, strideC * batches, rng);
        Buffer single = c;
        float alpha = 1.25f, beta = 0.5f;
        int status = cublasGemmStridedBatchedEx(blas, kOpN, kOpN, m, n, k, &alpha, a.data(), type, lda, strideA, b.data(), type, ldb,
                                                strideB, &beta, c.data(), type, ldc, strideC, batches, kCompute32FPedantic, -1);
        check(status == 0, fmt("GemmStridedBatchedEx type %d status %d", type, status));
        int differ = 0;
        size_t size = type == kR32F ? 4 : 2;
        for (int batch = 0; batch < batches; batch++)
        {
            status = cublasGemmEx(blas, kOpN, kOpN, m, n, k, &alpha, a.bytes.data() + batch * strideA * size, type, lda,
                                  b.bytes.data() + batch * strideB * size, type, ldb, &beta,
                                  single.bytes.data() + batch * strideC * size, type, ldc, kCompute32FPedantic, -1);
            check(status == 0, "GemmEx per batch");
        }
        differ = std::memcmp(c.bytes.data(), single.bytes.data(), c.bytes.size()) != 0;
        check(!differ, fmt("GemmStridedBatchedEx type %d equals GemmEx per batch (gaps between batches untouched)", type));

        Buffer before = c;
        status = cublasGemmStridedBatchedEx(blas, kOpN, kOpN, m, n, k, &alpha, a.data(), type, lda, strideA, b.data(), type, ldb,
                                            strideB, &beta, c.data(), type, ldc, strideC, 0, kCompute32F, -1);
        check(status == 0 && before.bytes == c.bytes, "GemmStridedBatchedEx with batchCount 0 does nothing");
    }
}

void testBlasErrors(void* blas)
{
    float alpha = 1.0f, beta = 0.0f;
    std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64, 0.0f);
    std::fprintf(stderr, "(the next lines up to 'end of expected errors' are the emulator refusing bad calls on purpose)\n");
    check(cublasSgemm_v2(blas, 3, kOpN, 2, 2, 2, &alpha, a.data(), 2, b.data(), 2, &beta, c.data(), 2) == 7, "bad transpose -> INVALID_VALUE");
    check(cublasSgemm_v2(blas, kOpN, kOpN, -1, 2, 2, &alpha, a.data(), 2, b.data(), 2, &beta, c.data(), 2) == 7, "negative m -> INVALID_VALUE");
    check(cublasSgemm_v2(blas, kOpN, kOpN, 4, 2, 2, &alpha, a.data(), 3, b.data(), 2, &beta, c.data(), 4) == 7, "lda < m -> INVALID_VALUE");
    check(cublasSgemm_v2(blas, kOpT, kOpN, 4, 2, 3, &alpha, a.data(), 2, b.data(), 3, &beta, c.data(), 4) == 7, "lda < k for op T -> INVALID_VALUE");
    check(cublasSgemm_v2(blas, kOpN, kOpT, 4, 2, 3, &alpha, a.data(), 4, b.data(), 1, &beta, c.data(), 4) == 7, "ldb < n for op T -> INVALID_VALUE");
    check(cublasSgemm_v2(blas, kOpN, kOpN, 4, 2, 3, &alpha, a.data(), 4, b.data(), 3, &beta, c.data(), 3) == 7, "ldc < m -> INVALID_VALUE");
    check(cublasSgemm_v2(nullptr, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), 2, b.data(), 2, &beta, c.data(), 2) == 1, "null handle -> NOT_INITIALIZED");
    check(cublasGemmEx(blas, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), kR32F, 2, b.data(), kR16F, 2, &beta, c.data(), kR32F, 2, kCompute32F, -1) == 15,
          "mixed A/B types -> NOT_SUPPORTED");
    check(cublasGemmEx(blas, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), kR32F, 2, b.data(), kR32F, 2, &beta, c.data(), kR16BF, 2, kCompute32F, -1) == 15,
          "fp32 inputs into a bf16 C -> NOT_SUPPORTED");
    check(cublasGemmEx(blas, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), kR64F, 2, b.data(), kR64F, 2, &beta, c.data(), kR64F, 2, kCompute32F, -1) == 15,
          "fp64 -> NOT_SUPPORTED");
    check(cublasGemmEx(blas, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), kR16F, 2, b.data(), kR16F, 2, &beta, c.data(), kR16F, 2, kCompute16F, -1) == 15,
          "16F compute type -> NOT_SUPPORTED");
    check(cublasGemmEx(blas, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), kR32F, 2, b.data(), kR32F, 2, &beta, c.data(), kR32F, 2, kCompute32F, 50) == 7,
          "bad algo -> INVALID_VALUE");
    check(cublasGemmStridedBatchedEx(blas, kOpN, kOpN, 2, 2, 2, &alpha, a.data(), kR32F, 2, 4, b.data(), kR32F, 2, 4, &beta, c.data(), kR32F, 2, 4,
                                     -1, kCompute32F, -1) == 7,
          "negative batchCount -> INVALID_VALUE");
    check(cublasSetMathMode(blas, 5) == 7, "bad math mode -> INVALID_VALUE");
    std::fprintf(stderr, "(end of expected errors)\n");
    check(cublasSetMathMode(blas, 2) == 0 && cublasSetMathMode(blas, 3) == 0 && cublasSetMathMode(blas, 16) == 0 && cublasSetMathMode(blas, 0) == 0,
          "math modes DEFAULT, PEDANTIC, TF32 and DISALLOW_REDUCED_PRECISION_REDUCTION accepted");
    check(cublasSetStream_v2(blas, nullptr) == 0, "SetStream");
    int version = 0;
    check(cublasGetVersion_v2(blas, &version) == 0 && version == 130100, fmt("cuBLAS version %d is 13.1.0", version));
}

// ---- cuSOLVER ----------------------------------------------------------------------------------

// A well-conditioned SPD matrix G·Gᵀ/n + I (eigenvalues in [1, ~5]), full, column-major ld n.
std::vector<double> spd(int n, uint64_t seed)
{
    Rng rng{seed};
    std::vector<double> g(static_cast<size_t>(n) * n), a(static_cast<size_t>(n) * n);
    for (auto& v : g) v = rng.next();
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0.0;
            for (int p = 0; p < n; p++) s += g[i + p * n] * g[j + p * n];
            a[i + j * n] = s / n + (i == j ? 1.0 : 0.0);
        }
    return a;
}

// The fp32 matrix handed to the solver: the wanted triangle from `full`, the other triangle and
// the padding rows set to sentinels that must come back unchanged.
std::vector<float> stage(const std::vector<double>& full, int n, int lda, int uplo)
{
    std::vector<float> a(static_cast<size_t>(lda) * n, kSentinel);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++)
        {
            bool inTriangle = uplo == kLower ? i >= j : i <= j;
            if (inTriangle) a[i + static_cast<size_t>(j) * lda] = static_cast<float>(full[i + static_cast<size_t>(j) * n]);
            else a[i + static_cast<size_t>(j) * lda] = kSentinel + static_cast<float>(i - j);
        }
    return a;
}

// Counts entries outside the uplo triangle (including padding rows) that differ from `before`.
int outsideChanged(const std::vector<float>& before, const std::vector<float>& after, int n, int lda, int uplo, bool includeDiagonal)
{
    int changed = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < lda; i++)
        {
            bool inTriangle = i < n && (uplo == kLower ? i >= j : i <= j) && (includeDiagonal || i != j);
            size_t at = i + static_cast<size_t>(j) * lda;
            if (!inTriangle && !sameBits(before[at], after[at])) changed++;
        }
    return changed;
}

// The uplo triangle of an ld-`lda` fp32 matrix as a full double triangular matrix (ld n).
std::vector<double> triangle(const std::vector<float>& a, int n, int lda, int uplo, bool unitDiagonal)
{
    std::vector<double> t(static_cast<size_t>(n) * n, 0.0);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++)
        {
            bool inTriangle = uplo == kLower ? i >= j : i <= j;
            if (inTriangle) t[i + j * n] = (unitDiagonal && i == j) ? 1.0 : a[i + static_cast<size_t>(j) * lda];
        }
    return t;
}

double maxAbs(const std::vector<double>& x, const std::vector<double>& y)
{
    double worst = 0.0;
    for (size_t i = 0; i < x.size(); i++) worst = std::max(worst, std::fabs(x[i] - y[i]));
    return worst;
}

std::vector<double> multiply(const std::vector<double>& x, const std::vector<double>& y, int n, bool transposeX, bool transposeY)
{
    std::vector<double> z(static_cast<size_t>(n) * n, 0.0);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++)
        {
            double s = 0.0;
            for (int p = 0; p < n; p++)
                s += (transposeX ? x[p + i * n] : x[i + p * n]) * (transposeY ? y[j + p * n] : y[p + j * n]);
            z[i + j * n] = s;
        }
    return z;
}

std::vector<double> identity(int n)
{
    std::vector<double> e(static_cast<size_t>(n) * n, 0.0);
    for (int i = 0; i < n; i++) e[i + i * n] = 1.0;
    return e;
}

// Textbook Cholesky in double: lower L with A = L·Lᵀ.
std::vector<double> choleskyLower(const std::vector<double>& a, int n)
{
    std::vector<double> l(static_cast<size_t>(n) * n, 0.0);
    for (int j = 0; j < n; j++)
    {
        double d = a[j + j * n];
        for (int p = 0; p < j; p++) d -= l[j + p * n] * l[j + p * n];
        l[j + j * n] = std::sqrt(d);
        for (int i = j + 1; i < n; i++)
        {
            double s = a[i + j * n];
            for (int p = 0; p < j; p++) s -= l[i + p * n] * l[j + p * n];
            l[i + j * n] = s / l[j + j * n];
        }
    }
    return l;
}

void testCholesky(void* solver)
{
    for (int n : {1, 5, 17, 64, 300})
        for (int uplo : {kLower, kUpper})
        {
            int lda = n + 3;
            std::vector<double> full = spd(n, 1000 + n);
            std::vector<float> a = stage(full, n, lda, uplo);
            std::vector<float> original = a;
            int lwork = -1, info = -99;
            check(cusolverDnSpotrf_bufferSize(solver, uplo, n, a.data(), lda, &lwork) == 0 && lwork >= 0, "potrf_bufferSize");
            std::vector<float> work(std::max(lwork, 1));
            int status = cusolverDnSpotrf(solver, uplo, n, a.data(), lda, work.data(), lwork, &info);
            std::string name = fmt("potrf n=%d uplo=%d", n, uplo);
            check(status == 0 && info == 0, name + fmt(": status %d info %d", status, info));
            check(outsideChanged(original, a, n, lda, uplo, true) == 0, name + ": other triangle or padding written");
            // Compare with the textbook factor (upper: U = Lᵀ) and check the reconstruction.
            std::vector<double> l = choleskyLower(full, n);
            std::vector<double> f = triangle(a, n, lda, uplo, false);
            std::vector<double> want(l.size());
            for (int j = 0; j < n; j++)
                for (int i = 0; i < n; i++) want[i + j * n] = uplo == kLower ? l[i + j * n] : l[j + i * n];
            check(maxAbs(f, want) < 2e-5, name + fmt(": factor off by %g", maxAbs(f, want)));
            std::vector<double> rebuilt = uplo == kLower ? multiply(f, f, n, false, true) : multiply(f, f, n, true, false);
            check(maxAbs(rebuilt, full) < 2e-5, name + fmt(": factor reproduces A to %g", maxAbs(rebuilt, full)));
            std::vector<float> factor = a;

            // potri: A⁻¹ in the same triangle; A·A⁻¹ = I with the triangle mirrored.
            check(cusolverDnSpotri_bufferSize(solver, uplo, n, a.data(), lda, &lwork) == 0, "potri_bufferSize");
            status = cusolverDnSpotri(solver, uplo, n, a.data(), lda, work.data(), lwork, &info);
            check(status == 0 && info == 0, fmt("potri n=%d uplo=%d: status %d info %d", n, uplo, status, info));
            check(outsideChanged(original, a, n, lda, uplo, true) == 0, fmt("potri n=%d uplo=%d: other triangle written", n, uplo));
            std::vector<double> inv = triangle(a, n, lda, uplo, false);
            for (int j = 0; j < n; j++)
                for (int i = 0; i < n; i++)
                    if (uplo == kLower ? i < j : i > j) inv[i + j * n] = inv[j + i * n];
            double err = maxAbs(multiply(full, inv, n, false, false), identity(n));
            check(err < 5e-5, fmt("potri n=%d uplo=%d: A·inv(A) off I by %g", n, uplo, err));

            // potrs: A·X = B for three right-hand sides, ldb > n, padding untouched.
            const int nrhs = 3, ldb = n + 2;
            Rng rng{static_cast<uint64_t>(5000 + n)};
            std::vector<float> b(static_cast<size_t>(ldb) * nrhs);
            for (size_t i = 0; i < b.size(); i++) b[i] = static_cast<int>(i % ldb) >= n ? kSentinel : rng.next();
            std::vector<float> rhs = b;
            status = cusolverDnSpotrs(solver, uplo, n, nrhs, factor.data(), lda, b.data(), ldb, &info);
            check(status == 0 && info == 0, fmt("potrs n=%d uplo=%d: status %d info %d", n, uplo, status, info));
            double worst = 0.0;
            int padding = 0;
            for (int r = 0; r < nrhs; r++)
            {
                for (int i = 0; i < n; i++)
                {
                    double s = 0.0;
                    for (int p = 0; p < n; p++) s += full[i + p * n] * b[p + static_cast<size_t>(r) * ldb];
                    worst = std::max(worst, std::fabs(s - rhs[i + static_cast<size_t>(r) * ldb]));
                }
                for (int i = n; i < ldb; i++) padding += b[i + static_cast<size_t>(r) * ldb] != kSentinel;
            }
            check(worst < 5e-5 && padding == 0, fmt("potrs n=%d uplo=%d: residual %g, padding written %d", n, uplo, worst, padding));
        }

    // Not positive definite: LAPACK's info is the order of the first failing leading minor.
    for (int uplo : {kLower, kUpper})
    {
        std::vector<float> twoByTwo = {1, 2, 2, 1}; // eigenvalues 3 and -1
        int info = -99;
        int status = cusolverDnSpotrf(solver, uplo, 2, twoByTwo.data(), 2, nullptr, 0, &info);
        check(status == 0 && info == 2, fmt("potrf [1 2; 2 1] uplo=%d: info %d, want 2", uplo, info));

        // Leading minors of order 1 and 2 positive, of order 3 not: info = 3 in a 6×6 matrix.
        const int n = 6, lda = 7;
        std::vector<double> full = spd(n, 42);
        full[2 + 2 * n] = -5.0;
        std::vector<float> a = stage(full, n, lda, uplo);
        std::vector<float> original = a;
        status = cusolverDnSpotrf(solver, uplo, n, a.data(), lda, nullptr, 0, &info);
        check(status == 0 && info == 3, fmt("potrf 6x6 with a failing 3rd minor uplo=%d: info %d, want 3", uplo, info));
        check(outsideChanged(original, a, n, lda, uplo, true) == 0, "failed potrf keeps the other triangle");

        std::vector<float> withNaN = {kNaN, 0, 0, 1};
        status = cusolverDnSpotrf(solver, uplo, 2, withNaN.data(), 2, nullptr, 0, &info);
        check(status == 0 && info == 1, fmt("potrf NaN pivot uplo=%d: info %d, want 1", uplo, info));

        // potri on a factor with an exactly zero diagonal reports it and leaves A alone.
        std::vector<float> singular = {2, 1, 1, 0};
        std::vector<float> copy = singular;
        status = cusolverDnSpotri(solver, uplo, 2, singular.data(), 2, nullptr, 0, &info);
        check(status == 0 && info == 2 && singular == copy, fmt("potri zero pivot uplo=%d: info %d, want 2", uplo, info));
    }
}

void testTrtri(void* solver)
{
    for (int n : {1, 6, 23, 300})
        for (int uplo : {kLower, kUpper})
            for (int diag : {kNonUnit, kUnit})
            {
                int lda = n + 2;
                Rng rng{static_cast<uint64_t>(n * 10 + uplo * 2 + diag)};
                // Diagonal 2..3 and small off-diagonal entries keep the triangle well conditioned;
                // with a unit diagonal the stored diagonal is garbage that must be ignored and kept.
                std::vector<double> full(static_cast<size_t>(n) * n);
                for (int j = 0; j < n; j++)
                    for (int i = 0; i < n; i++)
                        full[i + j * n] = i == j ? (diag == kUnit ? 77.0 : 2.5 + 0.5 * rng.next()) : rng.next() / std::sqrt(n);
                std::vector<float> a = stage(full, n, lda, uplo);
                std::vector<float> original = a;
                std::vector<double> t = triangle(a, n, lda, uplo, diag == kUnit);
                size_t deviceBytes = 0, hostBytes = 0;
                int status = cusolverDnXtrtri_bufferSize(solver, uplo, diag, n, kR32F, a.data(), lda, &deviceBytes, &hostBytes);
                check(status == 0, "Xtrtri_bufferSize");
                std::vector<unsigned char> device(std::max<size_t>(deviceBytes, 1)), host(std::max<size_t>(hostBytes, 1));
                int info = -99;
                status = cusolverDnXtrtri(solver, uplo, diag, n, kR32F, a.data(), lda, device.data(), deviceBytes, host.data(), hostBytes, &info);
                std::string name = fmt("Xtrtri n=%d uplo=%d diag=%d", n, uplo, diag);
                check(status == 0 && info == 0, name + fmt(": status %d info %d", status, info));
                check(outsideChanged(original, a, n, lda, uplo, diag == kNonUnit) == 0, name + ": wrote outside the triangle (or a unit diagonal)");
                std::vector<double> inv = triangle(a, n, lda, uplo, diag == kUnit);
                double err = maxAbs(multiply(t, inv, n, false, false), identity(n));
                check(err < 1e-5, name + fmt(": T·inv(T) off I by %g", err));
            }

    // An exactly zero diagonal entry: info = its 1-based index, A unchanged; a unit diagonal
    // ignores it.
    for (int uplo : {kLower, kUpper})
    {
        std::vector<float> a = {1, 0.5f, 0.5f, 0.25f, 0.5f, 0, 0.5f, 0.5f, 0.25f, 0.5f, 3, 1, 0.25f, 0.5f, 1, 0};
        std::vector<float> copy = a;
        int info = -99;
        int status = cusolverDnXtrtri(solver, uplo, kNonUnit, 4, kR32F, a.data(), 4, nullptr, 0, nullptr, 0, &info);
        check(status == 0 && info == 2 && a == copy, fmt("Xtrtri zero diagonal uplo=%d: info %d, want 2", uplo, info));
        status = cusolverDnXtrtri(solver, uplo, kUnit, 4, kR32F, a.data(), 4, nullptr, 0, nullptr, 0, &info);
        check(status == 0 && info == 0, fmt("Xtrtri unit diagonal ignores zeros uplo=%d: info %d", uplo, info));
    }
}

void testSolverApi(void* solver)
{
    int version = 0, major = -1, minor = -1, patch = -1;
    check(cusolverGetVersion(&version) == 0 && cusolverGetProperty(0, &major) == 0 && cusolverGetProperty(1, &minor) == 0 &&
              cusolverGetProperty(2, &patch) == 0,
          "cuSOLVER version queries");
    check(version == major * 1000 + minor * 100 + patch && major == 12, fmt("cuSOLVER version %d = %d.%d.%d", version, major, minor, patch));
    check(cusolverDnSetStream(solver, nullptr) == 0, "cusolverDnSetStream");
    std::fprintf(stderr, "(the next lines up to 'end of expected errors' are the emulator refusing bad calls on purpose)\n");
    check(cusolverGetProperty(3, &major) == 3, "unknown property -> INVALID_VALUE");
    float a[4] = {4, 0, 0, 4};
    int info = 0, lwork = 0;
    check(cusolverDnSpotrf(solver, 2, 2, a, 2, nullptr, 0, &info) == 3 && info == -1, "bad uplo -> INVALID_VALUE, devInfo -1");
    check(cusolverDnSpotrf(solver, kLower, 2, a, 1, nullptr, 0, &info) == 3 && info == -4, "lda < n -> INVALID_VALUE, devInfo -4");
    check(cusolverDnSpotrf_bufferSize(solver, kLower, -1, a, 1, &lwork) == 3, "negative n -> INVALID_VALUE");
    check(cusolverDnSpotrs(solver, kLower, 2, -1, a, 2, a, 2, &info) == 3, "negative nrhs -> INVALID_VALUE");
    check(cusolverDnSpotrf(nullptr, kLower, 2, a, 2, nullptr, 0, &info) == 1, "null handle -> NOT_INITIALIZED");
    size_t d = 0, h = 0;
    check(cusolverDnXtrtri_bufferSize(solver, kLower, kNonUnit, 2, kR64F, a, 2, &d, &h) == 9, "fp64 trtri -> NOT_SUPPORTED");
    check(cusolverDnXtrtri(solver, kLower, 2, 2, kR32F, a, 2, nullptr, 0, nullptr, 0, &info) == 3, "bad diag -> INVALID_VALUE");
    std::fprintf(stderr, "(end of expected errors)\n");
    // n = 0 is a valid empty problem.
    check(cusolverDnSpotrf(solver, kLower, 0, a, 1, nullptr, 0, &info) == 0 && info == 0, "potrf n=0");
}

} // namespace

int main()
{
    void* blas = nullptr;
    check(cublasCreate_v2(&blas) == 0 && blas != nullptr, "cublasCreate_v2");
    testGemm(blas);
    testStridedBatched(blas);
    testBlasErrors(blas);
    check(cublasDestroy_v2(blas) == 0, "cublasDestroy_v2");

    void* solver = nullptr;
    check(cusolverDnCreate(&solver) == 0 && solver != nullptr, "cusolverDnCreate");
    testSolverApi(solver);
    testCholesky(solver);
    testTrtri(solver);
    check(cusolverDnDestroy(solver) == 0, "cusolverDnDestroy");

    std::printf("emu_blas_selftest: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

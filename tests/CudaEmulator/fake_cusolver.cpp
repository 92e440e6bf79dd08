// fake_cusolver.cpp — a CPU stand-in for libcusolver.so.12, exporting only the dense cuSOLVER
// entry points Rose P/Invokes (version queries, handles, Spotrf, Spotri, Spotrs, Xtrtri). It lets
// the Gpu test category run without a GPU: the companion fake libcuda hands out host addresses as
// "device pointers", so matrices, workspaces and devInfo are read and written in place; each call is
// checked at once and its work queued on the handle's stream (emu_streams.h).
//
// Semantics follow LAPACK as cuSOLVER documents them: column-major fp32 storage, only the uplo
// triangle of A is read or written (Rose keeps data in the other one), devInfo = i > 0 for the
// first failing pivot (1-based). Sums are accumulated in double, which is at least as accurate as
// the GPU's fp32 kernels; the fp32 results are rounded once at the end.

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "emu_streams.h"
#include "emu_threads.h"

#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// cusolverStatus_t values (cusolver_common.h).
constexpr int kSuccess = 0;
constexpr int kNotInitialized = 1;
constexpr int kAllocFailed = 2;
constexpr int kInvalidValue = 3;
constexpr int kNotSupported = 9;

// cublasFillMode_t, cublasDiagType_t, cudaDataType_t and libraryPropertyType values.
constexpr int kLower = 0;
constexpr int kUpper = 1;
constexpr int kNonUnit = 0;
constexpr int kUnit = 1;
constexpr int kR32F = 0;
constexpr int kMajorVersion = 0;
constexpr int kMinorVersion = 1;
constexpr int kPatchLevel = 2;

// cuSOLVER 12.0.4 (the release paired with CUDA 13); cusolverGetVersion encodes it as
// major·1000 + minor·100 + patch.
constexpr int kMajor = 12, kMinor = 0, kPatch = 4;

struct Handle
{
    void* stream;
};

int fail(int status, const char* function, const char* format, ...) __attribute__((format(printf, 3, 4)));

// One stderr line per refused call, so a failing emulated test names the request it made.
int fail(int status, const char* function, const char* format, ...)
{
    std::fprintf(stderr, "fake cuSOLVER: %s: ", function);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    return status;
}

// Column-major view of an fp32 matrix with a leading dimension.
struct Matrix
{
    float* data;
    int64_t ld;
    float& operator()(int64_t i, int64_t j) const { return data[i + j * ld]; }
};

// Runs body(j) for j in [0, count), spread over the cores when the work is large enough to be
// worth a thread. Each j must touch only its own outputs, so the result does not depend on it.
template <typename Body>
void parallelFor(int64_t count, double workPerItem, const Body& body)
{
    unsigned hw = std::thread::hardware_concurrency();
    int threads = static_cast<int>(std::clamp(hw == 0 ? 1u : hw, 1u, 16u));
    if (count * workPerItem < 4.0e6 || count < 2) threads = 1;
    threads = static_cast<int>(std::min<int64_t>(threads, count));
    // Interleaved assignment balances triangular work, where item cost grows or shrinks with j.
    rose_emu_threads::RunOnThreads(threads, [&](int t) {
        for (int64_t j = t; j < count; j += threads) body(j);
    });
}

// Cholesky factorization in place, LAPACK spotrf semantics. Returns info: 0, or the 1-based order
// of the first leading minor that is not positive definite (the pivot is <= 0 or NaN); columns
// before it hold the partial factor. Lower: A = L·Lᵀ, computed column by column (left-looking),
// each column an update by the finished columns to its left, which are contiguous in memory.
// Upper: A = Uᵀ·U, each column of U found by a forward solve with the finished columns, also
// contiguous. Both keep a double copy of the factor so later columns use unrounded values.
int64_t choleskyInPlace(Matrix a, int64_t n, bool lower)
{
    std::vector<double> f(static_cast<size_t>(n * n)); // finished factor, column-major, ld n
    std::vector<double> column(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; j++)
    {
        double* fj = f.data() + j * n;
        if (lower)
        {
            // column[i] = A(i,j) - Σ_{p<j} L(i,p)·L(j,p), for i ≥ j
            for (int64_t i = j; i < n; i++) column[i] = a(i, j);
            for (int64_t p = 0; p < j; p++)
            {
                const double* fp = f.data() + p * n;
                double ljp = fp[j];
                for (int64_t i = j; i < n; i++) column[i] -= fp[i] * ljp;
            }
            double pivot = column[j];
            if (!(pivot > 0.0))
            {
                a(j, j) = static_cast<float>(pivot); // LAPACK leaves the failed pivot there
                return j + 1;
            }
            double d = std::sqrt(pivot);
            fj[j] = d;
            a(j, j) = static_cast<float>(d);
            for (int64_t i = j + 1; i < n; i++)
            {
                fj[i] = column[i] / d;
                a(i, j) = static_cast<float>(fj[i]);
            }
        }
        else
        {
            // U(i,j) = (A(i,j) - Σ_{p<i} U(p,i)·U(p,j)) / U(i,i) for i < j, then the pivot.
            for (int64_t i = 0; i < j; i++)
            {
                const double* fi = f.data() + i * n;
                double s = a(i, j);
                for (int64_t p = 0; p < i; p++) s -= fi[p] * fj[p];
                fj[i] = s / fi[i];
            }
            double pivot = a(j, j);
            for (int64_t p = 0; p < j; p++) pivot -= fj[p] * fj[p];
            for (int64_t i = 0; i < j; i++) a(i, j) = static_cast<float>(fj[i]);
            if (!(pivot > 0.0))
            {
                a(j, j) = static_cast<float>(pivot);
                return j + 1;
            }
            fj[j] = std::sqrt(pivot);
            a(j, j) = static_cast<float>(fj[j]);
        }
    }
    return 0;
}

// LAPACK strtri's singularity check: the first exactly zero diagonal entry (1-based), 0 if none.
int64_t firstZeroDiagonal(Matrix a, int64_t n, bool unitDiagonal)
{
    if (unitDiagonal) return 0;
    for (int64_t i = 0; i < n; i++)
        if (a(i, i) == 0.0f) return i + 1;
    return 0;
}

// Inverse of the triangle (uplo) of A, as a double column-major n×n matrix whose other triangle is
// zero. Column j of the inverse solves T·x = e_j by substitution with T's contiguous columns, so
// columns are independent and run in parallel. The diagonal is taken as 1 when unitDiagonal.
std::vector<double> triangularInverse(Matrix a, int64_t n, bool lower, bool unitDiagonal)
{
    std::vector<double> inv(static_cast<size_t>(n * n), 0.0);
    // A double copy of the triangle: read n times over, it is cheaper to convert once.
    std::vector<double> t(static_cast<size_t>(n * n), 0.0);
    for (int64_t j = 0; j < n; j++)
    {
        int64_t lo = lower ? j : 0, hi = lower ? n : j + 1;
        for (int64_t i = lo; i < hi; i++) t[i + j * n] = a(i, j);
    }
    auto diagonal = [&](int64_t p) { return unitDiagonal ? 1.0 : t[p + p * n]; };
    parallelFor(n, static_cast<double>(n) * n / 2, [&](int64_t j) {
        double* x = inv.data() + j * n;
        x[j] = 1.0;
        if (lower)
        {
            for (int64_t p = j; p < n; p++)
            {
                x[p] /= diagonal(p);
                double xp = x[p];
                const double* tp = t.data() + p * n;
                for (int64_t i = p + 1; i < n; i++) x[i] -= tp[i] * xp;
            }
        }
        else
        {
            for (int64_t p = j; p >= 0; p--)
            {
                x[p] /= diagonal(p);
                double xp = x[p];
                const double* tp = t.data() + p * n;
                for (int64_t i = 0; i < p; i++) x[i] -= tp[i] * xp;
            }
        }
    });
    return inv;
}

bool validUplo(int uplo) { return uplo == kLower || uplo == kUpper; }

// Argument checks shared by potrf/potri and their buffer-size queries. LAPACK numbers the
// arguments without the handle: uplo 1, n 2, lda 4.
int checkSquare(const char* function, const void* handle, int uplo, int64_t n, int64_t lda, int* badArgument)
{
    *badArgument = 0;
    if (handle == nullptr) return fail(kNotInitialized, function, "null handle");
    if (!validUplo(uplo)) *badArgument = 1;
    else if (n < 0) *badArgument = 2;
    else if (lda < std::max<int64_t>(1, n)) *badArgument = 4;
    if (*badArgument != 0)
        return fail(kInvalidValue, function, "invalid argument %d (uplo=%d n=%lld lda=%lld)", *badArgument, uplo,
                    static_cast<long long>(n), static_cast<long long>(lda));
    return kSuccess;
}

// A matrix operand of rows × cols (leading dimension ld, fp32) and devInfo inside their allocations (the
// emulated driver's bounds; emu_streams.h): cuSOLVER does not look, and on a GPU a matrix that does not fit
// is read or written past its end.
int checkInside(const char* function, const char* what, const void* p, int64_t rows, int64_t cols, int64_t ld, const int* devInfo)
{
    std::string why;
    if (!rose_emu::InsideDevice(p, rows, cols, ld, sizeof(float), &why))
        return fail(kInvalidValue, function, "%s (%lld x %lld, ld %lld) does not fit in its allocation: %s", what, (long long)rows,
                    (long long)cols, (long long)ld, why.c_str());
    if (devInfo && !rose_emu::InsideDevice(devInfo, 1, 1, 1, sizeof(int), &why))
        return fail(kInvalidValue, function, "devInfo does not fit in its allocation: %s", why.c_str());
    return kSuccess;
}

constexpr int kExecutionFailed = 6;

// As a call's work runs: the triangle of A it reads (uplo's, of the column-major matrix) holds nothing that
// has not been written since its allocation (the driver's initialization check).
int checkTriangleWritten(const char* function, const void* a, int64_t n, int64_t lda, int uplo)
{
    std::string why;
    if (rose_emu::AllWritten(a, n, n, lda, sizeof(float), &why, uplo == kLower ? 1 : 2)) return kSuccess;
    return fail(kExecutionFailed, function, "A's %s triangle reads %s", uplo == kLower ? "lower" : "upper", why.c_str());
}

// The driver's initialization check learns, as a factorization's work runs, that it writes A (the whole
// n × n: its triangle, and the other one as it was) and devInfo.
void WroteSquareAndInfo(const void* a, int64_t n, int64_t lda, const int* devInfo)
{
    rose_emu::MarkWritten(a, n, n, lda, sizeof(float));
    rose_emu::MarkWritten(devInfo, 1, 1, 1, sizeof(int));
}

// Reports a rejected argument through devInfo too (-i, as the cuSOLVER docs describe), when given.
int rejectWithInfo(int status, int badArgument, int* devInfo)
{
    if (devInfo != nullptr && badArgument != 0) *devInfo = -badArgument;
    return status;
}

} // namespace

EMU_EXPORT int cusolverGetVersion(int* version)
{
    if (version == nullptr) return fail(kInvalidValue, "cusolverGetVersion", "null version pointer");
    *version = kMajor * 1000 + kMinor * 100 + kPatch;
    return kSuccess;
}

EMU_EXPORT int cusolverGetProperty(int type, int* value)
{
    if (value == nullptr) return fail(kInvalidValue, "cusolverGetProperty", "null value pointer");
    switch (type)
    {
    case kMajorVersion: *value = kMajor; return kSuccess;
    case kMinorVersion: *value = kMinor; return kSuccess;
    case kPatchLevel: *value = kPatch; return kSuccess;
    default: return fail(kInvalidValue, "cusolverGetProperty", "libraryPropertyType %d is not MAJOR/MINOR/PATCH", type);
    }
}

EMU_EXPORT int cusolverDnCreate(void** handle)
{
    if (handle == nullptr) return fail(kInvalidValue, "cusolverDnCreate", "null handle pointer");
    auto* h = new (std::nothrow) Handle{nullptr};
    if (h == nullptr) return fail(kAllocFailed, "cusolverDnCreate", "out of memory");
    *handle = h;
    return kSuccess;
}

EMU_EXPORT int cusolverDnDestroy(void* handle)
{
    if (handle == nullptr) return fail(kNotInitialized, "cusolverDnDestroy", "null handle");
    delete static_cast<Handle*>(handle);
    return kSuccess;
}

EMU_EXPORT int cusolverDnSetStream(void* handle, void* stream)
{
    if (handle == nullptr) return fail(kNotInitialized, "cusolverDnSetStream", "null handle");
    static_cast<Handle*>(handle)->stream = stream;
    return kSuccess;
}

EMU_EXPORT int cusolverDnSpotrf_bufferSize(void* handle, int uplo, int n, float* a, int lda, int* lwork)
{
    (void)a;
    int bad;
    int status = checkSquare("cusolverDnSpotrf_bufferSize", handle, uplo, n, lda, &bad);
    if (status != kSuccess) return status;
    if (lwork == nullptr) return fail(kInvalidValue, "cusolverDnSpotrf_bufferSize", "null lwork");
    // The emulator works in its own host memory; a token size keeps callers' allocations valid.
    *lwork = 1;
    return kSuccess;
}

EMU_EXPORT int cusolverDnSpotrf(void* handle, int uplo, int n, float* a, int lda, float* workspace, int lwork, int* devInfo)
{
    (void)workspace;
    (void)lwork;
    const char* fn = "cusolverDnSpotrf";
    int bad;
    int status = checkSquare(fn, handle, uplo, n, lda, &bad);
    if (status != kSuccess) return rejectWithInfo(status, bad, devInfo);
    if (devInfo == nullptr) return fail(kInvalidValue, fn, "null devInfo");
    if ((status = checkInside(fn, "A", a, n, n, lda, devInfo)) != kSuccess) return status;
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=] {
        if (int unwritten = checkTriangleWritten(fn, a, n, lda, uplo)) return unwritten;
        WroteSquareAndInfo(a, n, lda, devInfo);
        try
        {
            *devInfo = static_cast<int>(choleskyInPlace(Matrix{a, lda}, n, uplo == kLower));
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, fn, "out of host memory for n=%d", n);
        }
        return kSuccess;
    }, kSuccess);
}

EMU_EXPORT int cusolverDnSpotri_bufferSize(void* handle, int uplo, int n, float* a, int lda, int* lwork)
{
    (void)a;
    int bad;
    int status = checkSquare("cusolverDnSpotri_bufferSize", handle, uplo, n, lda, &bad);
    if (status != kSuccess) return status;
    if (lwork == nullptr) return fail(kInvalidValue, "cusolverDnSpotri_bufferSize", "null lwork");
    *lwork = 1;
    return kSuccess;
}

// A⁻¹ from A's Cholesky factor (LAPACK spotri): invert the factor, then form Lᵀ⁻¹·L⁻¹ (lower) or
// U⁻¹·Uᵀ⁻¹ (upper) into the same triangle. A zero on the factor's diagonal leaves A untouched and
// reports its position, as strtri inside spotri does.
EMU_EXPORT int cusolverDnSpotri(void* handle, int uplo, int n, float* a, int lda, float* workspace, int lwork, int* devInfo)
{
    (void)workspace;
    (void)lwork;
    const char* fn = "cusolverDnSpotri";
    int bad;
    int status = checkSquare(fn, handle, uplo, n, lda, &bad);
    if (status != kSuccess) return rejectWithInfo(status, bad, devInfo);
    if (devInfo == nullptr) return fail(kInvalidValue, fn, "null devInfo");
    if ((status = checkInside(fn, "A", a, n, n, lda, devInfo)) != kSuccess) return status;
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=]() -> int {
        if (int unwritten = checkTriangleWritten(fn, a, n, lda, uplo)) return unwritten;
        WroteSquareAndInfo(a, n, lda, devInfo);
        Matrix m{a, lda};
        bool lower = uplo == kLower;
        int64_t info = firstZeroDiagonal(m, n, false);
        if (info != 0)
        {
            *devInfo = static_cast<int>(info);
            return kSuccess;
        }
        try
        {
            std::vector<double> inv = triangularInverse(m, n, lower, false);
            const int64_t N = n;
            if (!lower)
            {
                // The upper product sums along rows of U⁻¹; transposing once makes them contiguous.
                std::vector<double> transposed(inv.size());
                for (int64_t j = 0; j < N; j++)
                    for (int64_t i = 0; i < N; i++) transposed[j + i * N] = inv[i + j * N];
                inv.swap(transposed);
            }
            parallelFor(N, static_cast<double>(N) * N / 3, [&](int64_t j) {
                if (lower)
                {
                    // (L⁻ᵀ·L⁻¹)(i,j) for i ≥ j = Σ_{p ≥ i} M(p,i)·M(p,j), M = L⁻¹ lower.
                    const double* mj = inv.data() + j * N;
                    for (int64_t i = j; i < N; i++)
                    {
                        const double* mi = inv.data() + i * N;
                        double s = 0.0;
                        for (int64_t p = i; p < N; p++) s += mi[p] * mj[p];
                        m(i, j) = static_cast<float>(s);
                    }
                }
                else
                {
                    // (N·Nᵀ)(i,j) for i ≤ j = Σ_{p ≥ j} N(i,p)·N(j,p), N = U⁻¹ upper; inv now holds
                    // Nᵀ, so row i of N is the contiguous inv[i·N ...].
                    const double* nj = inv.data() + j * N;
                    for (int64_t i = 0; i <= j; i++)
                    {
                        const double* ni = inv.data() + i * N;
                        double s = 0.0;
                        for (int64_t p = j; p < N; p++) s += ni[p] * nj[p];
                        m(i, j) = static_cast<float>(s);
                    }
                }
            });
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, fn, "out of host memory for n=%d", n);
        }
        *devInfo = 0;
        return kSuccess;
    }, kSuccess);
}

// Solves A·X = B from A's Cholesky factor (LAPACK spotrs): two triangular solves per column of B,
// columns in parallel. Like LAPACK it does not check the factor; devInfo is 0 unless an argument
// is wrong.
EMU_EXPORT int cusolverDnSpotrs(void* handle, int uplo, int n, int nrhs, const float* a, int lda, float* b, int ldb, int* devInfo)
{
    const char* fn = "cusolverDnSpotrs";
    if (handle == nullptr) return fail(kNotInitialized, fn, "null handle");
    int bad = 0;
    if (!validUplo(uplo)) bad = 1;
    else if (n < 0) bad = 2;
    else if (nrhs < 0) bad = 3;
    else if (lda < std::max(1, n)) bad = 5;
    else if (ldb < std::max(1, n)) bad = 7;
    if (bad != 0)
        return rejectWithInfo(fail(kInvalidValue, fn, "invalid argument %d (uplo=%d n=%d nrhs=%d lda=%d ldb=%d)",
                                   bad, uplo, n, nrhs, lda, ldb), bad, devInfo);
    if (devInfo == nullptr) return fail(kInvalidValue, fn, "null devInfo");
    int status = checkInside(fn, "A", a, n, n, lda, devInfo);
    if (status == kSuccess) status = checkInside(fn, "B", b, n, nrhs, ldb, nullptr);
    if (status != kSuccess) return status;
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=]() -> int {
        if (int unwritten = checkTriangleWritten(fn, a, n, lda, uplo)) return unwritten;
        std::string why;
        if (!rose_emu::AllWritten(b, n, nrhs, ldb, sizeof(float), &why)) return fail(kExecutionFailed, fn, "B reads %s", why.c_str());
        rose_emu::MarkWritten(b, n, nrhs, ldb, sizeof(float));
        rose_emu::MarkWritten(devInfo, 1, 1, 1, sizeof(int));
        try
        {
            const int64_t N = n;
            // Double copy of the factor's triangle, read once per right-hand side.
            std::vector<double> t(static_cast<size_t>(N * N), 0.0);
            for (int64_t j = 0; j < N; j++)
            {
                int64_t lo = uplo == kLower ? j : 0, hi = uplo == kLower ? N : j + 1;
                for (int64_t i = lo; i < hi; i++) t[i + j * N] = a[i + j * static_cast<int64_t>(lda)];
            }
            parallelFor(nrhs, static_cast<double>(N) * N * 2, [&](int64_t r) {
                float* column = b + r * static_cast<int64_t>(ldb);
                std::vector<double> x(column, column + N);
                if (uplo == kLower)
                {
                    // L·y = b by columns of L, then Lᵀ·x = y by dot products with the same columns.
                    for (int64_t p = 0; p < N; p++)
                    {
                        x[p] /= t[p + p * N];
                        for (int64_t i = p + 1; i < N; i++) x[i] -= t[i + p * N] * x[p];
                    }
                    for (int64_t p = N - 1; p >= 0; p--)
                    {
                        double s = x[p];
                        for (int64_t i = p + 1; i < N; i++) s -= t[i + p * N] * x[i];
                        x[p] = s / t[p + p * N];
                    }
                }
                else
                {
                    // Uᵀ·y = b by dot products with U's columns, then U·x = y by its columns.
                    for (int64_t p = 0; p < N; p++)
                    {
                        double s = x[p];
                        for (int64_t i = 0; i < p; i++) s -= t[i + p * N] * x[i];
                        x[p] = s / t[p + p * N];
                    }
                    for (int64_t p = N - 1; p >= 0; p--)
                    {
                        x[p] /= t[p + p * N];
                        for (int64_t i = 0; i < p; i++) x[i] -= t[i + p * N] * x[p];
                    }
                }
                for (int64_t i = 0; i < N; i++) column[i] = static_cast<float>(x[i]);
            });
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, fn, "out of host memory for n=%d nrhs=%d", n, nrhs);
        }
        *devInfo = 0;
        return kSuccess;
    }, kSuccess);
}

namespace {

// Argument checks of the 64-bit trtri API (cusolverDnXtrtri and its buffer-size query); only fp32
// matrices are emulated.
int checkTrtri(const char* function, const void* handle, int uplo, int diag, int64_t n, int dataTypeA, int64_t lda, int* badArgument)
{
    *badArgument = 0;
    if (handle == nullptr) return fail(kNotInitialized, function, "null handle");
    if (!validUplo(uplo)) *badArgument = 1;
    else if (diag != kNonUnit && diag != kUnit) *badArgument = 2;
    else if (n < 0) *badArgument = 3;
    else if (lda < std::max<int64_t>(1, n)) *badArgument = 6;
    if (*badArgument != 0)
        return fail(kInvalidValue, function, "invalid argument %d (uplo=%d diag=%d n=%lld lda=%lld)", *badArgument, uplo,
                    diag, static_cast<long long>(n), static_cast<long long>(lda));
    if (dataTypeA != kR32F)
        return fail(kNotSupported, function, "dataTypeA %d is not emulated (only CUDA_R_32F)", dataTypeA);
    return kSuccess;
}

} // namespace

EMU_EXPORT int cusolverDnXtrtri_bufferSize(void* handle, int uplo, int diag, int64_t n, int dataTypeA, void* a, int64_t lda,
                                           size_t* workspaceInBytesOnDevice, size_t* workspaceInBytesOnHost)
{
    (void)a;
    const char* fn = "cusolverDnXtrtri_bufferSize";
    int bad;
    int status = checkTrtri(fn, handle, uplo, diag, n, dataTypeA, lda, &bad);
    if (status != kSuccess) return status;
    if (workspaceInBytesOnDevice == nullptr || workspaceInBytesOnHost == nullptr)
        return fail(kInvalidValue, fn, "null workspace size pointer");
    // The emulator works in its own host memory; token sizes keep callers' allocations valid.
    *workspaceInBytesOnDevice = sizeof(float);
    *workspaceInBytesOnHost = 0;
    return kSuccess;
}

// In-place inverse of the uplo triangle of A (LAPACK strtri); the other triangle is untouched and
// an exactly zero diagonal entry (non-unit) is reported in devInfo with A left as it was.
EMU_EXPORT int cusolverDnXtrtri(void* handle, int uplo, int diag, int64_t n, int dataTypeA, void* a, int64_t lda,
                                void* bufferOnDevice, size_t workspaceInBytesOnDevice, void* bufferOnHost,
                                size_t workspaceInBytesOnHost, int* devInfo)
{
    (void)bufferOnDevice;
    (void)workspaceInBytesOnDevice;
    (void)bufferOnHost;
    (void)workspaceInBytesOnHost;
    const char* fn = "cusolverDnXtrtri";
    int bad;
    int status = checkTrtri(fn, handle, uplo, diag, n, dataTypeA, lda, &bad);
    if (status != kSuccess) return rejectWithInfo(status, bad, devInfo);
    if (devInfo == nullptr) return fail(kInvalidValue, fn, "null devInfo");
    if ((status = checkInside(fn, "A", a, n, n, lda, devInfo)) != kSuccess) return status;
    return rose_emu::OnStream(static_cast<Handle*>(handle)->stream, [=]() -> int {
        if (int unwritten = checkTriangleWritten(fn, a, n, lda, uplo)) return unwritten;
        WroteSquareAndInfo(a, n, lda, devInfo);
        Matrix m{static_cast<float*>(a), lda};
        bool lower = uplo == kLower, unit = diag == kUnit;
        int64_t info = firstZeroDiagonal(m, n, unit);
        if (info != 0)
        {
            *devInfo = static_cast<int>(info);
            return kSuccess;
        }
        try
        {
            std::vector<double> inv = triangularInverse(m, n, lower, unit);
            for (int64_t j = 0; j < n; j++)
            {
                int64_t lo = lower ? j : 0, hi = lower ? n : j + 1;
                for (int64_t i = lo; i < hi; i++)
                    // A unit-diagonal triangle's diagonal is not referenced, so it is not written either.
                    if (!(unit && i == j)) m(i, j) = static_cast<float>(inv[i + j * n]);
            }
        }
        catch (const std::bad_alloc&)
        {
            return fail(kAllocFailed, fn, "out of host memory for n=%lld", static_cast<long long>(n));
        }
        *devInfo = 0;
        return kSuccess;
    }, kSuccess);
}

// GEMM in the Goto/BLIS shape: per task, for each K block pack an MC×KC block of op(A)
// (lives in L2), for each NR-wide micro-panel of op(B) pack KC×NR (lives in L1), then run an
// MR×NR register-blocked micro-kernel over the A block. Packing absorbs the transposes.
// Micro-kernels: AVX-512 12×32, AVX2 6×16, generic 4×16, chosen once by cpu_isa(). Narrow or
// short problems read one operand in place (strided_*) instead of packing it.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cpu.h"
#include "pool.h"
#include "transpose.h"

#if RB_X86
#include <immintrin.h>
#endif

namespace riverbed {
namespace {

#ifdef KC_OVERRIDE
constexpr int KC = KC_OVERRIDE;
#else
constexpr int KC = 256;
#endif
constexpr int NC = 2048;  // columns of op(B) packed at once (KC × NC floats per thread)
#ifdef MCT_OVERRIDE
constexpr int MAX_MR = 12, MAX_NR = 32, MC_TILES = MCT_OVERRIDE;
#else
constexpr int MAX_MR = 12, MAX_NR = 32, MC_TILES = 20;
#endif

using MicroFn = void (*)(int kc, const float* a, const float* b, float* c, long ldc, bool acc);
using StridedFn = void (*)(int kc, const float* a, long ars, long acs, const float* b, long bs, float* c, long ldc,
                           bool acc);
using NarrowFn = void (*)(int kc, const float* a, long ars, long acs, const float* b, long bs, float* c, long ldc,
                          bool acc, int cols);

#if RB_X86
RB_TARGET_AVX512 void micro_avx512(int kc, const float* a, const float* b, float* c, long ldc, bool acc) {
  __m512 r0[12], r1[12];
  // The 12 rows of C are written (and, past the first K block, read) only after the loop: ask for
  // their lines now, so that the stores do not wait for them (4–5 % on 1024² products, one thread).
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) {
    r0[i] = r1[i] = _mm512_setzero_ps();
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + 16), _MM_HINT_T0);
  }
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      r0[i] = _mm512_fmadd_ps(ai, b0, r0[i]);
      r1[i] = _mm512_fmadd_ps(ai, b1, r1[i]);
    }
    a += 12;
    b += 32;
  }
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) {
    float* ci = c + i * ldc;
    if (acc) {
      r0[i] = _mm512_add_ps(r0[i], _mm512_loadu_ps(ci));
      r1[i] = _mm512_add_ps(r1[i], _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, r0[i]);
    _mm512_storeu_ps(ci + 16, r1[i]);
  }
}

RB_TARGET_AVX2 void micro_avx2(int kc, const float* a, const float* b, float* c, long ldc, bool acc) {
  __m256 r0[6], r1[6];
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) r0[i] = r1[i] = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      r0[i] = _mm256_fmadd_ps(ai, b0, r0[i]);
      r1[i] = _mm256_fmadd_ps(ai, b1, r1[i]);
    }
    a += 6;
    b += 16;
  }
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) {
    float* ci = c + i * ldc;
    if (acc) {
      r0[i] = _mm256_add_ps(r0[i], _mm256_loadu_ps(ci));
      r1[i] = _mm256_add_ps(r1[i], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, r0[i]);
    _mm256_storeu_ps(ci + 8, r1[i]);
  }
}

// The same register blocks reading operands in place instead of from packed panels:
// op(A)(i, p) = a[i·ars + p·acs], row p of the B panel at b + p·bs. Used when packing would
// cost as much as the product itself (few column panels to reuse a packed A, or few rows to
// reuse a packed B: the narrow and small shapes of an MLP's last layer and of small MLPs).
RB_TARGET_AVX512 void strided_avx512(int kc, const float* a, long ars, long acs, const float* b, long bs, float* c,
                                     long ldc, bool acc) {
  __m512 r0[12], r1[12];
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) r0[i] = r1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
      const __m512 ai = _mm512_set1_ps(a[i * ars]);
      r0[i] = _mm512_fmadd_ps(ai, b0, r0[i]);
      r1[i] = _mm512_fmadd_ps(ai, b1, r1[i]);
    }
    a += acs;
    b += bs;
  }
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) {
    float* ci = c + i * ldc;
    if (acc) {
      r0[i] = _mm512_add_ps(r0[i], _mm512_loadu_ps(ci));
      r1[i] = _mm512_add_ps(r1[i], _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, r0[i]);
    _mm512_storeu_ps(ci + 16, r1[i]);
  }
}

// 12 rows × at most 16 columns (one vector per row, masked at the edge) for N ≤ 16: the last
// layer of a classifier (N = number of classes) would waste most of a 32-wide block.
RB_TARGET_AVX512 void narrow_avx512(int kc, const float* a, long ars, long acs, const float* b, long bs, float* c,
                                    long ldc, bool acc, int cols) {
  const __mmask16 m = (__mmask16)((1u << cols) - 1u);
  __m512 r[12];
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) r[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_loadu_ps(b);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) r[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * ars]), b0, r[i]);
    a += acs;
    b += bs;
  }
#pragma GCC unroll 12
  for (int i = 0; i < 12; i++) {
    float* ci = c + i * ldc;
    if (acc) r[i] = _mm512_add_ps(r[i], _mm512_maskz_loadu_ps(m, ci));
    _mm512_mask_storeu_ps(ci, m, r[i]);
  }
}

RB_TARGET_AVX2 void strided_avx2(int kc, const float* a, long ars, long acs, const float* b, long bs, float* c,
                                 long ldc, bool acc) {
  __m256 r0[6], r1[6];
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) r0[i] = r1[i] = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
      const __m256 ai = _mm256_broadcast_ss(a + i * ars);
      r0[i] = _mm256_fmadd_ps(ai, b0, r0[i]);
      r1[i] = _mm256_fmadd_ps(ai, b1, r1[i]);
    }
    a += acs;
    b += bs;
  }
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) {
    float* ci = c + i * ldc;
    if (acc) {
      r0[i] = _mm256_add_ps(r0[i], _mm256_loadu_ps(ci));
      r1[i] = _mm256_add_ps(r1[i], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, r0[i]);
    _mm256_storeu_ps(ci + 8, r1[i]);
  }
}
#endif

void micro_generic(int kc, const float* a, const float* b, float* c, long ldc, bool acc) {
  float r[4][16] = {};
  for (int p = 0; p < kc; p++) {
    for (int i = 0; i < 4; i++) {
      const float ai = a[i];
      for (int j = 0; j < 16; j++) r[i][j] += ai * b[j];
    }
    a += 4;
    b += 16;
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 16; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + r[i][j] : r[i][j];
}

struct Micro {
  int mr, nr;
  MicroFn fn;
  StridedFn strided;  // null: always pack
  NarrowFn narrow;    // mr rows × ≤ 16 columns straight into C; null: none
};

// RIVERBED_GEMM_PACK=1 always packs both operands (to test and time the packed path alone).
Micro pick_micro() {
  const char* pack = std::getenv("RIVERBED_GEMM_PACK");
  const bool always_pack = pack && pack[0] == '1';
#if RB_X86
  switch (cpu_isa()) {
    case Isa::avx512:
      return {12, 32, micro_avx512, always_pack ? nullptr : strided_avx512, always_pack ? nullptr : narrow_avx512};
    case Isa::avx2: return {6, 16, micro_avx2, always_pack ? nullptr : strided_avx2, nullptr};
    default: break;
  }
#endif
  (void)always_pack;
  return {4, 16, micro_generic, nullptr, nullptr};
}

float* aligned_floats(size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, n * sizeof(float)) != 0) std::abort();
  return static_cast<float*>(p);
}

// Per-thread packing buffers, allocated once per thread and reused by every call; freed when the
// thread ends (a worker_thread's JS thread; pool and libuv threads live as long as the process).
struct Scratch {
  float* a = aligned_floats((size_t)MAX_MR * MC_TILES * KC);
  float* b = aligned_floats((size_t)KC * NC);
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    std::free(a);
    std::free(b);
  }
};
Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

struct Problem {
  int M, N, K;
  const float* A;
  bool transA;
  const float* B;
  bool transB;
  float* C;
  Micro u;
  bool directA;  // full mr-row panels of op(A) read in place (few column panels)
  bool directB;  // full nr-column panels of B read in place (B not transposed, few row panels)
  bool accumulate;  // C += op(A)·op(B) instead of C =
  const GemmEpilogue* ep;  // run on each block of C after its last K block; null: none
};

#if RB_X86
// The packs that transpose (rows of the source become columns of the panel), 16×16 blocks at a
// time instead of one strided element at a time: `rows` source rows of `src` (leading dimension
// ld, kc values each from column p0) into a kc × width panel at columns [c0, c0 + 16), zero padded.
RB_TARGET_AVX512 void pack_rows_t16(const float* src, long ld, int rows, int p0, int kc, float* dst, int width, int c0) {
  const __mmask16 cols = width - c0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (width - c0)) - 1u);
  for (int p = 0; p < kc; p += 16) {
    const int m = std::min(16, kc - p);
    const __mmask16 km = m == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << m) - 1u);
    __m512 r[16];
    for (int t = 0; t < 16; t++) r[t] = t < rows ? _mm512_maskz_loadu_ps(km, src + (size_t)t * ld + p0 + p) : _mm512_setzero_ps();
    transpose16(r);
    for (int q = 0; q < m; q++) _mm512_mask_storeu_ps(dst + (size_t)(p + q) * width + c0, cols, r[q]);
  }
}
#endif

// Packs rows [i0, i0+mc) × cols [p0, p0+kc) of op(A) as mr-row micro-panels, p-major, zero padded.
void pack_a(const Problem& P, int i0, int mc, int p0, int kc, float* dst) {
  const int mr = P.u.mr;
#if RB_X86
  if (!P.transA && P.u.fn == micro_avx512) {  // mr = 12: one 16-row transpose, 12 lanes stored
    for (int ir = 0; ir < mc; ir += mr, dst += (size_t)kc * mr) {
      pack_rows_t16(P.A + (size_t)(i0 + ir) * P.K, P.K, std::min(mr, mc - ir), p0, kc, dst, mr, 0);
    }
    return;
  }
#endif
  for (int ir = 0; ir < mc; ir += mr) {
    const int rows = std::min(mr, mc - ir);
    if (P.transA) {  // op(A)(i,p) = A[p*M + i]: rows of a micro-panel are contiguous
      for (int p = 0; p < kc; p++) {
        const float* src = P.A + (size_t)(p0 + p) * P.M + (i0 + ir);
        float* d = dst + (size_t)p * mr;
        int i = 0;
        for (; i < rows; i++) d[i] = src[i];
        for (; i < mr; i++) d[i] = 0.f;
      }
    } else {  // op(A)(i,p) = A[i*K + p]
      for (int i = 0; i < mr; i++) {
        if (i < rows) {
          const float* src = P.A + (size_t)(i0 + ir + i) * P.K + p0;
          for (int p = 0; p < kc; p++) dst[(size_t)p * mr + i] = src[p];
        } else {
          for (int p = 0; p < kc; p++) dst[(size_t)p * mr + i] = 0.f;
        }
      }
    }
    dst += (size_t)kc * mr;
  }
}

// Packs rows [p0, p0+kc) × cols [j0, j0+nc) of op(B) as nr-wide micro-panels (each kc × nr,
// p-major), the last one zero padded.
void pack_b(const Problem& P, int p0, int kc, int j0, int nc, float* dst) {
  const int nr = P.u.nr;
  for (int jr = 0; jr < nc; jr += nr, dst += (size_t)kc * nr) {
    const int cols = std::min(nr, nc - jr);
#if RB_X86
    if (P.transB && P.u.fn == micro_avx512) {  // nr = 32: two 16-column transposes
      for (int h = 0; h < nr; h += 16) {
        pack_rows_t16(P.B + (size_t)(j0 + jr + h) * P.K, P.K, std::max(0, std::min(16, cols - h)), p0, kc, dst, nr, h);
      }
      continue;
    }
#endif
    if (P.transB) {  // op(B)(p,j) = B[j*K + p]
      for (int j = 0; j < nr; j++) {
        if (j < cols) {
          const float* src = P.B + (size_t)(j0 + jr + j) * P.K + p0;
          for (int p = 0; p < kc; p++) dst[(size_t)p * nr + j] = src[p];
        } else {
          for (int p = 0; p < kc; p++) dst[(size_t)p * nr + j] = 0.f;
        }
      }
    } else {  // op(B)(p,j) = B[p*N + j]
      for (int p = 0; p < kc; p++) {
        const float* src = P.B + (size_t)(p0 + p) * P.N + j0 + jr;
        float* d = dst + (size_t)p * nr;
        int j = 0;
        for (; j < cols; j++) d[j] = src[j];
        for (; j < nr; j++) d[j] = 0.f;
      }
    }
  }
}

// All of op(B) packed once for every thread of a call (row ranges of C that would each pack all of
// it): block (jc, pc) of kc × round_up(nc, nr) floats at K·jc + pc·round_up(nc, nr), as pack_b
// writes it. Grown by the calling thread, read by the pool's; freed when the thread ends.
struct SharedB {
  float* p = nullptr;
  size_t n = 0;
  SharedB() = default;
  SharedB(const SharedB&) = delete;
  SharedB& operator=(const SharedB&) = delete;
  ~SharedB() { std::free(p); }
  float* grow(size_t k) {
    if (k > n) {
      std::free(p);
      p = aligned_floats(k);
      n = k;
    }
    return p;
  }
};
SharedB& shared_b() {
  static thread_local SharedB s;
  return s;
}
constexpr double SHARE_MAX = 16.0 * 1024 * 1024;  // floats of packed op(B) worth sharing (64 MiB)

// Panels [first, last) of the shared op(B), in block order (jc, then pc, then jr).
void pack_shared(const Problem& P, float* dst, long first, long last) {
  const int nr = P.u.nr;
  long k = 0;
  for (int jc = 0; jc < P.N; jc += NC) {
    const int nc = std::min(NC, P.N - jc), ncpad = (nc + nr - 1) / nr * nr;
    for (int pc = 0; pc < P.K; pc += KC) {
      const int kc = std::min(KC, P.K - pc);
      float* block = dst + (size_t)P.K * jc + (size_t)pc * ncpad;
      for (int jr = 0; jr < nc; jr += nr, k++) {
        if (k >= last) return;
        if (k >= first) pack_b(P, pc, kc, jc + jr, std::min(nr, nc - jr), block + (size_t)jr * kc);
      }
    }
  }
}

// Stores an mr×nr block computed into `edge` to C (rows × cols of it), adding when acc.
void store_edge(const float* edge, int nr, float* c, long ldc, int rows, int cols, bool acc) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) c[(size_t)i * ldc + j] = acc ? c[(size_t)i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
}

// C rows [m0, m1) × cols [n0, n1).
// `shared`: all of op(B) packed already (shared_layout), or null: this call packs its own.
void run_tile(const Problem& P, int m0, int m1, int n0, int n1, const float* shared) {
  Scratch& s = scratch();
  const int mr = P.u.mr, nr = P.u.nr, mcmax = mr * MC_TILES;
  alignas(64) float edge[MAX_MR * MAX_NR];
  const bool tile_only = P.ep && P.ep->c_scratch && P.K <= KC && !P.accumulate;
  for (int jc = n0; jc < n1; jc += NC) {
    const int nc = std::min(NC, n1 - jc);
    for (int pc = 0; pc < P.K; pc += KC) {
      const int kc = std::min(KC, P.K - pc);
      const bool acc = pc > 0 || P.accumulate;
      const float* bblock = shared ? shared + (size_t)P.K * jc + (size_t)pc * ((nc + nr - 1) / nr * nr) : s.b;
      if (!shared && !P.directB) pack_b(P, pc, kc, jc, nc, s.b);
      for (int ic = m0; ic < m1; ic += mcmax) {
        const int mc = std::min(mcmax, m1 - ic);
        if (!P.directA) pack_a(P, ic, mc, pc, kc, s.a);
        for (int jr = 0; jr < nc; jr += nr) {
          const int cols = std::min(nr, nc - jr);
          const float* bp = bblock + (size_t)jr * kc;
          const float* bd = P.B + (size_t)pc * P.N + jc + jr;  // directB: row pc of this column panel
          for (int ir = 0; ir < mc; ir += mr) {
            const int rows = std::min(mr, mc - ir);
            float* c = P.C + (size_t)(ic + ir) * P.N + jc + jr;
            // A block the epilogue consumes whole (one K block, C only scratch) stays in `edge`.
            const bool full = rows == mr && cols == nr && !tile_only;
            float* dst = full ? c : edge;
            const long ldd = full ? P.N : nr;
            const bool acc_dst = full && acc;
            if (P.directA && rows == mr) {
              const float* a = P.transA ? P.A + (size_t)pc * P.M + ic + ir : P.A + (size_t)(ic + ir) * P.K + pc;
              if (P.u.narrow && cols <= 16) {
                P.u.narrow(kc, a, P.transA ? 1 : P.K, P.transA ? P.M : 1, bp, nr, c, P.N, acc, cols);
                if (P.ep && pc + kc == P.K) P.ep->fn(P.ep->ctx, ic + ir, jc + jr, rows, cols, c, P.N);
                continue;  // written to C directly, edge or not
              }
              P.u.strided(kc, a, P.transA ? 1 : P.K, P.transA ? P.M : 1, bp, nr, dst, ldd, acc_dst);
            } else if (P.directB && cols == nr) {
              // A packed (the whole of op(A) is a few micro-panels), B read in place.
              const float* ap = s.a + (size_t)ir * kc;
              P.u.strided(kc, ap, 1, mr, bd, P.N, dst, ldd, acc_dst);
            } else {
              // Packed operands; in the direct modes only this edge panel gets packed.
              const float* ap = s.a + (size_t)ir * kc;
              if (P.directA) {
                pack_a(P, ic + ir, rows, pc, kc, s.a);
                ap = s.a;
              }
              if (P.directB) {
                pack_b(P, pc, kc, jc + jr, cols, s.b);
                bp = s.b;
              }
              P.u.fn(kc, ap, bp, dst, ldd, acc_dst);
            }
            if (tile_only) {
              P.ep->fn(P.ep->ctx, ic + ir, jc + jr, rows, cols, edge, nr);
              continue;
            }
            if (!full) store_edge(edge, nr, c, P.N, rows, cols, acc);
            if (P.ep && pc + kc == P.K) P.ep->fn(P.ep->ctx, ic + ir, jc + jr, rows, cols, c, P.N);
          }
        }
      }
    }
  }
}

}  // namespace

namespace {
void gemm(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C, bool accumulate,
          const GemmEpilogue* ep = nullptr) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) std::memset(C, 0, sizeof(float) * (size_t)M * N);
    if (ep) ep->fn(ep->ctx, 0, 0, M, N, C, N);
    return;
  }
  static const Micro micro = pick_micro();
  Problem P{M, N, K, A, transA, B, transB, C, micro, false, false, accumulate, ep};
  if (micro.strided) {
    // Packing op(A) pays off when each packed panel serves several column panels, packing B
    // when each serves several row panels; below that, read the operand in place.
    P.directB = !transB && M <= 2 * micro.mr;
    P.directA = !P.directB && N <= 2 * micro.nr;
  }
  const double flops = 2.0 * M * N * (double)K;
  const int threads = flops < 4e6 ? 1 : pool_threads();
  const int mtiles = (M + micro.mr - 1) / micro.mr, ntiles = (N + micro.nr - 1) / micro.nr;
  // One row range per thread (each packs its own op(B) panel once per K block), or split
  // the columns too when there are fewer micro-rows than threads.
  int cm = std::min(mtiles, threads);
  int cn = 1;
  if (cm < threads) cn = std::min(ntiles, (threads + cm - 1) / cm);
  const int tasks = cm * cn;
  // Row ranges only, each of which would pack all of op(B): pack it once, a share of its panels
  // per thread, and let every range read it (one more barrier, half the packing per thread).
  const float* shared = nullptr;
  if (tasks > 1 && cn == 1 && !P.directB && (double)K * (N + micro.nr) <= SHARE_MAX) {
    long panels = 0;
    for (int jc = 0; jc < N; jc += NC) panels += (long)((std::min(NC, N - jc) + micro.nr - 1) / micro.nr) * ((K + KC - 1) / KC);
    float* dst = shared_b().grow((size_t)K * ((N + micro.nr - 1) / micro.nr * micro.nr));
    parallel_for(tasks, [&](int t) { pack_shared(P, dst, panels * t / tasks, panels * (t + 1) / tasks); });
    shared = dst;
  }
  auto body = [&](int t) {
    const int a = t / cn, b = t % cn;
    const int m0 = (int)((long)mtiles * a / cm) * micro.mr, m1 = std::min(M, (int)((long)mtiles * (a + 1) / cm) * micro.mr);
    const int n0 = (int)((long)ntiles * b / cn) * micro.nr, n1 = std::min(N, (int)((long)ntiles * (b + 1) / cn) * micro.nr);
    if (m0 < m1 && n0 < n1) run_tile(P, m0, m1, n0, n1, shared);
  };
  if (threads == 1) {
    for (int t = 0; t < tasks; t++) body(t);
  } else {
    parallel_for(tasks, body);
  }
}

}  // namespace

void sgemm(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C) {
  gemm(M, N, K, A, transA, B, transB, C, false);
}

void sgemm_acc(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C) {
  gemm(M, N, K, A, transA, B, transB, C, true);
}

void sgemm_ep(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C,
              const GemmEpilogue& ep) {
  gemm(M, N, K, A, transA, B, transB, C, false, &ep);
}

}  // namespace riverbed

// GU's projection (src/backends/ops.ts guProject) and its Adam-geometry step (guAdamStep).
//
// guProject: g⊥ = (I − U(UᵀHU)⁻¹UᵀH)·g for the active rows of a [K, P] basis, H diagonal or I.
// One call, three phases: (1) one pass over P accumulating the Gram matrix UᵀHU and UᵀHg in
// double (per-thread partials; per block of 256 elements, register tiles of 4×4 (AVX-512) or 3×3
// (AVX2) row pairs with independent vector accumulators, the rows re-read from L1); (2) the k×k
// solve in double on the calling thread (k ≤ 32: ~10⁴ flops, nothing to gain on the pool); (3)
// one pass writing g − U·a.
//
// Why tiles: pass 1 does k(k+1)/2 + k double multiply-adds per element. One dot product at a time
// (the first version) ran each product through a single accumulator — FMA-latency bound, 2.5–3×
// the time of reading the bytes; a T×T tile issues T² independent FMAs per T + T loads. With k = 8,
// one thread, on this machine's AMD EPYC (AVX-512): pass 1 from 18 ms to 6.5 ms of CPU time for
// P = 1.86 M (reading its bytes alone: 3.5 ms). The solve is src/backends/js/gu.ts's: Jacobi-scaled Cholesky,
// rows whose pivot is ≤ 1e-10 (dependent in the H-metric) get coefficient 0.
//
// Addon call (checked here again, registry.h): guProject(plan {p, k, first, count, weighted},
// g[p], basis[k·p], metric[weighted ? p : 0], out[p]).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu.h"
#include "pool.h"
#include "registry.h"

#if RB_X86
#include <immintrin.h>
#endif

namespace riverbed {
namespace {

constexpr int kMaxBasis = 32;
constexpr size_t kBlock = 256;
constexpr double kPivotTol = 1e-10;

// Adds the Gram entries (lower triangle, row-major k×k) and UᵀHg of elements [b, e) to G and c.
RB_CLONES void gram_range(const float* const* rows, int k, const float* h, const float* g, size_t b, size_t e, double* G, double* c) {
  double tw[kBlock];
  for (size_t p0 = b; p0 < e; p0 += kBlock) {
    const size_t n = std::min(kBlock, e - p0);
    const float* gp = g + p0;
    for (int i = 0; i < k; i++) {
      const float* xi = rows[i] + p0;
      if (h) {
        const float* hp = h + p0;
#pragma omp simd
        for (size_t q = 0; q < n; q++) tw[q] = (double)xi[q] * (double)hp[q];
      } else {
#pragma omp simd
        for (size_t q = 0; q < n; q++) tw[q] = (double)xi[q];
      }
      for (int j = 0; j <= i; j++) {
        const float* xj = rows[j] + p0;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t q = 0; q < n; q++) s += tw[q] * (double)xj[q];
        G[i * k + j] += s;
      }
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (size_t q = 0; q < n; q++) s += tw[q] * (double)gp[q];
      c[i] += s;
    }
  }
}

#if RB_X86
alignas(64) const float kZeros[kBlock] = {};

// One register tile: acc[(a·T + b)·W …] += Σ_q tw_a[q]·col_b[q] over [0, n), n a multiple of W,
// tw_a = ir[a]·h (h may be null); W doubles per vector, all T² accumulators independent.
RB_TARGET_AVX512 void tile_avx512(const float* const* ir, const float* const* jc, const float* h, size_t n, double* acc) {
  constexpr int T = 4;
  __m512d s[T][T];
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) s[a][b] = _mm512_loadu_pd(acc + (a * T + b) * 8);
  for (size_t q = 0; q < n; q += 8) {
    __m512d xi[T], xj[T];
    for (int a = 0; a < T; a++) xi[a] = _mm512_cvtps_pd(_mm256_loadu_ps(ir[a] + q));
    if (h) {
      const __m512d hv = _mm512_cvtps_pd(_mm256_loadu_ps(h + q));
      for (int a = 0; a < T; a++) xi[a] = _mm512_mul_pd(xi[a], hv);
    }
    for (int b = 0; b < T; b++) xj[b] = _mm512_cvtps_pd(_mm256_loadu_ps(jc[b] + q));
    for (int a = 0; a < T; a++)
      for (int b = 0; b < T; b++) s[a][b] = _mm512_fmadd_pd(xi[a], xj[b], s[a][b]);
  }
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) _mm512_storeu_pd(acc + (a * T + b) * 8, s[a][b]);
}

// acc[d·W …] += Σ_q h·x_d² over [0, n) for the rows dr[0, nd).
RB_TARGET_AVX512 void diag_avx512(const float* const* dr, int nd, const float* h, size_t n, double* acc) {
  for (int d = 0; d < nd; d++) {
    __m512d s = _mm512_loadu_pd(acc + d * 8);
    for (size_t q = 0; q < n; q += 8) {
      const __m512d x = _mm512_cvtps_pd(_mm256_loadu_ps(dr[d] + q));
      const __m512d t = h ? _mm512_mul_pd(x, _mm512_cvtps_pd(_mm256_loadu_ps(h + q))) : x;
      s = _mm512_fmadd_pd(t, x, s);
    }
    _mm512_storeu_pd(acc + d * 8, s);
  }
}

// 3×3: 9 accumulators + 6 operands fit AVX2's 16 registers.
RB_TARGET_AVX2 void tile_avx2(const float* const* ir, const float* const* jc, const float* h, size_t n, double* acc) {
  constexpr int T = 3;
  __m256d s[T][T];
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) s[a][b] = _mm256_loadu_pd(acc + (a * T + b) * 4);
  for (size_t q = 0; q < n; q += 4) {
    __m256d xi[T], xj[T];
    for (int a = 0; a < T; a++) xi[a] = _mm256_cvtps_pd(_mm_loadu_ps(ir[a] + q));
    if (h) {
      const __m256d hv = _mm256_cvtps_pd(_mm_loadu_ps(h + q));
      for (int a = 0; a < T; a++) xi[a] = _mm256_mul_pd(xi[a], hv);
    }
    for (int b = 0; b < T; b++) xj[b] = _mm256_cvtps_pd(_mm_loadu_ps(jc[b] + q));
    for (int a = 0; a < T; a++)
      for (int b = 0; b < T; b++) s[a][b] = _mm256_fmadd_pd(xi[a], xj[b], s[a][b]);
  }
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) _mm256_storeu_pd(acc + (a * T + b) * 4, s[a][b]);
}

RB_TARGET_AVX2 void diag_avx2(const float* const* dr, int nd, const float* h, size_t n, double* acc) {
  for (int d = 0; d < nd; d++) {
    __m256d s = _mm256_loadu_pd(acc + d * 4);
    for (size_t q = 0; q < n; q += 4) {
      const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(dr[d] + q));
      const __m256d t = h ? _mm256_mul_pd(x, _mm256_cvtps_pd(_mm_loadu_ps(h + q))) : x;
      s = _mm256_fmadd_pd(t, x, s);
    }
    _mm256_storeu_pd(acc + d * 4, s);
  }
}

struct GramIsa {
  void (*tile)(const float* const*, const float* const*, const float*, size_t, double*);
  void (*diag)(const float* const*, int, const float*, size_t, double*);
  int w;  // doubles per vector
  int t;  // tile side
};

// gram_range with register tiles. Columns are c = 0 (g) and c = j + 1 (row j); the pairs needed
// are (i, c) with c ≤ i + 1. Row tile I (rows T·I … T·I + T − 1) takes column tiles 0 … I, which
// cover every c ≤ T·I + T − 1; the one pair left, its last row's own square (c = T·I + T), goes to
// the diagonal pass. Rows and columns past k read zeros and are dropped. Lane sums at the end.
void gram_tiled(const GramIsa& isa, const float* const* rows, int k, const float* h, const float* g, size_t b, size_t e, double* G, double* c) {
  const int W = isa.w, T = isa.t;
  const int ni = (k + T - 1) / T;
  const size_t tileAcc = (size_t)T * T * W;
  const size_t ntiles = (size_t)ni * (ni + 1) / 2;  // tile (I, J ≤ I) at (I(I+1)/2 + J)·tileAcc
  std::vector<double> acc(ntiles * tileAcc + (size_t)ni * W, 0.0);
  double* diag = acc.data() + ntiles * tileAcc;
  const float* ip[kMaxBasis + 4];
  const float* cp[kMaxBasis + 4];
  const float* dp[kMaxBasis];
  const size_t whole = (e - b) / W * W;
  for (size_t p0 = b; p0 < b + whole; p0 += kBlock) {
    const size_t n = std::min(kBlock, b + whole - p0);
    for (int i = 0; i < ni * T; i++) ip[i] = i < k ? rows[i] + p0 : kZeros;
    for (int q = 0; q < ni * T; q++) cp[q] = q == 0 ? g + p0 : q <= k ? rows[q - 1] + p0 : kZeros;
    const float* hp = h ? h + p0 : nullptr;
    for (int I = 0; I < ni; I++) {
      for (int J = 0; J <= I; J++) isa.tile(ip + I * T, cp + J * T, hp, n, &acc[((size_t)I * (I + 1) / 2 + J) * tileAcc]);
      dp[I] = ip[I * T + T - 1];
    }
    isa.diag(dp, ni, hp, n, diag);
  }
  auto lanes = [W](const double* v) {
    double s = 0;
    for (int l = 0; l < W; l++) s += v[l];
    return s;
  };
  for (int I = 0; I < ni; I++) {
    for (int J = 0; J <= I; J++)
      for (int a = 0; a < T; a++)
        for (int bb = 0; bb < T; bb++) {
          const int i = I * T + a, q = J * T + bb;
          if (i >= k || q > i + 1) continue;
          const double s = lanes(&acc[((size_t)I * (I + 1) / 2 + J) * tileAcc + (size_t)(a * T + bb) * W]);
          if (q == 0) c[i] += s;
          else G[i * k + q - 1] += s;
        }
    const int i = I * T + T - 1;
    if (i < k) G[i * k + i] += lanes(diag + (size_t)I * W);
  }
  // The last < W elements of the range, scalar.
  for (size_t q = b + whole; q < e; q++) {
    for (int i = 0; i < k; i++) {
      const double t = (double)rows[i][q] * (h ? (double)h[q] : 1.0);
      for (int j = 0; j <= i; j++) G[i * k + j] += t * (double)rows[j][q];
      c[i] += t * (double)g[q];
    }
  }
}
#endif

// Pass 1 on this CPU's best path.
void gram(const float* const* rows, int k, const float* h, const float* g, size_t b, size_t e, double* G, double* c) {
#if RB_X86
  switch (cpu_isa()) {
    case Isa::avx512: return gram_tiled({tile_avx512, diag_avx512, 8, 4}, rows, k, h, g, b, e, G, c);
    case Isa::avx2: return gram_tiled({tile_avx2, diag_avx2, 4, 3}, rows, k, h, g, b, e, G, c);
    default: break;
  }
#endif
  gram_range(rows, k, h, g, b, e, G, c);
}

// out[b, e) = g − Σ a_i u_i, accumulated in double in row order.
RB_CLONES void update_range(const float* const* rows, int k, const double* a, const float* g, float* out, size_t b, size_t e) {
  double acc[kBlock];
  for (size_t p0 = b; p0 < e; p0 += kBlock) {
    const size_t n = std::min(kBlock, e - p0);
#pragma omp simd
    for (size_t q = 0; q < n; q++) acc[q] = (double)g[p0 + q];
    for (int i = 0; i < k; i++) {
      const double ai = a[i];
      if (ai == 0) continue;
      const float* xi = rows[i] + p0;
#pragma omp simd
      for (size_t q = 0; q < n; q++) acc[q] -= ai * (double)xi[q];
    }
#pragma omp simd
    for (size_t q = 0; q < n; q++) out[p0 + q] = (float)acc[q];
  }
}

// The coefficients a from the full symmetric G and c (src/backends/js/gu.ts guSolve, step by step).
void solve(const double* G, const double* c, int k, double* a) {
  double s[kMaxBasis], L[kMaxBasis * kMaxBasis] = {0}, y[kMaxBasis];
  bool skip[kMaxBasis];
  for (int i = 0; i < k; i++) s[i] = G[i * k + i] > 0 ? 1 / std::sqrt(G[i * k + i]) : 0;
  for (int i = 0; i < k; i++) {
    skip[i] = false;
    for (int j = 0; j < i; j++) {
      if (skip[j]) continue;
      double v = s[i] * s[j] * G[i * k + j];
      for (int m = 0; m < j; m++) v -= L[i * k + m] * L[j * k + m];
      L[i * k + j] = v / L[j * k + j];
    }
    double d = s[i] * s[i] * G[i * k + i];
    for (int m = 0; m < i; m++) d -= L[i * k + m] * L[i * k + m];
    if (s[i] == 0 || !(d > kPivotTol)) {
      skip[i] = true;
      for (int m = 0; m < i; m++) L[i * k + m] = 0;
    } else {
      L[i * k + i] = std::sqrt(d);
    }
  }
  for (int i = 0; i < k; i++) {
    y[i] = 0;
    if (skip[i]) continue;
    double v = s[i] * c[i];
    for (int m = 0; m < i; m++) v -= L[i * k + m] * y[m];
    y[i] = v / L[i * k + i];
  }
  for (int i = k - 1; i >= 0; i--) {
    a[i] = 0;
    if (skip[i]) continue;
    double v = y[i];
    for (int m = i + 1; m < k; m++) v -= L[m * k + i] * a[m];
    a[i] = v / L[i * k + i];
  }
  for (int i = 0; i < k; i++) a[i] *= s[i];
}

Napi::Value GuProject(const Napi::CallbackInfo& info) {
  GenericArgs args(info, 4);
  const size_t p = args.dim("p"), K = args.dim("k"), first = args.dim("first"), count = args.dim("count");
  const double weighted = args.num("weighted");
  if (K > (size_t)kMaxBasis) args.range("plan.k must be at most 32");
  if (count > K) args.range("plan.count must be at most plan.k");
  if (first >= std::max<size_t>(1, K)) args.range("plan.first must be below plan.k");
  if (weighted != 0 && weighted != 1) args.range("plan.weighted must be 0 or 1");
  if (K > 0 && p > SIZE_MAX / K) args.range("plan.k × plan.p overflows");
  const float* g = args.f32(0, p);
  const float* basis = args.f32(1, K * p);
  const float* h = args.f32(2, weighted == 1 ? p : 0);
  float* out = args.f32(3, p);
  if (weighted != 1) h = nullptr;
  const int k = (int)count;
  const float* rows[kMaxBasis];
  for (int j = 0; j < k; j++) rows[j] = basis + ((first + (size_t)j) % K) * p;
  double a[kMaxBasis] = {0};
  if (k > 0) {
    // (1) Gram and UᵀHg: per-thread partials, summed in thread order.
    const int threads = p < (1u << 15) ? 1 : pool_threads();
    const size_t terms = (size_t)k * k + k;
    std::vector<double> part((size_t)threads * terms, 0.0);
    parallel_for(threads, [&](int t) {
      size_t b, e;
      split_range(p, threads, t, kBlock, &b, &e);
      if (b < e) gram(rows, k, h, g, b, e, &part[(size_t)t * terms], &part[(size_t)t * terms + (size_t)k * k]);
    });
    std::vector<double> G((size_t)k * k, 0.0), c(k, 0.0);
    for (int t = 0; t < threads; t++) {
      const double* pt = &part[(size_t)t * terms];
      for (int i = 0; i < k; i++) {
        for (int j = 0; j <= i; j++) G[i * k + j] += pt[i * k + j];
        c[i] += pt[(size_t)k * k + i];
      }
    }
    for (int i = 0; i < k; i++)
      for (int j = 0; j < i; j++) G[j * k + i] = G[i * k + j];
    // (2) the k×k solve.
    solve(G.data(), c.data(), k, a);
  }
  // (3) g − U·a.
  const int threads = p < (1u << 16) ? 1 : pool_threads();
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(p, threads, t, kBlock, &b, &e);
    if (b < e) update_range(rows, k, a, g, out, b, e);
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("guProject", GuProject);

// guAdamStep (generic): param −= lr·metric⊙dir; v = β2·v + (1 − β2)·dir²; metric = 1/(√v + eps).
Napi::Value GuAdamStep(const Napi::CallbackInfo& info) {
  GenericArgs args(info, 4);
  const size_t n = args.dim("n");
  float* param = args.f32(0, n);
  const float* dir = args.f32(1, n);
  float* v = args.f32(2, n);
  float* metric = args.f32(3, n);
  const double lr = args.num("lr"), beta2 = args.num("beta2"), eps = args.num("eps");
  if (!(beta2 >= 0 && beta2 < 1)) args.range("beta2 must be in [0, 1)");
  if (!(eps > 0)) args.range("eps must be > 0");
  const int threads = n < (1u << 16) ? 1 : pool_threads();
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(n, threads, t, 16, &b, &e);
    for (size_t i = b; i < e; i++) {
      const double d = dir[i];
      param[i] = (float)((double)param[i] - lr * (double)metric[i] * d);
      const double vi = beta2 * (double)v[i] + (1 - beta2) * d * d;
      v[i] = (float)vi;
      metric[i] = (float)(1 / (std::sqrt(vi) + eps));
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("guAdamStep", GuAdamStep);

}  // namespace
}  // namespace riverbed

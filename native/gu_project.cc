// GU's projection (src/backends/ops.ts guProject) and its Adam-geometry step (guAdamStep).
//
// guProject: g⊥ = (I − U(UᵀHU)⁻¹UᵀH)·g for the active rows of a [K, P] basis, H diagonal or I.
// One call, three phases: (1) one pass over P accumulating the Gram matrix UᵀHU and UᵀHg in
// double (per-thread partials, blocks of 256 elements re-read from L1 for every pair of rows);
// (2) the k×k solve in double on the calling thread (k ≤ 32: ~10⁴ flops, nothing to gain on the
// pool); (3) one pass writing g − U·a. The solve is src/backends/js/gu.ts's: Jacobi-scaled Cholesky,
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
      if (b < e) gram_range(rows, k, h, g, b, e, &part[(size_t)t * terms], &part[(size_t)t * terms + (size_t)k * k]);
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

// The landscape ops (src/backends/ops.ts pointCombine, batchedMatmul): many grid points of a loss
// landscape per call (src/landscape/evaluate.ts).
//
// pointCombine(plan {p, j, s, act}, coef[p·j], basis[j·s], out[p·s]):
//   out[q, i] = f(Σ_t coef[q, t]·basis[t, i]), summed in double in t order (J is small: 1–3),
//   f the activation act − 1 (elementwise.h's, on each block while it is in cache) or none (act 0).
// batchedMatmul(plan {p, m, n, k, hasBias, act}, a[p·m·k], b[p·n·k], bias[hasBias ? p·n : 0], out[p·m·n]):
//   out_q = f(a_q · b_qᵀ (+ bias_q)), one blocked sgemm per point — points spread over the pool, or
//   one point's GEMM split over it — the bias and the activation in its epilogue while each block of
//   C is in cache.
// Both check every array's length against the plan (registry.h) before touching memory.
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "cpu.h"
#include "elementwise.h"
#include "gemm.h"
#include "pool.h"
#include "registry.h"

namespace riverbed {
namespace {

constexpr size_t kBlock = 256;
constexpr size_t kDimMax = 0x7fffffff;

// x·y, or a RangeError when it passes 2^53 (no size_t wrap can make a wrong length look right).
size_t mul(const GenericArgs& a, size_t x, size_t y) {
  if (x != 0 && y > ((size_t)1 << 53) / x) a.range("sizes whose product passes 2^53");
  return x * y;
}
// A plan size, at most 2^31 − 1.
size_t dim31(const GenericArgs& a, const char* key) {
  const size_t v = a.dim(key);
  if (v > kDimMax) a.range(std::string("plan.") + key + " exceeds 2^31 - 1");
  return v;
}

// The plan's activation: −1 none, else elementwise.h's Act.
int act_of(const GenericArgs& a) {
  const double v = a.num("act");
  if (!(v == 0 || v == 1 || v == 2 || v == 3 || v == 4)) a.range("plan.act must be 0 (none) or 1..4 (relu, tanh, sigmoid, gelu)");
  return (int)v - 1;
}

RB_CLONES void combine_range(const float* coef, const float* basis, size_t j, size_t s, float* out, size_t b, size_t e, int act) {
  double acc[kBlock];
  for (size_t i0 = b; i0 < e; i0 += kBlock) {
    const size_t n = std::min(kBlock, e - i0);
    const double c0 = coef[0];
    const float* b0 = basis + i0;
#pragma omp simd
    for (size_t q = 0; q < n; q++) acc[q] = c0 * (double)b0[q];
    for (size_t t = 1; t < j; t++) {
      const double ct = coef[t];
      const float* bt = basis + t * s + i0;
#pragma omp simd
      for (size_t q = 0; q < n; q++) acc[q] += ct * (double)bt[q];
    }
#pragma omp simd
    for (size_t q = 0; q < n; q++) out[i0 + q] = (float)acc[q];
    if (act >= 0) activation((Act)act, out + i0, out + i0, n);
  }
}

Napi::Value PointCombine(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const size_t p = dim31(a, "p"), j = dim31(a, "j"), s = dim31(a, "s");
  if (j < 1) a.range("plan.j must be at least 1");
  const int act = act_of(a);
  const float* coef = a.f32(0, mul(a, p, j));
  const float* basis = a.f32(1, mul(a, j, s));
  float* out = a.f32(2, mul(a, p, s));
  const size_t total = p * s;
  if (total == 0) return info.Env().Undefined();
  // Tasks of ≤ 64 Ki elements inside one point (its coefficients fixed per task); small calls inline.
  constexpr size_t kRun = 1 << 16;
  const size_t runs = (s + kRun - 1) / kRun;
  const size_t tasks = p * runs;
  auto task = [&](size_t t) {
    const size_t q = t / runs, r = t % runs;
    const size_t b = r * kRun, e = std::min(s, b + kRun);
    combine_range(coef + q * j, basis, j, s, out + q * s, b, e, act);
  };
  if (total < kRun || tasks > INT32_MAX) {
    for (size_t t = 0; t < tasks; t++) task(t);
  } else {
    parallel_for((int)tasks, [&](int t) { task((size_t)t); });
  }
  return info.Env().Undefined();
}
RIVERBED_EXPORT("pointCombine", PointCombine);

struct RowBias {
  const float* bias;  // null: no bias
  int act;            // −1: no activation
};
void bias_act_cols(void* ctx, int, int j0, int rows, int cols, float* c, long ldc) {
  const RowBias* e = static_cast<RowBias*>(ctx);
  for (int r = 0; r < rows; r++) {
    float* cr = c + (size_t)r * ldc;
    if (e->bias) {
      const float* b = e->bias + j0;
#pragma omp simd
      for (int q = 0; q < cols; q++) cr[q] += b[q];
    }
    if (e->act >= 0) activation((Act)e->act, cr, cr, (size_t)cols);
  }
}

Napi::Value BatchedMatmul(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 4);
  const size_t p = dim31(a, "p"), m = dim31(a, "m"), n = dim31(a, "n"), k = dim31(a, "k");
  const double hb = a.num("hasBias");
  if (hb != 0 && hb != 1) a.range("plan.hasBias must be 0 or 1");
  const bool has_bias = hb == 1;
  const int act = act_of(a);
  const float* A = a.f32(0, mul(a, mul(a, p, m), k));
  const float* B = a.f32(1, mul(a, mul(a, p, n), k));
  const float* bias = a.f32(2, has_bias ? mul(a, p, n) : 0);
  float* C = a.f32(3, mul(a, mul(a, p, m), n));
  auto point = [&](size_t q) {
    float* c = C + q * m * n;
    if (m == 0 || n == 0) return;
    RowBias ctx{has_bias ? bias + q * n : nullptr, act};
    if (k == 0) {
      for (size_t i = 0; i < m; i++)
        for (size_t t = 0; t < n; t++) c[i * n + t] = has_bias ? bias[q * n + t] : 0.0f;
      if (act >= 0) activation((Act)act, c, c, m * n);
      return;
    }
    if (has_bias || act >= 0) {
      sgemm_ep((int)m, (int)n, (int)k, A + q * m * k, false, B + q * n * k, true, c, GemmEpilogue{bias_act_cols, &ctx});
    } else {
      sgemm((int)m, (int)n, (int)k, A + q * m * k, false, B + q * n * k, true, c);
    }
  };
  // Several points: one whole GEMM per task (each runs on one thread: no barrier inside a GEMM, which
  // is what a busy machine punishes); one point: its GEMM is split over the pool. The bits are the
  // same either way (pool.h: a region's split does not depend on where it runs).
  if (p >= 2 && pool_threads() > 1 && p <= (size_t)INT32_MAX) {
    parallel_for((int)p, [&](int q) { point((size_t)q); });
  } else {
    for (size_t q = 0; q < p; q++) point(q);
  }
  return info.Env().Undefined();
}
RIVERBED_EXPORT("batchedMatmul", BatchedMatmul);

}  // namespace
}  // namespace riverbed

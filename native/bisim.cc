// The bisimulation loss (src/backends/ops.ts bisimulationLoss; DBC, Zhang et al. 2021):
// pairs (i, j = perm[i]) of a batch,
//   res_i = ‖z_i − z_j‖₂ − (|r_i − r_j| + γ·√(‖μ_i − μ_j‖² + ‖σ_i − σ_j‖²)),
//   terms[i] = res_i², loss = mean(terms), grad = ∂loss/∂z with the target held constant.
//
// One call, two passes, no temporaries of z's size:
//   (1) over the pairs: the three squared distances (double sums), the term and the pair's
//       gradient coefficient c_i = 2·res_i / (B·‖z_i − z_j‖) (0 where z_i = z_j: the 0 subgradient,
//       as torch.norm's backward gives);
//   (2) over the rows: pair i adds c_i·(z_i − z_j) to row i and subtracts it from row j; a
//       permutation gives row r exactly two pairs — r itself and k = inv[r] — so
//       grad_r = c_r·(z_r − z_perm[r]) − c_k·(z_k − z_r) is written once, with no atomics, and the
//       result does not depend on the thread count.
// The loss is the mean of the double squares, summed in pair order on the calling thread.
//
// Addon call (checked here again, registry.h): bisimulationLoss(plan {b, d, e, gamma, hasSigma},
// z[b·d], reward[b], mu[b·e], sigma[hasSigma ? b·e : 0], perm[b] (i32), inv[b] (i32), terms[b],
// grad[b·d]) → the loss (a number).
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu.h"
#include "pool.h"
#include "registry.h"

namespace riverbed {
namespace {

// Partner rows are random rows: the hardware prefetcher cannot guess them, so each pass asks for
// the rows kPrefetch pairs ahead (every cache line of the row). Measured on 65 536 pairs of
// 128-wide rows, one thread: 74–105 ms CPU without, 42–56 ms with (distances 3 and 12 no better).
// Writing each pair's share to both rows in pass 1 instead (the second row through a scratch
// array, then grad −= scratch) was slower: 50–58 ms, the random row writes cost more than the
// random reads of pass 2 they save.
constexpr size_t kPrefetch = 6;
inline void prefetch_row(const float* row, size_t n) {
  for (size_t c = 0; c < n; c += 16) __builtin_prefetch(row + c);
}

RB_CLONES double sq_dist(const float* a, const float* b, size_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t c = 0; c < n; c++) {
    const double t = (double)a[c] - (double)b[c];
    s += t * t;
  }
  return s;
}

// Pass (1) for pairs [p0, p1).
void pair_range(const float* z, const float* reward, const float* mu, const float* sigma, const int32_t* perm, size_t b, size_t d, size_t e,
                double gamma, size_t p0, size_t p1, double* sq, double* coef, float* terms) {
  for (size_t i = p0; i < p1; i++) {
    if (i + kPrefetch < p1) {
      const size_t q = (size_t)perm[i + kPrefetch];
      prefetch_row(z + q * d, d);
      prefetch_row(mu + q * e, e);
      if (sigma) prefetch_row(sigma + q * e, e);
    }
    const size_t j = (size_t)perm[i];
    const double dist = std::sqrt(sq_dist(z + i * d, z + j * d, d));
    double w2 = sq_dist(mu + i * e, mu + j * e, e);
    if (sigma) w2 += sq_dist(sigma + i * e, sigma + j * e, e);
    const double res = dist - (std::fabs((double)reward[i] - (double)reward[j]) + gamma * std::sqrt(w2));
    sq[i] = res * res;
    terms[i] = (float)(res * res);
    coef[i] = dist > 0 ? 2 * res / ((double)b * dist) : 0;
  }
}

// Pass (2) for rows [r0, r1).
RB_CLONES void grad_range(const float* z, const int32_t* perm, const int32_t* inv, const double* coef, size_t d, size_t r0, size_t r1, float* grad) {
  for (size_t r = r0; r < r1; r++) {
    if (r + kPrefetch < r1) {
      prefetch_row(z + (size_t)perm[r + kPrefetch] * d, d);
      prefetch_row(z + (size_t)inv[r + kPrefetch] * d, d);
    }
    const float* zr = z + r * d;
    const float* zj = z + (size_t)perm[r] * d;
    const size_t k = (size_t)inv[r];
    const float* zk = z + k * d;
    const double cr = coef[r], ck = coef[k];
    float* g = grad + r * d;
#pragma omp simd
    for (size_t c = 0; c < d; c++) {
      const double x = (double)zr[c];
      g[c] = (float)(cr * (x - (double)zj[c]) - ck * ((double)zk[c] - x));
    }
  }
}

Napi::Value BisimulationLoss(const Napi::CallbackInfo& info) {
  GenericArgs args(info, 8);
  const size_t b = args.dim("b"), d = args.dim("d"), e = args.dim("e");
  const double gamma = args.num("gamma"), hasSigma = args.num("hasSigma");
  if (b == 0) args.range("plan.b must be at least 1 (the loss is a mean over pairs)");
  if (b > 0x7fffffff) args.range("plan.b must be below 2^31 (perm is int32)");
  if (d == 0 || e == 0) args.range("plan.d and plan.e must be at least 1");
  if (d > SIZE_MAX / b || e > SIZE_MAX / b) args.range("plan.b × plan.d or plan.b × plan.e overflows");
  if (!(gamma >= 0)) args.range("plan.gamma must be >= 0");
  if (hasSigma != 0 && hasSigma != 1) args.range("plan.hasSigma must be 0 or 1");
  const float* z = args.f32(0, b * d);
  const float* reward = args.f32(1, b);
  const float* mu = args.f32(2, b * e);
  const float* sigma = args.f32(3, hasSigma == 1 ? b * e : 0);
  const int32_t* perm = args.i32(4, b);
  const int32_t* inv = args.i32(5, b);
  float* terms = args.f32(6, b);
  float* grad = args.f32(7, b * d);
  if (hasSigma != 1) sigma = nullptr;
  // perm in range and inv[perm[i]] = i for every i: perm is injective, hence a permutation, and
  // inv its inverse — so every row index either array yields below is in [0, b).
  for (size_t i = 0; i < b; i++) {
    const int32_t j = perm[i];
    if (j < 0 || (size_t)j >= b) args.range("perm[" + std::to_string(i) + "] = " + std::to_string(j) + " is outside [0, plan.b)");
    if (inv[j] != (int32_t)i) args.range("inv is not the inverse of perm at " + std::to_string(i) + " (perm must be a permutation)");
  }
  std::vector<double> sq(b), coef(b);
  const size_t work = b * (d + 2 * e);
  // Below ~2^18 elements (B = 512 at D = E = 50: ~20 µs) waking the pool costs more than it saves.
  const int threads = work < (1u << 18) ? 1 : pool_threads();
  parallel_for(threads, [&](int t) {
    size_t p0, p1;
    split_range(b, threads, t, 16, &p0, &p1);
    if (p0 < p1) pair_range(z, reward, mu, sigma, perm, b, d, e, gamma, p0, p1, sq.data(), coef.data(), terms);
  });
  parallel_for(threads, [&](int t) {
    size_t r0, r1;
    split_range(b, threads, t, 16, &r0, &r1);
    if (r0 < r1) grad_range(z, perm, inv, coef.data(), d, r0, r1, grad);
  });
  double sum = 0;
  for (size_t i = 0; i < b; i++) sum += sq[i];
  return Napi::Number::New(info.Env(), sum / (double)b);
}
RIVERBED_EXPORT("bisimulationLoss", BisimulationLoss);

}  // namespace
}  // namespace riverbed

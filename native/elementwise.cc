#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu.h"
#include "pool.h"

namespace riverbed {
namespace {

constexpr size_t PAR_MIN = 1 << 16;  // below this, threads cost more than they save
constexpr double INV_SQRT2 = 0.70710678118654752440;
constexpr double INV_SQRT_2PI = 0.39894228040143267794;

// Runs fn(begin, end) over [0, n), in parallel when n is large.
template <typename F>
void chunked(size_t n, F&& fn) {
  const int threads = n < PAR_MIN ? 1 : pool_threads();
  if (threads == 1) {
    fn(size_t(0), n);
    return;
  }
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(n, threads, t, 16, &b, &e);
    if (b < e) fn(b, e);
  });
}

RB_CLONES void bias_rows(const float* x, const float* bias, float* out, size_t r0, size_t r1, size_t cols) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* o = out + r * cols;
    for (size_t j = 0; j < cols; j++) o[j] = xr[j] + bias[j];
  }
}

inline double normal_cdf(double v) { return 0.5 * std::erfc(-v * INV_SQRT2); }

// exp(x) in double, written so that the compiler vectorises it (no libm call): x = n·ln2 + r,
// |r| ≤ ln2/2, e^r by its Taylor series to r^12 (relative error < 1e-14), 2^n built in the
// exponent bits. x is clamped to [−708, 709], where e^x stays a normal double.
inline double exp_vec(double x) {
  x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
  // Round x/ln2 to the nearest integer n by the 1.5·2^52 trick; k's low mantissa bits hold n.
  const double k = x * 1.4426950408889634 + 6755399441055744.0;
  const double n = k - 6755399441055744.0;
  const double r = (x - n * 0.693147180369123816490) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  uint64_t bits;
  std::memcpy(&bits, &k, 8);
  bits = (bits + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, 8);
  return p * scale;
}

// tanh(x) = sign(x)·(1 − 2/(e^{2|x|} + 1)); absolute error ~1e-16 (the output is float).
inline double tanh_vec(double x) {
  const double a = x < 0 ? -x : x;
  const double t = 1.0 - 2.0 / (exp_vec(2.0 * a) + 1.0);
  return x < 0 ? -t : t;
}
inline double sigmoid_vec(double x) { return 1.0 / (1.0 + exp_vec(-x)); }

RB_CLONES void tanh_fwd(const float* x, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = (float)tanh_vec((double)x[i]);
}
RB_CLONES void tanh_bwd(const float* x, const float* g, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double t = tanh_vec((double)x[i]);
    o[i] = (float)((double)g[i] * (1.0 - t * t));
  }
}
RB_CLONES void sigmoid_fwd(const float* x, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = (float)sigmoid_vec((double)x[i]);
}
RB_CLONES void sigmoid_bwd(const float* x, const float* g, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double s = sigmoid_vec((double)x[i]);
    o[i] = (float)((double)g[i] * (s * (1.0 - s)));
  }
}

RB_CLONES void relu_fwd(const float* x, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = x[i] > 0.f ? x[i] : 0.f;
}
RB_CLONES void relu_bwd(const float* x, const float* g, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = x[i] > 0.f ? g[i] : 0.f;
}

void fwd(Act kind, const float* x, float* o, size_t n) {
  switch (kind) {
    case Act::relu: relu_fwd(x, o, n); break;
    case Act::tanh: tanh_fwd(x, o, n); break;
    case Act::sigmoid: sigmoid_fwd(x, o, n); break;
    case Act::gelu:
      for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        o[i] = (float)(v * normal_cdf(v));
      }
      break;
  }
}

void bwd(Act kind, const float* x, const float* g, float* o, size_t n) {
  switch (kind) {
    case Act::relu: relu_bwd(x, g, o, n); break;
    case Act::tanh: tanh_bwd(x, g, o, n); break;
    case Act::sigmoid: sigmoid_bwd(x, g, o, n); break;
    case Act::gelu:
      for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        const double d = normal_cdf(v) + v * INV_SQRT_2PI * std::exp(-0.5 * v * v);
        o[i] = (float)((double)g[i] * d);
      }
      break;
  }
}

}  // namespace

void add_bias(const float* x, const float* bias, float* out, size_t rows, size_t cols) {
  const int threads = rows * cols < PAR_MIN ? 1 : std::min<int>(pool_threads(), (int)rows);
  if (threads <= 1) return bias_rows(x, bias, out, 0, rows, cols);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(rows, threads, t, 1, &b, &e);
    if (b < e) bias_rows(x, bias, out, b, e, cols);
  });
}

void activation(Act kind, const float* x, float* out, size_t n) {
  chunked(n, [&](size_t b, size_t e) { fwd(kind, x + b, out + b, e - b); });
}

void activation_grad(Act kind, const float* x, const float* gy, float* out, size_t n) {
  chunked(n, [&](size_t b, size_t e) { bwd(kind, x + b, gy + b, out + b, e - b); });
}

}  // namespace riverbed

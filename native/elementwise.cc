#include "elementwise.h"

#include <algorithm>
#include <cmath>

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

RB_CLONES void relu_fwd(const float* x, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = x[i] > 0.f ? x[i] : 0.f;
}
RB_CLONES void relu_bwd(const float* x, const float* g, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = x[i] > 0.f ? g[i] : 0.f;
}

void fwd(Act kind, const float* x, float* o, size_t n) {
  switch (kind) {
    case Act::relu: relu_fwd(x, o, n); break;
    case Act::tanh:
      for (size_t i = 0; i < n; i++) o[i] = (float)std::tanh((double)x[i]);
      break;
    case Act::sigmoid:
      for (size_t i = 0; i < n; i++) o[i] = (float)(1.0 / (1.0 + std::exp(-(double)x[i])));
      break;
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
    case Act::tanh:
      for (size_t i = 0; i < n; i++) {
        const double t = std::tanh((double)x[i]);
        o[i] = (float)((double)g[i] * (1.0 - t * t));
      }
      break;
    case Act::sigmoid:
      for (size_t i = 0; i < n; i++) {
        const double s = 1.0 / (1.0 + std::exp(-(double)x[i]));
        o[i] = (float)((double)g[i] * (s * (1.0 - s)));
      }
      break;
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

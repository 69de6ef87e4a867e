#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu.h"
#include "pool.h"
#include "vmath.h"

namespace riverbed {
namespace {

constexpr size_t PAR_MIN = 1 << 16;  // below this, threads cost more than they save
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


// Φ(v) and e^{−v²/2} with no libm call, so that the loops over them vectorise: W. J. Cody's
// rational Chebyshev approximations of the normal CDF (Math. Comp. 23, 1969; the ANORM
// coefficients), all three ranges evaluated and the right one selected per element.
// Relative error ~1e-15 in the central range and ~1e-13 in the far tails (from e^{−v²/2});
// the outputs are float, so this is libm's erfc to the last bit of the float result.
inline double normal_cdf_vec(double v, double* gauss) {
  static constexpr double a[5] = {2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582,
                                  18154.981253343561249, 0.065682337918207449113};
  static constexpr double b[4] = {47.20258190468824187, 976.09855173777669322, 10260.932208618978205,
                                  45507.789335026729956};
  static constexpr double c[9] = {0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979,
                                  597.27027639480026226,  2494.5375852903726711, 6848.1904505362823326,
                                  11602.651437647350124,  9842.7148383839780218, 1.0765576773720192317e-8};
  static constexpr double d[8] = {22.266688044328115691, 235.38790178262499861, 1519.377599407554805,
                                  6485.558298266760755,  18615.571640885098091, 34900.952721145977266,
                                  38912.003286093271411, 19685.429676859990727};
  static constexpr double p[6] = {0.21589853405795699,     0.1274011611602473639, 0.022235277870649807,
                                  0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303};
  static constexpr double q[5] = {1.28426009614491121, 0.468238212480865118, 0.0659881378689285515,
                                  0.00378239633202758244, 7.29751555083966205e-5};
  const double y = v < 0 ? -v : v;
  const double g = exp_vec(-0.5 * y * y);
  *gauss = g;
  // |v| ≤ 0.66291: Φ = 1/2 + v·A(v²)/B(v²)
  const double s = v * v;
  double num = a[4] * s, den = s;
  for (int i = 0; i < 3; i++) num = (num + a[i]) * s, den = (den + b[i]) * s;
  const double central = 0.5 + v * (num + a[3]) / (den + b[3]);
  // 0.66291 < |v| ≤ √32: tail = e^{−v²/2}·C(|v|)/D(|v|)
  num = c[8] * y, den = y;
  for (int i = 0; i < 7; i++) num = (num + c[i]) * y, den = (den + d[i]) * y;
  const double mid = g * (num + c[7]) / (den + d[7]);
  // |v| > √32: tail = e^{−v²/2}/|v|·(1/√(2π) − P(1/v²)/Q(1/v²)/v²)
  const double yf = y > 5.656854248 ? y : 5.656854248, r = 1.0 / (yf * yf);
  num = p[5] * r, den = r;
  for (int i = 0; i < 4; i++) num = (num + p[i]) * r, den = (den + q[i]) * r;
  const double far = g * (INV_SQRT_2PI - r * (num + p[4]) / (den + q[4])) / yf;
  const double tail = y > 5.656854248 ? far : mid;
  return y <= 0.66291 ? central : (v > 0 ? 1.0 - tail : tail);
}

inline double sigmoid_vec(double x) { return 1.0 / (1.0 + exp_vec(-x)); }

// tanh and its derivatives in float (vmath.h tanh_f, a few ulp): twice the lanes of double and
// no double division, on the hot path of every tanh network's forward, backward and HVP.
RB_CLONES void tanh_fwd(const float* x, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float t, d1, d2;
    tanh_f(x[i], &t, &d1, &d2);
    o[i] = t;
  }
}
RB_CLONES void tanh_bwd(const float* x, const float* g, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float t, d1, d2;
    tanh_f(x[i], &t, &d1, &d2);
    o[i] = g[i] * d1;
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

// R(gz) = ga·f''(z)·rz + rga·f'(z), f', f'' from one exp (tanh in float, sigmoid in double).
RB_CLONES void tanh_rgrad(const float* z, const float* rz, const float* ga, const float* rga, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float t, d1, d2;
    tanh_f(z[i], &t, &d1, &d2);
    o[i] = (float)((double)ga[i] * (double)d2 * (double)rz[i] + (double)rga[i] * (double)d1);
  }
}
RB_CLONES void sigmoid_rgrad(const float* z, const float* rz, const float* ga, const float* rga, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double s = sigmoid_vec((double)z[i]), d1 = s * (1.0 - s);
    o[i] = (float)((double)ga[i] * (d1 * (1.0 - 2.0 * s)) * (double)rz[i] + (double)rga[i] * d1);
  }
}
RB_CLONES void relu_rgrad(const float* z, const float* rga, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = z[i] > 0.f ? rga[i] : 0.f;  // f'' = 0
}
RB_CLONES void gelu_rgrad(const float* z, const float* rz, const float* ga, const float* rga, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double v = z[i];
    double g;
    const double cdf = normal_cdf_vec(v, &g), phi = INV_SQRT_2PI * g;
    const double d1 = cdf + v * phi, d2 = phi * (2.0 - v * v);
    o[i] = (float)((double)ga[i] * d2 * (double)rz[i] + (double)rga[i] * d1);
  }
}
RB_CLONES void tanh_derivs(const float* z, float* y, float* d1, float* d2, size_t n) {
  for (size_t i = 0; i < n; i++) tanh_f(z[i], y + i, d1 + i, d2 + i);
}
RB_CLONES void sigmoid_derivs(const float* z, float* y, float* d1, float* d2, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double s = sigmoid_vec((double)z[i]), a = s * (1.0 - s);
    y[i] = (float)s, d1[i] = (float)a, d2[i] = (float)(a * (1.0 - 2.0 * s));
  }
}
RB_CLONES void relu_derivs(const float* z, float* y, float* d1, float* d2, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const bool on = z[i] > 0.f;
    y[i] = on ? z[i] : 0.f, d1[i] = on ? 1.f : 0.f, d2[i] = 0.f;
  }
}
RB_CLONES void gelu_derivs(const float* z, float* y, float* d1, float* d2, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double v = z[i];
    double g;
    const double cdf = normal_cdf_vec(v, &g), phi = INV_SQRT_2PI * g;
    y[i] = (float)(v * cdf), d1[i] = (float)(cdf + v * phi), d2[i] = (float)(phi * (2.0 - v * v));
  }
}
RB_CLONES void mul_span(const float* x, const float* y, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = x[i] * y[i];
}

RB_CLONES void gelu_fwd(const float* x, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double v = x[i];
    double g;
    o[i] = (float)(v * normal_cdf_vec(v, &g));
  }
}
RB_CLONES void gelu_bwd(const float* x, const float* gy, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const double v = x[i];
    double g;
    const double d = normal_cdf_vec(v, &g) + v * INV_SQRT_2PI * g;
    o[i] = (float)((double)gy[i] * d);
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
    case Act::gelu: gelu_fwd(x, o, n); break;
  }
}

void bwd(Act kind, const float* x, const float* g, float* o, size_t n) {
  switch (kind) {
    case Act::relu: relu_bwd(x, g, o, n); break;
    case Act::tanh: tanh_bwd(x, g, o, n); break;
    case Act::sigmoid: sigmoid_bwd(x, g, o, n); break;
    case Act::gelu: gelu_bwd(x, g, o, n); break;
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

void activation_rgrad(Act kind, const float* z, const float* rz, const float* ga, const float* rga, float* out, size_t n) {
  chunked(n, [&](size_t b, size_t e) {
    const size_t m = e - b;
    switch (kind) {
      case Act::relu: relu_rgrad(z + b, rga + b, out + b, m); break;
      case Act::tanh: tanh_rgrad(z + b, rz + b, ga + b, rga + b, out + b, m); break;
      case Act::sigmoid: sigmoid_rgrad(z + b, rz + b, ga + b, rga + b, out + b, m); break;
      case Act::gelu: gelu_rgrad(z + b, rz + b, ga + b, rga + b, out + b, m); break;
    }
  });
}

void activation_derivs(Act kind, const float* z, float* y, float* d1, float* d2, size_t n) {
  chunked(n, [&](size_t b, size_t e) {
    const size_t m = e - b;
    switch (kind) {
      case Act::relu: relu_derivs(z + b, y + b, d1 + b, d2 + b, m); break;
      case Act::tanh: tanh_derivs(z + b, y + b, d1 + b, d2 + b, m); break;
      case Act::sigmoid: sigmoid_derivs(z + b, y + b, d1 + b, d2 + b, m); break;
      case Act::gelu: gelu_derivs(z + b, y + b, d1 + b, d2 + b, m); break;
    }
  });
}

void mul(const float* x, const float* y, float* out, size_t n) {
  chunked(n, [&](size_t b, size_t e) { mul_span(x + b, y + b, out + b, e - b); });
}

}  // namespace riverbed

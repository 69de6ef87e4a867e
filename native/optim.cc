#include "optim.h"

#include <cmath>

#include "pool.h"

namespace riverbed {
namespace {

template <typename F>
void chunked(size_t n, F&& fn) {
  const int threads = n < (1 << 16) ? 1 : pool_threads();
  if (threads == 1) return fn(size_t(0), n);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(n, threads, t, 16, &b, &e);
    if (b < e) fn(b, e);
  });
}

}  // namespace

void sgd_step(float* p, const float* g, float* v, size_t n, double lr, double wd, double momentum, bool nesterov) {
  chunked(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const double gi = (double)g[i] + wd * (double)p[i];
      const double vi = momentum * (double)v[i] + gi;
      v[i] = (float)vi;
      p[i] = (float)((double)p[i] - lr * (nesterov ? gi + momentum * vi : vi));
    }
  });
}

void adam_step(float* p, const float* g, float* m, float* v, size_t n, double lr, double wd, double beta1,
               double beta2, double eps, double step, bool decoupled) {
  const double bc1 = 1.0 - std::pow(beta1, step);
  const double bc2 = 1.0 - std::pow(beta2, step);
  chunked(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      double pi = p[i];
      double gi = g[i];
      if (decoupled) pi *= 1.0 - lr * wd;
      else gi += wd * pi;
      const double mi = beta1 * (double)m[i] + (1.0 - beta1) * gi;
      const double vi = beta2 * (double)v[i] + (1.0 - beta2) * gi * gi;
      m[i] = (float)mi;
      v[i] = (float)vi;
      p[i] = (float)(pi - (lr * (mi / bc1)) / (std::sqrt(vi / bc2) + eps));
    }
  });
}

}  // namespace riverbed

#include "optim.h"

#include <cmath>

#include "pool.h"
#include "registry.h"

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

// ---- generic ops (src/backends/ops.ts: adagradStep, classpStep), self-registered ---------------

namespace riverbed {
namespace {

// AdaGrad as torch.optim.Adagrad: lr' = lr / (1 + (step − 1)·lrDecay); g += wd·p; A += g²; p −= lr'·g / (√A + eps).
Napi::Value AdagradStep(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const size_t n = a.dim("n");
  float* p = a.f32(0, n);
  const float* g = a.f32(1, n);
  float* acc = a.f32(2, n);
  const double clr = a.num("lr") / (1.0 + (a.num("step") - 1.0) * a.num("lrDecay"));
  const double wd = a.num("weightDecay"), eps = a.num("eps");
  chunked(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const double gi = (double)g[i] + wd * (double)p[i];
      const double ai = (double)acc[i] + gi * gi;
      acc[i] = (float)ai;
      p[i] = (float)((double)p[i] - clr * gi / (std::sqrt(ai) + eps));
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("adagradStep", AdagradStep);

// CLASSP, as the paper states it: A += |g|^p everywhere; where g² > threshold, w −= lr·g / (eps + A)^(1/p).
Napi::Value ClasspStep(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const size_t n = a.dim("n");
  float* p = a.f32(0, n);
  const float* g = a.f32(1, n);
  float* acc = a.f32(2, n);
  const double lr = a.num("lr"), eps = a.num("eps"), pw = a.num("power"), thr = a.num("threshold");
  if (!(pw > 0) || !(eps > 0)) a.range("power and eps must be > 0");
  // p = 1 (the default) and 2 without pow(), which costs more than the rest of the step: the same
  // bits, since pow(x, 1) = x, and pow(x, 2) of a float's double and pow(x, 0.5) are exact / correctly rounded.
  if (pw == 1.0) {
    chunked(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        const double gi = g[i];
        const double ai = (double)acc[i] + std::fabs(gi);
        acc[i] = (float)ai;
        if (gi * gi > thr) p[i] = (float)((double)p[i] - lr * gi / (eps + ai));
      }
    });
    return info.Env().Undefined();
  }
  if (pw == 2.0) {
    chunked(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) {
        const double gi = g[i];
        const double ai = (double)acc[i] + gi * gi;
        acc[i] = (float)ai;
        if (gi * gi > thr) p[i] = (float)((double)p[i] - lr * gi / std::sqrt(eps + ai));
      }
    });
    return info.Env().Undefined();
  }
  chunked(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const double gi = g[i];
      const double ai = (double)acc[i] + std::pow(std::fabs(gi), pw);
      acc[i] = (float)ai;
      if (gi * gi > thr) p[i] = (float)((double)p[i] - lr * gi / std::pow(eps + ai, 1.0 / pw));
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("classpStep", ClasspStep);

// CLASSP's gate as a 0/1 mask, compared exactly as ClasspStep compares (g² in double > threshold).
Napi::Value ClasspGate(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 2);
  const size_t n = a.dim("n");
  const float* g = a.f32(0, n);
  float* m = a.f32(1, n);
  const double thr = a.num("threshold");
  chunked(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const double gi = g[i];
      m[i] = gi * gi > thr ? 1.0f : 0.0f;
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("classpGate", ClasspGate);

}  // namespace
}  // namespace riverbed

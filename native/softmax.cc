#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "pool.h"

namespace riverbed {

long softmax_xent(const float* logits, const int32_t* labels, float* loss, float* grad, size_t B, size_t C) {
  for (size_t i = 0; i < B; i++)
    if (labels[i] < 0 || (size_t)labels[i] >= C) return (long)i;
  const int threads = B * C < (1 << 15) ? 1 : std::min<int>(pool_threads(), (int)B);
  auto rows = [&](size_t r0, size_t r1) {
    for (size_t i = r0; i < r1; i++) {
      const float* z = logits + i * C;
      float* g = grad + i * C;
      double mx = -std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j]);
      double s = 0;
      for (size_t j = 0; j < C; j++) s += std::exp((double)z[j] - mx);
      const size_t y = (size_t)labels[i];
      loss[i] = (float)(std::log(s) + mx - (double)z[y]);
      for (size_t j = 0; j < C; j++) g[j] = (float)(std::exp((double)z[j] - mx) / s - (j == y ? 1.0 : 0.0));
    }
  };
  if (threads <= 1) {
    rows(0, B);
  } else {
    parallel_for(threads, [&](int t) {
      size_t b, e;
      split_range(B, threads, t, 1, &b, &e);
      if (b < e) rows(b, e);
    });
  }
  return -1;
}

void softmax_hessian_vec(const float* logits, const float* r, float* out, size_t B, size_t C) {
  const int threads = B * C < (1 << 15) ? 1 : std::min<int>(pool_threads(), (int)B);
  auto rows = [&](size_t r0, size_t r1) {
    std::vector<double> p(C);
    for (size_t i = r0; i < r1; i++) {
      const float* z = logits + i * C;
      const float* ri = r + i * C;
      double mx = -std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j]);
      double s = 0;
      for (size_t j = 0; j < C; j++) s += (p[j] = std::exp((double)z[j] - mx));
      const double inv = 1.0 / s;
      double pr = 0;
      for (size_t j = 0; j < C; j++) pr += (p[j] *= inv) * (double)ri[j];
      float* o = out + i * C;
      for (size_t j = 0; j < C; j++) o[j] = (float)(p[j] * ((double)ri[j] - pr));
    }
  };
  if (threads <= 1) {
    rows(0, B);
  } else {
    parallel_for(threads, [&](int t) {
      size_t b, e;
      split_range(B, threads, t, 1, &b, &e);
      if (b < e) rows(b, e);
    });
  }
}

}  // namespace riverbed

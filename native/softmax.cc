#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu.h"
#include "pool.h"
#include "vmath.h"

namespace riverbed {
namespace {

// Rows are processed in blocks of about this many elements: the shifted logits of a block are
// exponentiated in one vectorised pass (exp_vec), then each row is finished on its own.
constexpr size_t BLOCK = 2048;

RB_CLONES void exp_inplace(double* e, size_t n) {
  for (size_t i = 0; i < n; i++) e[i] = exp_vec(e[i]);
}

// e[r·C + j] = exp(z[r, j] − max_j z[r, :]) for rows [i0, i1), in double; mx[r] = the row max.
void shifted_exp(const float* logits, size_t i0, size_t i1, size_t C, double* e, double* mx) {
  for (size_t i = i0; i < i1; i++) {
    const float* z = logits + i * C;
    double m = -std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < C; j++) m = std::max(m, (double)z[j]);
    mx[i - i0] = m;
    double* ei = e + (i - i0) * C;
    for (size_t j = 0; j < C; j++) ei[j] = (double)z[j] - m;
  }
  exp_inplace(e, (i1 - i0) * C);
}

// Runs rows(r0, r1, e, mx) over blocks of rows, in parallel when the problem is large.
template <typename F>
void by_row_blocks(size_t B, size_t C, F&& rows) {
  const size_t per = std::max<size_t>(1, BLOCK / std::max<size_t>(C, 1));
  const int threads = B * C < (1 << 15) ? 1 : std::min<int>(pool_threads(), (int)B);
  auto part = [&](size_t r0, size_t r1) {
    std::vector<double> e(std::min(per, r1 - r0) * C), mx(std::min(per, r1 - r0));
    for (size_t i = r0; i < r1; i += per) rows(i, std::min(r1, i + per), e.data(), mx.data());
  };
  if (threads <= 1) {
    part(0, B);
  } else {
    parallel_for(threads, [&](int t) {
      size_t b, e;
      split_range(B, threads, t, 1, &b, &e);
      if (b < e) part(b, e);
    });
  }
}

}  // namespace

long softmax_xent(const float* logits, const int32_t* labels, float* loss, float* grad, size_t B, size_t C) {
  for (size_t i = 0; i < B; i++)
    if (labels[i] < 0 || (size_t)labels[i] >= C) return (long)i;
  by_row_blocks(B, C, [&](size_t i0, size_t i1, double* e, double* mx) {
    shifted_exp(logits, i0, i1, C, e, mx);
    for (size_t i = i0; i < i1; i++) {
      const double* ei = e + (i - i0) * C;
      double s = 0;
      for (size_t j = 0; j < C; j++) s += ei[j];
      const size_t y = (size_t)labels[i];
      loss[i] = (float)(std::log(s) + mx[i - i0] - (double)logits[i * C + y]);
      const double inv = 1.0 / s;
      float* g = grad + i * C;
      for (size_t j = 0; j < C; j++) g[j] = (float)(ei[j] * inv - (j == y ? 1.0 : 0.0));
    }
  });
  return -1;
}

void softmax_hessian_vec(const float* logits, const float* r, float* out, size_t B, size_t C) {
  by_row_blocks(B, C, [&](size_t i0, size_t i1, double* e, double* mx) {
    shifted_exp(logits, i0, i1, C, e, mx);
    for (size_t i = i0; i < i1; i++) {
      const double* ei = e + (i - i0) * C;
      const float* ri = r + i * C;
      double s = 0, sr = 0;
      for (size_t j = 0; j < C; j++) s += ei[j], sr += ei[j] * (double)ri[j];
      const double inv = 1.0 / s, pr = sr * inv;
      float* o = out + i * C;
      for (size_t j = 0; j < C; j++) o[j] = (float)(ei[j] * inv * ((double)ri[j] - pr));
    }
  });
}

}  // namespace riverbed

#include "reduce.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "pool.h"

#if RB_X86
#include <immintrin.h>
#endif

namespace riverbed {
namespace {

constexpr size_t PAR_MIN = 1 << 16;

int threads_for(size_t n) { return n < PAR_MIN ? 1 : pool_threads(); }

RB_CLONES double sum_span(const float* x, size_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t i = 0; i < n; i++) s += (double)x[i];
  return s;
}

RB_CLONES double dot_span(const float* x, const float* y, size_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
  return s;
}

RB_CLONES void axpy_span(double alpha, const float* x, const float* y, float* out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (float)((double)y[i] + alpha * (double)x[i]);
}

RB_CLONES void scale_span(double alpha, const float* x, float* out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (float)(alpha * (double)x[i]);
}

RB_CLONES void col_sums(const float* x, double* acc, size_t r0, size_t r1, size_t cols) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    for (size_t j = 0; j < cols; j++) acc[j] += (double)xr[j];
  }
}

// Float accumulation in independent vector lanes, flushed to double every 4096 elements:
// as fast as memory allows, and accurate to float rounding of 4096-element partial sums.
double stream_sum_generic(const float* x, size_t n) {
  double total = 0;
  size_t i = 0;
  for (; i + 4096 <= n; i += 4096) {
    float lanes[16] = {};
    for (size_t k = 0; k < 4096; k += 16)
      for (int l = 0; l < 16; l++) lanes[l] += x[i + k + l];
    double s = 0;
    for (int l = 0; l < 16; l++) s += lanes[l];
    total += s;
  }
  for (; i < n; i++) total += x[i];
  return total;
}

#if RB_X86
RB_TARGET_AVX512 double stream_sum_avx512(const float* x, size_t n) {
  double total = 0;
  size_t i = 0;
  for (; i + 4096 <= n; i += 4096) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t k = i; k < i + 4096; k += 64) {
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + k));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + k + 16));
      a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + k + 32));
      a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + k + 48));
    }
    const __m512 a = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    total += _mm512_reduce_add_pd(_mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
                                                _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1))));
  }
  for (; i < n; i++) total += x[i];
  return total;
}

RB_TARGET_AVX2 double stream_sum_avx2(const float* x, size_t n) {
  double total = 0;
  size_t i = 0;
  for (; i + 4096 <= n; i += 4096) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t k = i; k < i + 4096; k += 32) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + k));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + k + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + k + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + k + 24));
    }
    alignas(32) float l[8];
    _mm256_store_ps(l, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    double s = 0;
    for (int j = 0; j < 8; j++) s += l[j];
    total += s;
  }
  for (; i < n; i++) total += x[i];
  return total;
}
#endif

double stream_sum(const float* x, size_t n) {
#if RB_X86
  switch (cpu_isa()) {
    case Isa::avx512: return stream_sum_avx512(x, n);
    case Isa::avx2: return stream_sum_avx2(x, n);
    default: break;
  }
#endif
  return stream_sum_generic(x, n);
}

template <typename F>
double reduce_parallel(size_t n, F&& part) {
  const int threads = threads_for(n);
  if (threads == 1) return part(size_t(0), n);
  std::vector<double> partial(threads, 0.0);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(n, threads, t, 64, &b, &e);
    if (b < e) partial[t] = part(b, e);
  });
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

template <typename F>
void map_parallel(size_t n, F&& fn) {
  const int threads = threads_for(n);
  if (threads == 1) return fn(size_t(0), n);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(n, threads, t, 16, &b, &e);
    if (b < e) fn(b, e);
  });
}

}  // namespace

void sum_rows(const float* x, float* out, size_t rows, size_t cols) {
  const int threads = std::min<int>(threads_for(rows * cols), (int)std::max<size_t>(rows, 1));
  std::vector<double> acc((size_t)threads * cols, 0.0);
  auto part = [&](int t) {
    size_t b, e;
    split_range(rows, threads, t, 1, &b, &e);
    if (b < e) col_sums(x, acc.data() + (size_t)t * cols, b, e, cols);
  };
  if (threads == 1) part(0);
  else parallel_for(threads, part);
  for (size_t j = 0; j < cols; j++) {
    double s = 0;
    for (int t = 0; t < threads; t++) s += acc[(size_t)t * cols + j];
    out[j] = (float)s;
  }
}

double sum(const float* x, size_t n) {
  return reduce_parallel(n, [&](size_t b, size_t e) { return sum_span(x + b, e - b); });
}

double dot(const float* x, const float* y, size_t n) {
  return reduce_parallel(n, [&](size_t b, size_t e) { return dot_span(x + b, y + b, e - b); });
}

void axpy(double alpha, const float* x, const float* y, float* out, size_t n) {
  map_parallel(n, [&](size_t b, size_t e) { axpy_span(alpha, x + b, y + b, out + b, e - b); });
}

void scale(double alpha, const float* x, float* out, size_t n) {
  map_parallel(n, [&](size_t b, size_t e) { scale_span(alpha, x + b, out + b, e - b); });
}

long gather_rows(const float* x, size_t rows, size_t cols, const int32_t* idx, size_t k, float* out) {
  for (size_t r = 0; r < k; r++)
    if (idx[r] < 0 || (size_t)idx[r] >= rows) return (long)r;
  auto part = [&](size_t b, size_t e) {
    for (size_t r = b; r < e; r++) std::memcpy(out + r * cols, x + (size_t)idx[r] * cols, cols * sizeof(float));
  };
  const int threads = std::min<int>(threads_for(k * cols), (int)std::max<size_t>(k, 1));
  if (threads == 1) part(0, k);
  else
    parallel_for(threads, [&](int t) {
      size_t b, e;
      split_range(k, threads, t, 1, &b, &e);
      if (b < e) part(b, e);
    });
  return -1;
}

double sum_bandwidth(const float* x, size_t n) {
  return reduce_parallel(n, [&](size_t b, size_t e) { return stream_sum(x + b, e - b); });
}

}  // namespace riverbed

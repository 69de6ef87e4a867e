#include "cld.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "pool.h"

#if RB_X86
#include <immintrin.h>
#endif

namespace riverbed {
namespace {

// One sample, scalar: the tail of a range and the reference shape of the maths.
template <typename T>
inline float cld_one(const T* traj, size_t D, size_t N, size_t i, const double* z, size_t C, size_t y, double zsum) {
  double prev = (double)traj[N + i] , d0 = prev - (double)traj[i];
  double s1 = 0, s2 = 0, suz = 0;
  for (size_t e = 1; e < D; e++) {
    const double t = (double)traj[(e + 1) * N + i];
    const double u = (t - prev) - d0;
    prev = t;
    s1 += u;
    s2 += u * u;
    suz += u * z[e * C + y];
  }
  if (!(s2 != 0)) return s2 == 0 ? 0.f : NAN;
  const double mean = s1 / (double)D;
  const double var = s2 / (double)D - mean * mean;
  if (!(var > 0)) return var <= 0 ? 0.f : NAN;
  return (float)((suz - mean * zsum) / ((double)D * std::sqrt(var)));
}

// Portable block kernel (row sweep over a block of samples, accumulators in L1-resident
// arrays): auto-vectorised per target clone.
constexpr size_t GW = 256;

template <typename T>
__attribute__((always_inline)) inline void generic_range(const T* traj, size_t D, size_t N, const int32_t* labels,
                                                         const double* z, size_t C, const double* zsum, size_t b,
                                                         size_t e, float* out) {
  alignas(64) double prev[GW], d0[GW], s1[GW], s2[GW], suz[GW];
  for (size_t g = b; g < e; g += GW) {
    const size_t w = std::min(GW, e - g);
    const int32_t* y = labels + g;
    for (size_t k = 0; k < w; k++) {
      prev[k] = (double)traj[N + g + k];
      d0[k] = prev[k] - (double)traj[g + k];
      s1[k] = s2[k] = suz[k] = 0;
    }
    for (size_t ep = 1; ep < D; ep++) {
      const T* row = traj + (ep + 1) * N + g;
      const double* zr = z + ep * C;
      for (size_t k = 0; k < w; k++) {
        const double t = (double)row[k];
        const double u = (t - prev[k]) - d0[k];
        prev[k] = t;
        s1[k] += u;
        s2[k] += u * u;
        suz[k] += u * zr[y[k]];
      }
    }
    for (size_t k = 0; k < w; k++) {
      const double mean = s1[k] / (double)D;
      const double var = s2[k] / (double)D - mean * mean;
      const double r = (suz[k] - mean * zsum[y[k]]) / ((double)D * std::sqrt(var));
      out[g + k] = (s2[k] == 0 || var <= 0) ? 0.f : (float)r;
    }
  }
}

RB_CLONES void generic_f32(const float* traj, size_t D, size_t N, const int32_t* labels, const double* z, size_t C,
                           const double* zsum, size_t b, size_t e, float* out) {
  generic_range(traj, D, N, labels, z, C, zsum, b, e, out);
}
RB_CLONES void generic_f64(const double* traj, size_t D, size_t N, const int32_t* labels, const double* z, size_t C,
                           const double* zsum, size_t b, size_t e, float* out) {
  generic_range(traj, D, N, labels, z, C, zsum, b, e, out);
}
inline void generic_any(const float* t, size_t D, size_t N, const int32_t* l, const double* z, size_t C,
                        const double* zs, size_t b, size_t e, float* o) {
  generic_f32(t, D, N, l, z, C, zs, b, e, o);
}
inline void generic_any(const double* t, size_t D, size_t N, const int32_t* l, const double* z, size_t C,
                        const double* zs, size_t b, size_t e, float* o) {
  generic_f64(t, D, N, l, z, C, zs, b, e, o);
}

#if RB_X86
// 8 samples of row `p` as doubles.
RB_TARGET_AVX512 inline __m512d load8(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
RB_TARGET_AVX512 inline __m512d load8(const double* p) { return _mm512_loadu_pd(p); }

// r for 8 samples from their accumulators (see cld.h).
RB_TARGET_AVX512 inline void cld_finish8(__m512d s1, __m512d s2, __m512d q, __m256i y, const double* zsum,
                                         __m512d invD, __m512d Dv, float* o) {
  const __m512d zero = _mm512_setzero_pd();
  const __m512d mean = _mm512_mul_pd(s1, invD);
  const __m512d var = _mm512_fnmadd_pd(mean, mean, _mm512_mul_pd(s2, invD));
  const __m512d zs = _mm512_i32gather_pd(y, zsum, 8);
  const __m512d num = _mm512_fnmadd_pd(mean, zs, q);
  __m512d r = _mm512_div_pd(num, _mm512_mul_pd(Dv, _mm512_sqrt_pd(var)));
  const __mmask8 flat = _mm512_cmp_pd_mask(s2, zero, _CMP_EQ_OQ) | _mm512_cmp_pd_mask(var, zero, _CMP_LE_OQ);
  r = _mm512_mask_mov_pd(r, flat, zero);
  _mm256_storeu_ps(o, _mm512_cvtpd_ps(r));
}

constexpr size_t PF_AHEAD = 512;  // bytes ahead in each row to prefetch

// Class z of epochs (e, e+1) packed as two floats in one 64-bit word, for e = 1, 3, 5, …:
// one 64-bit gather then fetches two epochs' z for 8 samples, halving the gathered elements
// (gathers bound this kernel). Float z changes r by < 1e-7: |Σ(u−ū)δz| ≤ 2⁻²⁴·√D·std·√D.
// zsum must then be the sum of the same float-rounded z, so that Suz − ū·zsum = Σ(u − ū)·z.
struct ZPairs {
  std::vector<uint64_t> pairs;  // [(D−1+1)/2][C]
  std::vector<double> zsum;     // [C], sums of float-rounded z over all D rows
};

ZPairs make_zpairs(const double* z, size_t D, size_t C) {
  ZPairs zp;
  const size_t P = D / 2;  // pairs (1,2), (3,4), …; the last holds a 0 when D−1 is odd
  zp.pairs.assign(P * C, 0);
  zp.zsum.assign(C, 0.0);
  for (size_t e = 0; e < D; e++)
    for (size_t c = 0; c < C; c++) zp.zsum[c] += (double)(float)z[e * C + c];
  for (size_t k = 0; k < P; k++)
    for (size_t c = 0; c < C; c++) {
      const float lo = (float)z[(1 + 2 * k) * C + c];
      const float hi = 2 + 2 * k < D ? (float)z[(2 + 2 * k) * C + c] : 0.f;
      uint32_t a, b;
      std::memcpy(&a, &lo, 4);
      std::memcpy(&b, &hi, 4);
      zp.pairs[k * C + c] = (uint64_t)a | ((uint64_t)b << 32);
    }
  return zp;
}

// Splits 8 gathered (z_e, z_e+1) float pairs into two vectors of doubles.
RB_TARGET_AVX512 inline void split_pairs(__m512i v, __m512d* ze, __m512d* ze1) {
  *ze = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(v)));
  *ze1 = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(_mm512_srli_epi64(v, 32))));
}

// Up to 64 classes: each epoch's float z row sits in (at most) 4 zmm registers and the
// lookup is one or two two-table permutes plus a blend on label bit 5 — cheaper than a gather
// (measured here: ~15 % faster at C ≤ 64; at C = 100 four permutes and three blends lose to
// the paired gathers below). Rows are padded to 64 floats with zeros.
constexpr size_t TABLE_C = 64;

std::vector<float> make_ztable(const double* z, size_t D, size_t C) {
  std::vector<float> t(D * TABLE_C, 0.f);
  for (size_t e = 0; e < D; e++)
    for (size_t c = 0; c < C; c++) t[e * TABLE_C + c] = (float)z[e * C + c];
  return t;
}

template <int NT>  // number of 32-class permute tables: 1 or 2
RB_TARGET_AVX512 inline __m512 lookup16(const float* row, __m512i idx, __mmask16 b5) {
  __m512 r = _mm512_permutex2var_ps(_mm512_loadu_ps(row), idx, _mm512_loadu_ps(row + 16));
  if (NT >= 2) {
    const __m512 r1 = _mm512_permutex2var_ps(_mm512_loadu_ps(row + 32), idx, _mm512_loadu_ps(row + 48));
    r = _mm512_mask_mov_ps(r, b5, r1);
  }
  return r;
}

template <typename T, int NT>
RB_TARGET_AVX512 void avx512_table_range(const T* traj, size_t D, size_t N, const int32_t* labels, const float* table,
                                         const double* zsum, const double* z, size_t C, const double* zsum_d, size_t b,
                                         size_t e, float* out) {
  const __m512d invD = _mm512_set1_pd(1.0 / (double)D), Dv = _mm512_set1_pd((double)D), zero = _mm512_setzero_pd();
  const size_t pf = PF_AHEAD / sizeof(T);
  size_t g = b;
  for (; g + 16 <= e; g += 16) {
    const __m512i idx = _mm512_loadu_si512((const void*)(labels + g));
    const __mmask16 b5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
    __m512d p0 = load8(traj + N + g), p1 = load8(traj + N + g + 8);
    const __m512d a0 = _mm512_sub_pd(p0, load8(traj + g)), a1 = _mm512_sub_pd(p1, load8(traj + g + 8));
    _mm_prefetch((const char*)(traj + g + pf), _MM_HINT_T0);
    _mm_prefetch((const char*)(traj + N + g + pf), _MM_HINT_T0);
    // S1 = Σ_{e≥1} (d_e − d_0) telescopes to (T[D] − T[1]) − (D−1)·d_0: no per-epoch sum.
    // Two accumulator sets (even / odd epoch) break the FMA latency chains.
    const __m512d first0 = p0, first1 = p1;
    __m512d s2a = zero, s2b = zero, qa = zero, qb = zero;
    __m512d s2c = zero, s2d = zero, qc = zero, qd = zero;
    const T* row = traj + 2 * N + g;
    const float* zr = table + TABLE_C;
    size_t ep = 1;
#define RB_CLD_STEP(r, zrow, s2x, s2y, qx, qy)                                                  \
  do {                                                                                              \
    _mm_prefetch((const char*)((r) + pf), _MM_HINT_T0);                                             \
    const __m512 zf = lookup16<NT>((zrow), idx, b5);                                            \
    const __m512d z0 = _mm512_cvtps_pd(_mm512_castps512_ps256(zf));                                 \
    const __m512d z1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(zf), 1))); \
    const __m512d t0 = load8(r), t1 = load8((r) + 8);                                               \
    const __m512d u0 = _mm512_sub_pd(_mm512_sub_pd(t0, p0), a0);                                    \
    const __m512d u1 = _mm512_sub_pd(_mm512_sub_pd(t1, p1), a1);                                    \
    p0 = t0;                                                                                        \
    p1 = t1;                                                                                        \
    s2x = _mm512_fmadd_pd(u0, u0, s2x);                                                             \
    s2y = _mm512_fmadd_pd(u1, u1, s2y);                                                             \
    qx = _mm512_fmadd_pd(u0, z0, qx);                                                               \
    qy = _mm512_fmadd_pd(u1, z1, qy);                                                               \
  } while (0)
    for (; ep + 1 < D; ep += 2, row += 2 * N, zr += 2 * TABLE_C) {
      RB_CLD_STEP(row, zr, s2a, s2b, qa, qb);
      RB_CLD_STEP(row + N, zr + TABLE_C, s2c, s2d, qc, qd);
    }
    if (ep < D) RB_CLD_STEP(row, zr, s2a, s2b, qa, qb);
#undef RB_CLD_STEP
    const __m256i y0 = _mm512_castsi512_si256(idx), y1 = _mm512_extracti64x4_epi64(idx, 1);
    const __m512d Dm1 = _mm512_set1_pd((double)(D - 1));
    const __m512d s1a = _mm512_fnmadd_pd(Dm1, a0, _mm512_sub_pd(p0, first0));
    const __m512d s1b = _mm512_fnmadd_pd(Dm1, a1, _mm512_sub_pd(p1, first1));
    cld_finish8(s1a, _mm512_add_pd(s2a, s2c), _mm512_add_pd(qa, qc), y0, zsum, invD, Dv, out + g);
    cld_finish8(s1b, _mm512_add_pd(s2b, s2d), _mm512_add_pd(qb, qd), y1, zsum, invD, Dv, out + g + 8);
  }
  for (; g < e; g++) out[g] = cld_one(traj, D, N, g, z, C, (size_t)labels[g], zsum_d[labels[g]]);
}

// 16 samples per step (two 8-lane halves), all epochs two at a time, accumulators in registers.
// Requires labels already validated for [b, e).
template <typename T>
RB_TARGET_AVX512 void avx512_range(const T* traj, size_t D, size_t N, const int32_t* labels, const ZPairs& zp,
                                   const double* z, size_t C, const double* zsum_d, size_t b, size_t e, float* out) {
  const __m512d invD = _mm512_set1_pd(1.0 / (double)D), Dv = _mm512_set1_pd((double)D), zero = _mm512_setzero_pd();
  const size_t pf = PF_AHEAD / sizeof(T);
  const long long* zpairs = reinterpret_cast<const long long*>(zp.pairs.data());
  const double* zsum = zp.zsum.data();
  size_t g = b;
  for (; g + 16 <= e; g += 16) {
    const __m256i y0 = _mm256_loadu_si256((const __m256i*)(labels + g));
    const __m256i y1 = _mm256_loadu_si256((const __m256i*)(labels + g + 8));
    __m512d p0 = load8(traj + N + g), p1 = load8(traj + N + g + 8);
    const __m512d a0 = _mm512_sub_pd(p0, load8(traj + g)), a1 = _mm512_sub_pd(p1, load8(traj + g + 8));
    _mm_prefetch((const char*)(traj + g + pf), _MM_HINT_T0);
    _mm_prefetch((const char*)(traj + N + g + pf), _MM_HINT_T0);
    // Two accumulator sets (even / odd epoch) break the add/FMA latency chains.
    // S1 = Σ_{e≥1} (d_e − d_0) telescopes to (T[D] − T[1]) − (D−1)·d_0: no per-epoch sum.
    // Two accumulator sets (even / odd epoch) break the FMA latency chains.
    const __m512d first0 = p0, first1 = p1;
    __m512d s2a = zero, s2b = zero, qa = zero, qb = zero;
    __m512d s2c = zero, s2d = zero, qc = zero, qd = zero;
    const T* row = traj + 2 * N + g;
    const long long* zr = zpairs;
    size_t ep = 1;
    for (; ep + 1 < D; ep += 2, row += 2 * N, zr += C) {
      _mm_prefetch((const char*)(row + pf), _MM_HINT_T0);
      _mm_prefetch((const char*)(row + N + pf), _MM_HINT_T0);
      const __m512i g0 = _mm512_i32gather_epi64(y0, zr, 8), g1 = _mm512_i32gather_epi64(y1, zr, 8);
      __m512d z0, z0n, z1, z1n;
      split_pairs(g0, &z0, &z0n);
      split_pairs(g1, &z1, &z1n);
      const __m512d t0 = load8(row), t1 = load8(row + 8);
      const __m512d u0 = _mm512_sub_pd(_mm512_sub_pd(t0, p0), a0);
      const __m512d u1 = _mm512_sub_pd(_mm512_sub_pd(t1, p1), a1);
      const __m512d n0 = load8(row + N), n1 = load8(row + N + 8);
      const __m512d v0 = _mm512_sub_pd(_mm512_sub_pd(n0, t0), a0);
      const __m512d v1 = _mm512_sub_pd(_mm512_sub_pd(n1, t1), a1);
      p0 = n0;
      p1 = n1;
      s2a = _mm512_fmadd_pd(u0, u0, s2a);
      s2b = _mm512_fmadd_pd(u1, u1, s2b);
      qa = _mm512_fmadd_pd(u0, z0, qa);
      qb = _mm512_fmadd_pd(u1, z1, qb);
      s2c = _mm512_fmadd_pd(v0, v0, s2c);
      s2d = _mm512_fmadd_pd(v1, v1, s2d);
      qc = _mm512_fmadd_pd(v0, z0n, qc);
      qd = _mm512_fmadd_pd(v1, z1n, qd);
    }
    if (ep < D) {  // one epoch left: the low half of the last pair
      const __m512i g0 = _mm512_i32gather_epi64(y0, zr, 8), g1 = _mm512_i32gather_epi64(y1, zr, 8);
      __m512d z0, z0n, z1, z1n;
      split_pairs(g0, &z0, &z0n);
      split_pairs(g1, &z1, &z1n);
      const __m512d t0 = load8(row), t1 = load8(row + 8);
      const __m512d u0 = _mm512_sub_pd(_mm512_sub_pd(t0, p0), a0);
      const __m512d u1 = _mm512_sub_pd(_mm512_sub_pd(t1, p1), a1);
      p0 = t0;
      p1 = t1;
      s2a = _mm512_fmadd_pd(u0, u0, s2a);
      s2b = _mm512_fmadd_pd(u1, u1, s2b);
      qa = _mm512_fmadd_pd(u0, z0, qa);
      qb = _mm512_fmadd_pd(u1, z1, qb);
    }
    const __m512d Dm1 = _mm512_set1_pd((double)(D - 1));
    const __m512d s1a = _mm512_fnmadd_pd(Dm1, a0, _mm512_sub_pd(p0, first0));
    const __m512d s1b = _mm512_fnmadd_pd(Dm1, a1, _mm512_sub_pd(p1, first1));
    cld_finish8(s1a, _mm512_add_pd(s2a, s2c), _mm512_add_pd(qa, qc), y0, zsum, invD, Dv, out + g);
    cld_finish8(s1b, _mm512_add_pd(s2b, s2d), _mm512_add_pd(qb, qd), y1, zsum, invD, Dv, out + g + 8);
  }
  for (; g < e; g++) out[g] = cld_one(traj, D, N, g, z, C, (size_t)labels[g], zsum_d[labels[g]]);
}
#endif

template <typename T>
long cld_scores(const T* traj, size_t E, size_t N, const int32_t* labels, const double* z, size_t C, float* out) {
  if (N == 0) return -1;
  const int threads = (N * E < (1 << 15)) ? 1 : pool_threads();
  std::atomic<long> bad{-1};
  // Label check first (cheap next to the trajectory): a bad label must never index z.
  auto check = [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++)
      if ((uint32_t)labels[i] >= (uint32_t)C) {
        long expect = -1;
        bad.compare_exchange_strong(expect, (long)i);
        return;
      }
  };
  if (E < 3) {  // zero or one difference: no variance anywhere
    check(0, N);
    if (bad.load() < 0) std::memset(out, 0, N * sizeof(float));
    return bad.load();
  }
  const size_t D = E - 1;
  std::vector<double> zsum(C, 0.0);
  for (size_t e = 0; e < D; e++)
    for (size_t c = 0; c < C; c++) zsum[c] += z[e * C + c];
  const bool wide = cpu_isa() == Isa::avx512 && C <= (size_t)INT32_MAX / 8;
  const bool table = wide && C <= TABLE_C;
  ZPairs zp;  // gathers (C > 128); its zsum (of float-rounded z) serves the table path too
  std::vector<float> zt;
  if (wide) {
    zp = make_zpairs(z, D, C);
    if (table) zt = make_ztable(z, D, C);
  }
  auto part = [&](int t) {
    size_t b, e;
    split_range(N, threads, t, 16, &b, &e);
    if (b >= e) return;
    check(b, e);
    if (bad.load() >= 0) return;
#if RB_X86
    if (table) {
      const double* zs = zp.zsum.data();
      if (C <= 32) return avx512_table_range<T, 1>(traj, D, N, labels, zt.data(), zs, z, C, zsum.data(), b, e, out);
      return avx512_table_range<T, 2>(traj, D, N, labels, zt.data(), zs, z, C, zsum.data(), b, e, out);
    }
    if (wide) return avx512_range(traj, D, N, labels, zp, z, C, zsum.data(), b, e, out);
#endif
    generic_any(traj, D, N, labels, z, C, zsum.data(), b, e, out);
  };
  (void)wide;
  if (threads == 1) part(0);
  else parallel_for(threads, part);
  // Report the first bad label, whichever thread saw one.
  if (bad.load() >= 0) {
    for (size_t i = 0; i < N; i++)
      if ((uint32_t)labels[i] >= (uint32_t)C) return (long)i;
  }
  return -1;
}

}  // namespace

long cld_scores_f32(const float* traj, size_t E, size_t N, const int32_t* labels, const double* z, size_t C,
                    float* out) {
  return cld_scores(traj, E, N, labels, z, C, out);
}
long cld_scores_f64(const double* traj, size_t E, size_t N, const int32_t* labels, const double* z, size_t C,
                    float* out) {
  return cld_scores(traj, E, N, labels, z, C, out);
}

}  // namespace riverbed

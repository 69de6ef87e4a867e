// 2-D pooling for the native backend (issue 12): NCHW float32; the registry's maxPool2d,
// maxPool2dBackward, gatherFlat, avgPool2d and avgPool2dBackward (src/backends/ops.ts).
//
// Planes (n, c) are independent: every kernel splits them over the pool in contiguous ranges, and
// each output is computed by one thread in a fixed order, so results never depend on the thread
// count. maxPool2dBackward adds each gy at its argmax within its own plane (a per-plane scatter in
// output order: deterministic, no atomics); avgPool2dBackward gathers over the windows that
// contain each input. Max pooling follows PyTorch's CPU kernel exactly: windows clipped to the
// input (padding is −inf), the running maximum starts at −inf on the window's first cell inside
// the input, and a value takes over when it is larger or NaN.
//
// Every export checks its plan and every array's exact length (GenericArgs) before any work, and
// every index it is given against its range: a bad one is skipped and reported, never followed.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu.h"
#include "pool.h"
#include "registry.h"

#if RB_X86
#include <immintrin.h>
#endif

namespace riverbed {
namespace {

constexpr double I32_MAX = 2147483647.0;

int plan_int(const GenericArgs& a, const char* key, int lo) {
  const size_t v = a.dim(key);
  if ((double)v > I32_MAX || (int)v < lo) a.range(std::string("plan.") + key + " must be an integer in [" + std::to_string(lo) + ", 2^31)");
  return (int)v;
}

struct PoolShape {
  int n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
  size_t planes() const { return (size_t)n * c; }
  size_t in_plane() const { return (size_t)h * w; }
  size_t out_plane() const { return (size_t)oh * ow; }
};

// n, c, h, w, oh, ow: positive, both tensors below 2^31 elements.
void read_sizes(const GenericArgs& a, PoolShape* s) {
  s->n = plan_int(a, "n", 1);
  s->c = plan_int(a, "c", 1);
  s->h = plan_int(a, "h", 1);
  s->w = plan_int(a, "w", 1);
  s->oh = plan_int(a, "oh", 1);
  s->ow = plan_int(a, "ow", 1);
  if ((double)s->n * s->c * s->h * s->w > I32_MAX || (double)s->n * s->c * s->oh * s->ow > I32_MAX) a.range("a tensor would have 2^31 or more elements");
}

// The whole pooling plan: the window, PyTorch's padding rule (at most half the kernel, so no window
// lies wholly in the padding) and the output sizes of its formula.
PoolShape pool_shape(const GenericArgs& a) {
  PoolShape s{};
  read_sizes(a, &s);
  s.kh = plan_int(a, "kernelH", 1);
  s.kw = plan_int(a, "kernelW", 1);
  s.sh = plan_int(a, "strideH", 1);
  s.sw = plan_int(a, "strideW", 1);
  s.ph = plan_int(a, "padH", 0);
  s.pw = plan_int(a, "padW", 0);
  if (2L * s.ph > s.kh || 2L * s.pw > s.kw) a.range("padding must be at most half the kernel");
  const long hp = (long)s.h + 2L * s.ph, wp = (long)s.w + 2L * s.pw;
  if (hp < s.kh || wp < s.kw) a.range("the kernel is larger than the padded input");
  if (s.oh != (hp - s.kh) / s.sh + 1 || s.ow != (wp - s.kw) / s.sw + 1) a.range("plan.oh/ow disagree with the input size, kernel, stride and padding");
  return s;
}

// fn(plane) for every plane, in contiguous ranges over the pool when there is enough work.
template <typename F>
void over_planes(size_t planes, size_t work, F&& fn) {
  const int threads = work < 32768 ? 1 : (int)std::min<size_t>(pool_threads(), planes);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(planes, threads, t, 1, &b, &e);
    for (size_t p = b; p < e; p++) fn(p);
  });
}

// One plane of max pooling, any window. The running maximum is updated by selects, not branches:
// on ReLU outputs (many ties at 0) a branch per window cell mispredicts about half the time, which
// made this loop 8.4 ms per 128 × 32 × 28 × 28 batch (2×2, stride 2; single-thread CPU) — longer
// than the convolution feeding it.
void max_pool_plane(const PoolShape& s, const float* xp, float* yp, int32_t* ap, int32_t base) {
  for (int oy = 0; oy < s.oh; oy++) {
    const int y0 = std::max(oy * s.sh - s.ph, 0), y1 = (int)std::min<long>((long)oy * s.sh - s.ph + s.kh, s.h);
    for (int ox = 0; ox < s.ow; ox++) {
      const int x0 = std::max(ox * s.sw - s.pw, 0), x1 = (int)std::min<long>((long)ox * s.sw - s.pw + s.kw, s.w);
      float best = -INFINITY;
      int at = y0 * s.w + x0;
      for (int iy = y0; iy < y1; iy++) {
        for (int ix = x0; ix < x1; ix++) {
          const float v = xp[iy * s.w + ix];
          const bool take = v > best || std::isnan(v);
          best = take ? v : best;
          at = take ? iy * s.w + ix : at;
        }
      }
      yp[oy * s.ow + ox] = best;
      ap[oy * s.ow + ox] = base + at;
    }
  }
}

#if RB_X86
// Cell v (at index at) takes over the running maximum when strictly larger or NaN.
RB_TARGET_AVX512 inline void take_max(__m512 v, __m512i at, __m512& best, __m512i& arg) {
  const __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  best = _mm512_mask_mov_ps(best, m, v);
  arg = _mm512_mask_mov_epi32(arg, m, at);
}

// 2×2 windows, stride 2, no padding (the usual CNN pool): 16 outputs per step from two input
// rows of 32 floats, split into even and odd columns; the four cells compared in PyTorch's order
// (row-major: a strictly larger value or a NaN takes over) with masks. The first cell starts the
// maximum (max_pool_plane's −inf start gives the same value and index, −inf included).
RB_TARGET_AVX512 void max_pool_2x2_avx512(const PoolShape& s, const float* xp, float* yp, int32_t* ap, int32_t base) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1), row = _mm512_set1_epi32(s.w);
  for (int oy = 0; oy < s.oh; oy++) {
    const float* r0 = xp + (size_t)2 * oy * s.w;
    const float* r1 = r0 + s.w;
    for (int ox = 0; ox < s.ow; ox += 16) {
      const int on = std::min(16, s.ow - ox), nf = 2 * on;
      const __mmask16 m0 = nf >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nf) - 1u);
      const __mmask16 m1 = nf >= 32 ? (__mmask16)0xFFFF : nf > 16 ? (__mmask16)((1u << (nf - 16)) - 1u) : (__mmask16)0;
      const __mmask16 om = on == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << on) - 1u);
      const __m512 a0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * ox + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * ox + 16);
      const __m512i at00 = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * oy * s.w + 2 * ox), even);  // even = 2·lane
      __m512 best = _mm512_permutex2var_ps(a0, even, a1);
      __m512i arg = at00;
      take_max(_mm512_permutex2var_ps(a0, odd, a1), _mm512_add_epi32(at00, one), best, arg);
      take_max(_mm512_permutex2var_ps(b0, even, b1), _mm512_add_epi32(at00, row), best, arg);
      take_max(_mm512_permutex2var_ps(b0, odd, b1), _mm512_add_epi32(_mm512_add_epi32(at00, row), one), best, arg);
      _mm512_mask_storeu_ps(yp + (size_t)oy * s.ow + ox, om, best);
      _mm512_mask_storeu_epi32(ap + (size_t)oy * s.ow + ox, om, arg);
    }
  }
}
#endif

// maxPool2d(plan {n,c,h,w,oh,ow,kernelH,kernelW,strideH,strideW,padH,padW}, x, y, argmax)
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const PoolShape s = pool_shape(a);
  const float* x = a.f32(0, s.planes() * s.in_plane());
  float* y = a.f32(1, s.planes() * s.out_plane());
  int32_t* arg = a.i32(2, s.planes() * s.out_plane());
#if RB_X86
  static const bool avx512 = cpu_isa() == Isa::avx512;
  const bool two = avx512 && s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.ph == 0 && s.pw == 0;
#endif
  over_planes(s.planes(), s.planes() * s.out_plane() * s.kh * s.kw, [&](size_t p) {
    const float* xp = x + p * s.in_plane();
    float* yp = y + p * s.out_plane();
    int32_t* ap = arg + p * s.out_plane();
    const int32_t base = (int32_t)(p * s.in_plane());
#if RB_X86
    if (two) return max_pool_2x2_avx512(s, xp, yp, ap, base);
#endif
    max_pool_plane(s, xp, yp, ap, base);
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("maxPool2d", MaxPool2d);

// maxPool2dBackward(plan {n,c,h,w,oh,ow}, gy, argmax, gx) → −1, or the first position whose argmax
// lies outside its own (n, c) plane (skipped).
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  PoolShape s{};
  read_sizes(a, &s);
  const float* gy = a.f32(0, s.planes() * s.out_plane());
  const int32_t* arg = a.i32(1, s.planes() * s.out_plane());
  float* gx = a.f32(2, s.planes() * s.in_plane());
  const int threads = (double)s.planes() * (s.in_plane() + s.out_plane()) < 32768 ? 1 : (int)std::min<size_t>(pool_threads(), s.planes());
  std::vector<long> bad(threads, -1);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(s.planes(), threads, t, 1, &b, &e);
    for (size_t p = b; p < e; p++) {
      float* gp = gx + p * s.in_plane();
      std::memset(gp, 0, sizeof(float) * s.in_plane());
      const long lo = (long)(p * s.in_plane()), hi = lo + (long)s.in_plane();
      for (size_t i = p * s.out_plane(); i < (p + 1) * s.out_plane(); i++) {
        const long at = arg[i];
        if (at < lo || at >= hi) {
          if (bad[t] < 0) bad[t] = (long)i;
          continue;
        }
        gx[at] += gy[i];
      }
    }
  });
  long first = -1;
  for (long v : bad)
    if (v >= 0 && (first < 0 || v < first)) first = v;
  return Napi::Number::New(info.Env(), (double)first);
}
RIVERBED_EXPORT("maxPool2dBackward", MaxPool2dBackward);

// gatherFlat(plan {n, k}, x [n], idx [k], y [k]) → −1, or the first position whose index is outside [0, n) (its y is 0).
Napi::Value GatherFlat(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const size_t n = a.dim("n"), k = a.dim("k");
  if ((double)n > I32_MAX) a.range("plan.n must be below 2^31");
  const float* x = a.f32(0, n);
  const int32_t* idx = a.i32(1, k);
  float* y = a.f32(2, k);
  const int threads = k < 65536 ? 1 : pool_threads();
  std::vector<long> bad(threads, -1);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(k, threads, t, 16, &b, &e);
    for (size_t i = b; i < e; i++) {
      const long at = idx[i];
      if (at < 0 || at >= (long)n) {
        if (bad[t] < 0) bad[t] = (long)i;
        y[i] = 0.f;
        continue;
      }
      y[i] = x[at];
    }
  });
  long first = -1;
  for (long v : bad)
    if (v >= 0 && (first < 0 || v < first)) first = v;
  return Napi::Number::New(info.Env(), (double)first);
}
RIVERBED_EXPORT("gatherFlat", GatherFlat);

// avgPool2d(plan {as maxPool2d}, x, y): PyTorch's count_include_pad — every window divides by KH·KW.
Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 2);
  const PoolShape s = pool_shape(a);
  const float* x = a.f32(0, s.planes() * s.in_plane());
  float* y = a.f32(1, s.planes() * s.out_plane());
  const double div = (double)s.kh * s.kw;
  over_planes(s.planes(), s.planes() * s.out_plane() * s.kh * s.kw, [&](size_t p) {
    const float* xp = x + p * s.in_plane();
    float* yp = y + p * s.out_plane();
    for (int oy = 0; oy < s.oh; oy++) {
      const int y0 = std::max(oy * s.sh - s.ph, 0), y1 = (int)std::min<long>((long)oy * s.sh - s.ph + s.kh, s.h);
      for (int ox = 0; ox < s.ow; ox++) {
        const int x0 = std::max(ox * s.sw - s.pw, 0), x1 = (int)std::min<long>((long)ox * s.sw - s.pw + s.kw, s.w);
        double sum = 0;
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) sum += xp[iy * s.w + ix];
        yp[oy * s.ow + ox] = (float)(sum / div);
      }
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("avgPool2d", AvgPool2d);

// Outputs [lo, hi) along one axis whose window o·stride − pad + [0, k) contains input i.
inline void windows_of(int i, int out, int stride, int pad, int k, int* lo, int* hi) {
  const long t = (long)i + pad;  // o·stride ≤ t and o·stride > t − k
  const long first = t - k < 0 ? 0 : (t - k) / stride + 1;
  const long last = t / stride;  // inclusive
  *lo = (int)std::min<long>(first, out);
  *hi = (int)std::max<long>(*lo, std::min<long>(last + 1, out));
}

// avgPool2dBackward(plan {as maxPool2d}, gy, gx): each input gathers gy / (KH·KW) over its windows.
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 2);
  const PoolShape s = pool_shape(a);
  const float* gy = a.f32(0, s.planes() * s.out_plane());
  float* gx = a.f32(1, s.planes() * s.in_plane());
  const double div = (double)s.kh * s.kw;
  over_planes(s.planes(), s.planes() * s.out_plane() * s.kh * s.kw, [&](size_t p) {
    const float* gp = gy + p * s.out_plane();
    float* xp = gx + p * s.in_plane();
    for (int iy = 0; iy < s.h; iy++) {
      int oy0, oy1;
      windows_of(iy, s.oh, s.sh, s.ph, s.kh, &oy0, &oy1);
      for (int ix = 0; ix < s.w; ix++) {
        int ox0, ox1;
        windows_of(ix, s.ow, s.sw, s.pw, s.kw, &ox0, &ox1);
        double sum = 0;
        for (int oy = oy0; oy < oy1; oy++)
          for (int ox = ox0; ox < ox1; ox++) sum += gp[oy * s.ow + ox];
        xp[iy * s.w + ix] = (float)(sum / div);
      }
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("avgPool2dBackward", AvgPool2dBackward);

}  // namespace
}  // namespace riverbed

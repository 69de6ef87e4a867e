// 2-D convolution for the native backend (issue 12): NCHW, float32, row-major; the registry's
// conv2d, conv2dInputGrad, conv2dWeightGrad and channelSum (src/backends/ops.ts).
//
// All three products are im2col + the addon's sgemm, one sample at a time:
//   forward       y_n [O, OH·OW]  = W [O, C·KH·KW] · col(x_n)         (bias in the GEMM epilogue)
//   input grad    gx_n            = col2im(Wᵀ · gy_n)                  (scatter-add, per sample)
//   weight grad   gW              = Σ_n gy_n · col(x_n)ᵀ               (C += per thread, then summed)
// A 1×1, stride-1, unpadded convolution uses x_n itself as col(x_n). Samples are spread over the
// pool, one task per thread, each with its own col buffer and a single-threaded GEMM inside (the
// pool runs nested regions inline); with fewer samples than threads the samples run in turn and
// each GEMM uses the pool. The weight gradient sums its per-task partials in task order, so its
// bits depend on the thread count only.
//
// The forward pass of a stride-1 convolution with a small C·KH·KW (a network's first layers) is a
// direct convolution instead, on AVX-512: faster there, slower above (measured, see below).
//
// Every export checks its plan (sizes, output sizes by PyTorch's formula) and every array's exact
// length (GenericArgs) before any work: a wrong direct call throws instead of reading out of bounds.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "pool.h"
#include "registry.h"

#if RB_X86
#include <immintrin.h>
#endif

namespace riverbed {
namespace {

constexpr double I32_MAX = 2147483647.0;

struct ConvShape {
  int n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw;
  bool bias;
  size_t x_sample() const { return (size_t)c * h * w; }
  size_t plane() const { return (size_t)oh * ow; }
  size_t ckk() const { return (size_t)c * kh * kw; }
  // col(x_n) is x_n itself.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// A plan size in [lo, 2^31).
int plan_int(const GenericArgs& a, const char* key, int lo) {
  const size_t v = a.dim(key);
  if ((double)v > I32_MAX || (int)v < lo) a.range(std::string("plan.") + key + " must be an integer in [" + std::to_string(lo) + ", 2^31)");
  return (int)v;
}
void below_i32(const GenericArgs& a, double elems, const char* what) {
  if (elems > I32_MAX) a.range(std::string(what) + " would have 2^31 or more elements");
}

// The plan of a convolution: positive sizes, the output sizes PyTorch's formula gives, and every
// array (and one sample's im2col matrix) below 2^31 elements. with_bias: read plan.hasBias (0 | 1).
ConvShape conv_shape(const GenericArgs& a, bool with_bias) {
  ConvShape s{};
  s.n = plan_int(a, "n", 1);
  s.c = plan_int(a, "c", 1);
  s.h = plan_int(a, "h", 1);
  s.w = plan_int(a, "w", 1);
  s.o = plan_int(a, "o", 1);
  s.kh = plan_int(a, "kh", 1);
  s.kw = plan_int(a, "kw", 1);
  s.oh = plan_int(a, "oh", 1);
  s.ow = plan_int(a, "ow", 1);
  s.sh = plan_int(a, "strideH", 1);
  s.sw = plan_int(a, "strideW", 1);
  s.ph = plan_int(a, "padH", 0);
  s.pw = plan_int(a, "padW", 0);
  if (with_bias) {
    const double b = a.num("hasBias");
    if (b != 0 && b != 1) a.range("plan.hasBias must be 0 or 1");
    s.bias = b == 1;
  }
  const long hp = (long)s.h + 2L * s.ph, wp = (long)s.w + 2L * s.pw;
  if (hp < s.kh || wp < s.kw) a.range("the kernel is larger than the padded input");
  if (s.oh != (hp - s.kh) / s.sh + 1 || s.ow != (wp - s.kw) / s.sw + 1) {
    a.range("plan.oh/ow disagree with the input size, kernel, stride and padding");
  }
  below_i32(a, (double)s.n * s.c * s.h * s.w, "x");
  below_i32(a, (double)s.o * s.c * s.kh * s.kw, "the weight");
  below_i32(a, (double)s.n * s.o * s.oh * s.ow, "y");
  below_i32(a, (double)s.ckk() * s.plane(), "an im2col matrix");
  below_i32(a, (double)s.c * (hp + 1) * (wp + 32), "a padded sample");
  return s;
}

// Output columns [lo, hi) whose input column ox·stride − pad + k lies in [0, size).
inline void valid_range(int out, int size, int stride, int pad, int k, int* lo, int* hi) {
  const long a = (long)pad - k;  // ox·stride ≥ a
  const long b = (long)size + pad - k;  // ox·stride < b
  long l = a <= 0 ? 0 : (a + stride - 1) / stride;
  long h = b <= 0 ? 0 : (b + stride - 1) / stride;
  l = std::min<long>(l, out);
  h = std::max(l, std::min<long>(h, out));
  *lo = (int)l;
  *hi = (int)h;
}

// col[(ci·KH + ky)·KW + kx][oy·OW + ox] = x[ci][oy·sh − ph + ky][ox·sw − pw + kx], 0 outside x.
void im2col(const ConvShape& s, const float* x, float* col) {
  const size_t P = s.plane();
  for (int ci = 0; ci < s.c; ci++) {
    const float* xc = x + (size_t)ci * s.h * s.w;
    for (int ky = 0; ky < s.kh; ky++) {
      for (int kx = 0; kx < s.kw; kx++) {
        float* row = col + ((size_t)(ci * s.kh + ky) * s.kw + kx) * P;
        int lo, hi;
        valid_range(s.ow, s.w, s.sw, s.pw, kx, &lo, &hi);
        for (int oy = 0; oy < s.oh; oy++) {
          float* d = row + (size_t)oy * s.ow;
          const long iy = (long)oy * s.sh - s.ph + ky;
          if (iy < 0 || iy >= s.h) {
            std::memset(d, 0, sizeof(float) * s.ow);
            continue;
          }
          const float* src = xc + (size_t)iy * s.w;
          std::memset(d, 0, sizeof(float) * lo);
          if (s.sw == 1) {
            if (hi > lo) std::memcpy(d + lo, src + (lo - s.pw + kx), sizeof(float) * (hi - lo));
          } else {
            for (int ox = lo; ox < hi; ox++) d[ox] = src[(long)ox * s.sw - s.pw + kx];
          }
          std::memset(d + hi, 0, sizeof(float) * (s.ow - hi));
        }
      }
    }
  }
}

// gx[ci][iy][ix] += dcol[(ci·KH + ky)·KW + kx][oy·OW + ox] (the adjoint of im2col), in one fixed order.
void col2im_add(const ConvShape& s, const float* dcol, float* gx) {
  const size_t P = s.plane();
  for (int ci = 0; ci < s.c; ci++) {
    float* gc = gx + (size_t)ci * s.h * s.w;
    for (int ky = 0; ky < s.kh; ky++) {
      for (int kx = 0; kx < s.kw; kx++) {
        const float* row = dcol + ((size_t)(ci * s.kh + ky) * s.kw + kx) * P;
        int lo, hi;
        valid_range(s.ow, s.w, s.sw, s.pw, kx, &lo, &hi);
        for (int oy = 0; oy < s.oh; oy++) {
          const long iy = (long)oy * s.sh - s.ph + ky;
          if (iy < 0 || iy >= s.h) continue;
          const float* d = row + (size_t)oy * s.ow;
          float* dst = gc + (size_t)iy * s.w;
          if (s.sw == 1) {
            float* t = dst + (lo - s.pw + kx);
            for (int ox = lo; ox < hi; ox++) t[ox - lo] += d[ox];
          } else {
            for (int ox = lo; ox < hi; ox++) dst[(long)ox * s.sw - s.pw + kx] += d[ox];
          }
        }
      }
    }
  }
}

std::unique_ptr<float[]> floats(size_t n) { return std::unique_ptr<float[]>(new float[n == 0 ? 1 : n]); }

// Runs body(task, sample, col) for every sample: one task per thread over contiguous sample ranges,
// or, with fewer samples than threads, every sample in turn on the calling thread (GEMMs then use
// the pool). `col_floats`: each task's scratch, allocated here on the calling thread (an
// allocation failure throws to the export, never inside a pool task).
template <typename Body>
int over_samples(int n, size_t col_floats, Body&& body) {
  const int threads = pool_threads();
  const int tasks = n >= threads ? threads : 1;
  std::vector<std::unique_ptr<float[]>> cols;
  for (int t = 0; t < tasks; t++) cols.push_back(floats(col_floats));
  parallel_for(tasks, [&](int t) {
    size_t b, e;
    split_range((size_t)n, tasks, t, 1, &b, &e);
    for (size_t i = b; i < e; i++) body(t, (int)i, cols[t].get());
  });
  return tasks;
}

struct BiasCtx {
  const float* bias;
};
void add_bias_rows(void* ctx, int i0, int, int rows, int cols, float* c, long ldc) {
  const float* b = static_cast<BiasCtx*>(ctx)->bias + i0;
  for (int r = 0; r < rows; r++) {
    float* cr = c + (size_t)r * ldc;
    const float v = b[r];
    for (int j = 0; j < cols; j++) cr[j] += v;
  }
}

void forward_gemm(const ConvShape& s, const float* x, const float* wt, const float* bias, float* y) {
  const size_t P = s.plane(), K = s.ckk();
  BiasCtx ctx{bias};
  const GemmEpilogue ep{add_bias_rows, &ctx};
  over_samples(s.n, s.pointwise() ? 0 : K * P, [&](int, int i, float* col) {
    const float* xn = x + (size_t)i * s.x_sample();
    if (s.pointwise()) col = const_cast<float*>(xn);
    else im2col(s, xn, col);
    float* yn = y + (size_t)i * s.o * P;
    if (bias) sgemm_ep(s.o, (int)P, (int)K, wt, false, col, false, yn, ep);
    else sgemm(s.o, (int)P, (int)K, wt, false, col, false, yn);
  });
}

// ---- direct convolution, for small C·KH·KW ------------------------------------------------------
//
// Stride 1, AVX-512: a zero-padded copy of the sample, then for 4 output channels × 32 output
// columns at a time, 8 accumulators fed by 2 loads and 4 broadcasts per (c, ky, kx), all taps
// summed in registers before one store. With a small im2col K = C·KH·KW the GEMM's micro-kernel
// runs only K steps per 12×32 block of C it writes, and im2col writes KH·KW copies of the input:
// measured (batch 128, 2 threads, best of 15, on this shared 2-core AVX-512 machine) direct/GEMM
// forward: 1→32 3×3 pad 1 on 28×28 (K = 9) 2.3 / 3.5 ms; 3→32 on 32×32 (K = 27) 3.8 / 10.2 ms;
// 8→32 on 28×28 (K = 72) 7.4 / 20.5 ms; 1→16 5×5 (K = 25) 1.4 / 3.3 ms — but 32→64 3×3 pad 1 on
// 14×14 (K = 288) 75 / 45 ms (14 columns fill half of the 32 this kernel computes, and the GEMM's
// 12×32 block reuses each load more). So: direct up to K = RB_CONV_DIRECT_MAX_K, GEMM above it
// (build with -DRB_CONV_DIRECT_MAX_K=0 to time the GEMM path alone).
#ifndef RB_CONV_DIRECT_MAX_K
#define RB_CONV_DIRECT_MAX_K 72
#endif
#if RB_X86
RB_TARGET_AVX512 void forward_direct_sample(const ConvShape& s, const float* x, const float* wt, const float* bias,
                                            float* y, float* xp) {
  const int hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw + 32;  // 32 columns of slack for the last vector
  std::memset(xp, 0, sizeof(float) * (size_t)s.c * hp * wp);
  for (int ci = 0; ci < s.c; ci++)
    for (int iy = 0; iy < s.h; iy++)
      std::memcpy(xp + ((size_t)ci * hp + iy + s.ph) * wp + s.pw, x + ((size_t)ci * s.h + iy) * s.w, sizeof(float) * s.w);
  const size_t P = s.plane();
  for (int o0 = 0; o0 < s.o; o0 += 4) {
    const int oc = std::min(4, s.o - o0);
    for (int oy = 0; oy < s.oh; oy++) {
      for (int ox0 = 0; ox0 < s.ow; ox0 += 32) {
        const int cols = std::min(32, s.ow - ox0);
        __m512 acc[4][2];
        for (int q = 0; q < 4; q++) acc[q][0] = acc[q][1] = _mm512_setzero_ps();
        for (int ci = 0; ci < s.c; ci++) {
          for (int ky = 0; ky < s.kh; ky++) {
            const float* xr = xp + ((size_t)ci * hp + oy + ky) * wp + ox0;
            const float* wr = wt + (((size_t)o0 * s.c + ci) * s.kh + ky) * s.kw;
            for (int kx = 0; kx < s.kw; kx++) {
              const __m512 x0 = _mm512_loadu_ps(xr + kx), x1 = _mm512_loadu_ps(xr + kx + 16);
              for (int q = 0; q < oc; q++) {
                const __m512 wv = _mm512_set1_ps(wr[(size_t)q * s.c * s.kh * s.kw + kx]);
                acc[q][0] = _mm512_fmadd_ps(wv, x0, acc[q][0]);
                acc[q][1] = _mm512_fmadd_ps(wv, x1, acc[q][1]);
              }
            }
          }
        }
        const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1u);
        const __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1u);
        for (int q = 0; q < oc; q++) {
          const __m512 b = _mm512_set1_ps(bias ? bias[o0 + q] : 0.f);
          float* yr = y + (size_t)(o0 + q) * P + (size_t)oy * s.ow + ox0;
          _mm512_mask_storeu_ps(yr, m0, _mm512_add_ps(acc[q][0], b));
          _mm512_mask_storeu_ps(yr + 16, m1, _mm512_add_ps(acc[q][1], b));
        }
      }
    }
  }
}
#endif

void forward(const ConvShape& s, const float* x, const float* wt, const float* bias, float* y) {
#if RB_X86
  if (s.sh == 1 && s.sw == 1 && s.ckk() <= RB_CONV_DIRECT_MAX_K && cpu_isa() == Isa::avx512) {
    const size_t xp = (size_t)s.c * (s.h + 2 * s.ph) * (s.w + 2 * s.pw + 32);
    over_samples(s.n, xp, [&](int, int i, float* buf) {
      forward_direct_sample(s, x + (size_t)i * s.x_sample(), wt, bias, y + (size_t)i * s.o * s.plane(), buf);
    });
    return;
  }
#endif
  forward_gemm(s, x, wt, bias, y);
}

void input_grad(const ConvShape& s, const float* gy, const float* wt, float* gx) {
  const size_t P = s.plane(), K = s.ckk();
  over_samples(s.n, s.pointwise() ? 0 : K * P, [&](int, int i, float* dcol) {
    const float* gyn = gy + (size_t)i * s.o * P;
    float* gxn = gx + (size_t)i * s.x_sample();
    if (s.pointwise()) {
      sgemm((int)K, (int)P, s.o, wt, true, gyn, false, gxn);
      return;
    }
    sgemm((int)K, (int)P, s.o, wt, true, gyn, false, dcol);
    std::memset(gxn, 0, sizeof(float) * s.x_sample());
    col2im_add(s, dcol, gxn);
  });
}

void weight_grad(const ConvShape& s, const float* x, const float* gy, float* gw) {
  const size_t P = s.plane(), K = s.ckk(), W = (size_t)s.o * K;
  const int threads = pool_threads();
  const int tasks = s.n >= threads ? threads : 1;
  // Task 0 accumulates into gw, the others into their own partials, summed in task order below.
  std::vector<float> partial((size_t)(tasks - 1) * W, 0.f);
  std::memset(gw, 0, sizeof(float) * W);
  over_samples(s.n, s.pointwise() ? 0 : K * P, [&](int t, int i, float* col) {
    const float* xn = x + (size_t)i * s.x_sample();
    if (s.pointwise()) col = const_cast<float*>(xn);
    else im2col(s, xn, col);
    float* acc = t == 0 ? gw : partial.data() + (size_t)(t - 1) * W;
    sgemm_acc(s.o, (int)K, (int)P, gy + (size_t)i * s.o * P, false, col, true, acc);
  });
  for (int t = 1; t < tasks; t++) {
    const float* p = partial.data() + (size_t)(t - 1) * W;
    for (size_t j = 0; j < W; j++) gw[j] += p[j];
  }
}

// ---- exports -------------------------------------------------------------------------------------

// conv2d(plan {n,c,h,w,o,kh,kw,oh,ow,strideH,strideW,padH,padW,hasBias}, x, weight, bias | [], y)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 4);
  const ConvShape s = conv_shape(a, true);
  const float* x = a.f32(0, (size_t)s.n * s.x_sample());
  const float* wt = a.f32(1, (size_t)s.o * s.ckk());
  const float* bias = a.f32(2, s.bias ? (size_t)s.o : 0);
  float* y = a.f32(3, (size_t)s.n * s.o * s.plane());
  try {
    forward(s, x, wt, s.bias ? bias : nullptr, y);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "conv2d: out of memory for the im2col scratch");
  }
  return info.Env().Undefined();
}
RIVERBED_EXPORT("conv2d", Conv2d);

// conv2dInputGrad(plan {n,c,h,w,o,kh,kw,oh,ow,strideH,strideW,padH,padW}, gy, weight, gx)
Napi::Value Conv2dInputGrad(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const ConvShape s = conv_shape(a, false);
  const float* gy = a.f32(0, (size_t)s.n * s.o * s.plane());
  const float* wt = a.f32(1, (size_t)s.o * s.ckk());
  float* gx = a.f32(2, (size_t)s.n * s.x_sample());
  try {
    input_grad(s, gy, wt, gx);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "conv2dInputGrad: out of memory for the im2col scratch");
  }
  return info.Env().Undefined();
}
RIVERBED_EXPORT("conv2dInputGrad", Conv2dInputGrad);

// conv2dWeightGrad(plan {as conv2dInputGrad}, x, gy, gw)
Napi::Value Conv2dWeightGrad(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 3);
  const ConvShape s = conv_shape(a, false);
  const float* x = a.f32(0, (size_t)s.n * s.x_sample());
  const float* gy = a.f32(1, (size_t)s.n * s.o * s.plane());
  float* gw = a.f32(2, (size_t)s.o * s.ckk());
  try {
    weight_grad(s, x, gy, gw);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "conv2dWeightGrad: out of memory for the im2col scratch");
  }
  return info.Env().Undefined();
}
RIVERBED_EXPORT("conv2dWeightGrad", Conv2dWeightGrad);

// channelSum(plan {n, c, hw}, gy [n, c, hw], out [c]): per channel, in float64 with 8 running sums.
Napi::Value ChannelSum(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 2);
  const int n = plan_int(a, "n", 1), c = plan_int(a, "c", 1), hw = plan_int(a, "hw", 1);
  below_i32(a, (double)n * c * hw, "gy");
  const float* gy = a.f32(0, (size_t)n * c * hw);
  float* out = a.f32(1, (size_t)c);
  const int threads = (double)n * c * hw < 65536 ? 1 : std::min(pool_threads(), c);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range((size_t)c, threads, t, 1, &b, &e);
    for (size_t ch = b; ch < e; ch++) {
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int i = 0; i < n; i++) {
        const float* p = gy + ((size_t)i * c + ch) * hw;
        int j = 0;
        for (; j + 8 <= hw; j += 8)
          for (int q = 0; q < 8; q++) acc[q] += p[j + q];
        for (; j < hw; j++) acc[j & 7] += p[j];
      }
      out[ch] = (float)(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("channelSum", ChannelSum);

}  // namespace
}  // namespace riverbed

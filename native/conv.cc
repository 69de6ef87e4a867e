// 2-D convolution for the native backend (issue 12): NCHW, float32, row-major; the registry's
// conv2d, conv2dInputGrad, conv2dWeightGrad and channelSum (src/backends/ops.ts).
//
// All three products are im2col + the addon's sgemm over blocks of nb samples (nb·OH·OW ≥ 1024
// columns, so the GEMM's blocking pays off; col [C·KH·KW, nb·OH·OW] holds the block's samples side
// by side, GY [O, nb·OH·OW] the block's output gradients):
//   forward       yᵀ [nb·P, O] = colᵀ · Wᵀ, transposed into y per sample with the bias
//                 (positions as the GEMM's rows fill its 12-row micro-panels, O its 32-wide ones:
//                 102 vs 73 GFLOP/s single-thread for 32→64 on 14×14 against y_n = W · col_n)
//   input grad    dcol = Wᵀ · GY, then col2im (scatter-add per sample, one fixed order)
//   weight grad   gW += GY · colᵀ (gWᵀ += col · GYᵀ when C·KH·KW < O), per thread, summed in order
// A 1×1, stride-1, unpadded convolution takes one sample at a time and uses x_n itself as col. For
// stride 1 with the width kept (3×3 with padding 1), im2col/col2im move whole shifted planes.
// Blocks are spread over the pool, one task per thread over contiguous sample ranges aligned to nb,
// each with its own scratch and single-threaded GEMMs (the pool runs nested regions inline); with
// fewer blocks than threads the blocks run in turn and each GEMM uses the pool. The weight gradient
// sums its per-task partials in task order, so its bits depend on the thread count only.
//
// A direct convolution (AVX-512, stride 1: a zero-padded sample copy, 4 output channels × 32
// columns of accumulators per (c, ky, kx)) was measured against this and dropped. Against the first
// per-sample GEMM version it won where C·KH·KW is small (1→32 3×3 on 28×28, batch 128: 2.3 vs 3.5
// ms) and lost above (32→64 on 14×14: 75 vs 45 ms); against the blocked, transposed GEMM above it
// ties within the noise of this shared machine (single-thread CPU ms, direct / GEMM, best of two
// runs of 15: K = 9: 2.0 / 1.9; 3→32 on 32×32, K = 27: 3.7 / 4.7; 1→16 5×5, K = 25: 1.3 / 1.4;
// 8→32, K = 72: 7.1 / 6.7). One path that also serves both gradients is kept.
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
#include "transpose.h"

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

// Samples per GEMM: enough columns (nb·OH·OW ≥ 1024) for the GEMM's blocking to pay off. A 1×1,
// stride-1, unpadded convolution takes one sample at a time and uses x_n itself as col(x_n).
int block_samples(const ConvShape& s) {
  if (s.pointwise()) return 1;
  return (int)std::max<size_t>(1, std::min<size_t>((size_t)s.n, (1024 + s.plane() - 1) / s.plane()));
}

// Stride 1 with OW = W ("same" width, e.g. 3×3 with padding 1): a row (ci, ky, kx) of col is
// the input plane shifted by (ky − ph)·W + (kx − pw) elements, except its first rows / last rows
// (padding) and the columns outside [lo, hi) of each row, which the shift wraps into the next or
// previous input row. One contiguous copy or add per (ci, ky, kx) instead of one per output row.
// Zeroing and copying loops of a few floats stay loops: GCC would turn each into a memset/memcpy
// call, which costs more than the work (a million calls per batch in a CNN's second layer).
#if defined(__GNUC__) && !defined(__clang__)
#define NO_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_CALLS
#endif
inline bool same_width(const ConvShape& s) { return s.sh == 1 && s.sw == 1 && s.ow == s.w; }
// Valid output rows [y0, y1) and the element range [i0, i1) of the plane whose source lies in x.
inline void shifted_range(const ConvShape& s, int ky, int kx, long* shift, int* y0, int* y1, long* i0, long* i1) {
  *shift = (long)(ky - s.ph) * s.w + (kx - s.pw);
  *y0 = std::max(0, s.ph - ky);
  *y1 = std::max(*y0, std::min(s.oh, s.h + s.ph - ky));
  *i0 = std::max((long)*y0 * s.ow, -*shift);
  *i1 = std::max(*i0, std::min((long)*y1 * s.ow, (long)s.h * s.w - *shift));
}
RB_CLONES NO_CALLS void shifted_plane(const ConvShape& s, const float* xc, int ky, int kx, int lo, int hi, float* d) {
  long shift, i0, i1;
  int y0, y1;
  shifted_range(s, ky, kx, &shift, &y0, &y1, &i0, &i1);
  const long all = (long)s.oh * s.ow;
  for (long i = 0; i < i0; i++) d[i] = 0.f;
  std::memcpy(d + i0, xc + i0 + shift, sizeof(float) * (i1 - i0));
  for (long i = i1; i < all; i++) d[i] = 0.f;
  for (int oy = y0; oy < y1; oy++) {  // the wrapped columns read padding
    float* r = d + (size_t)oy * s.ow;
    for (int ox = 0; ox < lo; ox++) r[ox] = 0.f;
    for (int ox = hi; ox < s.ow; ox++) r[ox] = 0.f;
  }
}
RB_CLONES NO_CALLS void add_shifted_plane(const ConvShape& s, float* d, int ky, int kx, int lo, int hi, float* gc) {
  long shift, i0, i1;
  int y0, y1;
  shifted_range(s, ky, kx, &shift, &y0, &y1, &i0, &i1);
  for (int oy = y0; oy < y1; oy++) {  // entries that read padding add nothing
    float* r = d + (size_t)oy * s.ow;
    for (int ox = 0; ox < lo; ox++) r[ox] = 0.f;
    for (int ox = hi; ox < s.ow; ox++) r[ox] = 0.f;
  }
  for (long i = i0; i < i1; i++) gc[i + shift] += d[i];
}

// col[(ci·KH + ky)·KW + kx][ld·… + oy·OW + ox] = x[ci][oy·sh − ph + ky][ox·sw − pw + kx], 0 outside
// x: one sample's columns of a block's col matrix, whose rows are `ld` long.
RB_CLONES NO_CALLS void im2col(const ConvShape& s, const float* x, float* col, size_t ld) {
  for (int ci = 0; ci < s.c; ci++) {
    const float* xc = x + (size_t)ci * s.h * s.w;
    for (int ky = 0; ky < s.kh; ky++) {
      for (int kx = 0; kx < s.kw; kx++) {
        float* row = col + ((size_t)(ci * s.kh + ky) * s.kw + kx) * ld;
        int lo, hi;
        valid_range(s.ow, s.w, s.sw, s.pw, kx, &lo, &hi);
        if (same_width(s)) {
          shifted_plane(s, xc, ky, kx, lo, hi, row);
          continue;
        }
        for (int oy = 0; oy < s.oh; oy++) {
          float* d = row + (size_t)oy * s.ow;
          const long iy = (long)oy * s.sh - s.ph + ky;
          if (iy < 0 || iy >= s.h) {
            for (int ox = 0; ox < s.ow; ox++) d[ox] = 0.f;
            continue;
          }
          // Plain loops, not memcpy/memset: rows are short (14 floats in a CNN's second layer)
          // and a library call per row costs more than the copy.
          const float* src = xc + (size_t)iy * s.w;
          for (int ox = 0; ox < lo; ox++) d[ox] = 0.f;
          if (s.sw == 1) {
            const float* src1 = src + (lo - s.pw + kx);
            for (int ox = lo; ox < hi; ox++) d[ox] = src1[ox - lo];
          } else {
            for (int ox = lo; ox < hi; ox++) d[ox] = src[(long)ox * s.sw - s.pw + kx];
          }
          for (int ox = hi; ox < s.ow; ox++) d[ox] = 0.f;
        }
      }
    }
  }
}

// gx[ci][iy][ix] += dcol[(ci·KH + ky)·KW + kx][oy·OW + ox] (the adjoint of im2col; rows `ld` long),
// in one fixed order. dcol is scratch: same_width() zeroes its entries that read the padding.
RB_CLONES NO_CALLS void col2im_add(const ConvShape& s, float* dcol, size_t ld, float* gx) {
  for (int ci = 0; ci < s.c; ci++) {
    float* gc = gx + (size_t)ci * s.h * s.w;
    for (int ky = 0; ky < s.kh; ky++) {
      for (int kx = 0; kx < s.kw; kx++) {
        float* row = dcol + ((size_t)(ci * s.kh + ky) * s.kw + kx) * ld;
        int lo, hi;
        valid_range(s.ow, s.w, s.sw, s.pw, kx, &lo, &hi);
        if (same_width(s)) {
          add_shifted_plane(s, row, ky, kx, lo, hi, gc);
          continue;
        }
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

// GY[o][j·P + p] = gy[n0 + j][o][p] for the cnt samples of a block: the output gradient as one
// [O, cnt·P] matrix (the GEMMs' operand over a block of samples).
void gather_gy(const ConvShape& s, const float* gy, int n0, int cnt, float* GY) {
  const size_t P = s.plane(), ld = (size_t)cnt * P;
  for (int j = 0; j < cnt; j++)
    for (int o = 0; o < s.o; o++) std::memcpy(GY + o * ld + j * P, gy + ((size_t)(n0 + j) * s.o + o) * P, sizeof(float) * P);
}

std::unique_ptr<float[]> floats(size_t n) { return std::unique_ptr<float[]>(new float[n == 0 ? 1 : n]); }

// Runs body(task, n0, cnt, scratch) over blocks of ≤ nb samples: one task per thread over
// contiguous sample ranges aligned to nb (so the blocks never depend on the thread count), or,
// with fewer blocks than threads, every block in turn on the calling thread (GEMMs then use the
// pool). Each task's scratch (`per_task` floats) is allocated here on the calling thread: an
// allocation failure throws to the export, never inside a pool task.
template <typename Body>
int over_blocks(int n, int nb, size_t per_task, Body&& body) {
  const int threads = pool_threads();
  const int blocks = (n + nb - 1) / nb;
  const int tasks = blocks >= threads ? threads : 1;
  std::vector<std::unique_ptr<float[]>> scratch;
  for (int t = 0; t < tasks; t++) scratch.push_back(floats(per_task));
  parallel_for(tasks, [&](int t) {
    size_t b, e;
    split_range((size_t)n, tasks, t, (size_t)nb, &b, &e);
    for (size_t i = b; i < e; i += nb) body(t, (int)i, (int)std::min<size_t>(nb, e - i), scratch[t].get());
  });
  return tasks;
}

// The forward GEMM computes yᵀ of a block (rows: the block's positions, columns: output channels,
// so the many positions fill the 12-row micro-panels and O the 32-wide ones) into scratch; each
// sample's [P, O] is then transposed into y (NCHW) with the bias, 16 channels at a time (16
// consecutive floats read per position, 16 output rows written in step). Measured against an
// epilogue writing each 12×32 block transposed: that one took 16 % of the forward, this ~5 %.
void transpose_out_generic(const ConvShape& s, const float* c, const float* bias, float* yn) {
  const size_t P = s.plane(), O = (size_t)s.o;
  for (size_t o0 = 0; o0 < O; o0 += 16) {
    const size_t on = std::min<size_t>(16, O - o0);
    float b[16];
    for (size_t q = 0; q < on; q++) b[q] = bias ? bias[o0 + q] : 0.f;
    for (size_t p = 0; p < P; p++) {
      const float* cp = c + p * O + o0;
      for (size_t q = 0; q < on; q++) yn[(o0 + q) * P + p] = cp[q] + b[q];
    }
  }
}
#if RB_X86
// 16×16 blocks transposed in registers (unpack pairs, then pairs of pairs, then 128-bit lanes),
// masked at the edges; the bias added to each output row.
RB_TARGET_AVX512 void transpose_out_avx512(const ConvShape& s, const float* c, const float* bias, float* yn) {
  const size_t P = s.plane(), O = (size_t)s.o;
  for (size_t o0 = 0; o0 < O; o0 += 16) {
    const int on = (int)std::min<size_t>(16, O - o0);
    const __mmask16 om = on == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << on) - 1u);
    for (size_t p0 = 0; p0 < P; p0 += 16) {
      const int pn = (int)std::min<size_t>(16, P - p0);
      const __mmask16 pm = pn == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << pn) - 1u);
      __m512 r[16];
      for (int i = 0; i < 16; i++) r[i] = i < pn ? _mm512_maskz_loadu_ps(om, c + (p0 + i) * O + o0) : _mm512_setzero_ps();
      transpose16(r);
      // r[i]: column o0 + i of the block, i.e. output channel o0 + i at positions p0..p0+15.
      for (int i = 0; i < on; i++) {
        const __m512 v = _mm512_add_ps(r[i], _mm512_set1_ps(bias ? bias[o0 + i] : 0.f));
        _mm512_mask_storeu_ps(yn + (o0 + i) * P + p0, pm, v);
      }
    }
  }
}
#endif
// Sample j's yᵀ [P, O] (GEMM scratch) into y_n [O, P] (NCHW), plus the bias.
void transpose_out(const ConvShape& s, const float* c, const float* bias, float* yn) {
#if RB_X86
  static const bool avx512 = cpu_isa() == Isa::avx512;
  if (avx512) return transpose_out_avx512(s, c, bias, yn);
#endif
  transpose_out_generic(s, c, bias, yn);
}

void forward(const ConvShape& s, const float* x, const float* wt, const float* bias, float* y) {
  const size_t P = s.plane(), K = s.ckk();
  const int nb = block_samples(s);
  const size_t colf = s.pointwise() ? 0 : K * nb * P;
  over_blocks(s.n, nb, colf + (size_t)nb * P * s.o, [&](int, int n0, int cnt, float* buf) {
    const float* col = buf;
    if (s.pointwise()) col = x + (size_t)n0 * s.x_sample();
    else
      for (int j = 0; j < cnt; j++) im2col(s, x + (size_t)(n0 + j) * s.x_sample(), buf + (size_t)j * P, (size_t)cnt * P);
    // yᵀ [cnt·P, O] = colᵀ · Wᵀ: col is [K, cnt·P] (transA), W is [O, K] (transB).
    float* c = buf + colf;
    sgemm((int)(cnt * P), s.o, (int)K, col, true, wt, true, c);
    for (int j = 0; j < cnt; j++) transpose_out(s, c + (size_t)j * P * s.o, bias, y + (size_t)(n0 + j) * s.o * P);
  });
}

// gx_block: dcol [K, cnt·P] = Wᵀ · GY, then col2im of each sample's columns.
void input_grad(const ConvShape& s, const float* gy, const float* wt, float* gx) {
  const size_t P = s.plane(), K = s.ckk();
  const int nb = block_samples(s);
  const size_t gyf = nb > 1 ? (size_t)s.o * nb * P : 0;
  over_blocks(s.n, nb, gyf + (s.pointwise() ? 0 : K * nb * P), [&](int, int n0, int cnt, float* buf) {
    const float* GY = gy + (size_t)n0 * s.o * P;
    if (cnt > 1) {
      gather_gy(s, gy, n0, cnt, buf);
      GY = buf;
    }
    float* gxn = gx + (size_t)n0 * s.x_sample();
    if (s.pointwise()) {  // one sample: gx_n = Wᵀ · gy_n
      sgemm((int)K, (int)P, s.o, wt, true, GY, false, gxn);
      return;
    }
    float* dcol = buf + gyf;
    const size_t ld = (size_t)cnt * P;
    sgemm((int)K, (int)ld, s.o, wt, true, GY, false, dcol);
    std::memset(gxn, 0, sizeof(float) * cnt * s.x_sample());
    for (int j = 0; j < cnt; j++) col2im_add(s, dcol + (size_t)j * P, ld, gxn + (size_t)j * s.x_sample());
  });
}

// gW += GY [O, cnt·P] · colᵀ per block (col [K, cnt·P]: transB), or gWᵀ += col · GYᵀ when K < O
// (a first layer: K = 9; the GEMM runs faster with the narrow K as its rows, measured 1.1 vs 1.9 ms
// for 1→32 3×3 on 28×28, batch 128) or O ≤ 64 (op(B) = GYᵀ is then at most two 32-wide panels, so
// the GEMM reads col in place instead of packing it: 32→64 3×3 on 14×14, batch 128, single-thread
// CPU 12.0–12.3 vs 13.3 ms; the GEMM alone 101–106 vs 88–90 GFLOP/s). Task 0 accumulates into gw
// directly when it can, the others into their own partials, summed in task order at the end.
void weight_grad(const ConvShape& s, const float* x, const float* gy, float* gw) {
  const size_t P = s.plane(), K = s.ckk(), W = (size_t)s.o * K;
  const bool tr = K < (size_t)s.o || s.o <= 64;
  // A sample's positions alone make a long enough GEMM K here: no gather of gy when P ≥ 512
  // (1→32 3×3 on 28×28: 2.05 vs 2.2 ms single-thread).
  const int nb = P >= 512 ? 1 : block_samples(s);
  const int threads = pool_threads();
  const int tasks = (s.n + nb - 1) / nb >= threads ? threads : 1;
  const int own = tr ? tasks : tasks - 1;  // partials not written to gw directly
  std::vector<float> partial((size_t)own * W, 0.f);
  std::memset(gw, 0, sizeof(float) * W);
  const size_t gyf = nb > 1 ? (size_t)s.o * nb * P : 0;
  over_blocks(s.n, nb, gyf + (s.pointwise() ? 0 : K * nb * P), [&](int t, int n0, int cnt, float* buf) {
    const float* GY = gy + (size_t)n0 * s.o * P;
    if (cnt > 1) {
      gather_gy(s, gy, n0, cnt, buf);
      GY = buf;
    }
    const float* col = x + (size_t)n0 * s.x_sample();
    if (!s.pointwise()) {
      float* c = buf + gyf;
      for (int j = 0; j < cnt; j++) im2col(s, x + (size_t)(n0 + j) * s.x_sample(), c + (size_t)j * P, (size_t)cnt * P);
      col = c;
    }
    const int L = (int)(cnt * P);
    if (tr) {
      sgemm_acc((int)K, s.o, L, col, false, GY, true, partial.data() + (size_t)t * W);
    } else {
      sgemm_acc(s.o, (int)K, L, GY, false, col, true, t == 0 ? gw : partial.data() + (size_t)(t - 1) * W);
    }
  });
  if (tr) {
    for (int t = 0; t < tasks; t++) {
      const float* p = partial.data() + (size_t)t * W;  // [K, O]
      for (size_t k = 0; k < K; k++)
        for (int o = 0; o < s.o; o++) gw[(size_t)o * K + k] += p[k * s.o + o];
    }
    return;
  }
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

// acc[j mod 16] += p[j] for j < hw: 16 running float64 sums (two independent vector chains on
// AVX-512; the same lanes in the same order everywhere, so the same bits on every path).
void add_row16_generic(const float* p, int hw, double* acc) {
  for (int j = 0; j < hw; j++) acc[j & 15] += p[j];
}
#if RB_X86
RB_TARGET_AVX512 void add_row16_avx512(const float* p, int hw, double* acc) {
  __m512d a0 = _mm512_loadu_pd(acc), a1 = _mm512_loadu_pd(acc + 8);
  int j = 0;
  for (; j + 16 <= hw; j += 16) {
    a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm256_loadu_ps(p + j)));
    a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_loadu_ps(p + j + 8)));
  }
  _mm512_storeu_pd(acc, a0);
  _mm512_storeu_pd(acc + 8, a1);
  for (; j < hw; j++) acc[j & 15] += p[j];
}
#endif
void add_row16(const float* p, int hw, double* acc) {
#if RB_X86
  static const bool avx512 = cpu_isa() == Isa::avx512;
  if (avx512) return add_row16_avx512(p, hw, acc);
#endif
  add_row16_generic(p, hw, acc);
}

// channelSum(plan {n, c, hw}, gy [n, c, hw], out [c]): per channel, in float64 with 16 running sums.
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
      double acc[16] = {};
      for (int i = 0; i < n; i++) add_row16(gy + ((size_t)i * c + ch) * hw, hw, acc);
      for (int w = 8; w > 0; w >>= 1)
        for (int q = 0; q < w; q++) acc[q] += acc[q + w];
      out[ch] = (float)acc[0];
    }
  });
  return info.Env().Undefined();
}
RIVERBED_EXPORT("channelSum", ChannelSum);

}  // namespace
}  // namespace riverbed

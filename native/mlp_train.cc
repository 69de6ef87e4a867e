#include "mlp_train.h"

#include <algorithm>
#include <cmath>

#include "cpu.h"
#include "elementwise.h"
#include "gemm.h"
#include "reduce.h"
#include "softmax.h"

namespace riverbed {
namespace {

size_t round16(size_t n) { return (n + 15) & ~size_t(15); }

// One step's optimizer hyper-parameters (bc1, bc2: Adam's bias corrections for this step).
struct OptHyper {
  TrainOpt opt;
  double lr, wd, momentum;
  bool nesterov;
  double beta1, beta2, eps, bc1, bc2;
};

// The updates of optim.cc, element by element in double. Inlined into the target clones below,
// one call per block of a weight gradient (a call per 32-float row cost as much as the maths).
#define RB_INLINE inline __attribute__((always_inline))
RB_INLINE void sgd_span(float* p, const float* g, float* v, size_t n, double lr, double wd, double mu, bool nesterov) {
  if (nesterov) {
    for (size_t i = 0; i < n; i++) {
      const double gi = (double)g[i] + wd * (double)p[i];
      const double vi = mu * (double)v[i] + gi;
      v[i] = (float)vi;
      p[i] = (float)((double)p[i] - lr * (gi + mu * vi));
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const double gi = (double)g[i] + wd * (double)p[i];
      const double vi = mu * (double)v[i] + gi;
      v[i] = (float)vi;
      p[i] = (float)((double)p[i] - lr * vi);
    }
  }
}

RB_INLINE void adam_span(float* p, const float* g, float* m, float* v, size_t n, double lr, double wd, double b1,
                         double b2, double eps, double bc1, double bc2, bool decoupled) {
  for (size_t i = 0; i < n; i++) {
    double pi = p[i];
    double gi = g[i];
    if (decoupled) pi *= 1.0 - lr * wd;
    else gi += wd * pi;
    const double mi = b1 * (double)m[i] + (1.0 - b1) * gi;
    const double vi = b2 * (double)v[i] + (1.0 - b2) * gi * gi;
    m[i] = (float)mi;
    v[i] = (float)vi;
    p[i] = (float)(pi - (lr * (mi / bc1)) / (std::sqrt(vi / bc2) + eps));
  }
}

// rows × n block: parameters and state at leading dimension ldp, the gradient at ldg.
RB_CLONES void update(const OptHyper& h, float* p, long ldp, const float* g, long ldg, float* s0, float* s1, int rows,
                      size_t n) {
  for (int r = 0; r < rows; r++, p += ldp, g += ldg, s0 += ldp, s1 = s1 ? s1 + ldp : nullptr) {
    if (h.opt == TrainOpt::sgd) sgd_span(p, g, s0, n, h.lr, h.wd, h.momentum, h.nesterov);
    else adam_span(p, g, s0, s1, n, h.lr, h.wd, h.beta1, h.beta2, h.eps, h.bc1, h.bc2, h.opt == TrainOpt::adamw);
  }
}

// h = relu(z + b) for a rows × n block (b may be null).
RB_CLONES void bias_relu(const float* z, long ldz, const float* b, float* h, long ldh, int rows, int n) {
  for (int r = 0; r < rows; r++, z += ldz, h += ldh) {
    if (b) {
      for (int j = 0; j < n; j++) {
        const float v = z[j] + b[j];
        h[j] = v > 0.f ? v : 0.f;
      }
    } else {
      for (int j = 0; j < n; j++) h[j] = z[j] > 0.f ? z[j] : 0.f;
    }
  }
}
RB_CLONES void add_row(float* z, const float* b, int n) {
  for (int j = 0; j < n; j++) z[j] += b[j];
}
// g = y > 0 ? g : 0 for a rows × n block.
RB_CLONES void relu_mask(const float* y, long ldy, float* g, long ldg, int rows, size_t n) {
  for (int r = 0; r < rows; r++, y += ldy, g += ldg)
    for (size_t j = 0; j < n; j++) g[j] = y[j] > 0.f ? g[j] : 0.f;
}

// Forward epilogue of a linear layer: z += bias; then the next module's activation, h = f(z)
// (ReLU in place over z: its backward needs only the sign of its output).
struct FwdEp {
  const float* bias;
  int act;  // -1: none
  float* h;
  long ldh;
};
void fwd_ep(void* ctx, int i0, int j0, int rows, int cols, float* c, long ldc) {
  const FwdEp& e = *static_cast<const FwdEp*>(ctx);
  const float* b = e.bias ? e.bias + j0 : nullptr;
  if (e.act == (int)Act::relu) return bias_relu(c, ldc, b, e.h + (size_t)i0 * e.ldh + j0, e.ldh, rows, cols);
  for (int r = 0; r < rows; r++) {
    float* z = c + r * ldc;
    if (b) add_row(z, b, cols);
    if (e.act >= 0) activation((Act)e.act, z, e.h + (size_t)(i0 + r) * e.ldh + j0, (size_t)cols);
  }
}

// Epilogue of an input-gradient GEMM: the gradient through the activation below, g ⊙ f'(z), from
// the activation's output (ReLU) or its input z (the others), as activation_grad computes it.
struct BwdEp {
  int act;
  const float* src;
  long lds;
};
void bwd_ep(void* ctx, int i0, int j0, int rows, int cols, float* c, long ldc) {
  const BwdEp& e = *static_cast<const BwdEp*>(ctx);
  if (e.act == (int)Act::relu) return relu_mask(e.src + (size_t)i0 * e.lds + j0, e.lds, c, ldc, rows, (size_t)cols);
  for (int r = 0; r < rows; r++) {
    float* g = c + r * ldc;
    activation_grad((Act)e.act, e.src + (size_t)(i0 + r) * e.lds + j0, g, g, (size_t)cols);
  }
}

// Epilogue of a weight-gradient GEMM: the optimizer update of that block of the weight.
// The GEMM walks a column panel down its rows block by block, so the rows under this block come
// next: their weight and state lines are fetched now (rows of a weight are far apart in memory,
// out of reach of the hardware prefetchers), and the update finds them in cache.
#ifndef PREFETCH_TILES
#define PREFETCH_TILES 3
#endif
struct OptEp {
  const OptHyper* h;
  float* p;
  float* s0;
  float* s1;
  long ld;
  int rows_total;
};
void opt_ep(void* ctx, int i0, int j0, int rows, int cols, float* c, long ldc) {
  const OptEp& e = *static_cast<const OptEp*>(ctx);
  const int ahead = std::min(e.rows_total, i0 + (PREFETCH_TILES + 1) * rows);
  for (int r = i0 + PREFETCH_TILES * rows; r < ahead; r++) {
    const size_t off = (size_t)r * e.ld + j0;
    for (int j = 0; j < cols + 15 && j0 + j < e.ld; j += 16) {  // up to 3 lines: rows need not be aligned
      __builtin_prefetch(e.p + off + j, 1, 2);
      __builtin_prefetch(e.s0 + off + j, 1, 2);
      if (e.s1) __builtin_prefetch(e.s1 + off + j, 1, 2);
    }
  }
  const size_t off = (size_t)i0 * e.ld + j0;
  update(*e.h, e.p + off, e.ld, c, ldc, e.s0 + off, e.s1 ? e.s1 + off : nullptr, rows, (size_t)cols);
}

}  // namespace

double mlp_train_steps(const TrainArgs& a, TrainWorkspace& ws) {
  const auto& L = a.layers;
  const int n = (int)L.size();
  if (n == 0 || a.n == 0 || a.batch == 0) return 0.0;
  int first = -1;
  size_t maxw = (size_t)L[0].in, maxwt = 0;
  for (int i = 0; i < n; i++) {
    maxw = std::max(maxw, (size_t)L[i].out);
    if (L[i].act >= 0) continue;
    if (first < 0) first = i;
    maxwt = std::max(maxwt, (size_t)L[i].out * (size_t)L[i].in);
  }
  const size_t D = (size_t)L[0].in, C = (size_t)L[n - 1].out;
  const size_t kmax = std::min(a.batch, a.n);

  // Gathered inputs, every module's output, two gradient buffers, a weight and a bias gradient.
  size_t need = round16(kmax * D) + 2 * round16(kmax * maxw) + round16(maxwt) + round16(maxw);
  for (int i = 0; i < n; i++) need += round16(kmax * (size_t)L[i].out);
  if (ws.f.size() < need) ws.f.assign(need, 0.f);
  float* p = ws.f.data();
  float* xb = p;
  p += round16(kmax * D);
  std::vector<float*> o(n);
  for (int i = 0; i < n; i++) o[i] = p, p += round16(kmax * (size_t)L[i].out);
  float* gbuf[2];
  gbuf[0] = p, p += round16(kmax * maxw);
  gbuf[1] = p, p += round16(kmax * maxw);
  float* gw = p;
  p += round16(maxwt);
  float* gb = p;

  const int relu = (int)Act::relu;
  double total = 0;
  const size_t steps = (a.n + a.batch - 1) / a.batch;
  for (size_t s = 0; s < steps; s++) {
    const size_t r0 = s * a.batch, k = std::min(a.batch, a.n - r0);
    const int K = (int)k;
    gather_rows(a.x, a.M, D, a.rows + r0, k, xb);  // the caller checked every row
    // The next batch's rows are scattered over the data set: ask for them now, so that they
    // arrive while this batch computes instead of stalling the next gather.
    for (size_t r = r0 + k, e = std::min(a.n, r0 + k + a.batch); r < e; r++) {
      const float* row = a.x + (size_t)a.rows[r] * D;
      for (size_t j = 0; j < D; j += 16) __builtin_prefetch(row + j, 0, 1);
    }
    auto in = [&](int i) -> const float* { return i == 0 ? xb : o[i - 1]; };

    // Forward. An activation right after a linear layer runs in that layer's GEMM epilogue.
    for (int i = 0; i < n; i++) {
      const TrainLayer& l = L[i];
      if (l.act >= 0) {
        if (i == 0 || L[i - 1].act >= 0) activation((Act)l.act, in(i), o[i], k * (size_t)l.out);
        continue;
      }
      const int next = i + 1 < n && L[i + 1].act >= 0 ? L[i + 1].act : -1;
      FwdEp e{l.bias, next, next >= 0 ? o[i + 1] : nullptr, l.out};
      float* c = next == relu ? o[i + 1] : o[i];
      if (l.bias || next >= 0) sgemm_ep(K, l.out, l.in, in(i), false, l.weight, true, c, GemmEpilogue{fwd_ep, &e});
      else sgemm(K, l.out, l.in, in(i), false, l.weight, true, c);
    }

    // Per-sample loss and the gradient of the batch mean at the logits.
    float* loss = a.loss + r0;
    float* g = gbuf[0];
    float* spare = gbuf[1];
    softmax_xent(o[n - 1], a.labels + r0, loss, g, k, C);  // the caller checked every label
    scale(1.0 / (double)k, g, g, k * C);
    for (size_t j = 0; j < k; j++) total += (double)loss[j];

    // Backward, top down. Each linear layer first passes the gradient to its input (with the old
    // weights; the activation below applied in the epilogue), then updates its weights in the
    // epilogue of the weight-gradient GEMM, then its bias.
    const double step = a.step0 + (double)s + 1.0;
    const OptHyper h{a.opt, a.lr[s], a.wd, a.momentum, a.nesterov, a.beta1, a.beta2, a.eps,
                     1.0 - std::pow(a.beta1, step), 1.0 - std::pow(a.beta2, step)};
    int i = n - 1;
    while (i >= first) {
      const TrainLayer& l = L[i];
      if (l.act >= 0) {  // an activation under another activation: its own pass
        // ReLU from its output: a fused ReLU overwrote its input z.
        if (l.act == relu) relu_mask(o[i], 0, g, 0, 1, k * (size_t)l.out);
        else activation_grad((Act)l.act, in(i), g, g, k * (size_t)l.out);
        i--;
        continue;
      }
      const bool need_in = i > first;
      const bool absorb = need_in && L[i - 1].act >= 0;
      if (absorb) {
        const TrainLayer& al = L[i - 1];
        BwdEp e{al.act, al.act == relu ? o[i - 1] : in(i - 1), al.out};
        sgemm_ep(K, l.in, l.out, g, false, l.weight, false, spare, GemmEpilogue{bwd_ep, &e});
      } else if (need_in) {
        sgemm(K, l.in, l.out, g, false, l.weight, false, spare);
      }
      OptEp oe{&h, l.weight, l.wstate[0], l.wstate[1], l.in, l.out};
      sgemm_ep(l.out, l.in, K, g, true, in(i), false, gw, GemmEpilogue{opt_ep, &oe, true});
      if (l.bias) {
        sum_rows(g, gb, k, (size_t)l.out);
        update(h, l.bias, 0, gb, 0, l.bstate[0], l.bstate[1], 1, (size_t)l.out);
      }
      if (!need_in) break;
      std::swap(g, spare);
      i -= absorb ? 2 : 1;
    }
  }
  return total;
}

}  // namespace riverbed

#include "mlp_hvp.h"

#include <algorithm>
#include <vector>

#include "cpu.h"
#include "elementwise.h"
#include "gemm.h"
#include "pool.h"
#include "reduce.h"
#include "softmax.h"

namespace riverbed {
namespace {

size_t round16(size_t n) { return (n + 15) & ~size_t(15); }

// out (=|+=) column sums of x [rows, cols], accumulated in double.
void col_sums(const float* x, size_t rows, size_t cols, float* out, bool accumulate, double* acc) {
  std::fill(acc, acc + cols, 0.0);
  for (size_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    for (size_t j = 0; j < cols; j++) acc[j] += (double)xr[j];
  }
  for (size_t j = 0; j < cols; j++) out[j] = accumulate ? (float)((double)out[j] + acc[j]) : (float)acc[j];
}

// R-backward through an activation: out = ga·f''·rz + rga·f' with f', f'' kept from the forward.
RB_CLONES void rgrad_span(const float* d1, const float* d2, const float* rz, const float* ga, const float* rga, float* o,
                          size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = (float)((double)ga[i] * (double)d2[i] * (double)rz[i] + (double)rga[i] * (double)d1[i]);
}
void rgrad(const float* d1, const float* d2, const float* rz, const float* ga, const float* rga, float* o, size_t n) {
  const int threads = n < (1 << 16) ? 1 : pool_threads();
  if (threads == 1) return rgrad_span(d1, d2, rz, ga, rga, o, n);
  parallel_for(threads, [&](int t) {
    size_t b, e;
    split_range(n, threads, t, 16, &b, &e);
    if (b < e) rgrad_span(d1 + b, d2 + b, rz + b, ga + b, rga + b, o + b, e - b);
  });
}

}  // namespace

namespace {

struct Plan {
  std::vector<size_t> woff, boff;  // where each active layer's weight / bias sit in v and out
  int lowest = -1;                 // the lowest active layer
  size_t maxw = 0;                 // widest layer input or output
  size_t params = 0;               // length of v
};

// Floats of workspace one part of `rows` samples needs: R-outputs, two rg buffers, the loss, and
// the forward state unless the caller keeps it.
size_t part_floats(const MlpHvpArgs& a, const Plan& pl, size_t rows) {
  const auto& L = a.layers;
  const bool own = a.state_h == nullptr, hess = !a.ggn;
  size_t need = 2 * round16(rows * pl.maxw) + round16(rows);
  for (int i = 0; i < (int)L.size(); i++) {
    const size_t w = round16(rows * (size_t)L[i].out);
    if (i >= pl.lowest) need += w;
    if (own) need += w + (hess && i >= pl.lowest ? w : 0) + (L[i].act >= 0 ? 2 * w : 0);
  }
  return need;
}

// The product over samples [b0, b1), written (or added, with accumulate) to out. Returns -1 or the
// first bad label row (of the whole batch).
long run_part(const MlpHvpArgs& a, const Plan& pl, size_t b0, size_t b1, float* out, bool accumulate, float* p,
              double* colacc) {
  const auto& L = a.layers;
  const int n = (int)L.size(), lowest = pl.lowest;
  const size_t B = b1 - b0;
  const bool hess = !a.ggn, own = a.state_h == nullptr;
  std::vector<float*> h(n, nullptr), g(n, nullptr), r(n, nullptr), d1(n, nullptr), d2(n, nullptr);
  float* rg = p;
  p += round16(B * pl.maxw);
  float* rg2 = p;
  p += round16(B * pl.maxw);
  float* loss = p;
  p += round16(B);
  for (int i = 0; i < n; i++) {
    const size_t w = round16(B * (size_t)L[i].out);
    if (i >= lowest) r[i] = p, p += w;
    if (own) {
      h[i] = p, p += w;
      if (hess && i >= lowest) g[i] = p, p += w;
      if (L[i].act >= 0) d1[i] = p, d2[i] = p + w, p += 2 * w;
    } else {  // rows [b0, b1) of the caller's [a.B, width] arrays
      const size_t width = (size_t)L[i].out, at = b0 * width;
      h[i] = a.state_h[i] + at;
      if (hess && i >= lowest) g[i] = a.state_g[i] + at;
      if (L[i].act >= 0) d1[i] = a.state_d[i] + at, d2[i] = a.state_d[i] + a.B * width + at;
    }
  }
  const float* x = a.x + b0 * (size_t)L[0].in;
  auto input = [&](int i) -> const float* { return i == 0 ? x : h[i - 1]; };
  const int C = L[n - 1].out;
  const float* v = a.v;
  const auto& woff = pl.woff;
  const auto& boff = pl.boff;

  if (own || !a.state_valid) {
    // Forward; an activation keeps f'(z) and f''(z) for the passes below.
    for (int i = 0; i < n; i++) {
      const MlpHvpLayer& l = L[i];
      if (l.act < 0) {
        sgemm((int)B, l.out, l.in, input(i), false, l.weight, true, h[i]);
        if (l.bias) add_bias(h[i], l.bias, h[i], B, (size_t)l.out);
      } else {
        activation_derivs((Act)l.act, input(i), h[i], d1[i], d2[i], B * (size_t)l.out);
      }
    }
    if (hess) {
      // Ordinary backward of these samples' share of the mean loss; g[i] = ∂/∂(output of layer i).
      const long bad = softmax_xent(h[n - 1], a.labels + b0, loss, g[n - 1], B, (size_t)C);
      if (bad >= 0) return (long)b0 + bad;
      scale(a.scale, g[n - 1], g[n - 1], B * (size_t)C);
      for (int i = n - 1; i > lowest; i--) {
        const MlpHvpLayer& l = L[i];
        if (l.act < 0) sgemm((int)B, l.in, l.out, g[i], false, l.weight, false, g[i - 1]);
        else mul(d1[i], g[i], g[i - 1], B * (size_t)l.out);
      }
    }
  }

  // R-forward: r[i] = R{output of layer i}, zero below the lowest active layer.
  for (int i = lowest; i < n; i++) {
    const MlpHvpLayer& l = L[i];
    if (l.act < 0) {
      if (l.active) {
        sgemm((int)B, l.out, l.in, input(i), false, v + woff[i], true, r[i]);
        if (i > lowest) sgemm_acc((int)B, l.out, l.in, r[i - 1], false, l.weight, true, r[i]);
        if (l.bias) add_bias(r[i], v + boff[i], r[i], B, (size_t)l.out);
      } else {
        sgemm((int)B, l.out, l.in, r[i - 1], false, l.weight, true, r[i]);
      }
    } else {
      mul(d1[i], r[i - 1], r[i], B * (size_t)l.out);
    }
  }

  // At the logits: R{g} = H_loss·R{z} per sample, over the mean.
  softmax_hessian_vec(h[n - 1], r[n - 1], rg, B, (size_t)C);
  scale(a.scale, rg, rg, B * (size_t)C);

  // R-backward (Hessian) or the ordinary backward of H_loss·J·v (GGN), writing out directly.
  for (int i = n - 1; i >= lowest; i--) {
    const MlpHvpLayer& l = L[i];
    const bool go_on = i > lowest;
    if (l.act < 0) {
      if (l.active) {
        float* gw = out + woff[i];
        if (accumulate) sgemm_acc(l.out, l.in, (int)B, rg, true, input(i), false, gw);
        else sgemm(l.out, l.in, (int)B, rg, true, input(i), false, gw);
        if (hess && go_on) sgemm_acc(l.out, l.in, (int)B, g[i], true, r[i - 1], false, gw);
        if (l.bias) col_sums(rg, B, (size_t)l.out, out + boff[i], accumulate, colacc);
      }
      if (go_on) {
        sgemm((int)B, l.in, l.out, rg, false, l.weight, false, rg2);
        if (hess && l.active) sgemm_acc((int)B, l.in, l.out, g[i], false, v + woff[i], false, rg2);
        std::swap(rg, rg2);
      }
    } else if (go_on) {
      const size_t m = B * (size_t)l.out;
      if (hess) rgrad(d1[i], d2[i], r[i - 1], g[i], rg, rg2, m);
      else mul(d1[i], rg, rg2, m);
      std::swap(rg, rg2);
    }
  }
  return -1;
}

}  // namespace

long mlp_curvature_product(const MlpHvpArgs& a, MlpHvpWorkspace& ws) {
  const auto& L = a.layers;
  const int n = (int)L.size();
  const size_t B = a.B;
  if (n == 0) return -1;

  Plan pl;
  pl.woff.assign(n, 0);
  pl.boff.assign(n, 0);
  pl.maxw = (size_t)L[0].in;
  for (int i = 0; i < n; i++) {
    pl.maxw = std::max(pl.maxw, (size_t)L[i].out);
    if (L[i].act >= 0 || !L[i].active) continue;
    if (pl.lowest < 0) pl.lowest = i;
    pl.woff[i] = pl.params;
    pl.params += (size_t)L[i].out * L[i].in;
    pl.boff[i] = pl.params;
    if (L[i].bias) pl.params += (size_t)L[i].out;
  }
  if (pl.lowest < 0) return -1;  // nothing active: the caller never asks
  if (B == 0) {
    if (!a.accumulate) std::fill(a.out, a.out + pl.params, 0.f);
    return -1;
  }

  // One pass over the whole batch: splitting a small batch over the pool's two threads was
  // measured slower here (waking a worker costs more than the ~30 µs product on a shared machine).
  float* base = ws.grow(part_floats(a, pl, B));
  return run_part(a, pl, 0, B, a.out, a.accumulate, base, ws.cols(pl.maxw));
}

}  // namespace riverbed

// One call for the whole curvature-vector product of an MLP's mean cross-entropy on a batch
// (Pearlmutter's R-operator): forward, ordinary backward (Hessian), R-forward, softmax Hessian at
// the logits, R-backward (Hessian) or ordinary backward of H_loss·J·v (GGN). The same algebra as
// src/model/hvp.ts, without ~50 kernel calls and their temporaries: GEMMs accumulate in place
// (sgemm_acc), biases are added in place, scratch lives in a workspace kept across calls.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace riverbed {

struct MlpHvpLayer {
  int act;              // -1: linear; else an Act code (elementwise.h)
  int in, out;          // linear: weight [out, in]; activation: in == out == width
  const float* weight;  // linear only
  const float* bias;    // linear only; null when the layer has none
  bool active;          // linear only: its parameters are in v / out
};

struct MlpHvpArgs {
  std::vector<MlpHvpLayer> layers;
  const float* x;          // [B, layers[0].in]
  const int32_t* labels;   // [B] (Hessian only)
  size_t B;
  const float* v;          // active layers' parameters, layer by layer, weight then bias
  float* out;              // same layout as v
  bool ggn;
  double scale;            // 1 / (samples the mean runs over)
  bool accumulate;         // out += the product (several batches) instead of out =
  // Optional caller-owned forward state, reused when state_valid: h[i] = output of layer i
  // (B × width), g[i] = gradient w.r.t. that output (Hessian, i ≥ lowest active layer; else
  // null), d[i] = f'(z) then f''(z) of an activation layer (2 × B × width; else null).
  // Null: kept in the workspace and recomputed on every call.
  float* const* state_h;
  float* const* state_g;
  float* const* state_d;
  bool state_valid;
};

// Scratch of one product, kept by the caller across calls and only ever grown: fresh memory is
// slow, and a Lanczos run makes hundreds of products of one shape. One call at a time per
// workspace (the addon keeps a free list of them per instance; see bindings.cc).
struct MlpHvpWorkspace {
  std::vector<float> f;
  std::vector<double> d;
  float* grow(size_t n) {
    if (f.size() < n) f.assign(n, 0.f);
    return f.data();
  }
  double* cols(size_t n) {
    if (d.size() < n) d.assign(n, 0.0);
    return d.data();
  }
};

// Returns -1, or (Hessian) the first row whose label is outside [0, classes). The arguments are
// trusted (bindings.cc checks every length against the layer specs).
long mlp_curvature_product(const MlpHvpArgs& a, MlpHvpWorkspace& ws);

}  // namespace riverbed

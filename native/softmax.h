// Per-sample softmax cross-entropy: loss[b] = logsumexp(z_b) − z_b[y_b],
// grad[b, :] = softmax(z_b) − onehot(y_b). Double accumulation, max-shifted.
#pragma once
#include <cstddef>
#include <cstdint>

namespace riverbed {

// Returns -1 when all labels are in [0, C), else the first row whose label is not.
long softmax_xent(const float* logits, const int32_t* labels, float* loss, float* grad, size_t B, size_t C);

// Per-row Hessian of softmax cross-entropy w.r.t. the logits applied to r:
// out[b, :] = p ⊙ r − p·(pᵀr), p = softmax(z_b). Double accumulation, max-shifted.
void softmax_hessian_vec(const float* logits, const float* r, float* out, size_t B, size_t C);

}  // namespace riverbed

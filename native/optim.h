// Optimizer steps, in place, computed in double per element exactly as the js reference does.
#pragma once
#include <cstddef>

namespace riverbed {

// PyTorch SGD: g' = g + wd·p; v = μ·v + g'; p −= lr·(nesterov ? g' + μ·v : v).
void sgd_step(float* p, const float* g, float* v, size_t n, double lr, double wd, double momentum, bool nesterov);
// Adam (L2 in the gradient) or AdamW (decoupled decay), bias-corrected with the 1-based step.
void adam_step(float* p, const float* g, float* m, float* v, size_t n, double lr, double wd, double beta1,
               double beta2, double eps, double step, bool decoupled);

}  // namespace riverbed

// Elementwise kernels: bias add, activations (relu, tanh, sigmoid, exact-erf GELU) and
// their derivatives times an upstream gradient. Values are computed in double and rounded
// once to float, like the js reference — except tanh, computed in float (vmath.h tanh_f, a few
// ulp: twice the SIMD lanes on the hot path of tanh networks; test/unit/native-tanh.test.ts).
#pragma once
#include <cstddef>

namespace riverbed {

enum class Act { relu = 0, tanh = 1, sigmoid = 2, gelu = 3 };

void add_bias(const float* x, const float* bias, float* out, size_t rows, size_t cols);
void activation(Act kind, const float* x, float* out, size_t n);
void activation_grad(Act kind, const float* x, const float* gy, float* out, size_t n);
// R-operator of the activation backward: out = ga·f''(z)·rz + rga·f'(z).
void activation_rgrad(Act kind, const float* z, const float* rz, const float* ga, const float* rga, float* out, size_t n);
void mul(const float* x, const float* y, float* out, size_t n);  // x ⊙ y
// One pass for the curvature products: y = f(z), d1 = f'(z), d2 = f''(z) (from one exp).
void activation_derivs(Act kind, const float* z, float* y, float* d1, float* d2, size_t n);

}  // namespace riverbed

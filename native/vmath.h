// Vectorisable double-precision maths shared by the elementwise and softmax kernels: plain
// arithmetic with no libm call, so loops over it compile to SIMD in each target_clones variant.
#pragma once
#include <cstdint>
#include <cstring>

namespace riverbed {

// exp(x) in double, written so that the compiler vectorises it (no libm call): x = n·ln2 + r,
// |r| ≤ ln2/2, e^r by its Taylor series to r^12 (relative error < 1e-14), 2^n built in the
// exponent bits. x is clamped to [−708, 709], where e^x stays a normal double.
inline double exp_vec(double x) {
  x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
  // Round x/ln2 to the nearest integer n by the 1.5·2^52 trick; k's low mantissa bits hold n.
  const double k = x * 1.4426950408889634 + 6755399441055744.0;
  const double n = k - 6755399441055744.0;
  const double r = (x - n * 0.693147180369123816490) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  uint64_t bits;
  std::memcpy(&bits, &k, 8);
  bits = (bits + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, 8);
  return p * scale;
}

// e^y in float, vectorisable: y = n·ln2 + r (ln2 split in two, Cody–Waite), e^r by Cephes expf's
// degree-7 polynomial (about 1 ulp), 2^n built in the exponent bits. y is clamped to [−87, 88],
// where e^y and 2^n stay normal floats.
inline float exp_f(float y) {
  y = y < -87.f ? -87.f : (y > 88.f ? 88.f : y);
  // Round y/ln2 to the nearest integer n by the 1.5·2^23 trick; k's low mantissa bits hold n.
  const float k = y * 1.44269504088896341f + 12582912.f;
  const float n = k - 12582912.f;
  const float r = (y - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  uint32_t bits;
  std::memcpy(&bits, &k, 4);
  bits = (bits + 127u) << 23;  // (0x4B400000 + n + 127) << 23 keeps only (n + 127) << 23
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// tanh(x) and its first two derivatives in float, vectorisable (no libm call, no branch):
// t = tanh x, d1 = 1 − t², d2 = −2·t·(1 − t²). Each is within a few ulp of the exact value over the
// whole float range, saturated tails included, because nothing is computed by cancellation:
// |x| < 0.625: t by Cephes tanhf's odd polynomial (1 − t² ≥ 0.69 there, so d1 = 1 − t² is exact
// enough); |x| ≥ 0.625: with u = e^{−2|x|}, t = (1 − u)/(1 + u) and d1 = 4u/(1 + u)², so d1 keeps
// its relative precision where 1 − t² would cancel (|x| ≳ 4, where t rounds to within ulps of 1).
inline void tanh_f(float x, float* t, float* d1, float* d2) {
  const float a = x < 0.f ? -x : x;
  const float u = exp_f(-2.f * a);  // a ≥ 43.5 gives u = e^{−87}: d1 ~ 1e-37, true value smaller still
  const float q = 1.f / (1.f + u);
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const bool small = a < 0.625f;
  const float ta = small ? a + a * z * p : (1.f - u) * q;
  // (1 − t)(1 + t), not 1 − t·t: the compiler may fuse a·b + c into an FMA in the vector body but
  // not in the scalar remainder, and then an element's d1 would depend on its array's alignment.
  const float da = small ? (1.f - ta) * (1.f + ta) : 4.f * u * q * q;
  const float ts = __builtin_copysignf(ta, x);  // a bit operation: keeps −0, vectorises
  *t = ts;
  *d1 = da;
  *d2 = -2.f * ts * da;
}

}  // namespace riverbed

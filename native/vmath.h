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

}  // namespace riverbed

// The fused CLD kernel: for every sample i, the Pearson correlation of its per-epoch loss
// differences d_e = T[e+1,i] − T[e,i] (computed in double) with the standardised class
// differences z[e, y_i]:  r_i = mean_e((d_e − mean d)/std d · z[e, y_i]), population std,
// r_i = 0 when all d_e of sample i are exactly equal.
//
// One pass over the trajectory. Per sample it accumulates u_e = d_e − d_0 (the shift keeps
// the one-pass variance accurate: with u_0 = 0, var ≥ mean(u)²/D, so at most log10(D+1)
// digits cancel), S1 = Σu, S2 = Σu², Suz = Σ u·z; then, as Σ_e z[e,c] = Zc,
//   r = (Suz − mean(u)·Zc) / (D·std),  std² = S2/D − mean(u)².
// S2 == 0 exactly iff all differences are equal; S1 telescopes to (T[D] − T[1]) − (D−1)·d_0.
// AVX-512 path: samples go in 16-wide groups down all epochs (two at a time) with the
// accumulators in registers; z[e, y] comes from a permute of a register-resident float table
// (C ≤ 64) or from one 64-bit gather of a (z_e, z_e+1) float pair (C > 64). Float z changes r
// by < 1e-7. Each thread owns a contiguous range of samples and prefetches ahead in every row.
// Other CPUs: a portable block kernel, auto-vectorised per target clone.
#pragma once
#include <cstddef>
#include <cstdint>

namespace riverbed {

// traj [E, N] row-major, labels [N], z [(E−1), C], out [N].
// Returns -1 on success, else the index of a sample whose label is outside [0, C).
long cld_scores_f32(const float* traj, size_t E, size_t N, const int32_t* labels, const double* z, size_t C,
                    float* out);
long cld_scores_f64(const double* traj, size_t E, size_t N, const int32_t* labels, const double* z, size_t C,
                    float* out);

}  // namespace riverbed

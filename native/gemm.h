// Blocked single-precision GEMM with both transposes: C[M,N] = op(A)·op(B).
// A is [M,K] row-major, or [K,M] when transA; B is [K,N], or [N,K] when transB.
#pragma once

namespace riverbed {

void sgemm(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C);
// C += op(A)·op(B): the accumulate epilogue (no temporary, no extra pass over C).
void sgemm_acc(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C);

// Work done on each finished block of C while it is still in cache (bias + activation, gradient
// masks, optimizer updates): fn(ctx, i0, j0, rows, cols, c, ldc) for rows [i0, i0+rows) × columns
// [j0, j0+cols) of C at c. Blocks are disjoint and cover C once; several threads may call fn at once.
struct GemmEpilogue {
  void (*fn)(void* ctx, int i0, int j0, int rows, int cols, float* c, long ldc);
  void* ctx;
  // C is only scratch for the epilogue: when one K block covers K, blocks are handed to fn from a
  // small per-thread buffer and C is not written (it must still hold M·N floats).
  bool c_scratch = false;
};
// C = op(A)·op(B), then the epilogue on every block of C.
void sgemm_ep(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C,
              const GemmEpilogue& ep);

}  // namespace riverbed

// Blocked single-precision GEMM with both transposes: C[M,N] = op(A)·op(B).
// A is [M,K] row-major, or [K,M] when transA; B is [K,N], or [N,K] when transB.
#pragma once

namespace riverbed {

void sgemm(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C);
// C += op(A)·op(B): the accumulate epilogue (no temporary, no extra pass over C).
void sgemm_acc(int M, int N, int K, const float* A, bool transA, const float* B, bool transB, float* C);

}  // namespace riverbed

// Reductions and BLAS-1 style kernels. Sums accumulate in double.
#pragma once
#include <cstddef>
#include <cstdint>

namespace riverbed {

void sum_rows(const float* x, float* out, size_t rows, size_t cols);  // column sums → [cols]
double sum(const float* x, size_t n);
double dot(const float* x, const float* y, size_t n);
void axpy(double alpha, const float* x, const float* y, float* out, size_t n);  // y + alpha·x
void scale(double alpha, const float* x, float* out, size_t n);
// Returns -1 when every index is in [0, rows), else the position of the first bad index.
long gather_rows(const float* x, size_t rows, size_t cols, const int32_t* idx, size_t k, float* out);
// Multi-threaded streaming sum: the memory-bandwidth yardstick of the benchmark.
double sum_bandwidth(const float* x, size_t n);

}  // namespace riverbed

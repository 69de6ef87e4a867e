// A small fixed thread pool (size = available cores), shared by every addon instance (the JS
// thread, worker_threads, libuv workers): one per process keeps the threads at the core count.
// The calling thread takes part, so a pool of n threads starts n-1 workers. One parallel region
// runs on the pool at a time; a call that finds it busy, or comes from inside a region, runs its
// tasks inline on its own thread (same task split, so the same results, and never a wait).
#pragma once
#include <cstddef>
#include <functional>

namespace riverbed {

// Number of threads the pool uses (>= 1): cores this process may run on, or RIVERBED_THREADS.
int pool_threads();

// Runs fn(task) for task in [0, tasks), spread over the pool; returns when all are done.
// With tasks <= 1 or a single-threaded pool, it runs inline.
void parallel_for(int tasks, const std::function<void(int)>& fn);

// Splits [0, n) into `parts` contiguous ranges aligned to `align`; range k is [begin, end).
inline void split_range(size_t n, int parts, int k, size_t align, size_t* begin, size_t* end) {
  size_t units = (n + align - 1) / align;
  size_t b = units * (size_t)k / (size_t)parts * align;
  size_t e = units * (size_t)(k + 1) / (size_t)parts * align;
  *begin = b < n ? b : n;
  *end = e < n ? e : n;
}

}  // namespace riverbed

#include "pool.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace riverbed {
namespace {

// Set while this thread runs tasks of a region: a parallel_for inside a task runs inline instead of
// waiting for the region it is part of.
thread_local bool in_region = false;

int detect_threads() {
  if (const char* env = std::getenv("RIVERBED_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 256) return n;
  }
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n >= 1 ? (int)n : 1;
}

class Pool {
 public:
  explicit Pool(int n) : size_(n) {
    for (int i = 1; i < n; i++) {
      std::thread t([this] { worker(); });
      t.detach();  // lives as long as the process; never blocks exit
    }
  }

  int size() const { return size_; }

  // Runs the region on the pool, or returns false at once when another thread's region holds it
  // (the caller then runs its tasks inline: a libuv worker's long CLD region must not stall the JS
  // thread's small kernels, and results never depend on which thread runs a task).
  bool try_run(int tasks, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> region(region_mtx_, std::try_to_lock);
    if (!region.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      fn_.store(&fn);
      tasks_.store(tasks);
      next_.store(0);
      done_ = 0;
      generation_++;
    }
    cv_.notify_all();
    in_region = true;
    int mine = drain();
    in_region = false;
    std::unique_lock<std::mutex> lk(mtx_);
    done_ += mine;
    // Also wait until no worker is inside drain(): a late one must not take an index of the next
    // region from a counter reset under it (it would run a task twice and miscount done_).
    done_cv_.wait(lk, [&] { return done_ == tasks_.load() && busy_ == 0; });
    fn_.store(nullptr);
    return true;
  }

 private:
  int drain() {
    int count = 0;
    for (;;) {
      int t = next_.fetch_add(1);
      if (t >= tasks_.load()) break;
      (*fn_.load())(t);
      count++;
    }
    return count;
  }

  void worker() {
    unsigned long seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mtx_);
        cv_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        if (!fn_.load()) continue;
        busy_++;
      }
      in_region = true;
      int mine = drain();
      in_region = false;
      std::lock_guard<std::mutex> lk(mtx_);
      done_ += mine;
      busy_--;
      if (done_ == tasks_.load() && busy_ == 0) done_cv_.notify_all();
    }
  }

  const int size_;
  std::mutex region_mtx_;
  std::mutex mtx_;
  std::condition_variable cv_, done_cv_;
  std::atomic<const std::function<void(int)>*> fn_{nullptr};
  std::atomic<int> tasks_{0};
  int done_ = 0;
  int busy_ = 0;  // workers between picking up a region and reporting their count
  unsigned long generation_ = 0;
  std::atomic<int> next_{0};
};

Pool& pool() {
  static Pool* p = new Pool(detect_threads());  // intentionally leaked: workers outlive static destructors
  return *p;
}

}  // namespace

int pool_threads() { return pool().size(); }

void parallel_for(int tasks, const std::function<void(int)>& fn) {
  if (tasks <= 0) return;
  if (tasks == 1 || pool().size() == 1 || in_region || !pool().try_run(tasks, fn)) {
    for (int t = 0; t < tasks; t++) fn(t);
  }
}

}  // namespace riverbed

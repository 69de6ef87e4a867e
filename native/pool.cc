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

  void run(int tasks, const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> region(region_mtx_);
    {
      std::lock_guard<std::mutex> lk(mtx_);
      fn_.store(&fn);
      tasks_.store(tasks);
      next_.store(0);
      done_ = 0;
      generation_++;
    }
    cv_.notify_all();
    int mine = drain();
    std::unique_lock<std::mutex> lk(mtx_);
    done_ += mine;
    done_cv_.wait(lk, [&] { return done_ == tasks_.load(); });
    fn_.store(nullptr);
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
      }
      int mine = drain();
      std::lock_guard<std::mutex> lk(mtx_);
      done_ += mine;
      if (done_ == tasks_.load()) done_cv_.notify_all();
    }
  }

  const int size_;
  std::mutex region_mtx_;
  std::mutex mtx_;
  std::condition_variable cv_, done_cv_;
  std::atomic<const std::function<void(int)>*> fn_{nullptr};
  std::atomic<int> tasks_{0};
  int done_ = 0;
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
  if (tasks == 1 || pool().size() == 1) {
    for (int t = 0; t < tasks; t++) fn(t);
    return;
  }
  pool().run(tasks, fn);
}

}  // namespace riverbed

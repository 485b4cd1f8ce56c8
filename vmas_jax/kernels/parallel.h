// ParallelFor: runs fn(0..chunks-1) on the calling thread and on helper threads of our own.
//
// The chunks are claimed from a shared counter, so a helper that starts late finds nothing
// left and the caller never waits on work nobody runs.  XLA's intra-op pool puts idle threads
// to sleep, and waking one costs tens of microseconds (a fifth of a [1024, 1024] product at
// decoding); our helpers spin for a while after each job, since a decoding step's calls come
// back to back, and sleep after that.
#ifndef VMAS_JAX_KERNELS_PARALLEL_H_
#define VMAS_JAX_KERNELS_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

namespace vmas {

constexpr int kMaxThreads = 8;  // memory bandwidth saturates well before this

inline int Cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

struct Task {
  std::function<void(int64_t)> fn;
  int64_t chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};

  void Work() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      fn(c);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

class Helpers {
 public:
  static Helpers& Get() {
    static Helpers* helpers = new Helpers();  // never destroyed: detached threads use it
    return *helpers;
  }
  int64_t threads() const { return static_cast<int64_t>(threads_.size()) + 1; }

  // Offers `task` to the helpers.  Skipped when the lock is taken (a helper is picking up
  // another caller's task, or a fork copied the lock held): the caller then runs every chunk.
  void Post(const std::shared_ptr<Task>& task) {
    {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (!lock.owns_lock()) return;
      task_ = task;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
  }

 private:
  Helpers() {
    const int n = std::min(Cores(), kMaxThreads);
    for (int i = 1; i < n; ++i) threads_.emplace_back([this] { Loop(); });
    for (auto& t : threads_) t.detach();
  }

  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      // spin ~200 us for the next task, then sleep until one is posted
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until) {
      }
      std::shared_ptr<Task> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
        seen = generation_.load(std::memory_order_relaxed);
        task = task_;
      }
      if (task) task->Work();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::shared_ptr<Task> task_;
};

// Runs fn(c) for every c in [0, chunks); returns when all have run.
inline void ParallelFor(int64_t chunks, std::function<void(int64_t)> fn) {
  if (chunks <= 1) {
    if (chunks == 1) fn(0);
    return;
  }
  auto task = std::make_shared<Task>();
  task->fn = std::move(fn);
  task->chunks = chunks;
  Helpers::Get().Post(task);
  task->Work();
  while (task->done.load(std::memory_order_acquire) < chunks) std::this_thread::yield();
}

}  // namespace vmas

#endif  // VMAS_JAX_KERNELS_PARALLEL_H_

// y[G, M, N] = x[G, M, K] @ w[G, K, N] for a few rows (M <= 8), fp32, as an XLA FFI handler.
//
// Decoding multiplies one or two activation rows by every weight matrix at each step, so the
// step is bound by how fast the weights stream from memory.  This kernel reads each matrix
// once, front to back, for all rows together, and splits its K rows into chunks that the
// caller and our helper threads (one per further core) claim from a shared counter.  A helper that starts late
// finds nothing left, so the caller never waits on work nobody runs.  Built by
// rows_matmul.py with the host compiler (-O3 -march=native), which vectorises the inner loop.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kMaxRows = 8;
constexpr int kUnroll = 8;          // weight rows read per pass over the outputs
constexpr int64_t kMinChunk = 1 << 16;  // weights per chunk, at least (smaller: not worth a thread)

// out[M, N] = x[M, k0:k1] @ w[k0:k1, N]; x rows have stride K.
template <int M>
void Chunk(const float* __restrict x, const float* __restrict w, float* __restrict out,
           int64_t K, int64_t N, int64_t k0, int64_t k1) {
  std::memset(out, 0, sizeof(float) * M * N);
  int64_t k = k0;
  for (; k + kUnroll <= k1; k += kUnroll) {
    const float* __restrict row[kUnroll];
    float a[M][kUnroll];
    for (int u = 0; u < kUnroll; ++u) {
      row[u] = w + (k + u) * N;
      for (int m = 0; m < M; ++m) a[m][u] = x[m * K + k + u];
    }
    for (int64_t j = 0; j < N; ++j) {
      float s[M] = {};
#pragma GCC unroll 8
      for (int u = 0; u < kUnroll; ++u) {
        const float v = row[u][j];
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) s[m] += a[m][u] * v;
      }
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) out[m * N + j] += s[m];
    }
  }
  for (; k < k1; ++k) {
    const float* __restrict r = w + k * N;
    for (int m = 0; m < M; ++m) {
      const float a = x[m * K + k];
      for (int64_t j = 0; j < N; ++j) out[m * N + j] += a * r[j];
    }
  }
}

using ChunkFn = void (*)(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t);

template <int... Ms>
ChunkFn PickChunk(int m, std::integer_sequence<int, Ms...>) {
  ChunkFn fns[] = {Chunk<Ms + 1>...};
  return fns[m - 1];
}

struct Job {
  const float* x;
  const float* w;
  int64_t M, K, N, splits, chunks;
  ChunkFn fn;
  std::vector<float> partial;  // [chunks, M, N]
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};

  void Work() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      const int64_t g = c / splits, part = c % splits;
      const int64_t per = (K + splits - 1) / splits;
      const int64_t k0 = part * per, k1 = std::min(K, k0 + per);
      fn(x + g * M * K, w + g * K * N, partial.data() + c * M * N, K, N, k0, k1);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

// Helper threads of our own, one per extra core.  XLA's pool puts idle threads to sleep, and
// waking one costs tens of microseconds: a fifth of a [1024, 1024] product.  Ours spin for a
// while after each job (decoding calls come back-to-back) before they sleep.
constexpr int kMaxThreads = 8;  // memory bandwidth saturates well before this

int Cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

class Helpers {
 public:
  static Helpers& Get() {
    static Helpers* helpers = new Helpers();  // never destroyed: threads outlive main's exit
    return *helpers;
  }
  int64_t size() const { return static_cast<int64_t>(threads_.size()); }
  // Offers `job` to the helpers.  Skipped when the lock is taken (a helper is picking up
  // another caller's job, or a fork copied the lock held): the caller then runs every chunk.
  void Post(const std::shared_ptr<Job>& job) {
    {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (!lock.owns_lock()) return;
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
  }

 private:
  Helpers() {
    for (int i = 1; i < std::min(Cores(), kMaxThreads); ++i) threads_.emplace_back([this] { Loop(); });
    for (auto& t : threads_) t.detach();
  }
  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      // spin ~200 us for the next job, then sleep until one is posted
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until) {
      }
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
        seen = generation_.load(std::memory_order_relaxed);
        job = job_;
      }
      if (job) job->Work();
    }
  }
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::shared_ptr<Job> job_;
};

ffi::Error RowsMatmul(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                      ffi::ResultBuffer<ffi::F32> y) {
  const auto xd = x.dimensions(), wd = w.dimensions();
  if (xd.size() != 3 || wd.size() != 3 || xd[0] != wd[0] || xd[2] != wd[1])
    return ffi::Error::InvalidArgument("rows_matmul: want x [G, M, K] and w [G, K, N]");
  const int64_t G = xd[0], M = xd[1], K = xd[2], N = wd[2];
  if (M < 1 || M > kMaxRows)
    return ffi::Error::InvalidArgument("rows_matmul: 1..8 rows only");
  Helpers& helpers = Helpers::Get();
  const int64_t threads = helpers.size() + 1;
  // enough chunks to keep every thread busy, none smaller than kMinChunk weights
  const int64_t splits = std::max<int64_t>(
      1, std::min<int64_t>((threads + G - 1) / G, K * N / kMinChunk));
  auto job = std::make_shared<Job>();
  job->x = x.typed_data();
  job->w = w.typed_data();
  job->M = M;
  job->K = K;
  job->N = N;
  job->splits = splits;
  job->chunks = G * splits;
  job->fn = PickChunk(static_cast<int>(M), std::make_integer_sequence<int, kMaxRows>{});
  job->partial.resize(job->chunks * M * N);
  if (job->chunks > 1) helpers.Post(job);
  job->Work();
  while (job->done.load(std::memory_order_acquire) < job->chunks) std::this_thread::yield();
  float* out = y->typed_data();
  for (int64_t g = 0; g < G; ++g) {
    const float* p = job->partial.data() + g * splits * M * N;
    std::memcpy(out + g * M * N, p, sizeof(float) * M * N);
    for (int64_t s = 1; s < splits; ++s)
      for (int64_t i = 0; i < M * N; ++i) out[g * M * N + i] += p[s * M * N + i];
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(VmasRowsMatmul, RowsMatmul,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

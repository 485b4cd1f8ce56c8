// y[G, M, N] = x[G, M, K] @ w[G, K, N] for a few rows (M <= 8), fp32, as an XLA FFI handler.
//
// Decoding multiplies one or two activation rows by every weight matrix at each step, so the
// step is bound by how fast the weights stream from memory.  This kernel reads each matrix
// once, front to back, for all rows together, and splits its K rows into chunks run on every
// core (parallel.h).  Built by native.py with the host compiler (-O3 -march=native), which
// vectorises the inner loop.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <utility>
#include <vector>

#include "parallel.h"
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

// One product out[M, N] = x[M, K] @ w[K, N] of a call.
struct Product {
  const float* x;
  const float* w;
  float* out;
  int64_t K, N;
};

// Runs the products (all with M rows), each split into the same number of K-row chunks:
// chunks in a multiple of the threads (each gets as many), none under kMinChunk weights.
void RunProducts(const std::vector<Product>& products, int64_t M) {
  const int64_t P = static_cast<int64_t>(products.size());
  const int64_t threads = vmas::Helpers::Get().threads();
  int64_t smallest = INT64_MAX;
  for (const Product& p : products) smallest = std::min(smallest, p.K * p.N);
  const int64_t splits = std::max<int64_t>(
      1, std::min<int64_t>(threads / std::gcd(P, threads), smallest / kMinChunk));
  const ChunkFn fn = PickChunk(static_cast<int>(M), std::make_integer_sequence<int, kMaxRows>{});
  // with one split per product the chunks write the outputs; else partial sums, added below
  std::vector<std::vector<float>> partial(splits > 1 ? P * splits : 0);
  vmas::ParallelFor(P * splits, [&](int64_t c) {
    const Product& p = products[c / splits];
    const int64_t part = c % splits, per = (p.K + splits - 1) / splits;
    const int64_t k0 = part * per, k1 = std::min(p.K, k0 + per);
    float* dest = p.out;
    if (splits > 1) {
      partial[c].resize(M * p.N);
      dest = partial[c].data();
    }
    fn(p.x, p.w, dest, p.K, p.N, k0, k1);
  });
  if (splits == 1) return;
  for (int64_t i = 0; i < P; ++i) {
    const int64_t n = M * products[i].N;
    float* o = products[i].out;
    std::memcpy(o, partial[i * splits].data(), sizeof(float) * n);
    for (int64_t s = 1; s < splits; ++s) {
      const float* q = partial[i * splits + s].data();
      for (int64_t j = 0; j < n; ++j) o[j] += q[j];
    }
  }
}

ffi::Error RowsMatmul(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                      ffi::ResultBuffer<ffi::F32> y) {
  const auto xd = x.dimensions(), wd = w.dimensions();
  if (xd.size() != 3 || wd.size() != 3 || xd[0] != wd[0] || xd[2] != wd[1])
    return ffi::Error::InvalidArgument("rows_matmul: want x [G, M, K] and w [G, K, N]");
  const int64_t G = xd[0], M = xd[1], K = xd[2], N = wd[2];
  if (M < 1 || M > kMaxRows)
    return ffi::Error::InvalidArgument("rows_matmul: 1..8 rows only");
  std::vector<Product> products;
  for (int64_t g = 0; g < G; ++g)
    products.push_back({x.typed_data() + g * M * K, w.typed_data() + g * K * N,
                        y->typed_data() + g * M * N, K, N});
  RunProducts(products, M);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(VmasRowsMatmul, RowsMatmul,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

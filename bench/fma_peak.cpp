// The machine's FMA peak, measured: every thread runs independent chains of
// vector fused multiply-adds (enough chains to cover the FMA latency on
// every pipe, unrolled so that they stay in registers) for about --seconds, and the program prints one JSON line
// {"threads": K, "isa": "...", "gflops": X}. bench/harness.py divides each
// row's GFLOP/s by it. A measuring tool, not a test.
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 16;
constexpr long kInner = 1 << 14;

__attribute__((target("avx512f"))) double run_avx512(long rounds) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + 1e-3f * static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
  for (long r = 0; r < rounds; ++r)
    for (long k = 0; k < kInner; ++k)
#pragma GCC unroll 16
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  float sum = 0;
  for (int i = 0; i < kChains; ++i) sum += _mm512_reduce_add_ps(acc[i]);
  return sum;  // keeps the chains alive
}

__attribute__((target("avx2,fma"))) double run_avx2(long rounds) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1.0f + 1e-3f * static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  for (long r = 0; r < rounds; ++r)
    for (long k = 0; k < kInner; ++k)
#pragma GCC unroll 16
      for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  float sum = 0;
  float lanes[8];
  for (int i = 0; i < kChains; ++i) {
    _mm256_storeu_ps(lanes, acc[i]);
    for (float v : lanes) sum += v;
  }
  return sum;
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 1;
  double seconds = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  if (threads < 1) threads = 1;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    std::printf("{\"threads\": %d, \"isa\": \"none\", \"gflops\": null}\n", threads);
    return 0;
  }
  const int lanes = avx512 ? 16 : 8;
  auto run = [&](long rounds) { return avx512 ? run_avx512(rounds) : run_avx2(rounds); };
  // Calibrate on one thread, then run every thread for about `seconds`.
  auto t0 = std::chrono::steady_clock::now();
  volatile double sink = run(4);
  const double per_round = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 4;
  const long rounds = std::max(1L, static_cast<long>(seconds / per_round));
  std::vector<std::thread> pool;
  std::atomic<double> total{0};
  t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      const double v = run(rounds);
      double cur = total.load();
      while (!total.compare_exchange_weak(cur, cur + v)) {
      }
    });
  for (auto &th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sink = sink + total.load();
  const double flops = 2.0 * lanes * kChains * static_cast<double>(kInner) * rounds * threads;
  std::printf("{\"threads\": %d, \"isa\": \"%s\", \"gflops\": %.1f}\n", threads, avx512 ? "avx512" : "avx2",
              flops / elapsed / 1e9);
  return 0;
}

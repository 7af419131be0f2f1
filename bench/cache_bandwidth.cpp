// The machine's read bandwidth per cache level, measured: every thread sums
// its own buffer with vector loads (eight independent accumulators), buffers
// sized to sit in L1, L2, L3 or memory (sizes from sysfs), for about
// --seconds per level, and the program prints one JSON line
// {"threads": K, "cache_kib": {"l1": .., "l2": .., "l3": ..},
//  "gbps": {"l1": .., "l2": .., "l3": .., "dram": ..}} (total over threads).
// bench/harness.py uses it for the batch-1 speed-of-light bounds (the
// recurrent weights read once per step from the cache level that holds each
// thread's slice). A measuring tool, not a test.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// Size in KiB of the data or unified cache of `level` seen by cpu0, or
// `fallback` when sysfs does not say.
long cache_kib(int level, long fallback) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream lv(dir + "level"), ty(dir + "type"), sz(dir + "size");
    int l = 0;
    std::string type, size;
    if (!(lv >> l) || !(ty >> type) || !(sz >> size)) continue;
    if (l != level || type == "Instruction") continue;
    long v = std::atol(size.c_str());
    if (!size.empty() && (size.back() == 'M')) v *= 1024;
    if (v > 0) return v;
  }
  return fallback;
}

__attribute__((target("avx512f"))) float sum_avx512(const float *p, long n, long passes) {
  __m512 acc[8];
  for (auto &a : acc) a = _mm512_setzero_ps();
  for (long r = 0; r < passes; ++r)
    for (long i = 0; i + 128 <= n; i += 128)
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) acc[j] = _mm512_add_ps(acc[j], _mm512_load_ps(p + i + 16 * j));
  for (int j = 1; j < 8; ++j) acc[0] = _mm512_add_ps(acc[0], acc[j]);
  return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2"))) float sum_avx2(const float *p, long n, long passes) {
  __m256 acc[8];
  for (auto &a : acc) a = _mm256_setzero_ps();
  for (long r = 0; r < passes; ++r)
    for (long i = 0; i + 64 <= n; i += 64)
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_load_ps(p + i + 8 * j));
  for (int j = 1; j < 8; ++j) acc[0] = _mm256_add_ps(acc[0], acc[j]);
  float lanes[8];
  _mm256_storeu_ps(lanes, acc[0]);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

// GB/s summed over `threads`, each reading its own `kib` KiB `passes` times
// per round; best of three timed rounds.
double measure(int threads, long kib, double seconds, bool avx512) {
  const long n = kib * 1024 / 4;
  std::vector<float *> bufs(threads);
  for (auto &b : bufs) {
    b = static_cast<float *>(std::aligned_alloc(64, static_cast<size_t>(n) * 4));
    for (long i = 0; i < n; ++i) b[i] = 1.0f;
  }
  auto sum = [&](const float *p, long passes) { return avx512 ? sum_avx512(p, n, passes) : sum_avx2(p, n, passes); };
  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> sinks(threads);  // one per thread: the sums must not be optimised away
  sinks[0] = sum(bufs[0], 2);
  const double per_pass = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 2;
  const long passes = std::max(1L, static_cast<long>(seconds / 3 / std::max(per_pass, 1e-9)));
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> pool;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        sum(bufs[t], 1);  // warm this thread's buffer into its caches
        ready.fetch_add(1);
        while (!go.load()) {
        }
        sinks[t] = sum(bufs[t], passes);
      });
    while (ready.load() < threads) {
    }
    t0 = std::chrono::steady_clock::now();
    go.store(true);
    for (auto &th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(threads) * passes * n * 4 / s / 1e9);
  }
  if (sinks[0] < 0) std::fprintf(stderr, "\n");  // keeps the sums live (they are never negative)
  for (auto &b : bufs) std::free(b);
  return best;
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 1;
  double seconds = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  threads = std::max(1, threads);
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 && !__builtin_cpu_supports("avx2")) {
    std::printf("{\"threads\": %d, \"gbps\": null}\n", threads);
    return 0;
  }
  const long l1 = cache_kib(1, 32), l2 = cache_kib(2, 512), l3 = cache_kib(3, 8192);
  // Half of each level per thread (L3 is shared: half of it split between
  // the threads), and four times L3 for memory.
  const double g1 = measure(threads, std::max(4L, l1 / 2), seconds, avx512);
  const double g2 = measure(threads, std::max(l1 * 2, l2 / 2), seconds, avx512);
  const double g3 = measure(threads, std::max(l2 * 2, l3 / 2 / threads), seconds, avx512);
  const double gd = measure(threads, l3 * 4, seconds, avx512);
  std::printf(
      "{\"threads\": %d, \"cache_kib\": {\"l1\": %ld, \"l2\": %ld, \"l3\": %ld}, "
      "\"gbps\": {\"l1\": %.1f, \"l2\": %.1f, \"l3\": %.1f, \"dram\": %.1f}}\n",
      threads, l1, l2, l3, g1, g2, g3, gd);
  return 0;
}

// The runtime's parallel loop (runtime/src/parallel.cpp), which every
// generated kernel's parallel loops run on: each task exactly once, errors
// returned, nested loops and concurrent callers, thread-count changes, and
// loops after the workers have gone to sleep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "parallel.h"

// This test links no generated library, so no Halide runtime: the two
// runtime functions rnnc_rt calls.
extern "C" int halide_set_num_threads(int n) { return n; }
extern "C" halide_do_par_for_t halide_set_custom_do_par_for(halide_do_par_for_t f) { return f; }

namespace rnnc_rt {
namespace {

struct Counts {
  std::vector<std::atomic<int>> hits;
  std::atomic<int> threads_seen{0};
  explicit Counts(size_t n) : hits(n) {}
};

int count_task(void *, int i, uint8_t *closure) {
  reinterpret_cast<Counts *>(closure)->hits[i].fetch_add(1);
  return 0;
}

void expect_each_once(Counts &c, int min, int size) {
  for (int i = 0; i < static_cast<int>(c.hits.size()); ++i)
    ASSERT_EQ(c.hits[i].load(), i >= min && i < min + size ? 1 : 0) << "task " << i;
}

TEST(ParallelFor, RunsEveryTaskExactlyOnceForManyLoops) {
  for (int threads : {1, 2, 4}) {
    set_kernel_threads(threads);
    for (int rep = 0; rep < 2000; ++rep) {
      const int size = rep % 37, min = rep % 5;
      Counts c(64);
      ASSERT_EQ(parallel_for(nullptr, count_task, min, size, reinterpret_cast<uint8_t *>(&c)), 0);
      expect_each_once(c, min, size);
    }
  }
}

TEST(ParallelFor, ReturnsATaskError) {
  set_kernel_threads(2);
  auto failing = [](void *, int i, uint8_t *) { return i == 13 ? -7 : 0; };
  EXPECT_EQ(parallel_for(nullptr, failing, 0, 40, nullptr), -7);
  EXPECT_EQ(parallel_for(nullptr, failing, 0, 13, nullptr), 0);
}

struct Nested {
  Counts inner{8 * 16};
};

int outer_task(void *, int i, uint8_t *closure) {
  auto *n = reinterpret_cast<Nested *>(closure);
  struct Slice {
    Counts *c;
    int base;
  } s{&n->inner, i * 16};
  return parallel_for(
      nullptr,
      [](void *, int j, uint8_t *cl) {
        auto *sl = reinterpret_cast<Slice *>(cl);
        sl->c->hits[sl->base + j].fetch_add(1);
        return 0;
      },
      0, 16, reinterpret_cast<uint8_t *>(&s));
}

TEST(ParallelFor, NestedLoopsRunInsideTheirTask) {
  set_kernel_threads(2);
  Nested n;
  ASSERT_EQ(parallel_for(nullptr, outer_task, 0, 8, reinterpret_cast<uint8_t *>(&n)), 0);
  expect_each_once(n.inner, 0, 8 * 16);
}

TEST(ParallelFor, ConcurrentCallersEachGetTheirTasksDone) {
  set_kernel_threads(2);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 500; ++rep) {
        Counts c(32);
        if (parallel_for(nullptr, count_task, 0, 32, reinterpret_cast<uint8_t *>(&c)) != 0) ++bad;
        for (auto &h : c.hits)
          if (h.load() != 1) ++bad;
      }
    });
  for (std::thread &t : callers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ParallelFor, WorksAfterTheWorkersSleep) {
  set_kernel_threads(2);
  for (int rep = 0; rep < 3; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin: the workers sleep
    Counts c(100);
    ASSERT_EQ(parallel_for(nullptr, count_task, 0, 100, reinterpret_cast<uint8_t *>(&c)), 0);
    expect_each_once(c, 0, 100);
  }
}

TEST(ParallelFor, UsesMoreThanOneThread) {
  set_kernel_threads(2);
  struct Seen {
    std::atomic<int> on_other{0};
    std::thread::id caller;
  } seen;
  seen.caller = std::this_thread::get_id();
  // Tasks long enough that a spinning worker joins before the caller is done.
  auto task = [](void *, int, uint8_t *cl) {
    auto *s = reinterpret_cast<Seen *>(cl);
    if (std::this_thread::get_id() != s->caller) s->on_other.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (std::chrono::steady_clock::now() < until) {
    }
    return 0;
  };
  for (int rep = 0; rep < 20 && seen.on_other.load() == 0; ++rep)
    parallel_for(nullptr, task, 0, 8, reinterpret_cast<uint8_t *>(&seen));
  EXPECT_GT(seen.on_other.load(), 0) << "no task ran on a worker";
}

}  // namespace
}  // namespace rnnc_rt

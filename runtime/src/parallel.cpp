#include "parallel.h"

#include <HalideRuntime.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RNNC_PAUSE() _mm_pause()
#else
#define RNNC_PAUSE() std::this_thread::yield()
#endif

namespace rnnc_rt {

namespace {

// How long a worker spins for the next loop before it sleeps.
constexpr std::chrono::microseconds kSpin{300};

// True on a thread that is running tasks of a loop: a parallel loop inside a
// task runs serially there.
thread_local bool t_in_loop = false;

int run_serial(void *uc, halide_task_t f, int min, int size, uint8_t *closure) {
  for (int i = min; i < min + size; ++i)
    if (const int r = f(uc, i, closure)) return r;
  return 0;
}

// One loop at a time. The job's state word holds a generation (high 32
// bits), a closed flag and the count of workers inside the loop: a worker
// joins only an open job (by CAS), and the caller closes the job and waits
// for the count to drop to 0 before it reuses the fields for the next loop.
//
// Tasks are dealt out statically: participant p (the caller is 0, worker w
// is w + 1) owns the p-th contiguous share of the loop and takes its own
// tasks first, then helps the others with theirs (a late or descheduled
// worker's share is done by whoever is free). In the steady state each
// thread therefore runs the same tasks in every loop: a step's unit tiles,
// and the weights they read, stay in that thread's core's L2 from one time
// step to the next (with a shared counter they moved between cores;
// schedules/cpu/NOTES.md).
class Pool {
 public:
  explicit Pool(int workers) : shares_(workers + 1) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w + 1); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(sleep_mutex_);
      stop_.store(true, std::memory_order_seq_cst);
    }
    wake_.notify_all();
    for (std::thread &t : threads_) t.join();
  }

  int par_for(void *uc, halide_task_t f, int min, int size, uint8_t *closure) {
    std::unique_lock<std::mutex> one(caller_, std::try_to_lock);
    if (!one.owns_lock()) return run_serial(uc, f, min, size, closure);  // another caller's loop is running
    f_ = f;
    uc_ = uc;
    closure_ = closure;
    const int64_t n = static_cast<int64_t>(shares_.size());
    for (int64_t p = 0; p < n; ++p) {
      shares_[p].next.store(static_cast<int>(min + size * p / n), std::memory_order_relaxed);
      shares_[p].end = static_cast<int>(min + size * (p + 1) / n);
    }
    error_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    state_.store(gen << 32, std::memory_order_seq_cst);  // open, nobody inside
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(sleep_mutex_);
      wake_.notify_all();
    }
    run_tasks(0);
    state_.fetch_or(kClosed, std::memory_order_acq_rel);
    while ((state_.load(std::memory_order_acquire) & kInside) != 0) RNNC_PAUSE();
    return error_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kInside = kClosed - 1;

  // Runs participant `self`'s share, then what is left of the others'.
  void run_tasks(size_t self) {
    t_in_loop = true;
    const size_t n = shares_.size();
    for (size_t q = 0; q < n; ++q) {
      Share &sh = shares_[(self + q) % n];
      for (int i; (i = sh.next.fetch_add(1, std::memory_order_relaxed)) < sh.end;) {
        if (const int r = f_(uc_, i, closure_)) {
          int none = 0;
          error_.compare_exchange_strong(none, r, std::memory_order_relaxed);
        }
      }
    }
    t_in_loop = false;
  }

  void work(size_t self) {
    // Generation 0 is the pool's initial, closed state. Starting from the
    // current generation instead would skip a loop opened before this thread
    // ran (the first loop of every new pool, run by the caller alone).
    uint64_t seen = 0;
    for (;;) {
      if (!wait_for_generation(seen)) return;
      uint64_t s = state_.load(std::memory_order_acquire);
      seen = s >> 32;
      bool joined = false;
      while (!(s & kClosed))
        if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
          joined = true;
          break;
        }
      if (!joined) continue;
      run_tasks(self);
      state_.fetch_sub(1, std::memory_order_release);
    }
  }

  // Spins, then sleeps, until the generation moves past `seen`; false to stop.
  bool wait_for_generation(uint64_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int spins = 0;; ++spins) {
      if (stop_.load(std::memory_order_relaxed)) return false;
      if ((state_.load(std::memory_order_acquire) >> 32) != seen) return true;
      RNNC_PAUSE();
      if ((spins & 255) == 255 && std::chrono::steady_clock::now() > until) break;
    }
    std::unique_lock<std::mutex> lk(sleep_mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lk, [&] {
      return stop_.load(std::memory_order_seq_cst) || (state_.load(std::memory_order_seq_cst) >> 32) != seen;
    });
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return !stop_.load(std::memory_order_relaxed);
  }

  std::vector<std::thread> threads_;
  std::mutex caller_;
  // The current loop (written by the caller while the job is closed and empty).
  halide_task_t f_ = nullptr;
  void *uc_ = nullptr;
  uint8_t *closure_ = nullptr;
  struct alignas(64) Share {
    std::atomic<int> next{0};  // the share's next task (may run past `end`)
    int end = 0;
  };
  std::vector<Share> shares_;  // one per participant
  std::atomic<int> error_{0};
  std::atomic<uint64_t> state_{kClosed};
  // Sleeping workers.
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

std::mutex g_pool_mutex;
std::shared_ptr<Pool> g_pool;  // workers = threads - 1; a running loop holds its own reference
std::atomic<int> g_threads{0};

int default_threads() {
  if (const char *env = std::getenv("HL_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int parallel_for(void *uc, halide_task_t f, int min, int size, uint8_t *closure) {
  if (size <= 1 || t_in_loop) return run_serial(uc, f, min, size, closure);
  std::shared_ptr<Pool> pool;
  {
    std::lock_guard<std::mutex> lk(g_pool_mutex);
    if (g_threads.load() == 0) g_threads.store(default_threads());
    if (g_threads.load() <= 1) return run_serial(uc, f, min, size, closure);
    if (!g_pool) g_pool = std::make_shared<Pool>(g_threads.load() - 1);
    pool = g_pool;
  }
  return pool->par_for(uc, f, min, size, closure);
}

void set_pool_threads(int threads) {
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  if (g_threads.load() == threads) return;
  g_pool.reset();  // its workers finish and exit; the next loop starts a pool of the new size
  g_threads.store(threads);
}

}  // namespace rnnc_rt

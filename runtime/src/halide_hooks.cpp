// The pool (parallel.cpp) installed into the Halide runtime the generated
// kernels are linked with. Kept apart from the pool so that code without a
// Halide runtime (the tuner's JIT harness, which sets its pipelines' handler
// itself) can use the pool.
#include <HalideRuntime.h>

#include <cstdlib>
#include <mutex>

#include "parallel.h"

namespace rnnc_rt {

namespace {

extern "C" int rnnc_do_par_for(void *uc, halide_task_t f, int min, int size, uint8_t *closure) {
  return parallel_for(uc, f, min, size, closure);
}

}  // namespace

void install_parallel_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    // RNNC_HALIDE_THREAD_POOL=1 keeps Halide's own pool (for comparisons).
    const char *keep = std::getenv("RNNC_HALIDE_THREAD_POOL");
    if (!(keep && keep[0] == '1')) halide_set_custom_do_par_for(rnnc_do_par_for);
  });
}

void set_kernel_threads(int threads) {
  halide_set_num_threads(threads);
  set_pool_threads(threads);
}

}  // namespace rnnc_rt

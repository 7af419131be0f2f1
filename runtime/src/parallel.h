// The kernels' parallel loops: rnnc's own halide_do_par_for.
//
// A time loop calls its step kernel once per step, and a step at a small
// batch is a few microseconds of work; Halide's default thread pool puts its
// workers to sleep between calls, so each step pays a wake-up. This pool's
// workers spin for a while after each loop before they sleep, so that the
// next step's loop starts at the cost of a cache line (schedules/cpu/NOTES.md).
#pragma once

#include <HalideRuntime.h>

namespace rnnc_rt {

// Installs the pool as the Halide runtime's do_par_for (once per process),
// unless $RNNC_HALIDE_THREAD_POOL is 1.
void install_parallel_runtime();

// The loop install_parallel_runtime installs: runs f(uc, i, closure) for
// every i in [min, min + size) once, over the pool's threads and the caller;
// returns the first non-zero result (0 when every task succeeded).
int parallel_for(void *uc, halide_task_t f, int min, int size, uint8_t *closure);

// Threads the kernels' parallel loops use, the caller included (>= 1);
// also Halide's own thread count. Default: $HL_NUM_THREADS, else one per core.
void set_kernel_threads(int threads);

// The pool's part of set_kernel_threads (parallel.cpp; the Halide runtime
// hooks are in halide_hooks.cpp).
void set_pool_threads(int threads);

}  // namespace rnnc_rt

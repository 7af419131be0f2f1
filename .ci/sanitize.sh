#!/bin/sh
# The sanitizer build: everything (rnnc, its runtime, the tests, and the
# libraries and programs rnnc generates during them) with
# -DRNNC_SANITIZE=address,undefined in ${ASAN_BUILD_DIR:-build-asan}, then
# the test suite under ASan + UBSan (a report fails the test that made it).
#   .ci/sanitize.sh               # every test
#   .ci/sanitize.sh --unit        # the runtime's and front end's unit tests and the fuzz replays (CI)
#   .ci/sanitize.sh -R Fixture    # other arguments go to ctest
set -eu
cd "$(dirname "$0")/.."
.ci/install-deps.sh
build="${ASAN_BUILD_DIR:-build-asan}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRNNC_SANITIZE=address,undefined
if [ "${1:-}" = "--unit" ]; then
  shift
  # The unit label without rnnc, the generated libraries or the Halide
  # kernel libraries (the plan and tuning-record tests need those; the full
  # run covers them).
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target test_io test_parser test_graph test_executor test_parallel \
    test_workspace test_memory test_cuda_driver fuzz_model_file_replay fuzz_npy_replay fuzz_safetensors_replay \
    fuzz_onnx_import_replay fuzz_options_replay
  set -- -L unit -E "^(BrokenPlan|Plan|FamilyTables|Records|TuningSpace)\." "$@"
else
  cmake --build "$build" -j "${JOBS:-$(nproc)}"
fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_odr_violation=0"
export LSAN_OPTIONS="suppressions=$PWD/.ci/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" -j "${JOBS:-$(nproc)}" --output-on-failure "$@"

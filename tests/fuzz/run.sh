#!/bin/sh
# Builds the libFuzzer targets with clang under ASan + UBSan (in
# ${FUZZ_BUILD_DIR:-build-fuzz}, apart from the regular build) and runs each
# harness, seeded with the committed corpus (tests/fuzz/corpus/<harness>) and
# every model and fixture of its kind in the tree.
#   tests/fuzz/run.sh                  # every harness, 1,000,000 executions each (or 30 minutes)
#   tests/fuzz/run.sh --seconds 20     # every harness for 20 s (the CI pass)
#   tests/fuzz/run.sh --runs N [HARNESS...]
# A crash, leak, hang (over 10 s per input) or sanitizer report stops that
# harness; its input is left as crash-*/leak-*/timeout-* in the build
# directory: fix it, and add the input to tests/fuzz/regressions/<harness>/
# (the regular test suite replays those). Prints one line per harness:
# executions, seconds, crashes.
set -eu
cd "$(dirname "$0")/../.."
runs=1000000
seconds=1800
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; runs=-1; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) break ;;
  esac
done
harnesses="${*:-fuzz_model_file fuzz_npy fuzz_safetensors fuzz_onnx_import fuzz_options}"
.ci/install-deps.sh --fuzz
build="${FUZZ_BUILD_DIR:-build-fuzz}"
mkdir -p "$build"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
  -DRNNC_FUZZ=ON -DRNNC_SANITIZE=address,undefined > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
# shellcheck disable=SC2086
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target $harnesses
seeds() {
  case "$1" in
    fuzz_model_file) find models tests/e2e -name '*.toml' ;;
    fuzz_npy) find tests/fixtures -name '*.npy' -o -name '*.npz' ;;
    fuzz_safetensors) find tests/fixtures -name '*.safetensors' ;;
    fuzz_onnx_import) find tests/fixtures -name '*.onnx' ;;
    fuzz_options) ;;
  esac
}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
summary=""
for h in $harnesses; do
  corpus="$build/corpus/$h"
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/$h/* "$corpus/" 2>/dev/null || true
  cp tests/fuzz/regressions/$h/* "$corpus/" 2>/dev/null || true
  n=0
  for f in $(seeds "$h"); do n=$((n + 1)); cp "$f" "$corpus/seed-$n-$(basename "$f")"; done
  log="$build/$h.log"
  start=$(date +%s)
  if (cd "$build" && "./bin/$h" "corpus/$h" -runs="$runs" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=4096 -print_final_stats=1) > "$log" 2>&1; then
    result="ok"
  else
    result="FAILED (see $log)"
    status=1
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  summary="$summary$(printf '%-20s %12s executions %6s s  %s' "$h" "$execs" "$(( $(date +%s) - start ))" "$result")\n"
done
printf "\n== fuzzing (ASan + UBSan)\n$summary"
exit $status

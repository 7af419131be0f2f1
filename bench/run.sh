#!/bin/sh
# rnnc vs oneDNN vs PyTorch on the benchmark configurations, side by side in one
# run; see bench/README.md.
#
#   bench/run.sh [--quick] [--configs a,c,...] [--threads 1,2] [--out results.json] [...]
#
# Builds rnnc first when ${RNNC_BUILD_DIR:-build}/bin/rnnc is missing, and
# installs the reference libraries when they are (.ci/install-deps.sh --bench).
# Builds the oneDNN harness into ${BENCH_BUILD_DIR:-build-bench} (the project
# configured with -DRNNC_BUILD_BENCH=ON), compiles the model files with rnnc
# into that directory, then runs bench/harness.py, which measures and prints
# the table. 'bench/run.sh --help' lists every option.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
rnnc_build="${RNNC_BUILD_DIR:-build}"
bench_build="${BENCH_BUILD_DIR:-build-bench}"
python="${PYTHON:-/usr/bin/python3}"
jobs="${JOBS:-2}"
install_hint="install them with: .ci/install-deps.sh --bench (libdnnl-dev ocl-icd-opencl-dev python3-torch python3-numpy libopenblas0-openmp)"

case " $* " in
  *" --help "* | *" -h "*)
    exec "$python" bench/harness.py --rnnc - --work - --help ;;
esac

# Which libraries this run needs: all three unless --libs says otherwise.
libs="rnnc,onednn,torch"
prev=""
for arg in "$@"; do
  case "$arg" in --libs=*) libs="${arg#--libs=}" ;; esac
  [ "$prev" = "--libs" ] && libs="$arg"
  prev="$arg"
done
case ",$libs," in *,onednn,*) need_onednn=1 ;; *) need_onednn=0 ;; esac
case ",$libs," in *,torch,*) need_torch=1 ;; *) need_torch=0 ;; esac

rnnc="$root/$rnnc_build/bin/rnnc"
if [ ! -x "$rnnc" ]; then
  echo "run.sh: rnnc is not built ($rnnc is missing); building it (.ci/install-deps.sh, .ci/build.sh)" >&2
  .ci/install-deps.sh
  BUILD_DIR="$rnnc_build" .ci/build.sh
fi
if [ ! -x "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "run.sh: $python (3.11 or newer, for tomllib) is needed to run the harness; set PYTHON=..." >&2
  exit 1
fi
missing=""
if [ "$need_onednn" = 1 ] && [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ]; then
  missing="$missing oneDNN (libdnnl-dev)"
fi
if [ "$need_torch" = 1 ] && ! "$python" -c 'import torch, numpy' 2>/dev/null; then
  missing="$missing PyTorch (python3-torch, python3-numpy for $python)"
fi
if [ -n "$missing" ]; then
  # Install what the run needs, as the README's other commands do; say how
  # to do without when that is not possible (no root).
  echo "run.sh: the reference libraries are missing:$missing; installing them (.ci/install-deps.sh --bench)" >&2
  if ! .ci/install-deps.sh --bench; then
    echo "run.sh: $install_hint" >&2
    echo "run.sh: (or leave them out with --libs, e.g. --libs rnnc,torch)" >&2
    exit 1
  fi
fi

onednn=""
if [ "$need_onednn" = 1 ]; then
  echo "run.sh: building the oneDNN harness in $bench_build" >&2
  log="$bench_build/build-onednn.log"
  mkdir -p "$bench_build"
  if ! { cmake -S . -B "$bench_build" -DCMAKE_BUILD_TYPE=Release -DRNNC_BUILD_BENCH=ON -DBUILD_TESTING=OFF &&
         cmake --build "$bench_build" --target onednn_rnn -j "$jobs"; } > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "run.sh: building the oneDNN harness failed (full log: $log)" >&2
    exit 1
  fi
  onednn="$root/$bench_build/bin/onednn_rnn"
fi

# The FMA peak and cache bandwidth probes: one file each, no dependencies.
mkdir -p "$bench_build"
"${CXX:-c++}" -O2 -pthread bench/fma_peak.cpp -o "$bench_build/fma_peak"
"${CXX:-c++}" -O2 -pthread bench/cache_bandwidth.cpp -o "$bench_build/cache_bandwidth"

exec "$python" bench/harness.py --rnnc "$rnnc" ${onednn:+--onednn "$onednn"} --fma-peak "$root/$bench_build/fma_peak" \
  --cache-bw "$root/$bench_build/cache_bandwidth" \
  --work "$root/$bench_build" "$@"

#!/bin/sh
# Installs the Debian 12 packages rnnc needs to build and test (and, with
# --bench, the references its benchmarks compare against; with --python,
# ONNX for the fixture scripts). Idempotent: does
# nothing when everything is present.
set -eu

# libonnx-dev + libprotobuf-dev: `rnnc import` reads ONNX with the ONNX project's own protobuf
# classes; libonnx-testdata: the ONNX backend node tests its tests run.
# libssl-dev: the SHA-256 of the model file recorded in each generated library.
packages="cmake make g++ binutils libssl-dev libhalide14-0-dev libtomlplusplus-dev libboost-program-options-dev libgtest-dev nlohmann-json3-dev libonnx-dev libprotobuf-dev libonnx-testdata"
# python3-numpy + python3-torch: the tests of the generated Python modules.
packages="$packages python3-numpy python3-torch"
# pkgconf (pkg-config): the e2e test of the .pc file every compile writes.
packages="$packages pkgconf"
# --python: what python/rnnc_export.py and the fixture scripts need besides.
if [ "${1:-}" = "--python" ]; then
  packages="$packages python3-onnx"
fi
# --fuzz: clang and libFuzzer for tests/fuzz/run.sh.
if [ "${1:-}" = "--fuzz" ]; then
  packages="$packages clang-14 libclang-rt-14-dev"
fi
if [ "${1:-}" = "--bench" ]; then
  # ocl-icd-opencl-dev: Debian's oneDNN CMake config requires OpenCL (its GPU runtime).
  packages="$packages libdnnl-dev ocl-icd-opencl-dev python3-torch python3-numpy libopenblas0-openmp"
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

as_root=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install:$missing" >&2; exit 1; }
  as_root="sudo"
fi
echo "install-deps: installing$missing"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing

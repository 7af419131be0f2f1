#!/bin/sh
# Installs the Debian 12 packages rnnc needs to build and test (and, with
# --bench, the references its benchmarks compare against; with --python,
# PyTorch for python/rnnc_export.py and the fixture scripts). Idempotent: does
# nothing when everything is present.
set -eu

# libonnx-dev + libprotobuf-dev: `rnnc import` reads ONNX with the ONNX project's own protobuf
# classes; libonnx-testdata: the ONNX backend node tests its tests run.
packages="cmake make g++ binutils libhalide14-0-dev libtomlplusplus-dev libboost-program-options-dev libgtest-dev nlohmann-json3-dev libonnx-dev libprotobuf-dev libonnx-testdata"
# --python: what python/rnnc_export.py and the fixture scripts need.
if [ "${1:-}" = "--python" ]; then
  packages="$packages python3-torch python3-numpy python3-onnx"
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

#!/bin/sh
# Configures and builds rnnc (Release) into ${BUILD_DIR:-build}.
set -eu
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"

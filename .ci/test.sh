#!/bin/sh
# The README's test command: installs what is missing, builds, runs every test.
set -eu
cd "$(dirname "$0")/.."
.ci/install-deps.sh
.ci/build.sh
ctest --test-dir "${BUILD_DIR:-build}" -j "${JOBS:-$(nproc)}" --output-on-failure

#!/bin/sh
# Prepares what tests/gpu/run.sh needs on the GPU machine, which has no Halide
# and installs nothing: builds rnnc here (the README's build), compiles the
# bundled models for host-cuda into gpu-carry/, and copies the test binaries
# and the shared libraries they need that a bare machine may lack.
#   tests/gpu/prepare.sh            # then carry gpu-carry/ and run tests/gpu/run.sh there
set -eu
cd "$(dirname "$0")/../.."
.ci/install-deps.sh
.ci/build.sh
out=gpu-carry
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/models" "$out/cpu" "$out/data"
grep -qx "/$out/" .git/info/exclude 2>/dev/null || echo "/$out/" >> .git/info/exclude
# Each model twice: for the GPU, and for a CPU every x86-64 server has (the
# reference the GPU's results are compared with there), with a data set
# and initial weights made here.
for m in sentiment_lstm memory_gru memory_lstm; do
  build/bin/rnnc compile "models/$m.toml" -o "$out/models/$m" --target host-cuda
  build/bin/rnnc compile "models/$m.toml" -o "$out/cpu/$m" --target x86-64-linux-avx2-fma-sse41
  case "$m" in
    sentiment_*) task=parity ;;
    *) task=memory ;;
  esac
  "$out/cpu/$m/$m" data --task "$task" --n 256 --seed 3 --out "$out/data/$m"
  "$out/cpu/$m/$m" init --seed 0 --output "$out/data/$m/w0.safetensors"
done
cp build/bin/test_cuda_driver "$out/bin/"
# Shared libraries outside glibc and libstdc++ (e.g. GoogleTest's) travel too.
for exe in "$out/bin/"* "$out/models/"*/* "$out/cpu/"*/*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  ldd "$exe" 2>/dev/null | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) ;;
      *) cp -n "$lib" "$out/lib/" ;;
    esac
  done
done
du -sh "$out"
echo "prepared $out/: carry it (device run: carry [\"$out\"], command: tests/gpu/run.sh)"

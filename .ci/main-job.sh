#!/bin/sh
# The README's main job: build rnnc, compile the notebook's LSTM classifier
# (models/sentiment_lstm.toml) and train it on the notebook's token data set,
# printing per-epoch loss/accuracy, the final validation accuracy and where
# the plot is. Everything lands in ${OUT_DIR:-out}.
set -eu
cd "$(dirname "$0")/.."
.ci/install-deps.sh
.ci/build.sh
out="${OUT_DIR:-out}"
rnnc="${BUILD_DIR:-build}/bin/rnnc"
mkdir -p "$out"

"$rnnc" check models/sentiment_lstm.toml
"$rnnc" compile models/sentiment_lstm.toml -o "$out/sentiment_lstm"
prog="$out/sentiment_lstm/sentiment_lstm"

# The notebook's token classification set: lengths 5-20, vocabulary 50,
# label = parity of the token sum.
"$prog" data --task parity --n 2000 --seed 1 --out "$out/data/train"
"$prog" data --task parity --n 500 --seed 2 --out "$out/data/val"

ckpt="$out/sentiment_lstm.ckpt.safetensors"
"$prog" train \
  --inputs "$out/data/train/inputs.npy" --labels "$out/data/train/labels.npy" --lengths "$out/data/train/lengths.npy" \
  --val-inputs "$out/data/val/inputs.npy" --val-labels "$out/data/val/labels.npy" \
  --val-lengths "$out/data/val/lengths.npy" \
  --checkpoint "$ckpt"

echo "validation set:"
"$prog" eval --weights "$ckpt" \
  --inputs "$out/data/val/inputs.npy" --labels "$out/data/val/labels.npy" --lengths "$out/data/val/lengths.npy"
echo "plot: $ckpt.curves.svg   metrics: $ckpt.metrics.csv"

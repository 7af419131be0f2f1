#!/bin/sh
# The README's main job: the notebook's point about memory. Builds rnnc,
# compiles a vanilla RNN, a GRU and an LSTM for the memory task (the label is
# the sign of the first of 50 inputs), prints their parameter counts and the
# per-step gradient norms |dL/dh_t| at initialisation side by side, trains
# each on the same generated data and prints one comparison table and the
# plots; then trains the notebook's LSTM classifier (models/sentiment_lstm.toml)
# on its token set. Everything lands in ${OUT_DIR:-out}.
set -eu
cd "$(dirname "$0")/.."
.ci/install-deps.sh
.ci/build.sh
out="${OUT_DIR:-out}"
rnnc="${BUILD_DIR:-build}/bin/rnnc"
mkdir -p "$out"
models="memory_rnn memory_gru memory_lstm"

echo "== compiling the memory-task models"
for m in $models; do
  "$rnnc" compile "models/$m.toml" -o "$out/$m" | tail -n 1
done
prog() { echo "$out/$1/$1"; }

# The memory task: 4,000 training and 1,000 validation sequences of 50
# standard-normal inputs; label = sign of the first input.
lstm="$(prog memory_lstm)"
"$lstm" data --task memory --n 4000 --seed 1 --out "$out/data/memory_train" > /dev/null
"$lstm" data --task memory --n 1000 --seed 2 --out "$out/data/memory_val" > /dev/null
tr="$out/data/memory_train" va="$out/data/memory_val"

echo
echo "== parameters (memory_gru and memory_lstm start from chrono initialisation, memory_rnn from PyTorch's default)"
printf "%-14s %10s\n" model parameters
for m in $models; do
  printf "%-14s %10s\n" "$m" "$("$(prog $m)" info | awk '$1 == "total" {print $2}')"
done

echo
echo "== gradient flow at initialisation: |dL/dh_t| over the 1,000 validation sequences (t = input step)"
for m in $models; do
  p="$(prog $m)"
  "$p" init --seed 0 --output "$out/$m.init.safetensors" > /dev/null
  "$p" gradnorm --weights "$out/$m.init.safetensors" --inputs "$va/inputs.npy" --labels "$va/labels.npy" \
    --per-step --plot "$out/$m.gradient_flow.svg" |
    awk '/^ step/ {on = 1; next} on && NF >= 2 {print $2}' > "$out/$m.gradient_flow.txt"
done
printf "%6s" step
for m in $models; do printf " %14s" "$m"; done
printf "\n"
for t in 0 5 10 15 20 25 30 35 40 45 49; do
  printf "%6s" "$t"
  for m in $models; do printf " %14s" "$(sed -n "$((t + 1))p" "$out/$m.gradient_flow.txt")"; done
  printf "\n"
done
echo "(the RNN's gradient at the first input, the one that decides the label, is orders of magnitude below its last)"

echo
seeds="0 1 2 3 4"
echo "== training each model on the memory task, seeds $seeds (the model files' [train]: adam, lr 0.01, clip 1.0,"
echo "   batch 64, 30 epochs; the seed draws the initial weights, the batch order and dropout)"
printf "%-14s %5s %22s %15s %9s\n" model seed "first epoch >= 0.95" "final val acc" seconds
for m in $models; do
  for s in $seeds; do
    ckpt="$out/$m.seed$s.ckpt.safetensors"
    "$(prog $m)" train --inputs "$tr/inputs.npy" --labels "$tr/labels.npy" \
      --val-inputs "$va/inputs.npy" --val-labels "$va/labels.npy" --checkpoint "$ckpt" --seed "$s" > "$ckpt.log"
    awk -F, -v m="$m" -v s="$s" 'NR > 1 {
        final = $5; secs += $6
        if ($5 >= 0.95 && first == "") first = $1
      }
      END { printf "%-14s %5s %22s %15.3f %9.1f\n", m, s, first == "" ? "never" : first, final, secs }' \
      "$ckpt.metrics.csv"
  done
done | tee "$out/memory_runs.txt"

echo
echo "== memory task: RNN vs GRU vs LSTM (validation accuracy on 1,000 held-out sequences, 5 runs each)"
printf "%-14s %10s %18s %24s %16s %14s\n" model parameters "runs >= 0.95" "median first epoch" "mean final acc" "s per run"
for m in $models; do
  params="$("$(prog $m)" info | awk '$1 == "total" {print $2}')"
  awk -v m="$m" -v p="$params" '$1 == m {
      n++; acc += $4; secs += $5
      if ($3 != "never") { hit++; e[hit] = $3 }
    }
    END {
      for (i = 1; i <= hit; i++) for (j = i + 1; j <= hit; j++) if (e[j] < e[i]) { x = e[i]; e[i] = e[j]; e[j] = x }
      med = hit ? (hit % 2 ? e[(hit + 1) / 2] : (e[hit / 2] + e[hit / 2 + 1]) / 2) : "-"
      printf "%-14s %10s %18s %24s %16.3f %14.1f\n", m, p, (hit + 0) " of " n, med, acc / n, secs / n
    }' "$out/memory_runs.txt"
done
echo
echo "plots: gradient flow $out/memory_{rnn,gru,lstm}.gradient_flow.svg"
echo "       training curves $out/memory_{rnn,gru,lstm}.seed0.ckpt.safetensors.curves.svg (one per run)"

echo
echo "== the notebook's LSTM classifier on its token set"
"$rnnc" check models/sentiment_lstm.toml
"$rnnc" compile models/sentiment_lstm.toml -o "$out/sentiment_lstm" | tail -n 1
sent="$(prog sentiment_lstm)"
# Lengths 5-20, vocabulary 50, label = parity of the token sum.
"$sent" data --task parity --n 2000 --seed 1 --out "$out/data/train" > /dev/null
"$sent" data --task parity --n 500 --seed 2 --out "$out/data/val" > /dev/null
ckpt="$out/sentiment_lstm.ckpt.safetensors"
"$sent" train \
  --inputs "$out/data/train/inputs.npy" --labels "$out/data/train/labels.npy" --lengths "$out/data/train/lengths.npy" \
  --val-inputs "$out/data/val/inputs.npy" --val-labels "$out/data/val/labels.npy" \
  --val-lengths "$out/data/val/lengths.npy" \
  --checkpoint "$ckpt"
echo "validation set:"
"$sent" eval --weights "$ckpt" \
  --inputs "$out/data/val/inputs.npy" --labels "$out/data/val/labels.npy" --lengths "$out/data/val/lengths.npy"
echo "(the label is the parity of the token sum: the LSTM fits the 2,000 training sequences but cannot"
echo " generalise parity from them, so validation accuracy stays near chance; see docs/experiments.md)"
echo "plot: $ckpt.curves.svg   metrics: $ckpt.metrics.csv"

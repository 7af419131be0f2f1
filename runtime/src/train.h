// Training: one optimizer step on a batch (forward with activations saved,
// loss, backward, gradient norms and clipping, update), evaluation, and
// checkpoints holding the weights and the optimizer's state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataset.h"
#include "error.h"
#include "model.h"

namespace rnnc_rt {

// Training hyperparameters: the model file's [train] table, overridable by flags.
struct TrainConfig {
  int32_t optimizer = kOptAdam;
  double learning_rate = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double clip_grad_norm = 0;  // <= 0: no clipping
  int64_t epochs = 10;
  int64_t batch_size = 32;
  uint64_t seed = 0;

  static TrainConfig from(const ModelDesc &d);
};

// Sums over the terms of one or more batches.
struct LossSums {
  double loss = 0;  // sum over batches of (batch mean loss x sequences in it)
  int64_t sequences = 0;
  int64_t correct = 0;  // cross-entropy: argmax hits
  int64_t counted = 0;  // ... out of this many (sequences, or valid steps for per-step outputs)

  void add(const LossSums &o);
  double mean_loss() const { return sequences ? loss / sequences : 0; }
  double accuracy() const { return counted ? static_cast<double>(correct) / counted : 0; }
};

// A NaN or Inf in the loss or a gradient; the message names the batch and layer.
class DivergenceError : public RtError {
 public:
  explicit DivergenceError(const std::string &m) : RtError(m) {}
};

// Sequences [seqs[0], ..., seqs[b-1]] of a dataset, copied into one batch.
struct Batch {
  int64_t n = 0, t = 0;
  std::vector<int32_t> tokens, lengths, classes;
  std::vector<float> features, targets;
  const void *inputs(const ModelDesc &d) const;
};
Batch make_batch(const ModelDesc &d, const Dataset &ds, const Labels *labels, const int32_t *seqs, int64_t b);

class Trainer {
 public:
  Trainer(Model &m, const TrainConfig &config);

  // One optimizer step on `batch`. Throws DivergenceError (the model is then
  // left as it was before the step).
  LossSums train_step(const Batch &batch);
  // Loss and accuracy of `batch` in inference mode (dropout off).
  LossSums evaluate(const Batch &batch);
  // Forward and backward on `batch` in training mode, leaving the
  // gradients in the model's TrainState (no update).
  LossSums train_forward_backward(const Batch &batch);
  // The same; returns per-parameter gradient norms (without clipping).
  std::vector<double> gradient_norms(const Batch &batch);

  int64_t step() const { return m_.train.step; }

 private:
  // Runs forward, loss (and backward); fills per-batch sums and labels.
  LossSums run(const Batch &batch, bool train, bool backward);
  std::vector<double> grad_squares();
  // The first parameter tensor the update made non-finite, or -1. The
  // gradient-norm kernels sum the new parameters' squares (grads and
  // next_params swapped for the call), so that on a device only one float
  // per tensor crosses to the host.
  int32_t first_non_finite_update();

  Model &m_;
  TrainConfig config_;
  std::vector<int32_t> packed_classes_;
  std::vector<float> packed_targets_;
};

// Allocates gradients and (zero) optimizer state, once.
void ensure_train_state(Model &m);

// The forward pass in training mode (activations saved for a backward), with
// dropout on (masks from `dropout_seed`) or off; arguments laid out as for
// forward(). Needs a model with training lists (a [loss]).
void forward_train(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                   const float *c0, bool dropout, uint64_t dropout_seed, float *outputs, float *h_n, float *c_n);

// forward_train, then the backward pass from `grad_outputs`, an arbitrary
// upstream gradient of the outputs (laid out as forward's outputs; entries
// at padded positions ignored): writes the parameters' gradients (flat, like
// the parameters) and, when input_grads is not NULL and the input is
// features, the inputs' gradient [n, t, input_size] (0 at padded positions).
void backward(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
              const float *c0, bool dropout, uint64_t dropout_seed, const float *grad_outputs, float *param_grads,
              float *input_grads);

// Where a run interrupted inside an epoch stopped: the epoch, how many of
// its batches were done, and their loss sums (so that the resumed epoch's
// metrics come out as an uninterrupted run's).
struct EpochProgress {
  int64_t epoch = 0;
  int64_t batches_done = 0;
  LossSums sums;
};

// Writes weights plus optim.* (Adam: exp_avg, exp_avg_sq; SGD:
// momentum_buffer; step; rng = [seed, epochs completed]; with `progress`,
// optim.progress = [epoch, batches done, sequences, correct, counted] and
// optim.progress_loss) atomically.
void save_checkpoint(const Model &m, const std::string &path, uint64_t seed, int64_t epochs_done,
                     const EpochProgress *progress = nullptr);

// Loads a checkpoint written by save_checkpoint into `m` (weights and
// optimizer state); returns the epochs it had completed, and in *progress
// (when not NULL) where an interrupted epoch stopped (epoch 0: none).
// Throws RtError naming the file and tensor when something is missing or
// malformed.
int64_t load_checkpoint(Model &m, const std::string &path, uint64_t *seed, EpochProgress *progress = nullptr);

}  // namespace rnnc_rt

#include "train.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "io/safetensors.h"
#include "weights.h"

namespace rnnc_rt {

namespace {

float from_bits(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

// The dropout stream of an optimizer step: reproducible from the seed and
// the step alone, so a resumed run draws the same masks.
uint32_t dropout_seed(uint64_t seed, int64_t step) {
  uint64_t x = seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(step + 1));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(x ^ (x >> 31));
}

// The layer a parameter belongs to, for messages: "layers.1.weight_hh_l0"
// -> "layer 1 (lstm)".
std::string layer_of(const ModelDesc &d, const std::string &param) {
  const size_t a = param.find('.'), b = param.find('.', a + 1);
  if (a == std::string::npos || b == std::string::npos) return param;
  const int index = std::atoi(param.substr(a + 1, b - a - 1).c_str());
  for (int32_t i = 0; i < d.num_layers; ++i)
    if (d.layers[i].index == index) return "layer " + std::to_string(index) + " (" + d.layers[i].kind + ")";
  return param;
}

}  // namespace

TrainConfig TrainConfig::from(const ModelDesc &d) {
  TrainConfig c;
  c.optimizer = d.train.optimizer;
  c.learning_rate = d.train.learning_rate;
  c.beta1 = d.train.beta1;
  c.beta2 = d.train.beta2;
  c.clip_grad_norm = d.train.clip_grad_norm;
  c.epochs = d.train.epochs;
  c.batch_size = d.train.batch_size;
  c.seed = d.train.seed;
  return c;
}

void LossSums::add(const LossSums &o) {
  loss += o.loss;
  sequences += o.sequences;
  correct += o.correct;
  counted += o.counted;
}

const void *Batch::inputs(const ModelDesc &d) const {
  return d.input_kind == kInputTokens ? static_cast<const void *>(tokens.data()) : features.data();
}

Batch make_batch(const ModelDesc &d, const Dataset &ds, const Labels *labels, const int32_t *seqs, int64_t b) {
  Batch out;
  out.n = b;
  out.t = ds.t;
  const int64_t t = ds.t, w = d.output_width, I = d.input_size;
  const bool per_step = d.per_step_output != 0;
  out.lengths.resize(b);
  if (d.input_kind == kInputTokens)
    out.tokens.resize(b * t);
  else
    out.features.resize(b * t * I);
  if (labels && !labels->classes.empty()) out.classes.resize(b * (per_step ? t : 1));
  if (labels && !labels->targets.empty()) out.targets.resize(b * (per_step ? t : 1) * w);
  for (int64_t i = 0; i < b; ++i) {
    const int64_t s = seqs[i];
    out.lengths[i] = ds.lengths[s];
    if (d.input_kind == kInputTokens) {
      std::memcpy(&out.tokens[i * t], &ds.tokens[s * t], sizeof(int32_t) * t);
    } else {
      std::memcpy(&out.features[i * t * I], &ds.features[s * t * I], sizeof(float) * t * I);
    }
    const int64_t per = per_step ? t : 1;
    if (!out.classes.empty()) std::memcpy(&out.classes[i * per], &labels->classes[s * per], sizeof(int32_t) * per);
    if (!out.targets.empty())
      std::memcpy(&out.targets[i * per * w], &labels->targets[s * per * w], sizeof(float) * per * w);
  }
  return out;
}

void ensure_train_state(Model &m) {
  TrainState &t = m.train;
  const size_t n = m.params.size();
  if (t.grads.size() == n) return;
  t.grads.assign(n, 0.0f);
  t.slot1.assign(n, 0.0f);
  t.slot2.assign(n, 0.0f);
  t.next_params.assign(n, 0.0f);
  t.next_slot1.assign(n, 0.0f);
  t.next_slot2.assign(n, 0.0f);
}

namespace {

// Runs the training forward of a batch given as forward()'s arguments.
void run_train_forward(Model &m, BatchInput &in, const void *inputs, const int32_t *lengths, int64_t n, int64_t t,
                       const float *h0, const float *c0, bool dropout, uint64_t seed) {
  const ModelDesc &d = *m.desc;
  if (d.loss == kLossNone)
    throw RtError(std::string("model ") + d.name +
                  " has no loss ([loss] kind = \"none\"), so it has no training forward or backward; give it one "
                  "(the backward does not use it)");
  if (!inputs) throw RtError("inputs is NULL");
  if (d.input_kind == kInputTokens) {
    in.tokens = static_cast<const int32_t *>(inputs);
  } else {
    in.features = static_cast<const float *>(inputs);
  }
  in.dropout = dropout;
  in.scalars[kScalarDropoutSeed] = from_bits(static_cast<int32_t>(dropout_seed(seed, 0)));
  ensure_train_state(m);
  prepare_batch(m, in, lengths, n, t, BatchMode::kTrain, h0, c0);
  run_steps(m, d.train_fwd, in);
}

}  // namespace

void forward_train(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                   const float *c0, bool dropout, uint64_t dropout_seed, float *outputs, float *h_n, float *c_n) {
  if (!outputs) throw RtError("outputs is NULL");
  BatchInput in;
  run_train_forward(m, in, inputs, lengths, n, t, h0, c0, dropout, dropout_seed);
  copy_outputs(m, outputs);
  get_final_states(m, h_n, c_n);
}

void backward(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
              const float *c0, bool dropout, uint64_t dropout_seed, const float *grad_outputs, float *param_grads,
              float *input_grads) {
  const ModelDesc &d = *m.desc;
  if (!grad_outputs) throw RtError("grad_outputs is NULL");
  if (!param_grads) throw RtError("param_grads is NULL");
  if (input_grads && d.input_kind != kInputFeatures)
    throw RtError("input_grads must be NULL: token ids have no gradient (the embedding's is among the parameters')");
  BatchInput in;
  run_train_forward(m, in, inputs, lengths, n, t, h0, c0, dropout, dropout_seed);
  // The upstream gradient into the output gradient's rows, as the loss steps would write it.
  const Geometry &g = m.geo;
  const MatrixView dout = m.ws.view(d.output_grad_buffer);
  const int64_t w = d.output_width;
  if (!d.per_step_output) {
    for (int64_t i = 0; i < n; ++i) dout.write_row(i, grad_outputs + i * w);
  } else {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t s = 0; s < g.lengths[i]; ++s) dout.write_row(g.row(i, s), grad_outputs + (i * t + s) * w);
  }
  run_steps(m, d.train_bwd, in);
  std::copy(m.train.grads.host(), m.train.grads.host() + m.train.grads.size(), param_grads);
  if (!input_grads) return;
  if (d.input_grad_buffer < 0) throw RtError(std::string("model ") + d.name + " computes no input gradient");
  run_steps(m, d.input_grad, in);
  const MatrixView dxv = m.ws.view(d.input_grad_buffer);
  const float *dx = dxv.host();
  const int64_t width = d.input_size;
  std::memset(input_grads, 0, sizeof(float) * n * t * width);
  // Packed row r holds the gradient of source row kIdxInputFwd[r] (= sequence * t + step).
  const std::vector<int32_t> &source = g.index[kIdxInputFwd];
  for (int64_t r = 0; r < g.rows; ++r)
    std::memcpy(input_grads + static_cast<int64_t>(source[r]) * width, dx + r * dxv.stride, sizeof(float) * width);
}

Trainer::Trainer(Model &m, const TrainConfig &config) : m_(m), config_(config) {
  const ModelDesc &d = *m.desc;
  if (d.loss == kLossNone)
    throw RtError(std::string("model ") + d.name + " has no loss ([loss] kind = \"none\"), so it cannot be trained");
  ensure_train_state(m_);
}

LossSums Trainer::run(const Batch &batch, bool train, bool backward) {
  const ModelDesc &d = *m_.desc;
  BatchInput in;
  if (d.input_kind == kInputTokens) {
    in.tokens = batch.tokens.data();
  } else {
    in.features = batch.features.data();
  }
  prepare_batch(m_, in, batch.lengths.data(), batch.n, batch.t, train ? BatchMode::kTrain : BatchMode::kEval);
  const Geometry &g = m_.geo;
  const bool per_step = d.per_step_output != 0;
  const int64_t w = d.output_width;
  // Labels in the output's row order (packed rows for per-step outputs).
  const int64_t rows = per_step ? g.rows : g.n;
  auto row_of = [&](int64_t i, int64_t s) { return per_step ? g.row(i, s) : i; };
  if (d.loss == kLossCrossEntropy) {
    packed_classes_.assign(rows, 0);
    for (int64_t i = 0; i < g.n; ++i)
      for (int64_t s = 0; s < (per_step ? g.lengths[i] : 1); ++s)
        packed_classes_[row_of(i, s)] = batch.classes[per_step ? i * g.t + s : i];
    in.class_labels = packed_classes_.data();
  } else {
    packed_targets_.assign(rows * w, 0.0f);
    for (int64_t i = 0; i < g.n; ++i)
      for (int64_t s = 0; s < (per_step ? g.lengths[i] : 1); ++s)
        std::memcpy(&packed_targets_[row_of(i, s) * w], &batch.targets[(per_step ? i * g.t + s : i) * w],
                    sizeof(float) * w);
    in.targets = packed_targets_.data();
  }
  in.label_rows = rows;
  // PyTorch's default reductions: the mean over terms (classes: rows; MSE: rows x width).
  const double terms = d.loss == kLossCrossEntropy ? static_cast<double>(rows) : static_cast<double>(rows * w);
  in.scalars[kScalarLossScale] = static_cast<float>(1.0 / terms);
  in.scalars[kScalarDropoutSeed] = from_bits(static_cast<int32_t>(dropout_seed(config_.seed, m_.train.step)));
  in.scalars[kScalarLearningRate] = static_cast<float>(config_.learning_rate);

  run_steps(m_, train ? d.train_fwd : d.infer, in);
  run_steps(m_, d.loss_steps, in);
  if (backward) run_steps(m_, d.train_bwd, in);

  LossSums r;
  double total = 0;
  const float *loss = m_.ws.view(d.loss_buffer).host();
  for (int64_t i = 0; i < rows; ++i) total += loss[i];
  r.loss = total / terms * static_cast<double>(g.n);
  r.sequences = g.n;
  if (d.loss == kLossCrossEntropy) {
    const OutputView ov = output_view(m_);
    for (int64_t i = 0; i < rows; ++i) {
      const float *z = ov.data + i * ov.stride;
      int64_t best = 0;
      for (int64_t c = 1; c < w; ++c)
        if (z[c] > z[best]) best = c;
      r.correct += best == packed_classes_[i];
    }
    r.counted = rows;
  }
  return r;
}

int32_t Trainer::first_non_finite_update() {
  TrainState &t = m_.train;
  t.grads.swap(t.next_params);
  std::vector<double> sq;
  try {
    sq = grad_squares();
  } catch (...) {
    t.grads.swap(t.next_params);
    throw;
  }
  t.grads.swap(t.next_params);
  for (int32_t p = 0; p < m_.desc->num_params; ++p)
    if (!std::isfinite(sq[p])) return p;
  return -1;
}

std::vector<double> Trainer::grad_squares() {
  const ModelDesc &d = *m_.desc;
  BatchInput none;
  run_steps(m_, d.grad_norm, none);
  const float *sq = m_.ws.view(d.grad_sq_buffer).host();
  return std::vector<double>(sq, sq + d.num_params);
}

namespace {

// Why the loss of the last forward is not finite: the first workspace
// buffer (they are declared in forward order) that holds a NaN or Inf.
std::string explain_non_finite_loss(const Model &m) {
  const ModelDesc &d = *m.desc;
  for (int32_t b = 0; b < d.num_buffers; ++b) {
    if (d.buffers[b].parent >= 0 || b == d.loss_buffer) continue;
    const Mirror<float> &a = m.ws.storage(b);
    const float *v = a.empty() ? nullptr : a.host();
    for (size_t k = 0; k < a.size(); ++k)
      if (!std::isfinite(v[k])) {
        const std::string name = d.buffers[b].name, layer = layer_of(d, name);
        return "the loss is not finite: " + name + (layer != name ? " in " + layer : std::string()) +
               " holds non-finite values";
      }
  }
  return "the loss is not finite";
}

}  // namespace

LossSums Trainer::train_step(const Batch &batch) {
  const ModelDesc &d = *m_.desc;
  LossSums r = run(batch, true, true);
  if (!std::isfinite(r.loss)) throw DivergenceError(explain_non_finite_loss(m_));
  const std::vector<double> sq = grad_squares();
  double total = 0;
  for (int32_t p = 0; p < d.num_params; ++p) {
    if (!std::isfinite(sq[p]))
      throw DivergenceError(std::string("the gradient of ") + d.params[p].name + " in " +
                            layer_of(d, d.params[p].name) + " is not finite");
    total += sq[p];
  }
  const double norm = std::sqrt(total);
  // clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)).
  double scale = 1.0;
  if (config_.clip_grad_norm > 0) scale = std::min(1.0, config_.clip_grad_norm / (norm + 1e-6));
  TrainState &t = m_.train;
  const int64_t step = t.step + 1;
  BatchInput in;
  in.scalars[kScalarLearningRate] = static_cast<float>(config_.learning_rate);
  in.scalars[kScalarGradScale] = static_cast<float>(scale);
  in.scalars[kScalarBiasCorrection1] = static_cast<float>(1.0 - std::pow(config_.beta1, static_cast<double>(step)));
  in.scalars[kScalarBiasCorrection2] = static_cast<float>(1.0 - std::pow(config_.beta2, static_cast<double>(step)));
  run_steps(m_, d.update, in);
  // Keep the last good weights when the update itself overflows.
  const int32_t bad = first_non_finite_update();
  if (bad >= 0)
    throw DivergenceError(std::string("the update made ") + d.params[bad].name + " in " +
                          layer_of(d, d.params[bad].name) + " non-finite (or so large that its squares overflow)");
  m_.params.swap(t.next_params);
  t.slot1.swap(t.next_slot1);
  t.slot2.swap(t.next_slot2);
  t.step = step;
  m_.packed_stale = true;
  return r;
}

LossSums Trainer::evaluate(const Batch &batch) { return run(batch, false, false); }

LossSums Trainer::train_forward_backward(const Batch &batch) { return run(batch, true, true); }

std::vector<double> Trainer::gradient_norms(const Batch &batch) {
  run(batch, true, true);
  std::vector<double> sq = grad_squares();
  for (double &v : sq) v = std::sqrt(v);
  return sq;
}

// --- checkpoints -------------------------------------------------------------

namespace {

SafeTensor scalar_tensor(const std::string &name, const char *dtype, const void *data, size_t bytes,
                         std::vector<int64_t> shape) {
  SafeTensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(bytes);
  std::memcpy(t.data.data(), data, bytes);
  return t;
}

const char *slot_name(const ModelDesc &d, int slot) {
  if (d.train.optimizer == kOptAdam) return slot == 0 ? "optim.exp_avg." : "optim.exp_avg_sq.";
  return slot == 0 ? "optim.momentum_buffer." : nullptr;
}

}  // namespace

void save_checkpoint(const Model &m, const std::string &path, uint64_t seed, int64_t epochs_done,
                     const EpochProgress *progress) {
  const ModelDesc &d = *m.desc;
  SafeTensorsFile f;
  f.tensors = param_tensors(m);
  for (int slot = 0; slot < 2; ++slot) {
    const char *prefix = slot_name(d, slot);
    if (!prefix) continue;
    const float *src = (slot == 0 ? m.train.slot1 : m.train.slot2).host();
    for (int32_t i = 0; i < d.num_params; ++i) {
      const ParamDesc &p = d.params[i];
      f.tensors.push_back(scalar_tensor(prefix + std::string(p.name), "F32", src + p.offset, sizeof(float) * p.numel,
                                        std::vector<int64_t>(p.shape, p.shape + p.ndim)));
    }
  }
  const int64_t step = m.train.step;
  f.tensors.push_back(scalar_tensor("optim.step", "I64", &step, sizeof step, {}));
  const uint64_t rng[2] = {seed, static_cast<uint64_t>(epochs_done)};
  f.tensors.push_back(scalar_tensor("optim.rng", "U64", rng, sizeof rng, {2}));
  if (progress) {
    const int64_t p[5] = {progress->epoch, progress->batches_done, progress->sums.sequences, progress->sums.correct,
                          progress->sums.counted};
    f.tensors.push_back(scalar_tensor("optim.progress", "I64", p, sizeof p, {5}));
    f.tensors.push_back(scalar_tensor("optim.progress_loss", "F64", &progress->sums.loss, sizeof(double), {}));
  }
  f.metadata = file_metadata(d, {{"format", "pt"}, {"rnnc_epochs", std::to_string(epochs_done)}});
  write_safetensors(path, f);
}

int64_t load_checkpoint(Model &m, const std::string &path, uint64_t *seed, EpochProgress *progress) {
  const ModelDesc &d = *m.desc;
  SafeTensorsFile f = read_safetensors(path);
  ensure_train_state(m);
  std::vector<float> slot1(m.params.size(), 0.0f), slot2(m.params.size(), 0.0f);
  auto need = [&](const std::string &name, const char *dtype, size_t bytes) -> const SafeTensor & {
    const SafeTensor *t = f.find(name);
    if (!t)
      throw RtError(path + ": missing tensor '" + name + "'; resuming needs a checkpoint written by '" + d.name +
                    " train' with the " + (d.train.optimizer == kOptAdam ? "adam" : "sgd") + " optimizer");
    if (t->dtype != dtype || t->data.size() != bytes)
      throw RtError(path + ": tensor '" + name + "' has dtype " + t->dtype + " and " + std::to_string(t->data.size()) +
                    " bytes; expected " + dtype + " with " + std::to_string(bytes));
    return *t;
  };
  for (int slot = 0; slot < 2; ++slot) {
    const char *prefix = slot_name(d, slot);
    if (!prefix) continue;
    std::vector<float> &dst = slot == 0 ? slot1 : slot2;
    for (int32_t i = 0; i < d.num_params; ++i) {
      const ParamDesc &p = d.params[i];
      const SafeTensor &t = need(prefix + std::string(p.name), "F32", sizeof(float) * p.numel);
      std::memcpy(dst.data() + p.offset, t.data.data(), t.data.size());
    }
  }
  int64_t step = 0;
  std::memcpy(&step, need("optim.step", "I64", sizeof step).data.data(), sizeof step);
  uint64_t rng[2];
  std::memcpy(rng, need("optim.rng", "U64", sizeof rng).data.data(), sizeof rng);
  if (step < 0) throw RtError(path + ": tensor 'optim.step' is negative");
  EpochProgress where;
  if (f.find("optim.progress")) {
    int64_t p[5];
    std::memcpy(p, need("optim.progress", "I64", sizeof p).data.data(), sizeof p);
    std::memcpy(&where.sums.loss, need("optim.progress_loss", "F64", sizeof(double)).data.data(), sizeof(double));
    where.epoch = p[0];
    where.batches_done = p[1];
    where.sums.sequences = p[2];
    where.sums.correct = p[3];
    where.sums.counted = p[4];
    if (where.epoch != static_cast<int64_t>(rng[1]) + 1 || where.batches_done < 0 || where.sums.sequences < 0)
      throw RtError(path + ": tensor 'optim.progress' (epoch " + std::to_string(where.epoch) + ", batch " +
                    std::to_string(where.batches_done) + ") does not follow epoch " + std::to_string(rng[1]));
  }
  load_weights(m, f, path);  // last: the model changes only when everything checked out
  m.train.slot1.take(std::move(slot1));
  m.train.slot2.take(std::move(slot2));
  m.train.step = step;
  if (seed) *seed = rng[0];
  if (progress) *progress = where;
  return static_cast<int64_t>(rng[1]);
}

}  // namespace rnnc_rt

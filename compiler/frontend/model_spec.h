// ModelSpec: a model file as written, validated, with the source location of
// every entry. The parser produces it; the IR builder consumes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontend/diagnostics.h"

namespace rnnc {

enum class InputKind { kTokens, kFeatures };
enum class LayerKind { kEmbedding, kRnn, kLstm, kGru, kReadout, kDropout, kLinear };
enum class ReadoutMode { kLast, kAll, kMean };
enum class Nonlinearity { kTanh, kRelu };
enum class LossKind { kNone, kCrossEntropy, kMse };
enum class OptimizerKind { kAdam, kSgd };
// How a recurrent layer's parameters start: PyTorch's default, or chrono
// initialisation of the gate biases (Tallec & Ollivier, ICLR 2018).
enum class InitScheme { kPytorch, kChrono };

const char *to_string(InputKind k);
const char *to_string(LayerKind k);
const char *to_string(ReadoutMode m);
const char *to_string(Nonlinearity n);
const char *to_string(LossKind k);
const char *to_string(OptimizerKind k);

inline bool is_recurrent(LayerKind k) { return k == LayerKind::kRnn || k == LayerKind::kLstm || k == LayerKind::kGru; }

struct InputSpec {
  InputKind kind = InputKind::kTokens;
  int64_t vocab = 0;  // tokens: number of distinct ids
  int64_t size = 0;   // features: width of one step's vector
  SourceLoc loc;
};

// One [[layers]] entry. Only the fields of its kind are meaningful.
struct LayerSpec {
  LayerKind kind = LayerKind::kEmbedding;
  SourceLoc loc;
  // embedding
  int64_t dim = 0;
  // rnn / lstm / gru
  int64_t hidden = 0;
  int64_t num_layers = 1;
  bool bidirectional = false;
  bool reverse = false;  // the reverse direction only (ONNX's direction = "reverse")
  double dropout = 0.0;  // between the stacked layers of this entry
  bool bias = true;      // also linear
  Nonlinearity nonlinearity = Nonlinearity::kTanh;
  bool linear_before_reset = true;
  InitScheme init = InitScheme::kPytorch;
  int64_t chrono_t_max = 0;   // chrono: the longest dependency T, >= 2
  double clip = 0.0;          // > 0: gate pre-activations clamped to [-clip, clip] (ONNX `clip`)
  bool peepholes = false;     // lstm: ONNX's P (i and f read c_{t-1}, o reads c_t)
  bool input_forget = false;  // lstm: ONNX's input_forget, f = 1 - i
  int64_t proj_size = 0;      // lstm: PyTorch's projection, h = W_hr (o ⊙ tanh(c)); 0: none
  // readout
  ReadoutMode mode = ReadoutMode::kLast;
  // dropout
  double p = 0.0;
  // linear
  int64_t out = 0;
};

struct TrainSpec {
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  std::optional<double> clip_grad_norm;  // absent: no clipping
  int64_t epochs = 10;
  int64_t batch_size = 32;
  uint64_t seed = 0;
};

struct ModelSpec {
  std::string file;  // path as given, used in messages
  std::string name;
  SourceLoc name_loc;
  InputSpec input;
  std::vector<LayerSpec> layers;
  LossKind loss = LossKind::kNone;
  SourceLoc loss_loc;
  TrainSpec train;
};

// Limits of the model language: a size above kMaxSize is refused as absurd,
// and a parameter tensor above kMaxTensorElements float32 elements because
// a Halide buffer (without large-buffer support, which rnnc's kernels do not
// use) holds at most 2^31 - 1 bytes.
constexpr int64_t kMaxSize = int64_t{1} << 20;
constexpr int64_t kMaxTensorBytes = (int64_t{1} << 31) - 1;
constexpr int64_t kMaxTensorElements = kMaxTensorBytes / 4;

}  // namespace rnnc

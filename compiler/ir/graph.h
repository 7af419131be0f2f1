// Graph IR: the model as a chain of typed operations with their parameters.
//
// Tensors have a symbolic batch B and, where per step, a symbolic time T;
// every other size is fixed. Parameters carry their PyTorch names: `layers`
// is an nn.ModuleList over the model file's [[layers]] entries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/model_spec.h"

namespace rnnc::ir {

// [B, T, width] when per_step, else [B, width]; tokens are [B, T] ids (width 0).
struct TensorType {
  bool per_step = true;
  int64_t width = 0;
  bool tokens = false;

  std::string str() const;
  bool operator==(const TensorType &o) const {
    return per_step == o.per_step && width == o.width && tokens == o.tokens;
  }
};

enum class InitKind {
  kUniform,  // U(-bound, bound)
  kNormal,   // N(0, 1)
  // Chrono initialisation of a gate bias [gates * H] (bound = T_max): per
  // unit u ~ U(1, T_max - 1); LSTM (i, f, g, o): b_f = log u, b_i = -b_f;
  // GRU (r, z, n): b_z = log u; every other element 0.
  kChronoLstm,
  kChronoGru,
  kZero,  // all 0 (the recurrent bias of a chrono layer)
};

const char *to_string(InitKind k);

struct Param {
  std::string name;  // PyTorch state_dict name, e.g. "layers.1.weight_ih_l0"
  std::vector<int64_t> shape;
  InitKind init = InitKind::kUniform;
  double bound = 0.0;
  int node = -1;  // owning node

  int64_t numel() const;
};

enum class Op { kInput, kEmbedding, kRecurrent, kDropout, kReadout, kLinear };
enum class Cell { kRnn, kLstm, kGru };

const char *to_string(Op op);
const char *to_string(Cell c);
int gate_count(Cell c);  // 1, 4, 3

struct Node {
  Op op = Op::kInput;
  int layer = -1;  // index in the model file's [[layers]], -1 for the input
  SourceLoc loc;
  TensorType in, out;
  // kEmbedding: vocab, dim. kLinear: in_features (in.width), out_features, bias.
  int64_t vocab = 0;
  // kRecurrent
  Cell cell = Cell::kLstm;
  int64_t hidden = 0;
  int64_t num_layers = 1;
  bool bidirectional = false;
  bool reverse_only = false;  // one direction, the reverse one
  double inner_dropout = 0.0;
  bool bias = true;
  Nonlinearity nonlinearity = Nonlinearity::kTanh;
  bool linear_before_reset = true;
  double clip = 0.0;  // > 0: activation inputs clamped to [-clip, clip]
  bool peepholes = false;
  bool input_forget = false;
  int64_t proj_size = 0;  // LSTM projection (PyTorch's proj_size); 0: none
  // kReadout
  ReadoutMode mode = ReadoutMode::kLast;
  // kDropout
  double p = 0.0;
  // kLinear
  int64_t out_features = 0;

  std::vector<int> params;  // indices into Graph::params, in state_dict order

  int directions() const { return bidirectional ? 2 : 1; }
  // Width of h per direction: the projection's size, else the hidden size.
  int64_t state_width() const { return proj_size > 0 ? proj_size : hidden; }
  // Which direction the k-th of directions() is: 0 forward, 1 reverse.
  int direction_id(int k) const { return reverse_only ? 1 : k; }
  // Parameters of one direction of one stacked layer: weight_ih, weight_hh,
  // then with bias bias_ih, bias_hh, then with proj_size weight_hr (PyTorch's
  // order), then with peepholes the peephole vector.
  size_t params_per_direction() const { return (bias ? 4 : 2) + (proj_size > 0 ? 1 : 0) + (peepholes ? 1 : 0); }
  // Graph::params indices of one direction's parameters (k-th of
  // directions()) of stacked layer l; -1 for those the layer lacks.
  struct DirectionParams {
    int w_ih = -1, w_hh = -1, b_ih = -1, b_hh = -1, w_hr = -1, peephole = -1;
  };
  DirectionParams direction_params(int64_t l, int k) const;
  // Input width of stacked sub-layer `l` of a recurrent node.
  int64_t sublayer_input(int64_t l) const { return l == 0 ? in.width : state_width() * directions(); }
};

struct Graph {
  std::string name;
  std::string file;
  InputSpec input;
  std::vector<Node> nodes;  // nodes[0] is the input
  std::vector<Param> params;
  LossKind loss = LossKind::kNone;
  TrainSpec train;

  const Node &output() const { return nodes.back(); }
  int64_t param_count(int node) const;
  int64_t total_params() const;
};

// Builds the graph of a validated spec. Throws CompileError (at the layer's
// location) when a tensor would exceed kMaxTensorElements (2^31 - 1 bytes).
Graph build_graph(const ModelSpec &spec);

// Checks the graph's invariants; throws std::logic_error describing the first
// broken one. Run after every transformation.
void verify(const Graph &g);

// The kind of a node as the layer table shows it ("lstm", "linear", ...).
std::string node_kind(const Node &n);
// One line of details ("hidden 64, 2 layers, dropout 0.3").
std::string node_details(const Graph &g, const Node &n);

// Human-readable dump of every node and parameter.
std::string print_graph(const Graph &g);

// The layer table of `rnnc check`: kind, output shape, parameters per layer.
std::string layer_table(const Graph &g);

// The layer table as one JSON object {"model": name, "layers": [{"index",
// "kind", "details", "output_shape", "params"}, ...], "total_params": N,
// "loss": kind}: every [[layers]] entry, not the input.
std::string layer_table_json(const Graph &g);

}  // namespace rnnc::ir

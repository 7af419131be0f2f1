#include "ir/graph.h"

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace rnnc::ir {

std::string TensorType::str() const {
  std::string s = per_step ? "[B, T" : "[B";
  if (!tokens) s += ", " + std::to_string(width);
  return s + "]";
}

int64_t Param::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const char *to_string(Op op) {
  switch (op) {
    case Op::kInput:
      return "input";
    case Op::kEmbedding:
      return "embedding";
    case Op::kRecurrent:
      return "recurrent";
    case Op::kDropout:
      return "dropout";
    case Op::kReadout:
      return "readout";
    case Op::kLinear:
      return "linear";
  }
  return "?";
}

const char *to_string(Cell c) {
  switch (c) {
    case Cell::kRnn:
      return "rnn";
    case Cell::kLstm:
      return "lstm";
    case Cell::kGru:
      return "gru";
  }
  return "?";
}

Node::DirectionParams Node::direction_params(int64_t l, int k) const {
  size_t at = (static_cast<size_t>(l) * directions() + k) * params_per_direction();
  DirectionParams p;
  p.w_ih = params[at++];
  p.w_hh = params[at++];
  if (bias) {
    p.b_ih = params[at++];
    p.b_hh = params[at++];
  }
  if (proj_size > 0) p.w_hr = params[at++];
  if (peepholes) p.peephole = params[at++];
  return p;
}

const char *to_string(InitKind k) {
  switch (k) {
    case InitKind::kUniform:
      return "uniform";
    case InitKind::kNormal:
      return "normal(0, 1)";
    case InitKind::kChronoLstm:
      return "chrono-lstm";
    case InitKind::kChronoGru:
      return "chrono-gru";
    case InitKind::kZero:
      return "zero";
  }
  return "?";
}

int gate_count(Cell c) { return c == Cell::kRnn ? 1 : c == Cell::kLstm ? 4 : 3; }

int64_t Graph::param_count(int node) const {
  int64_t n = 0;
  for (int p : nodes[node].params) n += params[p].numel();
  return n;
}

int64_t Graph::total_params() const {
  int64_t n = 0;
  for (const Param &p : params) n += p.numel();
  return n;
}

namespace {

class Builder {
 public:
  explicit Builder(Graph &g) : g_(g) {}

  void add_param(Node &node, int node_index, const std::string &name, std::vector<int64_t> shape, InitKind init,
                 double bound) {
    Param p{"layers." + std::to_string(node.layer) + "." + name, std::move(shape), init, bound, node_index};
    // Each factor is at most 2^20, so the product of two fits in int64.
    if (p.numel() > kMaxTensorElements) {
      std::string dims;
      for (int64_t d : p.shape) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
      throw CompileError(node.loc, "parameter '" + p.name + "' would have " + dims + " = " + std::to_string(p.numel()) +
                                       " elements (" + std::to_string(p.numel() * 4) +
                                       " bytes), above the limit of 2^31 - 1 bytes per kernel buffer");
    }
    node.params.push_back(static_cast<int>(g_.params.size()));
    g_.params.push_back(std::move(p));
  }

 private:
  Graph &g_;
};

}  // namespace

Graph build_graph(const ModelSpec &spec) {
  Graph g;
  g.name = spec.name;
  g.file = spec.file;
  g.input = spec.input;
  g.loss = spec.loss;
  g.train = spec.train;
  Builder b(g);

  Node input;
  input.op = Op::kInput;
  input.loc = spec.input.loc;
  input.out =
      spec.input.kind == InputKind::kTokens ? TensorType{true, 0, true} : TensorType{true, spec.input.size, false};
  g.nodes.push_back(input);

  for (size_t li = 0; li < spec.layers.size(); ++li) {
    const LayerSpec &l = spec.layers[li];
    Node n;
    n.layer = static_cast<int>(li);
    n.loc = l.loc;
    n.in = g.nodes.back().out;
    const int index = static_cast<int>(g.nodes.size());
    switch (l.kind) {
      case LayerKind::kEmbedding:
        n.op = Op::kEmbedding;
        n.vocab = spec.input.vocab;
        n.out = TensorType{true, l.dim, false};
        b.add_param(n, index, "weight", {n.vocab, l.dim}, InitKind::kNormal, 0.0);
        break;
      case LayerKind::kRnn:
      case LayerKind::kLstm:
      case LayerKind::kGru: {
        n.op = Op::kRecurrent;
        n.cell = l.kind == LayerKind::kRnn ? Cell::kRnn : l.kind == LayerKind::kLstm ? Cell::kLstm : Cell::kGru;
        n.hidden = l.hidden;
        n.num_layers = l.num_layers;
        n.bidirectional = l.bidirectional;
        n.reverse_only = l.reverse;
        n.inner_dropout = l.dropout;
        n.bias = l.bias;
        n.nonlinearity = l.nonlinearity;
        n.linear_before_reset = l.linear_before_reset;
        n.clip = l.clip;
        n.peepholes = l.peepholes;
        n.input_forget = l.input_forget;
        n.proj_size = l.proj_size;
        n.out = TensorType{true, n.state_width() * n.directions(), false};
        const int64_t gh = gate_count(n.cell) * l.hidden;
        const double bound = 1.0 / std::sqrt(static_cast<double>(l.hidden));
        for (int64_t k = 0; k < l.num_layers; ++k) {
          for (int d = 0; d < n.directions(); ++d) {
            const std::string sfx = "_l" + std::to_string(k) + (n.direction_id(d) ? "_reverse" : "");
            b.add_param(n, index, "weight_ih" + sfx, {gh, n.sublayer_input(k)}, InitKind::kUniform, bound);
            b.add_param(n, index, "weight_hh" + sfx, {gh, n.state_width()}, InitKind::kUniform, bound);
            if (l.bias && l.init == InitScheme::kChrono) {
              // The whole chrono value goes in bias_ih; bias_hh starts at 0.
              const InitKind chrono = n.cell == Cell::kLstm ? InitKind::kChronoLstm : InitKind::kChronoGru;
              b.add_param(n, index, "bias_ih" + sfx, {gh}, chrono, static_cast<double>(l.chrono_t_max));
              b.add_param(n, index, "bias_hh" + sfx, {gh}, InitKind::kZero, 0.0);
            } else if (l.bias) {
              b.add_param(n, index, "bias_ih" + sfx, {gh}, InitKind::kUniform, bound);
              b.add_param(n, index, "bias_hh" + sfx, {gh}, InitKind::kUniform, bound);
            }
            if (l.proj_size > 0)
              b.add_param(n, index, "weight_hr" + sfx, {l.proj_size, l.hidden}, InitKind::kUniform, bound);
            // ONNX's P for (i, o, f) is stored in rnnc's gate order (i, f, o).
            if (l.peepholes) b.add_param(n, index, "peephole" + sfx, {3 * l.hidden}, InitKind::kUniform, bound);
          }
        }
        break;
      }
      case LayerKind::kReadout:
        n.op = Op::kReadout;
        n.mode = l.mode;
        n.out = TensorType{l.mode == ReadoutMode::kAll, n.in.width, false};
        break;
      case LayerKind::kDropout:
        n.op = Op::kDropout;
        n.p = l.p;
        n.out = n.in;
        break;
      case LayerKind::kLinear: {
        n.op = Op::kLinear;
        n.out_features = l.out;
        n.bias = l.bias;
        n.out = TensorType{n.in.per_step, l.out, false};
        // nn.Linear: kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)) for both tensors.
        const double bound = 1.0 / std::sqrt(static_cast<double>(n.in.width));
        b.add_param(n, index, "weight", {l.out, n.in.width}, InitKind::kUniform, bound);
        if (l.bias) b.add_param(n, index, "bias", {l.out}, InitKind::kUniform, bound);
        break;
      }
    }
    g.nodes.push_back(n);
  }
  verify(g);
  return g;
}

void verify(const Graph &g) {
  auto fail = [&](const std::string &m) { throw std::logic_error("graph '" + g.name + "' is invalid: " + m); };
  if (g.nodes.empty() || g.nodes[0].op != Op::kInput) fail("nodes[0] is not the input");
  std::set<std::string> names;
  std::vector<int> owner(g.params.size(), -1);
  bool seen_readout = false, seen_recurrent = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    const std::string where = "node " + std::to_string(i) + " (" + to_string(n.op) + ")";
    if (i > 0 && !(n.in == g.nodes[i - 1].out))
      fail(where + " reads " + n.in.str() + " but its producer gives " + g.nodes[i - 1].out.str());
    if (i > 0 && n.op == Op::kInput) fail(where + " is a second input");
    if (n.out.width <= 0 && !n.out.tokens) fail(where + " has a non-positive width");
    if (n.out.tokens && n.op != Op::kInput) fail(where + " produces token ids");
    if (n.in.tokens != (n.op == Op::kEmbedding)) fail(where + ": only an embedding reads token ids");
    switch (n.op) {
      case Op::kRecurrent:
        if (seen_readout) fail(where + " follows the readout");
        if (!n.in.per_step || !n.out.per_step) fail(where + " is not per step");
        if (n.out.width != n.state_width() * n.directions())
          fail(where + " output width is not the state width x directions");
        seen_recurrent = true;
        break;
      case Op::kReadout:
        if (seen_readout || !seen_recurrent) fail(where + " is misplaced");
        seen_readout = true;
        if (n.out.per_step != (n.mode == ReadoutMode::kAll) || n.out.width != n.in.width)
          fail(where + " has a wrong type");
        break;
      case Op::kLinear:
        if (!seen_readout) fail(where + " precedes the readout");
        break;
      case Op::kDropout:
        if (!(n.in == n.out)) fail(where + " changes the type");
        if (n.p < 0 || n.p > 1) fail(where + " has p outside [0, 1]");
        break;
      case Op::kEmbedding:
        if (i != 1) fail(where + " is not the first layer");
        break;
      case Op::kInput:
        break;
    }
    for (int p : n.params) {
      if (p < 0 || p >= static_cast<int>(g.params.size())) fail(where + " refers to a missing parameter");
      if (owner[p] != -1) fail("parameter " + g.params[p].name + " has two owners");
      owner[p] = static_cast<int>(i);
      if (g.params[p].node != static_cast<int>(i)) fail("parameter " + g.params[p].name + " names the wrong owner");
    }
  }
  if (!seen_readout) fail("there is no readout");
  for (size_t p = 0; p < g.params.size(); ++p) {
    const Param &par = g.params[p];
    if (owner[p] == -1) fail("parameter " + par.name + " has no owner");
    if (!names.insert(par.name).second) fail("parameter name " + par.name + " is used twice");
    for (int64_t d : par.shape)
      if (d <= 0) fail("parameter " + par.name + " has a non-positive dimension");
    if (par.numel() > kMaxTensorElements) fail("parameter " + par.name + " is too large");
  }
  // Shapes of recurrent parameters follow the PyTorch formulas.
  for (const Node &n : g.nodes) {
    if (n.op != Op::kRecurrent) continue;
    const size_t per = n.params_per_direction();
    if (n.params.size() != per * n.num_layers * n.directions()) fail("recurrent node has a wrong parameter count");
    const int64_t gh = gate_count(n.cell) * n.hidden;
    for (int64_t k = 0; k < n.num_layers; ++k)
      for (int d = 0; d < n.directions(); ++d) {
        const Node::DirectionParams dp = n.direction_params(k, d);
        const Param &wih = g.params[dp.w_ih], &whh = g.params[dp.w_hh];
        if (wih.shape != std::vector<int64_t>{gh, n.sublayer_input(k)} ||
            whh.shape != std::vector<int64_t>{gh, n.state_width()})
          fail("parameter " + wih.name + " or " + whh.name + " has a wrong shape");
      }
  }
}

namespace {

std::string describe_impl(const Graph &g, const Node &n) {
  std::ostringstream s;
  switch (n.op) {
    case Op::kInput:
      if (g.input.kind == InputKind::kTokens)
        s << "tokens, vocab " << g.input.vocab;
      else
        s << "features, size " << g.input.size;
      break;
    case Op::kEmbedding:
      s << "vocab " << n.vocab << ", dim " << n.out.width;
      break;
    case Op::kRecurrent:
      s << "hidden " << n.hidden;
      if (n.num_layers > 1) s << ", " << n.num_layers << " layers";
      if (n.bidirectional) s << ", bidirectional";
      if (n.reverse_only) s << ", reverse";
      if (n.inner_dropout > 0 && n.num_layers > 1) s << ", dropout " << n.inner_dropout;
      if (!n.bias) s << ", no bias";
      if (n.cell == Cell::kRnn) s << ", " << to_string(n.nonlinearity);
      if (n.cell == Cell::kGru && !n.linear_before_reset) s << ", reset before linear";
      if (n.peepholes) s << ", peepholes";
      if (n.input_forget) s << ", coupled input-forget";
      if (n.clip > 0) s << ", clip " << n.clip;
      if (n.proj_size > 0) s << ", proj_size " << n.proj_size;
      for (int p : n.params)
        if (g.params[p].init == InitKind::kChronoLstm || g.params[p].init == InitKind::kChronoGru) {
          s << ", chrono init T " << g.params[p].bound;
          break;
        }
      break;
    case Op::kDropout:
      s << "p " << n.p;
      break;
    case Op::kReadout:
      s << "mode " << to_string(n.mode);
      break;
    case Op::kLinear:
      s << n.in.width << " -> " << n.out_features;
      if (!n.bias) s << ", no bias";
      break;
  }
  return s.str();
}

// [B, T, width], [B, width], [B, T] or [B] as a JSON array ("B" and "T" are
// the symbolic batch and time).
nlohmann::ordered_json shape_json(const TensorType &t) {
  nlohmann::ordered_json s = nlohmann::ordered_json::array({"B"});
  if (t.per_step) s.push_back("T");
  if (!t.tokens) s.push_back(t.width);
  return s;
}

}  // namespace

std::string node_kind(const Node &n) { return n.op == Op::kRecurrent ? to_string(n.cell) : to_string(n.op); }
std::string node_details(const Graph &g, const Node &n) { return describe_impl(g, n); }

std::string print_graph(const Graph &g) {
  std::ostringstream s;
  s << "graph " << g.name << " (" << g.file << ")\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    s << "  %" << i << " = " << node_kind(n);
    if (n.layer >= 0) s << " [layers." << n.layer << "]";
    s << " " << node_details(g, n) << " : ";
    if (i > 0) s << n.in.str() << " -> ";
    s << n.out.str() << "\n";
    for (int p : n.params) {
      const Param &par = g.params[p];
      s << "      param " << par.name << " [";
      for (size_t d = 0; d < par.shape.size(); ++d) s << (d ? ", " : "") << par.shape[d];
      s << "] init " << to_string(par.init);
      if (par.init == InitKind::kUniform) s << "(+-" << std::to_string(par.bound) << ")";
      if (par.init == InitKind::kChronoLstm || par.init == InitKind::kChronoGru) s << "(T_max " << par.bound << ")";
      s << "\n";
    }
  }
  s << "  loss " << to_string(g.loss) << "\n";
  return s.str();
}

std::string layer_table(const Graph &g) {
  std::ostringstream s;
  char line[256];
  std::snprintf(line, sizeof line, "%-6s %-10s %-34s %-16s %12s\n", "layer", "kind", "details", "output", "params");
  s << "model " << g.name << "\n" << line;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    std::string idx = n.layer >= 0 ? std::to_string(n.layer) : "-";
    std::snprintf(line, sizeof line, "%-6s %-10s %-34s %-16s %12lld\n", idx.c_str(), node_kind(n).c_str(),
                  node_details(g, n).c_str(), n.out.str().c_str(),
                  static_cast<long long>(g.param_count(static_cast<int>(i))));
    s << line;
  }
  std::snprintf(line, sizeof line, "%-69s %12lld\n", "total", static_cast<long long>(g.total_params()));
  s << line << "loss: " << to_string(g.loss) << "\n";
  return s.str();
}

std::string layer_table_json(const Graph &g) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (size_t i = 1; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    layers.push_back({{"index", n.layer},
                      {"kind", node_kind(n)},
                      {"details", node_details(g, n)},
                      {"output_shape", shape_json(n.out)},
                      {"params", g.param_count(static_cast<int>(i))}});
  }
  const nlohmann::ordered_json doc = {
      {"model", g.name}, {"layers", layers}, {"total_params", g.total_params()}, {"loss", to_string(g.loss)}};
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace rnnc::ir

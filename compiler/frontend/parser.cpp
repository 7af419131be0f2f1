#include "frontend/parser.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace rnnc {
namespace {

// Keys each table accepts. Layer keys are per kind; "kind" is always allowed.
const std::vector<std::string> kTopKeys = {"name", "input", "layers", "loss", "train"};
const std::vector<std::string> kInputKeys = {"kind", "vocab", "size"};
const std::vector<std::string> kLossKeys = {"kind"};
const std::vector<std::string> kTrainKeys = {"optimizer", "learning_rate",  "betas",  "eps",        "weight_decay",
                                             "momentum",  "clip_grad_norm", "epochs", "batch_size", "seed"};

const std::map<LayerKind, std::vector<std::string>> kLayerKeys = {
    {LayerKind::kEmbedding, {"kind", "dim"}},
    {LayerKind::kRnn,
     {"kind", "hidden", "num_layers", "bidirectional", "reverse", "dropout", "bias", "nonlinearity", "init", "clip"}},
    {LayerKind::kLstm,
     {"kind", "hidden", "num_layers", "bidirectional", "reverse", "dropout", "bias", "init", "chrono_t_max", "clip",
      "peepholes", "input_forget", "proj_size"}},
    {LayerKind::kGru,
     {"kind", "hidden", "num_layers", "bidirectional", "reverse", "dropout", "bias", "linear_before_reset", "init",
      "chrono_t_max", "clip"}},
    {LayerKind::kReadout, {"kind", "mode"}},
    {LayerKind::kDropout, {"kind", "p"}},
    {LayerKind::kLinear, {"kind", "out", "bias"}},
};

const char *const kCKeywords[] = {
    "auto",   "break",    "case",     "char",     "const",    "continue", "default", "do",     "double",
    "else",   "enum",     "extern",   "float",    "for",      "goto",     "if",      "inline", "int",
    "long",   "register", "restrict", "return",   "short",    "signed",   "sizeof",  "static", "struct",
    "switch", "typedef",  "union",    "unsigned", "void",     "volatile", "while",   "bool",   "class",
    "delete", "new",      "private",  "public",   "template", "this",     "throw",   "try",    "namespace"};

}  // namespace

std::string model_name_problem(const std::string &name) {
  if (name.empty()) return "is empty; it must be a C identifier";
  if (name.size() > 64) return "is longer than 64 characters";
  bool ok = std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_';
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ok) return "is not a C identifier (letters, digits and '_', not starting with a digit)";
  for (const char *kw : kCKeywords)
    if (name == kw) return "is a C/C++ keyword";
  if (name.rfind("halide", 0) == 0 || name.rfind("rnnc", 0) == 0)
    return "starts with a prefix reserved for the runtime (\"halide\", \"rnnc\")";
  return "";
}

namespace {

const char *type_name(const toml::node &n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

std::string article(const char *kind) {
  std::string k = kind;
  return (k[0] == 'a' || k[0] == 'e' || k[0] == 'i' || k[0] == 'o' || k[0] == 'u') ? "an " + k : "a " + k;
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  ModelSpec parse(const std::string &text) {
    toml::table root;
    try {
      root = toml::parse(text, file_);
    } catch (const toml::parse_error &e) {
      throw CompileError(loc(e.source()), std::string(e.description()));
    }
    ModelSpec spec;
    spec.file = file_;
    check_keys(root, kTopKeys, "at the top level of a model file");
    parse_name(root, spec);
    parse_input(root, spec);
    parse_layers(root, spec);
    parse_loss(root, spec);
    parse_train(root, spec);
    check_order(spec);
    check_loss(spec);
    return spec;
  }

 private:
  SourceLoc loc(const toml::source_region &r) const {
    return SourceLoc{file_, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
  }

  [[noreturn]] void fail(const toml::source_region &r, const std::string &msg) const {
    throw CompileError(loc(r), msg);
  }

  void check_keys(const toml::table &t, const std::vector<std::string> &allowed, const std::string &where,
                  const std::string &hint_other = "") const {
    for (auto &&[key, node] : t) {
      std::string k(key.str());
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string msg = "unknown key '" + k + "' " + where;
      std::string near = nearest_name(k, allowed);
      if (!near.empty()) {
        msg += "; did you mean '" + near + "'?";
      } else {
        msg += "; valid keys: ";
        for (size_t i = 0; i < allowed.size(); ++i) msg += (i ? ", " : "") + allowed[i];
      }
      if (!hint_other.empty()) msg += hint_other;
      fail(key.source(), msg);
    }
  }

  // The value of `key` in `t` as an integer in [lo, hi], or `def` when absent.
  int64_t get_int(const toml::table &t, const char *key, int64_t def, int64_t lo, int64_t hi, bool required,
                  const toml::source_region &table_src, const std::string &where) const {
    const toml::node *n = t.get(key);
    if (!n) {
      if (required) fail(table_src, where + " needs '" + key + "'");
      return def;
    }
    if (!n->is_integer()) fail(n->source(), std::string("'") + key + "' must be an integer, not " + type_name(*n));
    int64_t v = n->as_integer()->get();
    if (v < lo)
      fail(n->source(),
           std::string("'") + key + "' must be at least " + std::to_string(lo) + " (got " + std::to_string(v) + ")");
    if (v > hi) {
      if (hi == kMaxSize)
        fail(n->source(), std::string("'") + key + "' = " + std::to_string(v) +
                              " is absurd: sizes are limited to 2^20 = " + std::to_string(kMaxSize));
      fail(n->source(),
           std::string("'") + key + "' must be at most " + std::to_string(hi) + " (got " + std::to_string(v) + ")");
    }
    return v;
  }

  // A real number (TOML integer or float) in [lo, hi] (hi_open: [lo, hi)).
  double get_real(const toml::table &t, const char *key, double def, double lo, double hi, bool hi_open,
                  bool lo_open = false) const {
    const toml::node *n = t.get(key);
    if (!n) return def;
    return real_value(*n, key, lo, hi, hi_open, lo_open);
  }

  double real_value(const toml::node &n, const std::string &key, double lo, double hi, bool hi_open,
                    bool lo_open) const {
    double v;
    if (n.is_integer()) {
      v = static_cast<double>(n.as_integer()->get());
    } else if (n.is_floating_point()) {
      v = n.as_floating_point()->get();
    } else {
      fail(n.source(), "'" + key + "' must be a number, not " + type_name(n));
    }
    bool bad = !std::isfinite(v) || v < lo || v > hi || (hi_open && v == hi) || (lo_open && v == lo);
    if (bad) {
      std::ostringstream range;
      range << (lo_open ? "(" : "[") << lo << ", " << (std::isinf(hi) ? "inf" : "");
      if (!std::isinf(hi)) range << hi;
      range << (hi_open || std::isinf(hi) ? ")" : "]");
      std::ostringstream got;
      got << v;
      fail(n.source(), "'" + key + "' must be in " + range.str() + " (got " + got.str() + ")");
    }
    return v;
  }

  bool get_bool(const toml::table &t, const char *key, bool def) const {
    const toml::node *n = t.get(key);
    if (!n) return def;
    if (!n->is_boolean()) fail(n->source(), std::string("'") + key + "' must be true or false, not " + type_name(*n));
    return n->as_boolean()->get();
  }

  // A string that must be one of `choices`.
  std::string get_choice(const toml::table &t, const char *key, const std::vector<std::string> &choices,
                         const std::string &def, const toml::source_region &table_src, const std::string &where,
                         bool required) const {
    const toml::node *n = t.get(key);
    if (!n) {
      if (required) fail(table_src, where + " needs '" + key + "' (one of " + join_quoted(choices) + ")");
      return def;
    }
    if (!n->is_string()) fail(n->source(), std::string("'") + key + "' must be a string, not " + type_name(*n));
    std::string v = n->as_string()->get();
    if (std::find(choices.begin(), choices.end(), v) != choices.end()) return v;
    std::string msg = std::string("'") + key + "' = \"" + v + "\" is not one of " + join_quoted(choices);
    std::string near = nearest_name(v, choices);
    if (!near.empty()) msg += "; did you mean \"" + near + "\"?";
    fail(n->source(), msg);
  }

  static std::string join_quoted(const std::vector<std::string> &v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? (i + 1 == v.size() ? " or " : ", ") : "") + ("\"" + v[i] + "\"");
    return s;
  }

  const toml::table *get_table(const toml::table &root, const char *key) const {
    const toml::node *n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table())
      fail(n->source(), std::string("'") + key + "' must be a table ([" + key + "]), not " + type_name(*n));
    return n->as_table();
  }

  void parse_name(const toml::table &root, ModelSpec &spec) const {
    const toml::node *n = root.get("name");
    std::string name;
    if (n) {
      if (!n->is_string()) fail(n->source(), std::string("'name' must be a string, not ") + type_name(*n));
      name = n->as_string()->get();
      spec.name_loc = loc(n->source());
    } else {
      // Default: the file's stem, when it is a usable identifier.
      std::string stem = file_;
      size_t slash = stem.find_last_of('/');
      if (slash != std::string::npos) stem = stem.substr(slash + 1);
      size_t dot = stem.find('.');
      if (dot != std::string::npos) stem = stem.substr(0, dot);
      name = stem;
      spec.name_loc = SourceLoc{file_, 1, 1};
    }
    std::string why = model_name_problem(name);
    if (!why.empty()) {
      if (n) fail(n->source(), "'name' = \"" + name + "\" " + why);
      throw CompileError(spec.name_loc,
                         "the model has no 'name' and its file name \"" + name + "\" " + why + "; add name = \"...\"");
    }
    spec.name = name;
  }

  void parse_input(const toml::table &root, ModelSpec &spec) const {
    const toml::table *t = get_table(root, "input");
    if (!t)
      throw CompileError(SourceLoc{file_, 1, 1}, "the model has no [input] table (kind = \"tokens\" or \"features\")");
    InputSpec &in = spec.input;
    in.loc = loc(t->source());
    // Check the keys before asking for 'kind', so that a misspelt 'kind' gets
    // a suggestion rather than "needs 'kind'".
    check_keys(*t, kInputKeys, "in [input]");
    std::string kind = get_choice(*t, "kind", {"tokens", "features"}, "", t->source(), "[input]", true);
    in.kind = kind == "tokens" ? InputKind::kTokens : InputKind::kFeatures;
    if (in.kind == InputKind::kTokens) {
      check_keys(*t, {"kind", "vocab"}, "in [input] of kind \"tokens\"",
                 t->get("size") ? " ('size' is for \"features\" input)" : "");
      in.vocab = get_int(*t, "vocab", 0, 1, kMaxSize, true, t->source(), "[input] of kind \"tokens\"");
    } else {
      check_keys(*t, {"kind", "size"}, "in [input] of kind \"features\"",
                 t->get("vocab") ? " ('vocab' is for \"tokens\" input)" : "");
      in.size = get_int(*t, "size", 0, 1, kMaxSize, true, t->source(), "[input] of kind \"features\"");
    }
  }

  void parse_layers(const toml::table &root, ModelSpec &spec) const {
    const toml::node *n = root.get("layers");
    if (!n) throw CompileError(SourceLoc{file_, 1, 1}, "the model has no [[layers]]");
    const toml::array *arr = n->as_array();
    if (!arr) fail(n->source(), std::string("'layers' must be an array of tables ([[layers]]), not ") + type_name(*n));
    if (arr->empty()) fail(n->source(), "'layers' is empty");
    static const std::vector<std::string> kinds = {"embedding", "rnn", "lstm", "gru", "readout", "dropout", "linear"};
    for (const toml::node &item : *arr) {
      const toml::table *t = item.as_table();
      if (!t) fail(item.source(), std::string("each entry of 'layers' must be a table, not ") + type_name(item));
      std::string where = "layer " + std::to_string(spec.layers.size());
      // Without a kind, a key no layer knows is most likely a misspelt 'kind'.
      if (!t->get("kind")) check_keys(*t, all_layer_keys(), "in a layer");
      std::string kind = get_choice(*t, "kind", kinds, "", t->source(), where, true);
      LayerSpec l;
      l.kind = static_cast<LayerKind>(std::find(kinds.begin(), kinds.end(), kind) - kinds.begin());
      l.loc = loc(t->source());
      const auto &allowed = kLayerKeys.at(l.kind);
      check_keys(*t, allowed, "in " + article(kind.c_str()) + " layer", other_kind_hint(*t, allowed));
      where = article(kind.c_str()) + " layer";
      switch (l.kind) {
        case LayerKind::kEmbedding:
          l.dim = get_int(*t, "dim", 0, 1, kMaxSize, true, t->source(), where);
          break;
        case LayerKind::kRnn:
        case LayerKind::kLstm:
        case LayerKind::kGru:
          l.hidden = get_int(*t, "hidden", 0, 1, kMaxSize, true, t->source(), where);
          l.num_layers = get_int(*t, "num_layers", 1, 1, kMaxSize, false, t->source(), where);
          l.bidirectional = get_bool(*t, "bidirectional", false);
          l.reverse = get_bool(*t, "reverse", false);
          if (l.reverse && l.bidirectional)
            fail(t->get("reverse")->source(),
                 "'reverse' runs the layer in the reverse direction only; a bidirectional layer already has one");
          l.dropout = get_real(*t, "dropout", 0.0, 0.0, 1.0, false);
          l.bias = get_bool(*t, "bias", true);
          if (l.kind == LayerKind::kRnn)
            l.nonlinearity =
                get_choice(*t, "nonlinearity", {"tanh", "relu"}, "tanh", t->source(), where, false) == "tanh"
                    ? Nonlinearity::kTanh
                    : Nonlinearity::kRelu;
          if (l.kind == LayerKind::kGru) l.linear_before_reset = get_bool(*t, "linear_before_reset", true);
          if (l.kind == LayerKind::kLstm) {
            l.peepholes = get_bool(*t, "peepholes", false);
            l.input_forget = get_bool(*t, "input_forget", false);
            // PyTorch's proj_size: h = W_hr (o ⊙ tanh(c)), proj_size < hidden.
            l.proj_size = get_int(*t, "proj_size", 0, 1, kMaxSize, false, t->source(), where);
            if (const toml::node *ps = t->get("proj_size"); ps && l.proj_size >= l.hidden)
              fail(ps->source(), "'proj_size' must be smaller than 'hidden' (" + std::to_string(l.hidden) +
                                     "), as "
                                     "in PyTorch");
          }
          // ONNX's `clip`: every activation's input bounded to [-clip, clip].
          l.clip = get_real(*t, "clip", 0.0, -HUGE_VAL, HUGE_VAL, false);
          if (const toml::node *c = t->get("clip"); c && l.clip <= 0)
            fail(c->source(), "'clip' must be positive (it bounds the gate pre-activations to [-clip, clip])");
          parse_init(*t, l, kind);
          break;
        case LayerKind::kReadout: {
          std::string m = get_choice(*t, "mode", {"last", "all", "mean"}, "", t->source(), where, true);
          l.mode = m == "last" ? ReadoutMode::kLast : m == "all" ? ReadoutMode::kAll : ReadoutMode::kMean;
          break;
        }
        case LayerKind::kDropout:
          l.p = get_real(*t, "p", 0.0, 0.0, 1.0, false);
          if (!t->get("p")) fail(t->source(), "a dropout layer needs 'p' (the probability of zeroing, in [0, 1])");
          break;
        case LayerKind::kLinear:
          l.out = get_int(*t, "out", 0, 1, kMaxSize, true, t->source(), where);
          l.bias = get_bool(*t, "bias", true);
          break;
      }
      spec.layers.push_back(l);
    }
  }

  // `init` ("pytorch" or "chrono") and, with chrono, `chrono_t_max`.
  void parse_init(const toml::table &t, LayerSpec &l, const std::string &kind) const {
    const std::string where = article(kind.c_str()) + " layer";
    const std::string init = get_choice(t, "init", {"pytorch", "chrono"}, "pytorch", t.source(), where, false);
    l.init = init == "chrono" ? InitScheme::kChrono : InitScheme::kPytorch;
    const toml::node *tmax = t.get("chrono_t_max");
    if (l.init == InitScheme::kPytorch) {
      if (tmax) fail(tmax->source(), "'chrono_t_max' is only meaningful with init = \"chrono\"");
      return;
    }
    const toml::node *at = t.get("init");
    if (l.kind == LayerKind::kRnn)
      fail(at->source(),
           "init = \"chrono\" sets gate biases; an rnn layer has no gates (chrono is for lstm and gru layers)");
    if (!l.bias) fail(at->source(), "init = \"chrono\" sets the gate biases, but this layer has bias = false");
    if (!tmax)
      fail(at->source(), "init = \"chrono\" needs 'chrono_t_max', the longest dependency in steps (an integer >= 2)");
    l.chrono_t_max = get_int(t, "chrono_t_max", 0, 2, kMaxSize, true, t.source(), where);
  }

  // The keys of every layer kind, "kind" first.
  static const std::vector<std::string> &all_layer_keys() {
    static const std::vector<std::string> keys = [] {
      std::vector<std::string> v = {"kind"};
      for (const auto &[kind, ks] : kLayerKeys)
        for (const auto &k : ks)
          if (std::find(v.begin(), v.end(), k) == v.end()) v.push_back(k);
      return v;
    }();
    return keys;
  }

  // For a key that is valid for some other layer kind, say which.
  static std::string other_kind_hint(const toml::table &t, const std::vector<std::string> &allowed) {
    for (auto &&[key, node] : t) {
      std::string k(key.str());
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string owners;
      for (const auto &[kind, keys] : kLayerKeys)
        if (std::find(keys.begin(), keys.end(), k) != keys.end())
          owners += std::string(owners.empty() ? "" : ", ") + to_string(kind);
      if (!owners.empty()) return " ('" + k + "' belongs to layers of kind " + owners + ")";
      return "";
    }
    return "";
  }

  void parse_loss(const toml::table &root, ModelSpec &spec) const {
    const toml::table *t = get_table(root, "loss");
    if (!t) return;
    check_keys(*t, kLossKeys, "in [loss]");
    std::string k = get_choice(*t, "kind", {"cross_entropy", "mse", "none"}, "none", t->source(), "[loss]", true);
    spec.loss = k == "cross_entropy" ? LossKind::kCrossEntropy : k == "mse" ? LossKind::kMse : LossKind::kNone;
    spec.loss_loc = loc(t->get("kind")->source());
  }

  void parse_train(const toml::table &root, ModelSpec &spec) const {
    const toml::table *t = get_table(root, "train");
    if (!t) return;
    check_keys(*t, kTrainKeys, "in [train]");
    TrainSpec &tr = spec.train;
    tr.optimizer = get_choice(*t, "optimizer", {"adam", "sgd"}, "adam", t->source(), "[train]", false) == "adam"
                       ? OptimizerKind::kAdam
                       : OptimizerKind::kSgd;
    const double inf = std::numeric_limits<double>::infinity();
    tr.learning_rate = get_real(*t, "learning_rate", tr.learning_rate, 0.0, inf, false, true);
    if (const toml::node *n = t->get("betas")) {
      const toml::array *a = n->as_array();
      if (!a || a->size() != 2) fail(n->source(), "'betas' must be an array of two numbers, like [0.9, 0.999]");
      tr.beta1 = real_value(*a->get(0), "betas[0]", 0.0, 1.0, true, false);
      tr.beta2 = real_value(*a->get(1), "betas[1]", 0.0, 1.0, true, false);
    }
    tr.eps = get_real(*t, "eps", tr.eps, 0.0, inf, false);
    tr.weight_decay = get_real(*t, "weight_decay", 0.0, 0.0, inf, false);
    tr.momentum = get_real(*t, "momentum", 0.0, 0.0, inf, false);
    if (t->get("clip_grad_norm")) tr.clip_grad_norm = get_real(*t, "clip_grad_norm", 0.0, 0.0, inf, false, true);
    tr.epochs = get_int(*t, "epochs", tr.epochs, 1, kMaxSize, false, t->source(), "[train]");
    tr.batch_size = get_int(*t, "batch_size", tr.batch_size, 1, kMaxSize, false, t->source(), "[train]");
    tr.seed = static_cast<uint64_t>(
        get_int(*t, "seed", 0, 0, std::numeric_limits<int64_t>::max(), false, t->source(), "[train]"));
  }

  // The layer order rule of the model language (see docs/model_format.md).
  void check_order(const ModelSpec &spec) const {
    const auto &ls = spec.layers;
    const bool tokens = spec.input.kind == InputKind::kTokens;
    size_t i = 0;
    if (tokens) {
      if (ls[0].kind != LayerKind::kEmbedding)
        throw CompileError(ls[0].loc,
                           std::string("a model with \"tokens\" input starts with an embedding layer, not ") +
                               article(to_string(ls[0].kind)));
      i = 1;
    }
    bool seen_recurrent = false, seen_readout = false;
    for (; i < ls.size(); ++i) {
      const LayerSpec &l = ls[i];
      const std::string what = "layer " + std::to_string(i) + " (" + to_string(l.kind) + ")";
      if (l.kind == LayerKind::kEmbedding) {
        throw CompileError(l.loc, tokens ? what + ": only one embedding layer is allowed, and it comes first"
                                         : what +
                                               ": a model with \"features\" input has no embedding layer "
                                               "(embeddings map token ids)");
      }
      if (!seen_readout) {
        if (is_recurrent(l.kind)) {
          seen_recurrent = true;
        } else if (l.kind == LayerKind::kDropout) {
          if (!seen_recurrent)
            throw CompileError(l.loc,
                               what + ": before the readout, dropout may only stand between two recurrent layers");
          if (i + 1 >= ls.size() || !is_recurrent(ls[i + 1].kind))
            throw CompileError(l.loc, what +
                                          ": before the readout, dropout may only stand between two recurrent "
                                          "layers; move it after the readout to drop out the readout's output");
        } else if (l.kind == LayerKind::kReadout) {
          if (!seen_recurrent)
            throw CompileError(l.loc,
                               what + ": the readout must follow at least one recurrent layer (rnn, lstm or gru)");
          seen_readout = true;
        } else {  // linear
          throw CompileError(l.loc,
                             what +
                                 ": a linear layer must come after the readout; the recurrent layers' "
                                 "outputs reach the head through a readout (mode \"last\", \"all\" or \"mean\")");
        }
      } else {
        if (is_recurrent(l.kind)) throw CompileError(l.loc, what + ": recurrent layers must come before the readout");
        if (l.kind == LayerKind::kReadout) throw CompileError(l.loc, what + ": a model has exactly one readout");
      }
    }
    if (!seen_recurrent) throw CompileError(ls.back().loc, "the model has no recurrent layer (rnn, lstm or gru)");
    if (!seen_readout)
      throw CompileError(ls.back().loc,
                         "the model has no readout layer; after the recurrent layers add "
                         "[[layers]] kind = \"readout\" with mode \"last\", \"all\" or \"mean\"");
  }

  void check_loss(const ModelSpec &spec) const {
    if (spec.loss != LossKind::kCrossEntropy) return;
    const LayerSpec &last = spec.layers.back();
    if (last.kind != LayerKind::kLinear || last.out < 2)
      throw CompileError(spec.loss_loc,
                         "loss \"cross_entropy\" needs the model to end with a linear layer with "
                         "out >= 2 (its outputs are the class logits)");
  }

  std::string file_;
};

}  // namespace

ModelSpec parse_model_text(const std::string &text, const std::string &file) { return Parser(file).parse(text); }

ModelSpec parse_model_file(const std::string &path) {
  // A directory opens as an empty stream on Linux; say so rather than
  // reporting an empty model.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw CompileError(SourceLoc{path, 0, 0}, "cannot open the model file: it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CompileError(SourceLoc{path, 0, 0}, "cannot open the model file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_model_text(ss.str(), path);
}

}  // namespace rnnc

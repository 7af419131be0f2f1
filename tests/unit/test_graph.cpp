// Unit tests of the graph IR: parameter names, shapes and order equal
// PyTorch's state_dict, parameter totals follow the PyTorch formulas, the
// layer table is valid JSON, and the verifier refuses hand-broken graphs.
//
// The expected names, shapes and totals were checked against torch.nn
// modules (torch 1.13: nn.ModuleList over nn.Embedding / nn.RNN / nn.LSTM /
// nn.GRU / nn.Linear, readouts and dropouts as parameterless entries) and
// are hard-coded so that the test needs no Python.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "frontend/parser.h"
#include "ir/graph.h"

namespace rnnc::ir {
namespace {

using Shape = std::vector<int64_t>;
using NamedShapes = std::vector<std::pair<std::string, Shape>>;

Graph build(const std::string &text) { return build_graph(parse_model_text(text, "m.toml")); }

NamedShapes named_shapes(const Graph &g) {
  NamedShapes v;
  for (const Param &p : g.params) v.emplace_back(p.name, p.shape);
  return v;
}

// The parameter count of one recurrent entry by the PyTorch formula: per
// stacked layer and direction, G*H*(I + H) weights and 2*G*H biases.
int64_t recurrent_params(int gates, int64_t input, int64_t hidden, int64_t layers, int directions, bool bias) {
  int64_t n = 0;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t in = l == 0 ? input : hidden * directions;
    n += directions * (gates * hidden * (in + hidden) + (bias ? 2 * gates * hidden : 0));
  }
  return n;
}

int64_t linear_params(int64_t in, int64_t out, bool bias) { return out * in + (bias ? out : 0); }

TEST(Graph, SentimentLstmMatchesPyTorchStateDict) {
  const Graph g = build_graph(parse_model_file("../models/sentiment_lstm.toml"));
  const NamedShapes want = {
      {"layers.0.weight", {50, 32}},
      {"layers.1.weight_ih_l0", {256, 32}},
      {"layers.1.weight_hh_l0", {256, 64}},
      {"layers.1.bias_ih_l0", {256}},
      {"layers.1.bias_hh_l0", {256}},
      {"layers.1.weight_ih_l1", {256, 64}},
      {"layers.1.weight_hh_l1", {256, 64}},
      {"layers.1.bias_ih_l1", {256}},
      {"layers.1.bias_hh_l1", {256}},
      {"layers.4.weight", {2, 64}},
      {"layers.4.bias", {2}},
  };
  EXPECT_EQ(named_shapes(g), want);
  EXPECT_EQ(g.total_params(), 60098);
  EXPECT_EQ(g.total_params(), 50 * 32 + recurrent_params(4, 32, 64, 2, 1, true) + linear_params(64, 2, true));
  // Nodes: input, embedding, lstm, readout, dropout, linear.
  ASSERT_EQ(g.nodes.size(), 6u);
  const std::vector<int64_t> per_node = {0, 1600, 58368, 0, 0, 130};
  for (size_t i = 0; i < per_node.size(); ++i) EXPECT_EQ(g.param_count(static_cast<int>(i)), per_node[i]) << i;
  for (const Param &p : g.params) EXPECT_EQ(g.nodes[p.node].layer, std::stoi(p.name.substr(7))) << p.name;
  EXPECT_EQ(g.params[0].init, InitKind::kNormal);
  EXPECT_EQ(g.params[1].init, InitKind::kUniform);
  EXPECT_DOUBLE_EQ(g.params[1].bound, 0.125);  // 1/sqrt(hidden)
  EXPECT_DOUBLE_EQ(g.params[9].bound, 0.125);  // 1/sqrt(in_features)
}

TEST(Graph, BidirectionalGruMatchesPyTorchStateDict) {
  const Graph g = build_graph(parse_model_file("../models/bigru_tagger.toml"));
  NamedShapes want = {{"layers.0.weight", {50, 24}}};
  for (int l = 0; l < 2; ++l)
    for (const char *dir : {"", "_reverse"}) {
      const std::string sfx = "_l" + std::to_string(l) + dir;
      want.push_back({"layers.1.weight_ih" + sfx, {96, l == 0 ? 24 : 64}});  // layer 1 reads both directions
      want.push_back({"layers.1.weight_hh" + sfx, {96, 32}});
      want.push_back({"layers.1.bias_ih" + sfx, {96}});
      want.push_back({"layers.1.bias_hh" + sfx, {96}});
    }
  want.push_back({"layers.3.weight", {5, 64}});
  want.push_back({"layers.3.bias", {5}});
  EXPECT_EQ(named_shapes(g), want);
  EXPECT_EQ(g.total_params(), 31477);
  EXPECT_EQ(g.total_params(), 50 * 24 + recurrent_params(3, 24, 32, 2, 2, true) + linear_params(64, 5, true));
  EXPECT_EQ(g.nodes[2].out.width, 64);
  EXPECT_TRUE(g.output().out.per_step);  // readout "all": the head runs per step
}

TEST(Graph, RnnWithoutBiasHasNoBiasTensors) {
  const Graph g = build_graph(parse_model_file("../models/vanilla_rnn.toml"));
  const NamedShapes want = {{"layers.0.weight_ih_l0", {4, 3}},
                            {"layers.0.weight_hh_l0", {4, 4}},
                            {"layers.2.weight", {2, 4}},
                            {"layers.2.bias", {2}}};
  EXPECT_EQ(named_shapes(g), want);
  EXPECT_EQ(g.total_params(), 38);
}

TEST(Graph, LinearWithoutBiasHasOnlyAWeight) {
  const Graph g = build(R"(
[input]
kind = "features"
size = 7
[[layers]]
kind = "lstm"
hidden = 5
num_layers = 3
[[layers]]
kind = "readout"
mode = "last"
[[layers]]
kind = "linear"
out = 3
bias = false
[[layers]]
kind = "dropout"
p = 0.1
[[layers]]
kind = "linear"
out = 2
bias = false
)");
  NamedShapes want;
  for (int l = 0; l < 3; ++l) {
    const std::string sfx = "_l" + std::to_string(l);
    want.push_back({"layers.0.weight_ih" + sfx, {20, l == 0 ? 7 : 5}});
    want.push_back({"layers.0.weight_hh" + sfx, {20, 5}});
    want.push_back({"layers.0.bias_ih" + sfx, {20}});
    want.push_back({"layers.0.bias_hh" + sfx, {20}});
  }
  want.push_back({"layers.2.weight", {3, 5}});
  want.push_back({"layers.4.weight", {2, 3}});
  EXPECT_EQ(named_shapes(g), want);
  EXPECT_EQ(g.total_params(), 781);
}

// Totals of the formula for a few more configurations, each also checked
// against PyTorch.
TEST(Graph, TotalsFollowThePyTorchFormulas) {
  struct Case {
    std::string text;
    int64_t formula;
    int64_t torch;
  };
  const Case cases[] = {
      // bidirectional 3-layer GRU without bias, readout mean, linear 3.
      {R"([input]
kind = "features"
size = 5
[[layers]]
kind = "gru"
hidden = 7
num_layers = 3
bidirectional = true
bias = false
[[layers]]
kind = "readout"
mode = "mean"
[[layers]]
kind = "linear"
out = 3
)",
       recurrent_params(3, 5, 7, 3, 2, false) + linear_params(14, 3, true), 2313},
      // embedding, bidirectional 2-layer relu RNN, LSTM, two linears.
      {R"([input]
kind = "tokens"
vocab = 100
[[layers]]
kind = "embedding"
dim = 12
[[layers]]
kind = "rnn"
hidden = 9
num_layers = 2
bidirectional = true
nonlinearity = "relu"
[[layers]]
kind = "lstm"
hidden = 6
[[layers]]
kind = "readout"
mode = "last"
[[layers]]
kind = "linear"
out = 4
bias = false
[[layers]]
kind = "linear"
out = 2
)",
       100 * 12 + recurrent_params(1, 12, 9, 2, 2, true) + recurrent_params(4, 18, 6, 1, 1, true) +
           linear_params(6, 4, false) + linear_params(4, 2, true),
       2794},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(c.formula, c.torch);
    EXPECT_EQ(build(c.text).total_params(), c.torch) << c.text;
  }
  // The shipped comparison and memory models.
  const std::pair<const char *, int64_t> shipped[] = {{"compare_lstm", 25218}, {"compare_gru", 18946},
                                                      {"compare_rnn", 6402},   {"memory_lstm", 17282},
                                                      {"memory_rnn", 4418},    {"packed_lstm", 7266}};
  for (const auto &[name, torch] : shipped)
    EXPECT_EQ(build_graph(parse_model_file(std::string("../models/") + name + ".toml")).total_params(), torch) << name;
  EXPECT_EQ(recurrent_params(4, 32, 64, 1, 1, true) + linear_params(64, 2, true), 25218);
  EXPECT_EQ(recurrent_params(1, 1, 64, 1, 1, true) + linear_params(64, 2, true), 4418);
}

TEST(Graph, LayerTableJsonIsValidJson) {
  const Graph g = build_graph(parse_model_file("../models/sentiment_lstm.toml"));
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(layer_table_json(g));
  ASSERT_TRUE(doc.is_object());
  std::vector<std::string> keys;
  for (const auto &member : doc.items()) keys.push_back(member.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"model", "layers", "total_params", "loss"}));
  EXPECT_EQ(doc.at("model"), "sentiment_lstm");
  EXPECT_EQ(doc.at("total_params"), 60098);
  EXPECT_EQ(doc.at("loss"), "cross_entropy");

  const nlohmann::ordered_json &layers = doc.at("layers");
  ASSERT_EQ(layers.size(), 5u);  // every [[layers]] entry, not the input
  const char *kinds[] = {"embedding", "lstm", "readout", "dropout", "linear"};
  const int64_t params[] = {1600, 58368, 0, 0, 130};
  int64_t sum = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const nlohmann::ordered_json &l = layers[i];
    EXPECT_EQ(l.at("index"), static_cast<int64_t>(i));
    EXPECT_EQ(l.at("kind"), kinds[i]);
    EXPECT_TRUE(l.at("details").is_string());
    EXPECT_EQ(l.at("params"), params[i]);
    sum += l.at("params").get<int64_t>();
  }
  EXPECT_EQ(sum, 60098);
  EXPECT_EQ(layers[1].at("details"), "hidden 64, 2 layers, dropout 0.3");

  // Output shapes: [B, T, width] per step, [B, width] after the readout.
  EXPECT_EQ(layers[1].at("output_shape"), nlohmann::ordered_json::parse(R"(["B", "T", 64])"));
  EXPECT_EQ(layers[4].at("output_shape"), nlohmann::ordered_json::parse(R"(["B", 2])"));
}

TEST(Graph, LayerTableAndPrintShowEveryLayer) {
  const Graph g = build_graph(parse_model_file("../models/bigru_tagger.toml"));
  const std::string table = layer_table(g);
  EXPECT_NE(table.find("model bigru_tagger"), std::string::npos) << table;
  EXPECT_NE(table.find("hidden 32, 2 layers, bidirectional, dropout 0.2"), std::string::npos) << table;
  EXPECT_NE(table.find("31477"), std::string::npos) << table;
  EXPECT_NE(table.find("loss: cross_entropy"), std::string::npos) << table;
  const std::string dump = print_graph(g);
  for (const Param &p : g.params) EXPECT_NE(dump.find(p.name), std::string::npos) << p.name;
}

// --- the verifier --------------------------------------------------------------

const char *const kSentiment = "../models/sentiment_lstm.toml";

// Runs verify() on `g` and returns the message it throws, or "" if none.
std::string verify_error(const Graph &g) {
  try {
    verify(g);
  } catch (const std::logic_error &e) {
    return e.what();
  }
  return "";
}

TEST(GraphVerify, AcceptsBuiltGraphs) {
  for (const char *name : {"bigru_tagger", "sentiment_lstm", "vanilla_rnn"})
    EXPECT_EQ(verify_error(build_graph(parse_model_file(std::string("../models/") + name + ".toml"))), "") << name;
}

TEST(GraphVerify, RefusesMismatchedWidths) {
  Graph g = build_graph(parse_model_file(kSentiment));
  g.nodes[5].in.width = 32;  // the linear reads 32 wide, the dropout gives 64
  EXPECT_NE(verify_error(g).find("node 5 (linear) reads [B, 32] but its producer gives [B, 64]"), std::string::npos)
      << verify_error(g);
}

TEST(GraphVerify, RefusesARecurrentWidthOtherThanStateWidthTimesDirections) {
  Graph g = build_graph(parse_model_file(kSentiment));
  g.nodes[2].out.width = 128;
  g.nodes[3].in.width = 128;
  EXPECT_NE(verify_error(g).find("output width is not the state width x directions"), std::string::npos) << verify_error(g);
}

TEST(GraphVerify, RefusesADuplicateParameterName) {
  Graph g = build_graph(parse_model_file(kSentiment));
  g.params[2].name = g.params[1].name;
  EXPECT_NE(verify_error(g).find("parameter name layers.1.weight_ih_l0 is used twice"), std::string::npos)
      << verify_error(g);
}

TEST(GraphVerify, RefusesAParameterNamingTheWrongOwner) {
  Graph g = build_graph(parse_model_file(kSentiment));
  g.params.back().node = 2;  // the linear's bias claims the LSTM
  EXPECT_NE(verify_error(g).find("parameter layers.4.bias names the wrong owner"), std::string::npos)
      << verify_error(g);
}

TEST(GraphVerify, RefusesAParameterWithTwoOwners) {
  Graph g = build_graph(parse_model_file(kSentiment));
  g.nodes[5].params.push_back(0);
  EXPECT_NE(verify_error(g).find("parameter layers.0.weight has two owners"), std::string::npos) << verify_error(g);
}

TEST(GraphVerify, RefusesAWrongRecurrentShape) {
  Graph g = build_graph(parse_model_file(kSentiment));
  g.params[5].shape = {256, 32};  // weight_ih_l1 reads the 64-wide layer 0 output
  EXPECT_NE(verify_error(g).find("has a wrong shape"), std::string::npos) << verify_error(g);
}

TEST(GraphVerify, RefusesAMissingReadout) {
  Graph g = build(R"([input]
kind = "features"
size = 3
[[layers]]
kind = "lstm"
hidden = 4
[[layers]]
kind = "readout"
mode = "all"
)");
  g.nodes.pop_back();
  EXPECT_NE(verify_error(g).find("there is no readout"), std::string::npos) << verify_error(g);
}

TEST(GraphVerify, RefusesALinearBeforeTheReadout) {
  Graph g = build_graph(parse_model_file("../models/vanilla_rnn.toml"));
  std::swap(g.nodes[2], g.nodes[3]);  // linear, then readout; types kept consistent below
  g.nodes[2].in = g.nodes[1].out;
  g.nodes[2].out = TensorType{true, 2, false};
  g.nodes[3].in = g.nodes[2].out;
  g.nodes[3].out = g.nodes[2].out;
  for (int p : g.nodes[2].params) g.params[p].node = 2;
  EXPECT_NE(verify_error(g).find("node 2 (linear) precedes the readout"), std::string::npos) << verify_error(g);
}

}  // namespace
}  // namespace rnnc::ir

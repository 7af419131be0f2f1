// Unit tests of the model-file parser: every key of a valid file is read and
// every default filled in; every malformed file is refused with exactly one
// error at the file:line:col of its problem. The graph builder is included
// because it refuses tensors above 2^31 elements at the layer's location.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frontend/parser.h"
#include "ir/graph.h"
#include "rnnc/edit_distance.h"

namespace rnnc {
namespace {

using V = std::vector<std::string>;

// The lines joined with newlines: line i + 1 of the text is lines[i].
std::string lines(const V &ls) {
  std::string s;
  for (const auto &l : ls) s += l + "\n";
  return s;
}

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Parses and builds the graph; returns what() of the CompileError, or "" when
// the model is accepted.
std::string error_of(const std::string &text, const std::string &file = "m.toml") {
  try {
    ir::build_graph(parse_model_text(text, file));
  } catch (const CompileError &e) {
    return e.what();
  }
  return "";
}

// Lines 1-3: token input; lines 4-6: its embedding.
const V kTokens = {"[input]", "kind = \"tokens\"", "vocab = 50", "[[layers]]", "kind = \"embedding\"", "dim = 8"};
// Lines 1-3: feature input.
const V kFeatures = {"[input]", "kind = \"features\"", "size = 3"};

V operator+(V a, const V &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Three-line layer entries.
const V kLstm = {"[[layers]]", "kind = \"lstm\"", "hidden = 4"};
const V kGru = {"[[layers]]", "kind = \"gru\"", "hidden = 4"};
const V kLast = {"[[layers]]", "kind = \"readout\"", "mode = \"last\""};
const V kDropout = {"[[layers]]", "kind = \"dropout\"", "p = 0.5"};
const V kLinear2 = {"[[layers]]", "kind = \"linear\"", "out = 2"};
const V kEmbedding = {"[[layers]]", "kind = \"embedding\"", "dim = 8"};

// A valid features model whose lines 10.. are free for [loss] and [train].
const V kValidFeatures = kFeatures + kLstm + kLast;

// --- valid files -------------------------------------------------------------

TEST(Parser, ReadsEveryOption) {
  const std::string text = R"(# every key of the model language
name = "everything"

[input]
kind = "tokens"
vocab = 1000

[[layers]]
kind = "embedding"
dim = 16

[[layers]]
kind = "rnn"
hidden = 12
num_layers = 3
bidirectional = true
dropout = 0.25
bias = false
nonlinearity = "relu"

[[layers]]
kind = "dropout"
p = 0.1

[[layers]]
kind = "gru"
hidden = 10
linear_before_reset = false

[[layers]]
kind = "lstm"
hidden = 6

[[layers]]
kind = "readout"
mode = "mean"

[[layers]]
kind = "dropout"
p = 1

[[layers]]
kind = "linear"
out = 7
bias = false

[[layers]]
kind = "linear"
out = 3

[loss]
kind = "cross_entropy"

[train]
optimizer = "sgd"
learning_rate = 0.05
betas = [0.8, 0.99]
eps = 1e-6
weight_decay = 0.01
momentum = 0.9
clip_grad_norm = 5
epochs = 3
batch_size = 8
seed = 1234
)";
  const ModelSpec s = parse_model_text(text, "dir/file.toml");
  EXPECT_EQ(s.file, "dir/file.toml");
  EXPECT_EQ(s.name, "everything");
  EXPECT_EQ(s.name_loc.str(), "dir/file.toml:2:8");
  EXPECT_EQ(s.input.kind, InputKind::kTokens);
  EXPECT_EQ(s.input.vocab, 1000);
  EXPECT_EQ(s.input.loc.str(), "dir/file.toml:4:1");
  ASSERT_EQ(s.layers.size(), 9u);

  EXPECT_EQ(s.layers[0].kind, LayerKind::kEmbedding);
  EXPECT_EQ(s.layers[0].dim, 16);
  EXPECT_EQ(s.layers[0].loc.str(), "dir/file.toml:8:1");

  const LayerSpec &rnn = s.layers[1];
  EXPECT_EQ(rnn.kind, LayerKind::kRnn);
  EXPECT_EQ(rnn.hidden, 12);
  EXPECT_EQ(rnn.num_layers, 3);
  EXPECT_TRUE(rnn.bidirectional);
  EXPECT_DOUBLE_EQ(rnn.dropout, 0.25);
  EXPECT_FALSE(rnn.bias);
  EXPECT_EQ(rnn.nonlinearity, Nonlinearity::kRelu);
  EXPECT_EQ(rnn.loc.str(), "dir/file.toml:12:1");

  EXPECT_EQ(s.layers[2].kind, LayerKind::kDropout);
  EXPECT_DOUBLE_EQ(s.layers[2].p, 0.1);

  const LayerSpec &gru = s.layers[3];
  EXPECT_EQ(gru.kind, LayerKind::kGru);
  EXPECT_EQ(gru.hidden, 10);
  EXPECT_FALSE(gru.linear_before_reset);
  EXPECT_TRUE(gru.bias);

  EXPECT_EQ(s.layers[4].kind, LayerKind::kLstm);
  EXPECT_EQ(s.layers[4].hidden, 6);
  EXPECT_EQ(s.layers[5].kind, LayerKind::kReadout);
  EXPECT_EQ(s.layers[5].mode, ReadoutMode::kMean);
  EXPECT_EQ(s.layers[6].kind, LayerKind::kDropout);
  EXPECT_DOUBLE_EQ(s.layers[6].p, 1.0);  // an integer is accepted where a real is expected
  EXPECT_EQ(s.layers[7].kind, LayerKind::kLinear);
  EXPECT_EQ(s.layers[7].out, 7);
  EXPECT_FALSE(s.layers[7].bias);
  EXPECT_EQ(s.layers[8].out, 3);
  EXPECT_TRUE(s.layers[8].bias);

  EXPECT_EQ(s.loss, LossKind::kCrossEntropy);
  EXPECT_EQ(s.loss_loc.str(), "dir/file.toml:52:8");
  const TrainSpec &t = s.train;
  EXPECT_EQ(t.optimizer, OptimizerKind::kSgd);
  EXPECT_DOUBLE_EQ(t.learning_rate, 0.05);
  EXPECT_DOUBLE_EQ(t.beta1, 0.8);
  EXPECT_DOUBLE_EQ(t.beta2, 0.99);
  EXPECT_DOUBLE_EQ(t.eps, 1e-6);
  EXPECT_DOUBLE_EQ(t.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(t.momentum, 0.9);
  ASSERT_TRUE(t.clip_grad_norm.has_value());
  EXPECT_DOUBLE_EQ(*t.clip_grad_norm, 5.0);
  EXPECT_EQ(t.epochs, 3);
  EXPECT_EQ(t.batch_size, 8);
  EXPECT_EQ(t.seed, 1234u);

  EXPECT_EQ(error_of(text), "");
}

TEST(Parser, FillsInDefaults) {
  const V rnn = {"[[layers]]", "kind = \"rnn\"", "hidden = 4"};
  const ModelSpec s = parse_model_text(lines(kFeatures + rnn + kGru + kLast), "some/dir/my_model.toml");
  // The name defaults to the file's stem, located at the top of the file.
  EXPECT_EQ(s.name, "my_model");
  EXPECT_EQ(s.name_loc.str(), "some/dir/my_model.toml:1:1");
  EXPECT_EQ(s.input.kind, InputKind::kFeatures);
  EXPECT_EQ(s.input.size, 3);
  ASSERT_EQ(s.layers.size(), 3u);
  for (int i : {0, 1}) {
    const LayerSpec &l = s.layers[i];
    EXPECT_EQ(l.num_layers, 1);
    EXPECT_FALSE(l.bidirectional);
    EXPECT_EQ(l.dropout, 0.0);
    EXPECT_TRUE(l.bias);
  }
  EXPECT_EQ(s.layers[0].nonlinearity, Nonlinearity::kTanh);
  EXPECT_TRUE(s.layers[1].linear_before_reset);
  EXPECT_EQ(s.loss, LossKind::kNone);

  const TrainSpec &t = s.train;
  EXPECT_EQ(t.optimizer, OptimizerKind::kAdam);
  EXPECT_DOUBLE_EQ(t.learning_rate, 1e-3);
  EXPECT_DOUBLE_EQ(t.beta1, 0.9);
  EXPECT_DOUBLE_EQ(t.beta2, 0.999);
  EXPECT_DOUBLE_EQ(t.eps, 1e-8);
  EXPECT_EQ(t.weight_decay, 0.0);
  EXPECT_EQ(t.momentum, 0.0);
  EXPECT_FALSE(t.clip_grad_norm.has_value());
  EXPECT_EQ(t.epochs, 10);
  EXPECT_EQ(t.batch_size, 32);
  EXPECT_EQ(t.seed, 0u);
}

TEST(Parser, ChronoInitialisationReachesTheGraph) {
  auto layer = [](const std::string &kind, const V &keys) { return V{"[[layers]]", "kind = \"" + kind + "\""} + keys; };
  const V lstm = layer("lstm", {"hidden = 4", "num_layers = 2", "init = \"chrono\"", "chrono_t_max = 50"});
  const V gru = layer("gru", {"hidden = 3", "bidirectional = true", "init = \"chrono\"", "chrono_t_max = 7"});
  const V rnn = layer("rnn", {"hidden = 2", "init = \"pytorch\""});
  const ModelSpec s = parse_model_text(lines(kFeatures + lstm + gru + rnn + kLast), "m.toml");
  EXPECT_EQ(s.layers[0].init, InitScheme::kChrono);
  EXPECT_EQ(s.layers[0].chrono_t_max, 50);
  EXPECT_EQ(s.layers[1].chrono_t_max, 7);
  EXPECT_EQ(s.layers[2].init, InitScheme::kPytorch);
  const ir::Graph g = ir::build_graph(s);
  int chrono = 0, zero = 0;
  for (const ir::Param &p : g.params) {
    const bool ih = p.name.find("bias_ih") != std::string::npos, hh = p.name.find("bias_hh") != std::string::npos;
    const bool entry0 = p.name.rfind("layers.0.", 0) == 0, entry1 = p.name.rfind("layers.1.", 0) == 0;
    if (ih && (entry0 || entry1)) {
      EXPECT_EQ(p.init, entry0 ? ir::InitKind::kChronoLstm : ir::InitKind::kChronoGru) << p.name;
      EXPECT_EQ(p.bound, entry0 ? 50.0 : 7.0) << p.name;
      ++chrono;
    } else if (hh && (entry0 || entry1)) {
      EXPECT_EQ(p.init, ir::InitKind::kZero) << p.name;
      ++zero;
    } else {
      EXPECT_TRUE(p.init == ir::InitKind::kUniform || p.init == ir::InitKind::kNormal) << p.name;
    }
  }
  EXPECT_EQ(chrono, 4);  // lstm: 2 sub-layers; gru: 2 directions
  EXPECT_EQ(zero, 4);
}

TEST(Parser, EmptyTrainAndExplicitNoLossKeepDefaults) {
  const ModelSpec s = parse_model_text(lines(kValidFeatures + V{"[loss]", "kind = \"none\"", "[train]"}), "m.toml");
  EXPECT_EQ(s.loss, LossKind::kNone);
  EXPECT_EQ(s.train.epochs, 10);
  EXPECT_EQ(s.train.optimizer, OptimizerKind::kAdam);
}

TEST(Parser, NameDefaultsToTheFileStem) {
  EXPECT_EQ(parse_model_text(lines(kValidFeatures), "m.toml").name, "m");
  EXPECT_EQ(parse_model_text(lines(kValidFeatures), "../models/packed_lstm.toml").name, "packed_lstm");
  EXPECT_EQ(parse_model_text(lines(kValidFeatures), "no_extension").name, "no_extension");
  // An explicit name wins over the stem, even when the stem is unusable.
  EXPECT_EQ(parse_model_text("name = \"ok\"\n" + lines(kValidFeatures), "my-model.toml").name, "ok");
}

TEST(Parser, AcceptsTheLimits) {
  // Sizes up to 2^20 and a parameter of 2^29 - 1 floats (2^31 - 4 bytes,
  // within a kernel buffer's 2^31 - 1) are allowed (the graph only records
  // shapes, so nothing that large is allocated).
  const std::string text =
      lines(V{"[input]", "kind = \"tokens\"", "vocab = 1048575", "[[layers]]", "kind = \"embedding\"", "dim = 512"} +
            kLstm + kLast + V{"[train]", "batch_size = 1048576"});
  EXPECT_EQ(error_of(text), "");
  const ir::Graph g = ir::build_graph(parse_model_text(text, "m.toml"));
  EXPECT_EQ(g.params[0].numel(), int64_t{1048575} * 512);
  EXPECT_LE(g.params[0].numel() * 4, (int64_t{1} << 31) - 1);
}

TEST(Parser, ParsesEveryShippedModel) {
  for (const char *name : {"bigru_tagger", "compare_gru", "compare_lstm", "compare_rnn", "memory_lstm", "memory_rnn",
                           "packed_lstm", "sentiment_lstm", "vanilla_rnn"}) {
    SCOPED_TRACE(name);
    const ModelSpec s = parse_model_file(std::string("../models/") + name + ".toml");
    EXPECT_EQ(s.name, name);
    ir::verify(ir::build_graph(s));
  }
}

TEST(Parser, UnreadableFileIsReportedWithoutALine) {
  try {
    parse_model_file("no/such/model.toml");
    FAIL() << "a missing file was accepted";
  } catch (const CompileError &e) {
    EXPECT_STREQ(e.what(), "no/such/model.toml: error: cannot open the model file");
    EXPECT_EQ(e.loc().line, 0);
  }
  try {
    parse_model_file("../models");
    FAIL() << "a directory was accepted";
  } catch (const CompileError &e) {
    EXPECT_STREQ(e.what(), "../models: error: cannot open the model file: it is a directory");
  }
}

TEST(Parser, ErrorCarriesItsParts) {
  try {
    parse_model_text(lines(kTokens + V{"[[layers]]", "kind = \"lstm\"", "  hiden = 64"}), "x.toml");
    FAIL() << "a misspelt key was accepted";
  } catch (const CompileError &e) {
    EXPECT_EQ(e.loc().file, "x.toml");
    EXPECT_EQ(e.loc().line, 9);
    EXPECT_EQ(e.loc().column, 3);
    EXPECT_EQ(e.message(), "unknown key 'hiden' in a lstm layer; did you mean 'hidden'?");
    EXPECT_EQ(std::string(e.what()), "x.toml:9:3: error: " + e.message());
  }
}

TEST(Diagnostics, NearestNameAcceptsPlausibleMisspellingsOnly) {
  EXPECT_EQ(edit_distance("hiden", "hidden"), 1);
  EXPECT_EQ(edit_distance("", "abc"), 3);
  EXPECT_EQ(nearest_name("hiden", {"kind", "hidden", "bias"}), "hidden");
  EXPECT_EQ(nearest_name("foo", {"kind", "hidden", "bias"}), "");
  EXPECT_EQ(nearest_name("x", {}), "");
}

// The rule of rnnc's and the generated programs' "did you mean '--...'?":
// an abbreviation finds the option it abbreviates (the first, in order),
// else a name within two edits.
TEST(Diagnostics, NearestOptionPrefersTheOptionAnAbbreviationNames) {
  const V compile = {"model", "output", "target", "cache-dir", "no-cache", "jobs"};
  EXPECT_EQ(rnnc_rt::nearest_option("out", compile), "output");  // 3 edits, but a prefix
  EXPECT_EQ(rnnc_rt::nearest_option("outptu", compile), "output");
  EXPECT_EQ(rnnc_rt::nearest_option("cache", compile), "cache-dir");
  EXPECT_EQ(rnnc_rt::nearest_option("val", {"epochs", "val-inputs", "val-labels"}), "val-inputs");
  EXPECT_EQ(rnnc_rt::nearest_option("lenghts", {"weights", "lengths"}), "lengths");
  EXPECT_EQ(rnnc_rt::nearest_option("bogus", compile), "");
  EXPECT_EQ(rnnc_rt::nearest_option("", compile), "");
  EXPECT_EQ(rnnc_rt::nearest_option("x", {}), "");
}

// --- malformed files ---------------------------------------------------------

struct BadFile {
  const char *name;  // the test's name
  std::string text;
  std::string loc;      // file:line:col the error must name
  std::string message;  // a part of the message
  std::string file = "m.toml";
};

void PrintTo(const BadFile &c, std::ostream *os) { *os << c.name; }

class MalformedFile : public testing::TestWithParam<BadFile> {};

TEST_P(MalformedFile, IsRefusedWithOneLocatedError) {
  const BadFile &c = GetParam();
  const std::string what = error_of(c.text, c.file);
  ASSERT_NE(what, "") << "accepted:\n" << c.text;
  EXPECT_EQ(what.substr(0, c.loc.size() + 9), c.loc + ": error: ") << what;
  EXPECT_NE(what.find(c.message), std::string::npos) << what;
  EXPECT_EQ(count(what, "error:"), 1u) << what;
}

// A layer entry of `kind` with the given key lines.
V layer(const std::string &kind, const V &keys) { return V{"[[layers]]", "kind = \"" + kind + "\""} + keys; }

const BadFile kBadFiles[] = {
    // TOML itself.
    {"TomlSyntax", lines({"[input]", "kind = \"tokens\"", "vocab = = 50"}), "m.toml:3:9", "parsing value"},
    {"TomlDuplicateKey", lines(kFeatures + layer("lstm", {"hidden = 4", "hidden = 5"}) + kLast), "m.toml:7:10",
     "cannot redefine existing integer 'hidden'"},

    // Unknown keys, with the nearest valid key or the list of valid keys.
    {"UnknownLayerKeySuggestsNearest", lines(kTokens + layer("lstm", {"hiden = 64"}) + kLast), "m.toml:9:1",
     "unknown key 'hiden' in a lstm layer; did you mean 'hidden'?"},
    {"MisspeltLayerKind", lines(kFeatures + V{"[[layers]]", "kidn = \"lstm\"", "hidden = 4"} + kLast), "m.toml:5:1",
     "unknown key 'kidn' in a layer; did you mean 'kind'?"},
    {"MisspeltInputKind", lines(V{"[input]", "knd = \"tokens\"", "vocab = 50"} + kEmbedding + kLstm + kLast),
     "m.toml:2:1", "unknown key 'knd' in [input]; did you mean 'kind'?"},
    {"UnknownTopLevelTable", lines(kValidFeatures + V{"[trian]", "epochs = 2"}), "m.toml:10:2",
     "unknown key 'trian' at the top level of a model file; did you mean 'train'?"},
    {"UnknownTopLevelKeyListsValidKeys", lines(V{"version = 2"} + kValidFeatures), "m.toml:1:1",
     "unknown key 'version' at the top level of a model file; valid keys: name, input, layers, loss, train"},
    {"UnknownTrainKey", lines(kValidFeatures + V{"[train]", "learing_rate = 0.1"}), "m.toml:11:1",
     "did you mean 'learning_rate'?"},
    {"UnknownLossKey", lines(kValidFeatures + V{"[loss]", "kind = \"mse\"", "reduction = \"sum\""}), "m.toml:12:1",
     "unknown key 'reduction' in [loss]; valid keys: kind"},
    {"KeyOfAnotherLayerKind", lines(kTokens + layer("lstm", {"hidden = 4", "nonlinearity = \"relu\""}) + kLast),
     "m.toml:10:1",
     "unknown key 'nonlinearity' in a lstm layer; valid keys: kind, hidden, num_layers, bidirectional, "
     "reverse, dropout, bias, init, chrono_t_max, clip, peepholes, input_forget, proj_size ('nonlinearity' belongs "
     "to layers of kind rnn)"},
    {"ClipNotPositive", lines(kFeatures + layer("gru", {"hidden = 4", "clip = 0"}) + kLast), "m.toml:7:8",
     "'clip' must be positive"},
    {"ClipNotANumber", lines(kFeatures + layer("rnn", {"hidden = 4", "clip = \"yes\""}) + kLast), "m.toml:7:8",
     "'clip' must be a number"},
    {"PeepholesOnGru", lines(kFeatures + layer("gru", {"hidden = 4", "peepholes = true"}) + kLast), "m.toml:7:1",
     "'peepholes' belongs to layers of kind lstm"},
    {"InputForgetNotBool", lines(kFeatures + layer("lstm", {"hidden = 4", "input_forget = 1"}) + kLast), "m.toml:7:16",
     "'input_forget' must be true or false"},
    {"ReverseAndBidirectional",
     lines(kFeatures + layer("lstm", {"hidden = 4", "bidirectional = true", "reverse = true"}) + kLast), "m.toml:8:11",
     "'reverse' runs the layer in the reverse direction only"},
    {"ProjSizeNotBelowHidden", lines(kFeatures + layer("lstm", {"hidden = 4", "proj_size = 4"}) + kLast), "m.toml:7:13",
     "'proj_size' must be smaller than 'hidden' (4)"},
    {"ProjSizeOnGru", lines(kFeatures + layer("gru", {"hidden = 4", "proj_size = 2"}) + kLast), "m.toml:7:1",
     "'proj_size' belongs to layers of kind lstm"},
    {"LinearKeyOnReadout", lines(kFeatures + kLstm + layer("readout", {"mode = \"last\"", "out = 2"})), "m.toml:10:1",
     "('out' belongs to layers of kind linear)"},
    {"KeyOfTheOtherInputKind",
     lines(V{"[input]", "kind = \"tokens\"", "vocab = 50", "size = 3"} + kEmbedding + kLstm + kLast), "m.toml:4:1",
     "unknown key 'size' in [input] of kind \"tokens\"; valid keys: kind, vocab ('size' is for \"features\" input)"},

    // Wrong types.
    {"StringWhereInteger", lines(kFeatures + layer("lstm", {"hidden = \"64\""}) + kLast), "m.toml:6:10",
     "'hidden' must be an integer, not a string"},
    {"FloatWhereInteger", lines(kFeatures + layer("lstm", {"hidden = 64.0"}) + kLast), "m.toml:6:10",
     "'hidden' must be an integer, not a floating-point number"},
    {"IntegerWhereBool", lines(kFeatures + layer("lstm", {"hidden = 4", "bidirectional = 1"}) + kLast), "m.toml:7:17",
     "'bidirectional' must be true or false, not an integer"},
    {"StringWhereBool", lines(kFeatures + layer("gru", {"hidden = 4", "linear_before_reset = \"no\""}) + kLast),
     "m.toml:7:23", "'linear_before_reset' must be true or false, not a string"},
    {"StringWhereNumber", lines(kFeatures + kLstm + kLast + layer("dropout", {"p = \"0.5\""})), "m.toml:12:5",
     "'p' must be a number, not a string"},
    {"IntegerWhereString", lines(kFeatures + V{"[[layers]]", "kind = 3"}), "m.toml:5:8",
     "'kind' must be a string, not an integer"},
    {"NameNotAString", lines(V{"name = 3"} + kValidFeatures), "m.toml:1:8", "'name' must be a string, not an integer"},
    {"LossNotATable", lines(V{"loss = \"mse\""} + kValidFeatures), "m.toml:1:8",
     "'loss' must be a table ([loss]), not a string"},
    {"LayersNotAnArray", lines(V{"layers = 3"} + kFeatures), "m.toml:1:10",
     "'layers' must be an array of tables ([[layers]]), not an integer"},
    {"LayersEntryNotATable", lines(V{"layers = [1]"} + kFeatures), "m.toml:1:11",
     "each entry of 'layers' must be a table, not an integer"},
    {"LayersEmpty", lines(V{"layers = []"} + kFeatures), "m.toml:1:10", "'layers' is empty"},

    // Sizes and ranges.
    {"ZeroSize", lines(kFeatures + layer("lstm", {"hidden = 0"}) + kLast), "m.toml:6:10",
     "'hidden' must be at least 1 (got 0)"},
    {"NegativeSize", lines(V{"[input]", "kind = \"tokens\"", "vocab = -5"} + kEmbedding + kLstm + kLast), "m.toml:3:9",
     "'vocab' must be at least 1 (got -5)"},
    {"AbsurdSize",
     lines(V{"[input]", "kind = \"tokens\"", "vocab = 50"} + layer("embedding", {"dim = 1048577"}) + kLstm + kLast),
     "m.toml:6:7", "'dim' = 1048577 is absurd: sizes are limited to 2^20 = 1048576"},
    {"AbsurdFeatureSize", lines(V{"[input]", "kind = \"features\"", "size = 1048577"} + kLstm + kLast), "m.toml:3:8",
     "'size' = 1048577 is absurd"},
    {"AbsurdNumLayers", lines(kFeatures + layer("gru", {"hidden = 4", "num_layers = 1048577"}) + kLast), "m.toml:7:14",
     "'num_layers' = 1048577 is absurd"},
    {"AbsurdBatchSize", lines(kValidFeatures + V{"[train]", "batch_size = 1048577"}), "m.toml:11:14",
     "'batch_size' = 1048577 is absurd"},
    {"DropoutAboveOne", lines(kFeatures + kLstm + kLast + layer("dropout", {"p = 1.5"})), "m.toml:12:5",
     "'p' must be in [0, 1] (got 1.5)"},
    {"DropoutNegative", lines(kFeatures + kLstm + kLast + layer("dropout", {"p = -0.1"})), "m.toml:12:5",
     "'p' must be in [0, 1] (got -0.1)"},
    {"RecurrentDropoutAboveOne",
     lines(kFeatures + layer("lstm", {"hidden = 4", "num_layers = 2", "dropout = 2"}) + kLast), "m.toml:8:11",
     "'dropout' must be in [0, 1] (got 2)"},
    {"LearningRateZero", lines(kValidFeatures + V{"[train]", "learning_rate = 0"}), "m.toml:11:17",
     "'learning_rate' must be in (0, inf) (got 0)"},
    {"LearningRateNan", lines(kValidFeatures + V{"[train]", "learning_rate = nan"}), "m.toml:11:17",
     "'learning_rate' must be in (0, inf) (got nan)"},
    {"ClipGradNormZero", lines(kValidFeatures + V{"[train]", "clip_grad_norm = 0.0"}), "m.toml:11:18",
     "'clip_grad_norm' must be in (0, inf) (got 0)"},
    {"WeightDecayNegative", lines(kValidFeatures + V{"[train]", "weight_decay = -1"}), "m.toml:11:16",
     "'weight_decay' must be in [0, inf) (got -1)"},
    {"SeedNegative", lines(kValidFeatures + V{"[train]", "seed = -1"}), "m.toml:11:8",
     "'seed' must be at least 0 (got -1)"},
    {"EpochsZero", lines(kValidFeatures + V{"[train]", "epochs = 0"}), "m.toml:11:10",
     "'epochs' must be at least 1 (got 0)"},

    // Values outside their enumerations, with a suggestion when one is close.
    {"BadLayerKind", lines(kFeatures + layer("lstn", {"hidden = 4"}) + kLast), "m.toml:5:8",
     "'kind' = \"lstn\" is not one of \"embedding\", \"rnn\", \"lstm\", \"gru\", \"readout\", \"dropout\" or "
     "\"linear\"; "
     "did you mean \"lstm\"?"},
    {"BadReadoutMode", lines(kFeatures + kLstm + layer("readout", {"mode = \"lats\""})), "m.toml:9:8",
     "did you mean \"last\"?"},
    {"BadNonlinearity", lines(kFeatures + layer("rnn", {"hidden = 4", "nonlinearity = \"sigmoid\""}) + kLast),
     "m.toml:7:16", "'nonlinearity' = \"sigmoid\" is not one of \"tanh\" or \"relu\""},
    {"BadOptimizer", lines(kValidFeatures + V{"[train]", "optimizer = \"adamw\""}), "m.toml:11:13",
     "'optimizer' = \"adamw\" is not one of \"adam\" or \"sgd\"; did you mean \"adam\"?"},
    {"BadLoss", lines(kValidFeatures + V{"[loss]", "kind = \"crossentropy\""}), "m.toml:11:8",
     "did you mean \"cross_entropy\"?"},
    {"BadInputKind", lines(V{"[input]", "kind = \"token\"", "vocab = 50"} + kEmbedding + kLstm + kLast), "m.toml:2:8",
     "did you mean \"tokens\"?"},

    // Missing tables and keys: located at the table that lacks them.
    {"MissingInput", lines(kLstm + kLast), "m.toml:1:1", "the model has no [input] table"},
    {"MissingInputKind", lines(V{"[input]", "vocab = 50"} + kEmbedding + kLstm + kLast), "m.toml:1:1",
     "[input] needs 'kind' (one of \"tokens\" or \"features\")"},
    {"MissingVocab", lines(V{"[input]", "kind = \"tokens\""} + kEmbedding + kLstm + kLast), "m.toml:1:1",
     "[input] of kind \"tokens\" needs 'vocab'"},
    {"MissingSize", lines(V{"[input]", "kind = \"features\""} + kLstm + kLast), "m.toml:1:1",
     "[input] of kind \"features\" needs 'size'"},
    {"MissingLayers", lines(kFeatures), "m.toml:1:1", "the model has no [[layers]]"},
    {"MissingLayerKind", lines(kFeatures + V{"[[layers]]", "hidden = 4"} + kLast), "m.toml:4:1",
     "layer 0 needs 'kind'"},
    {"MissingHidden", lines(kFeatures + layer("gru", {}) + kLast), "m.toml:4:1", "a gru layer needs 'hidden'"},
    {"MissingDim", lines(V{"[input]", "kind = \"tokens\"", "vocab = 50"} + layer("embedding", {}) + kLstm + kLast),
     "m.toml:4:1", "an embedding layer needs 'dim'"},
    {"MissingOut", lines(kValidFeatures + layer("linear", {"bias = false"})), "m.toml:10:1",
     "a linear layer needs 'out'"},
    {"MissingReadoutMode", lines(kFeatures + kLstm + layer("readout", {})), "m.toml:7:1",
     "a readout layer needs 'mode' (one of \"last\", \"all\" or \"mean\")"},
    {"MissingDropoutP", lines(kFeatures + kLstm + kLast + layer("dropout", {})), "m.toml:10:1",
     "a dropout layer needs 'p'"},
    {"MissingLossKind", lines(kValidFeatures + V{"[loss]"}), "m.toml:10:1", "[loss] needs 'kind'"},

    // The layer order.
    {"TokensWithoutEmbedding", lines(V{"[input]", "kind = \"tokens\"", "vocab = 50"} + kLstm + kLast), "m.toml:4:1",
     "a model with \"tokens\" input starts with an embedding layer, not a lstm"},
    {"FeaturesWithEmbedding", lines(kFeatures + kEmbedding + kLstm + kLast), "m.toml:4:1",
     "layer 0 (embedding): a model with \"features\" input has no embedding layer"},
    {"SecondEmbedding", lines(kTokens + kEmbedding + kLstm + kLast), "m.toml:7:1",
     "layer 1 (embedding): only one embedding layer is allowed, and it comes first"},
    {"EmbeddingAfterRecurrent", lines(kTokens + kLstm + kEmbedding + kLast), "m.toml:10:1",
     "layer 2 (embedding): only one embedding layer is allowed"},
    {"DropoutAfterEmbedding", lines(kTokens + kDropout + kLstm + kLast), "m.toml:7:1",
     "layer 1 (dropout): before the readout, dropout may only stand between two recurrent layers"},
    {"DropoutFirstForFeatures", lines(kFeatures + kDropout + kLstm + kLast), "m.toml:4:1",
     "layer 0 (dropout): before the readout, dropout may only stand between two recurrent layers"},
    {"DropoutDirectlyBeforeReadout", lines(kTokens + kLstm + kDropout + kLast), "m.toml:10:1",
     "layer 2 (dropout): before the readout, dropout may only stand between two recurrent layers; move it after the "
     "readout"},
    {"DropoutAfterTheLastRecurrentWithoutReadout", lines(kTokens + kLstm + kDropout), "m.toml:10:1",
     "layer 2 (dropout): before the readout"},
    {"LinearBeforeReadout", lines(kTokens + kLstm + kLinear2 + kLast), "m.toml:10:1",
     "layer 2 (linear): a linear layer must come after the readout"},
    {"RecurrentAfterReadout", lines(kTokens + kLstm + kLast + kGru), "m.toml:13:1",
     "layer 3 (gru): recurrent layers must come before the readout"},
    {"TwoReadouts", lines(kTokens + kLstm + kLast + kLast), "m.toml:13:1",
     "layer 3 (readout): a model has exactly one readout"},
    {"NoReadout", lines(kTokens + kLstm + kGru), "m.toml:10:1", "the model has no readout layer"},
    {"ReadoutWithoutRecurrent", lines(kTokens + kLast + kLinear2), "m.toml:7:1",
     "layer 1 (readout): the readout must follow at least one recurrent layer (rnn, lstm or gru)"},
    {"NoRecurrentLayer", lines(kTokens), "m.toml:4:1", "the model has no recurrent layer (rnn, lstm or gru)"},

    // The loss.
    {"CrossEntropyWithoutLinear", lines(kValidFeatures + V{"[loss]", "kind = \"cross_entropy\""}), "m.toml:11:8",
     "loss \"cross_entropy\" needs the model to end with a linear layer with out >= 2"},
    {"CrossEntropyAfterDropout", lines(kValidFeatures + kLinear2 + kDropout + V{"[loss]", "kind = \"cross_entropy\""}),
     "m.toml:17:8", "needs the model to end with a linear layer"},
    {"CrossEntropyWithOneOutput",
     lines(kValidFeatures + layer("linear", {"out = 1"}) + V{"[loss]", "kind = \"cross_entropy\""}), "m.toml:14:8",
     "with out >= 2"},

    // The model's name.
    {"NameNotAnIdentifier", lines(V{"name = \"my-model\""} + kValidFeatures), "m.toml:1:8",
     "'name' = \"my-model\" is not a C identifier"},
    {"NameStartsWithADigit", lines(V{"name = \"1net\""} + kValidFeatures), "m.toml:1:8", "is not a C identifier"},
    {"NameIsAKeyword", lines(V{"name = \"int\""} + kValidFeatures), "m.toml:1:8",
     "'name' = \"int\" is a C/C++ keyword"},
    {"NameIsACppKeyword", lines(V{"name = \"class\""} + kValidFeatures), "m.toml:1:8", "is a C/C++ keyword"},
    {"NameHalidePrefix", lines(V{"name = \"halide_net\""} + kValidFeatures), "m.toml:1:8",
     "starts with a prefix reserved for the runtime (\"halide\", \"rnnc\")"},
    {"NameRnncPrefix", lines(V{"name = \"rnnc_net\""} + kValidFeatures), "m.toml:1:8", "reserved for the runtime"},
    {"NameEmpty", lines(V{"name = \"\""} + kValidFeatures), "m.toml:1:8", "'name' = \"\" is empty"},
    {"NameTooLong", lines(V{"name = \"" + std::string(65, 'a') + "\""} + kValidFeatures), "m.toml:1:8",
     "is longer than 64 characters"},
    {"StemNotAnIdentifier", lines(kValidFeatures), "models/my-model.toml:1:1",
     "the model has no 'name' and its file name \"my-model\" is not a C identifier", "models/my-model.toml"},
    {"StemIsReserved", lines(kValidFeatures), "rnnc.toml:1:1", "add name = \"...\"", "rnnc.toml"},

    // Adam's betas.
    {"BetasTooShort", lines(kValidFeatures + V{"[train]", "betas = [0.9]"}), "m.toml:11:9",
     "'betas' must be an array of two numbers, like [0.9, 0.999]"},
    {"BetasTooLong", lines(kValidFeatures + V{"[train]", "betas = [0.9, 0.99, 0.999]"}), "m.toml:11:9",
     "'betas' must be an array of two numbers"},
    {"BetasNotAnArray", lines(kValidFeatures + V{"[train]", "betas = 0.9"}), "m.toml:11:9",
     "'betas' must be an array of two numbers"},
    {"BetaOutOfRange", lines(kValidFeatures + V{"[train]", "betas = [0.9, 1.0]"}), "m.toml:11:15",
     "'betas[1]' must be in [0, 1) (got 1)"},
    {"BetaNotANumber", lines(kValidFeatures + V{"[train]", "betas = [\"a\", 0.9]"}), "m.toml:11:10",
     "'betas[0]' must be a number, not a string"},

    // Chrono initialisation: lstm and gru only, with biases, with chrono_t_max >= 2.
    {"InitUnknownScheme", lines(kFeatures + layer("lstm", {"hidden = 4", "init = \"xavier\""}) + kLast), "m.toml:7:8",
     "'init' = \"xavier\" is not one of \"pytorch\" or \"chrono\""},
    {"InitNotAString", lines(kFeatures + layer("gru", {"hidden = 4", "init = 1"}) + kLast), "m.toml:7:8",
     "'init' must be a string, not an integer"},
    {"ChronoWithoutTMax", lines(kFeatures + layer("lstm", {"hidden = 4", "init = \"chrono\""}) + kLast), "m.toml:7:8",
     "init = \"chrono\" needs 'chrono_t_max'"},
    {"ChronoTMaxBelowTwo",
     lines(kFeatures + layer("gru", {"hidden = 4", "init = \"chrono\"", "chrono_t_max = 1"}) + kLast), "m.toml:8:16",
     "'chrono_t_max' must be at least 2 (got 1)"},
    {"ChronoTMaxNotAnInteger",
     lines(kFeatures + layer("lstm", {"hidden = 4", "init = \"chrono\"", "chrono_t_max = 50.5"}) + kLast),
     "m.toml:8:16", "'chrono_t_max' must be an integer, not a floating-point number"},
    {"ChronoOnRnn", lines(kFeatures + layer("rnn", {"hidden = 4", "init = \"chrono\""}) + kLast), "m.toml:7:8",
     "an rnn layer has no gates (chrono is for lstm and gru layers)"},
    {"ChronoTMaxOnRnn", lines(kFeatures + layer("rnn", {"hidden = 4", "chrono_t_max = 5"}) + kLast), "m.toml:7:1",
     "unknown key 'chrono_t_max' in a rnn layer"},
    {"ChronoWithoutBias",
     lines(kFeatures + layer("lstm", {"hidden = 4", "bias = false", "init = \"chrono\"", "chrono_t_max = 9"}) + kLast),
     "m.toml:8:8", "this layer has bias = false"},
    {"ChronoTMaxWithoutChrono", lines(kFeatures + layer("gru", {"hidden = 4", "chrono_t_max = 9"}) + kLast),
     "m.toml:7:16", "'chrono_t_max' is only meaningful with init = \"chrono\""},

    // Tensors above 2^31 - 1 bytes, refused by the graph builder at their layer.
    {"RecurrentWeightAbove2To31Bytes", lines(kFeatures + layer("lstm", {"hidden = 12000"}) + kLast), "m.toml:4:1",
     "parameter 'layers.0.weight_hh_l0' would have 48000 x 12000 = 576000000 elements (2304000000 bytes)"},
    {"EmbeddingAbove2To31",
     lines(V{"[input]", "kind = \"tokens\"", "vocab = 1048576"} + layer("embedding", {"dim = 4096"}) + kLstm + kLast),
     "m.toml:4:1",
     "parameter 'layers.0.weight' would have 1048576 x 4096 = 4294967296 elements (17179869184 bytes), above the limit "
     "of 2^31 - 1 bytes per kernel buffer"},
    {"RecurrentWeightAbove2To31", lines(kFeatures + layer("lstm", {"hidden = 32768"}) + kLast), "m.toml:4:1",
     "parameter 'layers.0.weight_hh_l0' would have 131072 x 32768 = 4294967296 elements"},
    {"LinearAbove2To31",
     lines(kFeatures + layer("lstm", {"hidden = 4096"}) + kLast + layer("linear", {"out = 1048576"})), "m.toml:10:1",
     "parameter 'layers.2.weight' would have 1048576 x 4096"},
};

INSTANTIATE_TEST_SUITE_P(Parser, MalformedFile, testing::ValuesIn(kBadFiles),
                         [](const testing::TestParamInfo<BadFile> &info) { return std::string(info.param.name); });

}  // namespace
}  // namespace rnnc

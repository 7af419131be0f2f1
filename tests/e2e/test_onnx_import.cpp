// `rnnc import` against references it did not write:
//  - the ONNX project's backend node tests for LSTM, GRU and RNN (Debian's
//    libonnx-testdata): each model's W / R / B / P inputs become
//    initializers, the model goes through rnnc import, rnnc compile and the
//    generated program's predict, and Y / Y_h must match the test's expected
//    outputs;
//  - torch.onnx.export of every model in models/ and of user-style modules
//    (tests/make_onnx_fixtures.py): the imported program predicts what
//    PyTorch predicted;
//  - malformed and unsupported ONNX files: one clear message, exit 1, nothing
//    written.
#include <onnx/onnx_pb.h>

#include <functional>
#include <numeric>

#include "e2e_util.h"

namespace rnnc_e2e {
namespace {

using rnnc_rt::DType;

std::string node_test_root() {
  const char *env = std::getenv("RNNC_ONNX_TESTDATA");
  return env ? env : "/usr/share/libonnx-testdata/data/node";
}

onnx::TensorProto load_tensor(const std::string &path) {
  onnx::TensorProto t;
  std::ifstream in(path, std::ios::binary);
  if (!in || !t.ParseFromIstream(&in)) throw std::runtime_error("cannot read tensor " + path);
  return t;
}

// A TensorProto's values as float or int64, with its dims.
struct Array {
  std::vector<int64_t> dims;
  std::vector<float> f;
  std::vector<int64_t> i;
};

Array array_of(const onnx::TensorProto &t) {
  Array a(Array{{t.dims().begin(), t.dims().end()}, {}, {}});
  int64_t n = 1;
  for (int64_t d : a.dims) n *= d;
  const std::string &raw = t.raw_data();
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    if (!raw.empty()) {
      a.f.resize(n);
      std::memcpy(a.f.data(), raw.data(), 4 * n);
    } else {
      a.f.assign(t.float_data().begin(), t.float_data().end());
    }
  } else if (t.data_type() == onnx::TensorProto::INT32 || t.data_type() == onnx::TensorProto::INT64) {
    const bool i32 = t.data_type() == onnx::TensorProto::INT32;
    for (int64_t e = 0; e < n; ++e) {
      if (!raw.empty()) {
        if (i32) {
          int32_t v;
          std::memcpy(&v, raw.data() + 4 * e, 4);
          a.i.push_back(v);
        } else {
          int64_t v;
          std::memcpy(&v, raw.data() + 8 * e, 8);
          a.i.push_back(v);
        }
      } else {
        a.i.push_back(i32 ? t.int32_data(e) : t.int64_data(e));
      }
    }
  } else {
    throw std::runtime_error("unexpected tensor type");
  }
  return a;
}

// Swaps the first two axes of a 3-D array (time-first <-> batch-first, or
// [dirs, N, H] <-> [N, dirs, H]).
std::vector<float> swap01(const std::vector<float> &v, const std::vector<int64_t> &d) {
  std::vector<float> o(v.size());
  for (int64_t a = 0; a < d[0]; ++a)
    for (int64_t b = 0; b < d[1]; ++b)
      for (int64_t c = 0; c < d[2]; ++c) o[(b * d[0] + a) * d[2] + c] = v[(a * d[1] + b) * d[2] + c];
  return o;
}

void write_f32(const std::string &path, const std::vector<float> &v, const std::vector<int64_t> &shape) {
  rnnc_rt::write_npy(path, DType::kF32, v.data(), shape);
}

int64_t int_attr(const onnx::NodeProto &n, const std::string &name, int64_t def) {
  for (const auto &a : n.attribute())
    if (a.name() == name) return a.i();
  return def;
}

// A node test's model with its W, R, B and P inputs turned into initializers
// (from the test's input_<k>.pb); the other inputs' values go to run_inputs.
onnx::ModelProto with_weights_as_initializers(const std::string &dir, std::map<std::string, Array> *run_inputs) {
  onnx::ModelProto m;
  std::ifstream in(dir + "/model.onnx", std::ios::binary);
  if (!m.ParseFromIstream(&in)) throw std::runtime_error("cannot read " + dir + "/model.onnx");
  onnx::GraphProto *g = m.mutable_graph();
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
  for (int k = 0; k < g->input_size(); ++k) {
    const std::string name = g->input(k).name();
    onnx::TensorProto t = load_tensor(dir + "/test_data_set_0/input_" + std::to_string(k) + ".pb");
    if (name == "W" || name == "R" || name == "B" || name == "P") {
      t.set_name(name);
      *g->add_initializer() = t;
    } else {
      if (run_inputs) (*run_inputs)[name] = array_of(t);
      *kept.Add() = g->input(k);
    }
  }
  g->mutable_input()->Swap(&kept);
  return m;
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, ImportCompilePredictMatchesExpected) {
  const std::string dir = node_test_root() + "/" + GetParam();
  // The README's test command installs the data: a missing file is a failure, not a skip.
  ASSERT_TRUE(fs::exists(dir + "/model.onnx"))
      << dir << " is missing: install Debian's libonnx-testdata (.ci/install-deps.sh does)";
  ScratchDir tmp;
  std::map<std::string, Array> run_inputs;
  onnx::ModelProto m = with_weights_as_initializers(dir, &run_inputs);
  onnx::GraphProto *g = m.mutable_graph();
  ASSERT_EQ(g->node_size(), 1);
  const int64_t layout = int_attr(g->node(0), "layout", 0);
  const std::string model = tmp.file("model.onnx");
  {
    std::ofstream out(model, std::ios::binary);
    ASSERT_TRUE(m.SerializeToOstream(&out));
  }
  std::map<std::string, Array> expected;
  for (int k = 0; k < g->output_size(); ++k)
    expected[g->output(k).name()] = array_of(load_tensor(dir + "/test_data_set_0/output_" + std::to_string(k) + ".pb"));

  RunResult imp = run({rnnc_exe(), "import", model, "-o", tmp.file("m.toml"), "--weights", tmp.file("w.safetensors")});
  ASSERT_EQ(imp.exit_code, 0) << imp.describe();
  RunResult comp = run(compile_command(tmp.file("m.toml"), tmp.file("out")));
  ASSERT_EQ(comp.exit_code, 0) << comp.describe();
  const CompiledModel cm = describe_compiled(tmp.file("out"));

  // The program works batch-first.
  const Array &x = run_inputs.at("X");
  std::vector<float> xs = layout == 0 ? swap01(x.f, x.dims) : x.f;
  const int64_t N = layout == 0 ? x.dims[1] : x.dims[0], T = layout == 0 ? x.dims[0] : x.dims[1];
  write_f32(tmp.file("x.npy"), xs, {N, T, x.dims[2]});
  std::vector<std::string> argv = {cm.program,   "predict",         "--weights", tmp.file("w.safetensors"),
                                   "--inputs",   tmp.file("x.npy"), "--output",  tmp.file("y.npy"),
                                   "--output-h", tmp.file("hn.npy")};
  if (run_inputs.count("sequence_lens")) {
    const std::vector<int64_t> &l = run_inputs.at("sequence_lens").i;
    rnnc_rt::write_npy(tmp.file("len.npy"), DType::kI64, l.data(), {static_cast<int64_t>(l.size())});
    argv.insert(argv.end(), {"--lengths", tmp.file("len.npy")});
  }
  for (const char *s : {"initial_h", "initial_c"})
    if (run_inputs.count(s)) {
      const Array &a = run_inputs.at(s);
      const std::vector<int64_t> rnnc_dims =
          layout == 0 ? a.dims : std::vector<int64_t>{a.dims[1], a.dims[0], a.dims[2]};
      write_f32(tmp.file(std::string(s) + ".npy"), layout == 0 ? a.f : swap01(a.f, a.dims), rnnc_dims);
      argv.insert(argv.end(), {std::string(s) == "initial_h" ? "--h0" : "--c0", tmp.file(std::string(s) + ".npy")});
    }
  RunResult pred = run(argv);
  ASSERT_EQ(pred.exit_code, 0) << pred.describe();

  ASSERT_TRUE(expected.count("Y_h"));
  const Array &yh = expected.at("Y_h");
  const FloatArray hn = read_f32(tmp.file("hn.npy"));
  const std::vector<int64_t> yh_dims = layout == 0 ? yh.dims : std::vector<int64_t>{yh.dims[1], yh.dims[0], yh.dims[2]};
  EXPECT_TRUE(arrays_close(hn.data, hn.shape, layout == 0 ? yh.f : swap01(yh.f, yh.dims), yh_dims, 1e-5)) << "Y_h";
  if (expected.count("Y")) {
    // ONNX Y: [T, dirs, N, H] (layout 0) or [N, T, dirs, H]; rnnc: [N, T, dirs*H].
    const Array &y = expected.at("Y");
    const FloatArray got = read_f32(tmp.file("y.npy"));
    const int64_t D = layout == 0 ? y.dims[1] : y.dims[2], H = y.dims[3];
    std::vector<float> want(N * T * D * H);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t h = 0; h < H; ++h)
            want[((n * T + t) * D + d) * H + h] =
                y.f[layout == 0 ? ((t * D + d) * N + n) * H + h : ((n * T + t) * D + d) * H + h];
    EXPECT_TRUE(arrays_close(got.data, got.shape, want, {N, T, D * H}, 1e-5)) << "Y";
  }
}

// All twelve of Debian's libonnx-testdata node tests for the recurrent operators.
INSTANTIATE_TEST_SUITE_P(OnnxBackend, OnnxNodeTest,
                         ::testing::Values("test_gru_batchwise", "test_gru_defaults", "test_gru_seq_length",
                                           "test_gru_with_initial_bias", "test_lstm_batchwise", "test_lstm_defaults",
                                           "test_lstm_with_initial_bias", "test_lstm_with_peepholes",
                                           "test_rnn_seq_length", "test_simple_rnn_batchwise",
                                           "test_simple_rnn_defaults", "test_simple_rnn_with_initial_bias"),
                         [](const ::testing::TestParamInfo<std::string> &i) { return i.param; });

TEST(OnnxNodeTests, AllTwelveAreInstalled) {
  int found = 0;
  if (fs::exists(node_test_root()))
    for (const auto &e : fs::directory_iterator(node_test_root())) {
      const std::string n = e.path().filename().string();
      for (const char *p : {"test_lstm_", "test_gru_", "test_rnn_", "test_simple_rnn_"})
        if (n.rfind(p, 0) == 0 && n.find("_expanded") == std::string::npos) ++found;
    }
  EXPECT_EQ(found, 12) << "the parameterised test lists twelve, from " << node_test_root()
                       << " (Debian's libonnx-testdata)";
}

// --- ONNX fixtures (tests/make_onnx_fixtures.py): torch.onnx.export of models
// and modules, and single nodes with the attributes PyTorch lacks, checked
// against a float64 numpy transcription of the ONNX operators ----------------

class OnnxExportFixture : public ::testing::TestWithParam<std::string> {};

// Runs predict of the model compiled from `toml` with the fixture's inputs
// (and initial states) and compares with what PyTorch predicted.
void expect_predicts_like_pytorch(const ScratchDir &tmp, const std::string &d, const std::string &toml,
                                  const std::string &weights, const std::string &out) {
  RunResult comp = run(compile_command(toml, tmp.file(out)));
  ASSERT_EQ(comp.exit_code, 0) << comp.describe();
  const CompiledModel cm = describe_compiled(tmp.file(out));
  std::vector<std::string> argv = {cm.program, "predict",         "--weights", weights,
                                   "--inputs", d + "/inputs.npy", "--output",  tmp.file(out + ".y.npy")};
  if (fs::exists(d + "/lengths.npy")) argv.insert(argv.end(), {"--lengths", d + "/lengths.npy"});
  if (fs::exists(d + "/h0.npy")) argv.insert(argv.end(), {"--h0", d + "/h0.npy"});
  if (fs::exists(d + "/c0.npy")) argv.insert(argv.end(), {"--c0", d + "/c0.npy"});
  const bool hn = fs::exists(d + "/expected_hn.npy"), cn = fs::exists(d + "/expected_cn.npy");
  if (hn) argv.insert(argv.end(), {"--output-h", tmp.file(out + ".hn.npy")});
  if (cn) argv.insert(argv.end(), {"--output-c", tmp.file(out + ".cn.npy")});
  RunResult pred = run(argv);
  ASSERT_EQ(pred.exit_code, 0) << pred.describe();
  const FloatArray got = read_f32(tmp.file(out + ".y.npy")), want = read_f32(d + "/expected.npy");
  EXPECT_TRUE(arrays_close(got, want, 1e-5)) << out << ": output";
  if (hn) {
    EXPECT_TRUE(arrays_close(read_f32(tmp.file(out + ".hn.npy")), read_f32(d + "/expected_hn.npy"), 1e-5)) << "h_n";
  }
  if (cn) {
    EXPECT_TRUE(arrays_close(read_f32(tmp.file(out + ".cn.npy")), read_f32(d + "/expected_cn.npy"), 1e-5)) << "c_n";
  }
}

TEST_P(OnnxExportFixture, ImportedModelPredictsWhatPyTorchPredicted) {
  const std::string d = fixtures_dir() + "/" + GetParam();
  ScratchDir tmp;
  RunResult imp =
      run({rnnc_exe(), "import", d + "/model.onnx", "-o", tmp.file("m.toml"), "--weights", tmp.file("w.safetensors")});
  ASSERT_EQ(imp.exit_code, 0) << imp.describe();
  expect_predicts_like_pytorch(tmp, d, tmp.file("m.toml"), tmp.file("w.safetensors"), "imported");
  if (fs::exists(d + "/export.toml"))  // the same PyTorch module through python/rnnc_export.py
    expect_predicts_like_pytorch(tmp, d, d + "/export.toml", d + "/export.safetensors", "exported");
}

INSTANTIATE_TEST_SUITE_P(OnnxFixtures, OnnxExportFixture, ::testing::ValuesIn(fixture_cases("onnx_")),
                         [](const ::testing::TestParamInfo<std::string> &i) { return i.param; });

TEST(OnnxExportFixtures, CoverEveryShippedModel) {
  for (const auto &e : fs::directory_iterator(source_dir() + "/models")) {
    const std::string stem = e.path().stem().string();
    EXPECT_TRUE(fs::exists(fixtures_dir() + "/onnx_model_" + stem + "/model.onnx"))
        << "models/" << stem << ".toml has no ONNX fixture (tests/make_onnx_fixtures.py)";
  }
}

// --- bad ONNX files ----------------------------------------------------------------

// test_lstm_defaults with W and R as initializers: a valid model to break.
// test_lstm_defaults with W and R as initializers: a valid model to break.
onnx::ModelProto valid_lstm() {
  return with_weights_as_initializers(node_test_root() + "/test_lstm_defaults", nullptr);
}

// Removes the element called `name` from a repeated field of named messages.
template <class Field>
void erase_named(Field *field, const std::string &name) {
  for (int k = 0; k < field->size(); ++k)
    if (field->Get(k).name() == name) {
      field->DeleteSubrange(k, 1);
      return;
    }
}

onnx::AttributeProto *add_attribute(onnx::NodeProto *n, const char *name, onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}

struct BadOnnx {
  const char *name;
  std::function<std::string(onnx::ModelProto &)> edit;  // returns the bytes to write ("" = serialize m)
  const char *message;
};

void PrintTo(const BadOnnx &c, std::ostream *os) { *os << c.name; }

class BadOnnxFile : public ::testing::TestWithParam<BadOnnx> {};

TEST_P(BadOnnxFile, OneClearMessageAndNothingWritten) {
  ASSERT_TRUE(fs::exists(node_test_root() + "/test_lstm_defaults/model.onnx")) << "needs Debian's libonnx-testdata";
  const BadOnnx &c = GetParam();
  ScratchDir tmp;
  onnx::ModelProto m = valid_lstm();
  std::string bytes = c.edit(m);
  if (bytes.empty()) {
    ASSERT_TRUE(m.SerializeToString(&bytes));
  }
  write_text(tmp.file("bad.onnx"), bytes);
  // An earlier model file at the destination stays as it was.
  write_text(tmp.file("m.toml"), "# earlier\n");
  RunResult r = run(
      {rnnc_exe(), "import", tmp.file("bad.onnx"), "-o", tmp.file("m.toml"), "--weights", tmp.file("w.safetensors")});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, tmp.file("bad.onnx"))) << r.err;
  EXPECT_TRUE(contains(r.err, c.message)) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(read_text(tmp.file("m.toml")), "# earlier\n");
  EXPECT_FALSE(fs::exists(tmp.file("w.safetensors")));
}

onnx::NodeProto *lstm_node(onnx::ModelProto &m) { return m.mutable_graph()->mutable_node(0); }

// Adds a constant-only node `op` (inputs from new initializers holding
// `values` of shape `dims`) whose output nothing reads: the importer folds it.
void add_folded_node(onnx::ModelProto &m, const char *op,
                     const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> &inputs) {
  onnx::GraphProto *g = m.mutable_graph();
  onnx::NodeProto *n = g->add_node();
  n->set_op_type(op);
  n->set_name("folded");
  for (size_t k = 0; k < inputs.size(); ++k) {
    onnx::TensorProto *t = g->add_initializer();
    t->set_name("folded_in" + std::to_string(k));
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : inputs[k].first) t->add_dims(d);
    for (int64_t v : inputs[k].second) t->add_int64_data(v);
    n->add_input(t->name());
  }
  n->add_output("folded_out");
}

const BadOnnx kBadOnnx[] = {
    {"Truncated",
     [](onnx::ModelProto &m) {
       std::string b;
       m.SerializeToString(&b);
       return b.substr(0, b.size() / 2);
     },
     "not an ONNX model"},
    {"NotProtobuf", [](onnx::ModelProto &) { return std::string("[input]\nkind = \"tokens\"\n"); },
     "not an ONNX model"},
    {"WrongOp",
     [](onnx::ModelProto &m) {
       // A Relu between the LSTM's final state and the output.
       onnx::GraphProto *g = m.mutable_graph();
       onnx::NodeProto *n = g->add_node();
       n->set_op_type("Relu");
       n->set_name("act");
       n->add_input("Y_h");
       n->add_output("Y_h_relu");
       g->mutable_output(0)->set_name("Y_h_relu");
       return std::string();
     },
     "node 'act' (Relu): cannot be mapped onto an rnnc model"},
    {"UnsupportedActivations",
     [](onnx::ModelProto &m) {
       onnx::AttributeProto *a = add_attribute(lstm_node(m), "activations", onnx::AttributeProto::STRINGS);
       for (const char *s : {"Sigmoid", "Tanh", "Relu"}) a->add_strings(s);
       return std::string();
     },
     "(LSTM): attribute 'activations' [Sigmoid, Tanh, Relu] is not supported"},
    {"ActivationAlpha",
     [](onnx::ModelProto &m) {
       add_attribute(lstm_node(m), "activation_alpha", onnx::AttributeProto::FLOATS)->add_floats(0.5f);
       return std::string();
     },
     "attribute 'activation_alpha' is not supported"},
    {"MissingInitializer",
     [](onnx::ModelProto &m) {
       erase_named(m.mutable_graph()->mutable_initializer(), "R");
       return std::string();
     },
     "'R'"},
    {"DynamicHiddenSize",
     [](onnx::ModelProto &m) {
       erase_named(lstm_node(m)->mutable_attribute(), "hidden_size");
       return std::string();
     },
     "attribute 'hidden_size' is missing"},
    {"WeightsAsGraphInput",
     [](onnx::ModelProto &m) {
       // W moved back to a run-time input: its size is not known to rnnc.
       onnx::GraphProto *g = m.mutable_graph();
       onnx::ValueInfoProto *vi = g->add_input();
       vi->set_name("W");
       auto *type = vi->mutable_type()->mutable_tensor_type();
       type->set_elem_type(onnx::TensorProto::FLOAT);
       for (const onnx::TensorProto &t : g->initializer())
         if (t.name() == "W")
           for (int64_t d : t.dims()) type->mutable_shape()->add_dim()->set_dim_value(d);
       erase_named(g->mutable_initializer(), "W");
       return std::string();
     },
     "input 'W' (W) must be a constant"},
    {"NonZeroConstantInitialState",
     [](onnx::ModelProto &m) {
       onnx::GraphProto *g = m.mutable_graph();
       onnx::TensorProto *t = g->add_initializer();
       t->set_name("h_init");
       t->set_data_type(onnx::TensorProto::FLOAT);
       for (int64_t d : {1, 3, 3}) t->add_dims(d);
       for (int k = 0; k < 9; ++k) t->add_float_data(0.5f);
       onnx::NodeProto *n = lstm_node(m);
       while (n->input_size() < 6) n->add_input("");
       n->set_input(5, "h_init");
       return std::string();
     },
     "initial_h is a constant non-zero tensor"},
    {"UnknownDirection",
     [](onnx::ModelProto &m) {
       add_attribute(lstm_node(m), "direction", onnx::AttributeProto::STRING)->set_s("sideways");
       return std::string();
     },
     "attribute 'direction' is 'sideways'"},
    // Found by fuzz_onnx_import: a ConstantOfShape of [281474973827074, 6, 6]
    // made the importer allocate 80 PB (regressions/fuzz_onnx_import).
    {"FoldedConstantTooLarge",
     [](onnx::ModelProto &m) {
       add_folded_node(m, "ConstantOfShape", {{{3}, {1 << 20, 1 << 20, 4}}});
       return std::string();
     },
     "node 'folded' (ConstantOfShape): would make a constant of shape [1048576, 1048576, 4] (4398046511104 "
     "elements), more than constant folding may create for this file"},
    {"FoldedConstantNegativeDimension",
     [](onnx::ModelProto &m) {
       add_folded_node(m, "ConstantOfShape", {{{2}, {-3, 2}}});
       return std::string();
     },
     "would make a tensor of shape [-3, 2], with a negative dimension"},
    {"ConcatOffTheAxisMismatch",
     [](onnx::ModelProto &m) {
       add_folded_node(m, "Concat", {{{2, 3}, {1, 2, 3, 4, 5, 6}}, {{2, 2}, {1, 2, 3, 4}}});
       add_attribute(m.mutable_graph()->mutable_node(m.graph().node_size() - 1), "axis", onnx::AttributeProto::INT)
           ->set_i(0);
       return std::string();
     },
     "(Concat): Concat of [2, 3] and [2, 2], which differ off the axis"},
    // Found by fuzz_onnx_import: integer weights were read as floats past
    // the end of an empty vector (regressions/fuzz_onnx_import).
    {"IntegerWeights",
     [](onnx::ModelProto &m) {
       onnx::GraphProto *g = m.mutable_graph();
       for (onnx::TensorProto &t : *g->mutable_initializer())
         if (t.name() == "R") {
           const int64_t n = std::accumulate(t.dims().begin(), t.dims().end(), int64_t{1}, std::multiplies<>());
           t.clear_float_data();
           t.clear_raw_data();
           t.set_data_type(onnx::TensorProto::INT64);
           for (int64_t k = 0; k < n; ++k) t.add_int64_data(1);
         }
       return std::string();
     },
     "(LSTM): R holds integers; weights must be float or double tensors"},
    {"OpsetTooNew",
     [](onnx::ModelProto &m) {
       m.mutable_opset_import(0)->set_version(18);
       return std::string();
     },
     "opset 18 is outside the opsets rnnc reads (7 to 17)"},
};

INSTANTIATE_TEST_SUITE_P(Onnx, BadOnnxFile, ::testing::ValuesIn(kBadOnnx),
                         [](const ::testing::TestParamInfo<BadOnnx> &i) { return i.param.name; });

}  // namespace
}  // namespace rnnc_e2e

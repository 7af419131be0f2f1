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

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, ImportCompilePredictMatchesExpected) {
  const std::string dir = node_test_root() + "/" + GetParam();
  if (!fs::exists(dir + "/model.onnx"))
    GTEST_SKIP() << dir << " is missing: install Debian's libonnx-testdata (.ci/install-deps.sh does)";
  ScratchDir tmp;
  onnx::ModelProto m;
  {
    std::ifstream in(dir + "/model.onnx", std::ios::binary);
    ASSERT_TRUE(m.ParseFromIstream(&in));
  }
  onnx::GraphProto *g = m.mutable_graph();
  ASSERT_EQ(g->node_size(), 1);
  const onnx::NodeProto node = g->node(0);
  const int64_t layout = int_attr(node, "layout", 0);
  // Inputs: W, R, B, P become initializers; the rest stay run-time inputs.
  std::map<std::string, Array> run_inputs;
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
  for (int k = 0; k < g->input_size(); ++k) {
    const std::string name = g->input(k).name();
    onnx::TensorProto t = load_tensor(dir + "/test_data_set_0/input_" + std::to_string(k) + ".pb");
    if (name == "W" || name == "R" || name == "B" || name == "P") {
      t.set_name(name);
      *g->add_initializer() = t;
    } else {
      run_inputs[name] = array_of(t);
      *kept.Add() = g->input(k);
    }
  }
  g->mutable_input()->Swap(&kept);
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

TEST(OnnxNodeTests, AllTwelveAreInstalledOrSkippedWithAReason) {
  int found = 0;
  if (fs::exists(node_test_root()))
    for (const auto &e : fs::directory_iterator(node_test_root())) {
      const std::string n = e.path().filename().string();
      for (const char *p : {"test_lstm_", "test_gru_", "test_rnn_", "test_simple_rnn_"})
        if (n.rfind(p, 0) == 0 && n.find("_expanded") == std::string::npos) ++found;
    }
  if (found == 0) GTEST_SKIP() << "no ONNX node tests at " << node_test_root() << " (libonnx-testdata)";
  EXPECT_EQ(found, 12) << "the parameterised test lists twelve";
}

}  // namespace
}  // namespace rnnc_e2e

// End-to-end checks of --json, on rnnc's commands and every command of a
// generated program: stdout holds exactly one JSON document (train: one
// object per line, the epochs then a summary), strict JSON as Python's json
// module reads it with NaN and Infinity refused, with the values the text
// mode prints; non-finite numbers are null; a training run that diverges
// still leaves valid lines and its summary; the progress bar stays on
// stderr. Also the option rules shared by rnnc and the generated programs:
// exact names only, the nearest one suggested.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e_util.h"
#include "io/npy.h"

namespace rnnc_e2e {
namespace {

using Json = nlohmann::ordered_json;

// Features (the memory task: size 1) -> relu rnn -> last -> linear, SGD (the
// model of test_training_runs' divergence tests: a huge learning rate makes
// it diverge). Its kernels are small, so each test's compile is quick.
const char *kModel =
    "name = \"json_relu\"\n[input]\nkind = \"features\"\nsize = 1\n"
    "[[layers]]\nkind = \"rnn\"\nhidden = 6\nnonlinearity = \"relu\"\n"
    "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n[[layers]]\nkind = \"linear\"\nout = 2\n"
    "[loss]\nkind = \"cross_entropy\"\n"
    "[train]\noptimizer = \"sgd\"\nlearning_rate = 0.05\nepochs = 1\nbatch_size = 8\nseed = 3\n";

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Python's json module, strict: NaN, Infinity and -Infinity are refused (it
// accepts them by default), and so is anything after the one document. In
// "lines" mode every line must be one JSON object. Prints the documents
// back (a list of them in "lines" mode) for the test to read.
const char *kStrictJson = R"(
import json, sys
def refuse(name):
    raise ValueError('not JSON: ' + name)
text = open(sys.argv[1], encoding='utf-8').read()
if sys.argv[2] == 'lines':
    if not text.endswith('\n'):
        sys.exit('the output does not end with a newline')
    docs = [json.loads(line, parse_constant=refuse) for line in text[:-1].split('\n')]
    if not all(isinstance(d, dict) for d in docs):
        sys.exit('a line is not a JSON object')
    print(json.dumps(docs))
else:
    doc = json.loads(text, parse_constant=refuse)
    if not isinstance(doc, dict):
        sys.exit('not a JSON object')
    print(json.dumps(doc))
)";

// Checks r.out with kStrictJson (one document, or one object per line when
// `lines`) and returns what it read; fails the test (returning null) when
// Python refuses it.
Json strict_json(const ScratchDir &dir, const RunResult &r, bool lines = false) {
  static int count = 0;
  const std::string path = dir.file("stdout." + std::to_string(count++) + ".txt");
  write_text(path, r.out);
  const RunResult py = run({"/usr/bin/python3", "-c", kStrictJson, path, lines ? "lines" : "one"});
  if (py.exit_code != 0) {
    ADD_FAILURE() << "stdout is not " << (lines ? "JSON lines" : "one JSON document") << ":\n"
                  << py.err << "\n"
                  << r.describe();
    return Json();
  }
  return Json::parse(py.out);
}

// The keys of a JSON object, in order.
std::vector<std::string> keys_of(const Json &j) {
  std::vector<std::string> keys;
  for (const auto &member : j.items()) keys.push_back(member.key());
  return keys;
}

// The number after `label` in text ("loss 0.717775 ..." -> 0.717775).
double number_after(const std::string &text, const std::string &label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) throw std::runtime_error("no '" + label + "' in:\n" + text);
  return std::strtod(text.c_str() + at + label.size(), nullptr);
}

// The compiled model and a memory data set of 32 sequences of 12 steps (4
// batches of 8) in the test's directory.
struct ModelAndData {
  const CompiledModel *m = nullptr;
  std::string data, weights;
  std::vector<std::string> labelled() const {
    return {"--inputs", data + "/inputs.npy", "--labels", data + "/labels.npy", "--lengths", data + "/lengths.npy"};
  }
};

ModelAndData model_and_data(const ScratchDir &dir) {
  ModelAndData s;
  write_text(dir.file("model.toml"), kModel);
  s.m = &compiled_model(dir.file("model.toml"));
  s.data = dir.file("memory");
  s.weights = dir.file("w.safetensors");
  const RunResult d =
      run({s.m->program, "data", "--task", "memory", "--n", "32", "--steps", "12", "--seed", "1", "--out", s.data});
  EXPECT_EQ(d.exit_code, 0) << d.describe();
  const RunResult i = run({s.m->program, "init", "--seed", "2", "--output", s.weights});
  EXPECT_EQ(i.exit_code, 0) << i.describe();
  return s;
}

// ---------------------------------------------------------------------------
// rnnc

TEST(RnncJson, CheckPrintsTheLayerTable) {
  const ScratchDir dir;
  const std::string model = source_dir() + "/models/vanilla_rnn.toml";
  const RunResult text = run({rnnc_exe(), "check", model});
  const RunResult r = run({rnnc_exe(), "check", "--json", model});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json j = strict_json(dir, r);
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"model", "layers", "total_params", "loss"})) << r.out;
  EXPECT_EQ(j.value("model", ""), "vanilla_rnn");
  EXPECT_EQ(j.value("loss", ""), "mse");
  EXPECT_EQ(j.value("total_params", -1), static_cast<int64_t>(number_after(text.out, "total")));
  ASSERT_EQ(j.value("layers", Json()).size(), 3u) << r.out;
  EXPECT_EQ(j["layers"][0].value("kind", ""), "rnn");
  EXPECT_EQ(j["layers"][0]["output_shape"], Json::parse(R"(["B", "T", 4])"));
}

TEST(RnncJson, CompileReportsKernelsAndFilesAsOneObject) {
  const ScratchDir dir;
  write_text(dir.file("model.toml"), kModel);
  const std::string out = dir.file("out");
  const RunResult r = run(concat(compile_command(dir.file("model.toml"), out), {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json j = strict_json(dir, r);
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"model", "target", "kernels", "halide_runtime", "link_seconds",
                                                  "total_seconds", "schedule_notes", "schedule_warnings", "wrote"}))
      << r.out;
  EXPECT_EQ(j.value("model", ""), "json_relu");
  ASSERT_TRUE(j["kernels"].is_array() && !j["kernels"].empty()) << r.out;
  for (Json &k : j["kernels"]) {
    EXPECT_TRUE(k["name"].is_string() && k["seconds"].is_number() && k["cached"].is_boolean()) << k;
  }
  EXPECT_EQ(j["schedule_notes"], Json::array()) << "no --schedules, no notes";
  bool program = false;
  for (const Json &f : j["wrote"]) {
    EXPECT_TRUE(fs::exists(f.get<std::string>())) << f;
    program = program || f == out + "/json_relu";
  }
  EXPECT_TRUE(program) << "the program is among the files written: " << j["wrote"];
}

// tune --json, then compile --schedules --json: the schedule notes are in
// the compile's JSON object, not on stdout as text.
TEST(RnncJson, TuneAndTheScheduleNotesOfCompile) {
  const ScratchDir dir;
  write_text(dir.file("model.toml"), kModel);
  const std::string records = dir.file("records.json");
  const RunResult t = run({rnnc_exe(), "tune", dir.file("model.toml"), "-o", records, "--steps", "4", "--trials", "2",
                           "--time-budget", "60", "--no-bench", "--cache-dir", cache_dir(), "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  Json tj = strict_json(dir, t);
  for (const char *key :
       {"model", "target", "threads", "batch", "steps", "kernels", "untuned", "search_seconds", "bench", "wrote"})
    EXPECT_TRUE(tj.contains(key)) << key << " missing:\n" << t.out;
  EXPECT_EQ(tj.value("steps", -1), 4);
  EXPECT_EQ(tj.value("batch", -1), 8) << "the model's batch_size";
  EXPECT_TRUE(tj["bench"].is_null()) << "--no-bench";
  EXPECT_EQ(tj["wrote"], Json::array({records}));
  ASSERT_FALSE(tj["kernels"].empty()) << t.out;
  for (Json &k : tj["kernels"]) {
    EXPECT_GE(k.value("trials", 0), 1) << k;
    EXPECT_TRUE(k["best_us"].is_number() && k["params"].is_string()) << k;
  }

  const RunResult c =
      run(concat(compile_command(dir.file("model.toml"), dir.file("out")), {"--schedules", records, "--json"}));
  ASSERT_EQ(c.exit_code, 0) << c.describe();
  Json cj = strict_json(dir, c);
  ASSERT_TRUE(cj["schedule_notes"].is_array() && !cj["schedule_notes"].empty()) << c.out;
  EXPECT_TRUE(contains(cj["schedule_notes"][0].get<std::string>(), "record for")) << c.out;
  EXPECT_EQ(cj["schedule_warnings"], Json::array()) << c.describe();
  EXPECT_FALSE(contains(c.out, "schedule: ")) << "the notes' text lines are left out";
}

TEST(RnncJson, ImportReportsTheMappingAsOneObject) {
  const ScratchDir dir;
  const std::string onnx = fixtures_dir() + "/onnx_model_vanilla_rnn/model.onnx";
  const RunResult text = run({rnnc_exe(), "import", onnx, "-o", dir.file("t.toml"), "--weights", dir.file("t.st")});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  const std::string toml = dir.file("m.toml"), weights = dir.file("w.safetensors");
  const RunResult r = run({rnnc_exe(), "import", onnx, "-o", toml, "--weights", weights, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json j = strict_json(dir, r);
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"model", "layers", "bindings", "wrote"})) << r.out;
  EXPECT_EQ(j["wrote"], Json::array({toml, weights}));
  EXPECT_TRUE(fs::exists(toml) && fs::exists(weights));
  // The same lines as the text report, which indents them under "model".
  ASSERT_FALSE(j["layers"].empty());
  for (const Json &line : j["layers"]) EXPECT_TRUE(contains(text.out, "  " + line.get<std::string>() + "\n")) << line;
  ASSERT_FALSE(j["bindings"].empty());
  for (const Json &line : j["bindings"]) EXPECT_TRUE(contains(text.out, "  " + line.get<std::string>() + "\n")) << line;
  EXPECT_TRUE(contains(text.out, "model " + j.value("model", std::string("?")) + "\n")) << text.out;
}

// ---------------------------------------------------------------------------
// The generated program

TEST(ProgramJson, InfoInitDataPredictExport) {
  const ScratchDir dir;
  const ModelAndData s = model_and_data(dir);
  const std::string p = s.m->program;
  {
    SCOPED_TRACE("info");
    const RunResult text = run({p, "info"}), r = run({p, "info", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_EQ(keys_of(j), (std::vector<std::string>{"model", "source", "layers", "total_params", "loss"})) << r.out;
    EXPECT_EQ(j.value("total_params", -1), static_cast<int64_t>(number_after(text.out, "total")));
    EXPECT_EQ(j.value("total_params", -1), 68);
    EXPECT_EQ(j.value("loss", ""), "cross_entropy");
    ASSERT_EQ(j["layers"].size(), 3u) << "the [[layers]] entries, as rnnc check --json lists them";
    EXPECT_EQ(j["layers"][0]["output_shape"], Json::parse(R"(["B", "T", 6])"));
    EXPECT_EQ(j["layers"][2]["output_shape"], Json::parse(R"(["B", 2])"));
    // The same table as `rnnc check --json` of the model file.
    Json check = Json::parse(run({rnnc_exe(), "check", "--json", dir.file("model.toml")}).out);
    EXPECT_EQ(j["layers"], check["layers"]);
  }
  {
    SCOPED_TRACE("init");
    const std::string w = dir.file("init.safetensors");
    const RunResult r = run({p, "init", "--seed", "4", "--output", w, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_EQ(j["wrote"], Json::array({w}));
    EXPECT_EQ(j.value("parameters", -1), 68);
    EXPECT_EQ(j.value("seed", -1), 4);
    EXPECT_TRUE(fs::exists(w));
  }
  {
    SCOPED_TRACE("data");
    const std::string out = dir.file("parity");
    const RunResult r = run({p, "data", "--task", "parity", "--n", "10", "--out", out, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_EQ(j.value("task", ""), "parity");
    EXPECT_EQ(j.value("sequences", -1), 10);
    EXPECT_EQ(j["wrote"], Json::array({out + "/inputs.npy", out + "/labels.npy", out + "/lengths.npy"}));
    for (const Json &f : j["wrote"]) EXPECT_TRUE(fs::exists(f.get<std::string>())) << f;
  }
  {
    SCOPED_TRACE("predict");
    const std::string y = dir.file("y.npy"), hn = dir.file("hn.npy");
    const RunResult text = run(
        {p, "predict", "--weights", s.weights, "--inputs", s.data + "/inputs.npy", "--output", dir.file("y_text.npy")});
    EXPECT_EQ(text.out, "") << "predict prints nothing without --json";
    const RunResult r = run({p, "predict", "--weights", s.weights, "--inputs", s.data + "/inputs.npy", "--output", y,
                             "--output-h", hn, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_EQ(j.value("sequences", -1), 32);
    EXPECT_EQ(j["output_shape"], Json::parse("[32, 2]"));
    EXPECT_EQ(j["wrote"], Json::array({y, hn}));
    EXPECT_EQ(read_f32(y).shape, (std::vector<int64_t>{32, 2}));
  }
  {
    SCOPED_TRACE("export");
    const std::string ckpt = dir.file("ckpt.safetensors"), w = dir.file("exported.safetensors");
    ASSERT_EQ(run(concat({p, "train", "--checkpoint", ckpt}, s.labelled())).exit_code, 0);
    const RunResult r = run({p, "export", "--checkpoint", ckpt, "--output", w, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(strict_json(dir, r), Json::parse("{\"wrote\": [\"" + w + "\"]}"));
    EXPECT_TRUE(fs::exists(w));
  }
}

TEST(ProgramJson, EvalGradnormTraceEqualTheTextOutput) {
  const ScratchDir dir;
  const ModelAndData s = model_and_data(dir);
  const std::vector<std::string> eval = concat({s.m->program, "eval", "--weights", s.weights}, s.labelled());
  {
    SCOPED_TRACE("eval");
    const RunResult text = run(eval), r = run(concat(eval, {"--json"}));
    ASSERT_EQ(text.exit_code, 0) << text.describe();
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_EQ(keys_of(j), (std::vector<std::string>{"loss", "accuracy", "correct", "counted", "sequences"})) << r.out;
    ASSERT_TRUE(j["loss"].is_number() && j["accuracy"].is_number()) << r.out;
    EXPECT_NEAR(j["loss"].get<double>(), number_after(text.out, "loss "), 1e-6) << text.out << r.out;
    EXPECT_NEAR(j["accuracy"].get<double>(), number_after(text.out, "accuracy "), 1e-4) << text.out << r.out;
    const std::string counts =
        "(" + std::to_string(j.value("correct", -1)) + " of " + std::to_string(j.value("counted", -1)) + ")";
    EXPECT_TRUE(contains(text.out, counts)) << counts << "\n" << text.out;
    EXPECT_EQ(j.value("sequences", -1), 32);
  }
  {
    SCOPED_TRACE("gradnorm");
    const std::string plot = dir.file("flow.svg"), grads = dir.file("g.safetensors");
    const std::vector<std::string> g = concat({s.m->program, "gradnorm", "--weights", s.weights}, s.labelled());
    const RunResult text = run(g);
    const RunResult r = run(concat(g, {"--json", "--per-step", "--plot", plot, "--output", grads}));
    ASSERT_EQ(text.exit_code, 0) << text.describe();
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);  // the plot's path no longer follows the JSON as a text line
    EXPECT_EQ(keys_of(j), (std::vector<std::string>{"grad_norms", "total", "per_step", "wrote"})) << r.out;
    EXPECT_EQ(j["wrote"], Json::array({grads, plot}));
    EXPECT_TRUE(fs::exists(plot) && fs::exists(grads));
    ASSERT_TRUE(j["total"].is_number()) << r.out;
    EXPECT_NEAR(j["total"].get<double>(), number_after(text.out, "total"), 1e-5 * j["total"].get<double>());
    ASSERT_EQ(j["grad_norms"].size(), 6u) << r.out;
    for (const auto &member : j["grad_norms"].items())
      EXPECT_TRUE(contains(text.out, member.key() + " ")) << member.key() << " is not in the text output";
    ASSERT_EQ(j["per_step"].size(), 1u) << "one sub-layer, one direction";
    EXPECT_EQ(j["per_step"][0].value("layer", ""), "layers.0");
    EXPECT_EQ(j["per_step"][0]["norms"].size(), 12u);
  }
  {
    SCOPED_TRACE("trace");
    const std::vector<std::string> t = {s.m->program, "trace",    "--weights",
                                        s.weights,    "--inputs", s.data + "/inputs.npy"};
    const RunResult text = run(t), r = run(concat(t, {"--json"}));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    ASSERT_EQ(j["trace"].size(), 1u) << r.out;
    Json &e = j["trace"][0];
    EXPECT_EQ(keys_of(e), (std::vector<std::string>{"layer", "sublayer", "direction", "h_mean", "h_std"}));
    ASSERT_EQ(e["h_mean"].size(), 12u);
    // The text's row of step 0: "     0     32   <mean>   <std>".
    const std::vector<std::string> rows = lines_of(text.out);
    ASSERT_GE(rows.size(), 3u) << text.out;
    double mean = 0, sd = 0;
    ASSERT_EQ(std::sscanf(rows[2].c_str(), "%*d %*d %lf %lf", &mean, &sd), 2) << rows[2];
    EXPECT_NEAR(e["h_mean"][0].get<double>(), mean, 1e-6);
    EXPECT_NEAR(e["h_std"][0].get<double>(), sd, 1e-6);
  }
}

TEST(ProgramJson, BenchForwardAndTrainingStep) {
  const ScratchDir dir;
  const ModelAndData s = model_and_data(dir);
  for (const bool train : {false, true}) {
    SCOPED_TRACE(train ? "training step" : "forward");
    std::vector<std::string> argv = {s.m->program, "bench", "--batch", "4", "--steps", "5", "--repeat", "3", "--json"};
    if (train) argv.push_back("--train");
    const RunResult r = run(argv);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_EQ(keys_of(j), (std::vector<std::string>{"model", "mode", "batch", "steps", "runs", "sequences_per_s",
                                                    "median_ms", "min_ms"}))
        << r.out;
    EXPECT_EQ(j.value("mode", ""), train ? "training_step" : "forward");
    EXPECT_EQ(j.value("runs", -1), 3);
    EXPECT_EQ(j.value("batch", -1), 4);
    ASSERT_TRUE(j["median_ms"].is_number() && j["min_ms"].is_number()) << r.out;
    EXPECT_GE(j["median_ms"].get<double>(), j["min_ms"].get<double>());
  }
}

// train --json: one object per epoch, then the summary; the same losses as
// the text mode's lines, which are left out.
TEST(ProgramJson, TrainPrintsOneLinePerEpochAndASummary) {
  const ScratchDir dir;
  const ModelAndData s = model_and_data(dir);
  const std::vector<std::string> train = concat({s.m->program, "train", "--epochs", "3", "--val-inputs",
                                                 s.data + "/inputs.npy", "--val-labels", s.data + "/labels.npy"},
                                                s.labelled());
  const RunResult text = run(concat(train, {"--checkpoint", dir.file("text.safetensors")}));
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  const std::string ckpt = dir.file("ckpt.safetensors");
  const RunResult r = run(concat(train, {"--checkpoint", ckpt, "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json lines = strict_json(dir, r, true);
  ASSERT_EQ(lines.size(), 4u) << "3 epochs and the summary:\n" << r.out;
  const std::vector<std::string> text_lines = lines_of(text.out);
  for (int e = 0; e < 3; ++e) {
    SCOPED_TRACE("epoch " + std::to_string(e + 1));
    Json &l = lines[e];
    EXPECT_EQ(keys_of(l), (std::vector<std::string>{"type", "epoch", "epochs", "train_loss", "train_acc", "val_loss",
                                                    "val_acc", "sequences_per_s", "seconds"}))
        << l;
    EXPECT_EQ(l.value("type", ""), "epoch");
    EXPECT_EQ(l.value("epoch", -1), e + 1);
    EXPECT_EQ(l.value("epochs", -1), 3);
    // "epoch 1/3  train loss 0.7300 acc 0.406  val loss 0.7145 acc 0.406  ..."
    ASSERT_GT(text_lines.size(), static_cast<size_t>(e + 1)) << text.out;
    const std::string &t = text_lines[e + 1];
    ASSERT_TRUE(l["train_loss"].is_number() && l["val_loss"].is_number()) << l;
    EXPECT_NEAR(l["train_loss"].get<double>(), number_after(t, "train loss "), 1e-4) << t;
    EXPECT_NEAR(l["val_loss"].get<double>(), number_after(t, "val loss "), 1e-4) << t;
  }
  Json &sum = lines[3];
  EXPECT_EQ(sum.value("type", ""), "summary");
  EXPECT_EQ(sum.value("epochs_run", -1), 3);
  EXPECT_EQ(sum.value("diverged", true), false);
  EXPECT_TRUE(sum["error"].is_null() && sum["diverged_at"].is_null() && sum["resumed_after"].is_null()) << sum;
  EXPECT_EQ(sum.value("checkpoint", ""), ckpt);
  EXPECT_EQ(sum.value("checkpoint_epoch", -1), 3);
  EXPECT_EQ(sum.value("metrics", ""), ckpt + ".metrics.csv");
  EXPECT_EQ(sum.value("train_sequences", -1), 32);
  EXPECT_EQ(sum.value("val_sequences", -1), 32);
  EXPECT_EQ(sum.value("optimizer", ""), "sgd");
  EXPECT_TRUE(fs::exists(ckpt) && fs::exists(ckpt + ".metrics.csv") && fs::exists(ckpt + ".curves.svg"));

  // A checkpoint that already holds the epochs: the summary alone.
  const RunResult again = run(concat(train, {"--checkpoint", ckpt, "--resume", "--json"}));
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  Json only = strict_json(dir, again, true);
  ASSERT_EQ(only.size(), 1u) << again.out;
  EXPECT_EQ(only[0].value("type", ""), "summary");
  EXPECT_EQ(only[0].value("epochs_run", -1), 0);
  EXPECT_EQ(only[0].value("resumed_after", -1), 3);
}

// A target near FLT_MAX makes the squared error, the loss and the gradients
// overflow to infinity (NaN in the data itself is refused before anything
// runs). JSON has no inf or NaN, so they are null (the text mode prints
// "inf"), and the output stays strict JSON. models/vanilla_rnn: 3 features,
// readout "all", MSE on [N, T, 2].
TEST(ProgramJson, NonFiniteNumbersAreNull) {
  const ScratchDir dir;
  const CompiledModel &m = compiled_model("models/vanilla_rnn.toml");
  const int64_t n = 8, t = 5;
  std::vector<float> x(n * t * 3), y(n * t * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i)));
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(std::cos(0.3 * static_cast<double>(i)));
  const std::string inputs = dir.file("x.npy"), targets = dir.file("y.npy"), huge_targets = dir.file("y_huge.npy");
  rnnc_rt::write_npy(inputs, rnnc_rt::DType::kF32, x.data(), {n, t, 3});
  rnnc_rt::write_npy(targets, rnnc_rt::DType::kF32, y.data(), {n, t, 2});
  y[3 * t * 2 + 1] = 3e38f;
  rnnc_rt::write_npy(huge_targets, rnnc_rt::DType::kF32, y.data(), {n, t, 2});
  const std::string w = dir.file("w.safetensors");
  ASSERT_EQ(run({m.program, "init", "--output", w}).exit_code, 0);
  {
    SCOPED_TRACE("eval");
    const std::vector<std::string> eval = {m.program, "eval", "--weights", w, "--inputs", inputs, "--labels"};
    const RunResult text = run(concat(eval, {huge_targets}));
    ASSERT_EQ(text.exit_code, 0) << text.describe();
    EXPECT_TRUE(contains(text.out, "loss inf") || contains(text.out, "loss nan")) << text.out;
    const RunResult r = run(concat(eval, {huge_targets, "--json"}));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_TRUE(j.contains("loss") && j["loss"].is_null()) << r.out;
    EXPECT_TRUE(j.contains("accuracy") && j["accuracy"].is_null()) << "no accuracy for MSE: " << r.out;
    // The finite targets give a number, so the null above is the NaN's.
    const RunResult finite = run(concat(eval, {targets, "--json"}));
    EXPECT_TRUE(strict_json(dir, finite)["loss"].is_number()) << finite.describe();
  }
  {
    SCOPED_TRACE("gradnorm");
    const RunResult r = run(
        {m.program, "gradnorm", "--weights", w, "--inputs", inputs, "--labels", huge_targets, "--json", "--per-step"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json j = strict_json(dir, r);
    EXPECT_TRUE(j.contains("total") && j["total"].is_null()) << r.out;
    EXPECT_TRUE(j["grad_norms"].contains("layers.2.weight") && j["grad_norms"]["layers.2.weight"].is_null()) << r.out;
  }
  {
    // Validation on the overflowing targets: training goes on, val_loss is null.
    SCOPED_TRACE("train");
    const RunResult r =
        run({m.program, "train", "--epochs", "2", "--checkpoint", dir.file("c.safetensors"), "--inputs", inputs,
             "--labels", targets, "--val-inputs", inputs, "--val-labels", huge_targets, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    Json lines = strict_json(dir, r, true);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    for (int e = 0; e < 2; ++e) {
      EXPECT_TRUE(lines[e].contains("val_loss") && lines[e]["val_loss"].is_null()) << lines[e];
      EXPECT_TRUE(lines[e]["train_loss"].is_number()) << lines[e];
      EXPECT_TRUE(lines[e].contains("train_acc") && lines[e]["train_acc"].is_null()) << "MSE: " << lines[e];
    }
  }
}

// A run that diverges (SGD at --lr 1e6 after a normal first epoch) exits
// with 1 and the message on stderr, as without --json, and leaves stdout as
// JSON lines ending in a summary that says so.
TEST(ProgramJson, DivergedTrainingLeavesValidJsonLines) {
  const ScratchDir dir;
  const ModelAndData s = model_and_data(dir);
  const std::string ckpt = dir.file("ckpt.safetensors");
  const std::vector<std::string> train = concat({s.m->program, "train", "--checkpoint", ckpt}, s.labelled());
  const RunResult first = run(concat(train, {"--epochs", "1", "--json"}));
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  ASSERT_EQ(strict_json(dir, first, true).size(), 2u) << first.out;

  const RunResult r = run(concat(train, {"--epochs", "3", "--resume", "--lr", "1e6", "--json"}));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "training diverged in epoch 2")) << r.describe();
  Json lines = strict_json(dir, r, true);
  ASSERT_FALSE(lines.empty()) << r.describe();
  Json &sum = lines.back();
  EXPECT_EQ(sum.value("type", ""), "summary") << r.out;
  EXPECT_EQ(sum.value("diverged", false), true) << r.out;
  EXPECT_TRUE(sum["error"].is_string() && contains(r.err, sum["error"].get<std::string>())) << r.describe();
  ASSERT_TRUE(sum["diverged_at"].is_object()) << r.out;
  EXPECT_EQ(sum["diverged_at"].value("epoch", -1), 2) << r.out;
  EXPECT_EQ(sum["diverged_at"].value("batches", -1), 4) << r.out;
  EXPECT_EQ(sum.value("checkpoint_epoch", -1), 1) << "the checkpoint keeps epoch 1";
  EXPECT_EQ(sum.value("epochs_run", -1), 0) << r.out;
  EXPECT_EQ(sum.value("resumed_after", -1), 1) << r.out;
  for (size_t i = 0; i + 1 < lines.size(); ++i) EXPECT_EQ(lines[i].value("type", ""), "epoch") << lines[i];
}

// ---------------------------------------------------------------------------
// The progress bar

// A pseudo-terminal in raw mode (no "\n" -> "\r\n"): master and slave fds.
void open_raw_pty(int *master, int *slave) {
  *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*master < 0 || grantpt(*master) != 0 || unlockpt(*master) != 0) throw std::runtime_error("no pseudo-terminal");
  *slave = open(ptsname(*master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0) throw std::runtime_error("cannot open the pseudo-terminal's slave");
  termios t{};
  tcgetattr(*slave, &t);
  cfmakeraw(&t);
  tcsetattr(*slave, TCSANOW, &t);
}

// Runs argv with stdout and stderr each on a terminal of its own, as in an
// interactive shell, and returns what each received.
RunResult run_on_terminals(const std::vector<std::string> &argv, int timeout_s = 120) {
  int masters[2], slaves[2];
  open_raw_pty(&masters[0], &slaves[0]);
  open_raw_pty(&masters[1], &slaves[1]);
  std::vector<char *> cargv;
  for (const std::string &a : argv) cargv.push_back(const_cast<char *>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(slaves[0], 1);
    dup2(slaves[1], 2);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(slaves[0]);
  close(slaves[1]);
  RunResult r;
  r.argv = argv;
  collect_child(pid, masters[0], masters[1], timeout_s, r);
  return r;
}

// On a terminal, train draws its progress bar ("\repoch 1/2 [####...]") on
// stderr; stdout holds the JSON lines (or the text lines) alone.
TEST(ProgressBar, GoesToStderrLeavingStdoutClean) {
  const ScratchDir dir;
  const ModelAndData s = model_and_data(dir);
  for (const bool json : {true, false}) {
    SCOPED_TRACE(json ? "--json" : "text");
    std::vector<std::string> argv = concat(
        {s.m->program, "train", "--epochs", "2", "--checkpoint", dir.file(json ? "j.safetensors" : "t.safetensors")},
        s.labelled());
    if (json) argv.push_back("--json");
    const RunResult r = run_on_terminals(argv);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "\repoch 1/2 [") && contains(r.err, "\repoch 2/2 [")) << "no progress bar:\n" << r.err;
    EXPECT_FALSE(contains(r.out, "\r")) << "progress-bar bytes on stdout:\n" << r.out;
    EXPECT_FALSE(contains(r.out, "[#")) << r.out;
    if (json) {
      RunResult as_run;
      as_run.out = r.out;
      EXPECT_EQ(strict_json(dir, as_run, true).size(), 3u) << r.out;
    } else {
      EXPECT_TRUE(contains(r.out, "epoch 2/2  train loss")) << r.out;
    }
  }
}

// ---------------------------------------------------------------------------
// Option names

// rnnc and the generated programs take option names in full only, and both
// refuse an unknown one with the same message and the nearest name.
TEST(OptionNames, AbbreviationsAreRefusedWithTheNearestOption) {
  const ScratchDir dir;
  write_text(dir.file("model.toml"), kModel);
  const std::string out = dir.file("out");
  {
    SCOPED_TRACE("rnnc compile --out");
    const RunResult r = run({rnnc_exe(), "compile", dir.file("model.toml"), "--out", out});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, "rnnc compile: error: unknown option '--out' for 'compile'; did you mean '--output'?"))
        << r.describe();
    EXPECT_TRUE(contains(r.err, "(see 'rnnc compile --help')")) << r.describe();
    EXPECT_FALSE(fs::exists(out)) << "nothing compiled";
  }
  {
    SCOPED_TRACE("rnnc check --js");  // Boost took it for --json before
    const RunResult r = run({rnnc_exe(), "check", "--js", dir.file("model.toml")});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, "unknown option '--js' for 'check'; did you mean '--json'?")) << r.describe();
    EXPECT_EQ(r.out, "");
  }
  {
    SCOPED_TRACE("rnnc tune --time-budge=5");
    const RunResult r = run({rnnc_exe(), "tune", dir.file("model.toml"), "-o", dir.file("r.json"), "--time-budge=5"});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, "unknown option '--time-budge' for 'tune'; did you mean '--time-budget'?"))
        << r.describe();
  }

  const ModelAndData s = model_and_data(dir);
  const std::string p = s.m->program;
  {
    SCOPED_TRACE("program train --epoch");
    const RunResult r =
        run(concat({p, "train", "--checkpoint", dir.file("c.safetensors"), "--epoch", "2"}, s.labelled()));
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, "train: error: unknown option '--epoch' for 'train'; did you mean '--epochs'?"))
        << r.describe();
    EXPECT_TRUE(contains(r.err, "(see '" + p + " train --help')")) << r.describe();
    EXPECT_FALSE(fs::exists(dir.file("c.safetensors")));
  }
  {
    SCOPED_TRACE("program bench --batc");
    const RunResult r = run({p, "bench", "--batc", "4", "--steps", "5"});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, "unknown option '--batc' for 'bench'; did you mean '--batch'?")) << r.describe();
  }
  {
    SCOPED_TRACE("program eval --jsn");
    const RunResult r = run(concat({p, "eval", "--weights", s.weights, "--jsn"}, s.labelled()));
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_TRUE(contains(r.err, "unknown option '--jsn' for 'eval'; did you mean '--json'?")) << r.describe();
  }
}

}  // namespace
}  // namespace rnnc_e2e

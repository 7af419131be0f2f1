// The generated program: `<name> <command> [options]`.
#include "program.h"

#include <HalideRuntime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>

#include "cuda_driver.h"
#include "dataset.h"
#include "error.h"
#include "inspect.h"
#include "io/json.h"
#include "io/npy.h"
#include "model.h"
#include "parallel.h"
#include "rnnc/runtime_api.h"
#include "state_files.h"
#include "train.h"
#include "weights.h"

namespace rnnc_rt {

namespace {

// "[B, T, 64]" (a layer table's output shape) as ["B", "T", 64], the form of
// `rnnc check --json`.
Json shape_json(const std::string &text) {
  Json shape = Json::array();
  const size_t open = text.find('['), close = text.rfind(']');
  if (open == std::string::npos || close == std::string::npos || close <= open) return text;
  const std::string inner = text.substr(open + 1, close - open - 1);
  for (size_t at = 0; at <= inner.size();) {
    size_t end = inner.find(',', at);
    if (end == std::string::npos) end = inner.size();
    std::string dim = inner.substr(at, end - at);
    dim.erase(0, dim.find_first_not_of(' '));
    dim.erase(dim.find_last_not_of(' ') + 1);
    if (!dim.empty() && dim.find_first_not_of("0123456789") == std::string::npos)
      shape.push_back(std::stoll(dim));
    else
      shape.push_back(dim);
    at = end + 1;
  }
  return shape;
}

int cmd_info(const ModelDesc &d, const Options &o) {
  if (!o.has("json")) {
    print_layer_table(d);
    return 0;
  }
  Json layers = Json::array();
  for (int32_t i = 0; i < d.num_layers; ++i) {
    const LayerInfo &l = d.layers[i];
    if (l.index < 0) continue;  // the input, as `rnnc check --json` leaves it out
    layers.push_back({{"index", l.index},
                      {"kind", l.kind},
                      {"details", l.details},
                      {"output_shape", shape_json(l.output_shape)},
                      {"params", l.params}});
  }
  const Json loss = d.loss == kLossCrossEntropy ? Json("cross_entropy") : d.loss == kLossMse ? Json("mse") : Json();
  print_json_line({{"model", d.name},
                   {"source", d.source_file},
                   {"layers", std::move(layers)},
                   {"total_params", d.total_params},
                   {"loss", loss}});
  return 0;
}

int cmd_init(const ModelDesc &d, const Options &o) {
  auto m = new_model(&d);
  init_params(*m, o.seed_or("seed", 0));
  save_weights(*m, o.str("output"));
  if (o.has("json")) {
    print_json_line(
        {{"wrote", Json::array({o.str("output")})}, {"parameters", d.total_params}, {"seed", o.seed_or("seed", 0)}});
    return 0;
  }
  std::printf("wrote %s (%lld parameters, seed %llu)\n", o.str("output").c_str(),
              static_cast<long long>(d.total_params), static_cast<unsigned long long>(o.seed_or("seed", 0)));
  return 0;
}

int cmd_predict(const ModelDesc &d, const Options &o) {
  apply_threads_option(o);
  const int64_t chunk = o.int_or("batch-size", 256, 1, 1 << 20);
  const bool lstm = state_size(d, 1, true) > 0;
  for (const char *opt : {"c0", "output-c"})
    if (o.has(opt) && !lstm)
      throw UsageError(std::string("--") + opt + ": model " + d.name + " has no cell states (no lstm layer)");
  auto m = open_weights(d, o.str("weights"));
  Dataset ds = load_dataset(d, o.str("inputs"), o.str_or("lengths", ""));
  std::vector<float> h0, c0;
  if (o.has("h0")) h0 = read_states(d, o.str("h0"), ds.n, false);
  if (o.has("c0")) c0 = read_states(d, o.str("c0"), ds.n, true);
  const int64_t per_seq = output_size(d, 1, ds.t);
  std::vector<float> out(static_cast<size_t>(ds.n * per_seq));
  std::vector<float> h_n(o.has("output-h") ? state_size(d, ds.n, false) : 0);
  std::vector<float> c_n(o.has("output-c") ? state_size(d, ds.n, true) : 0);
  std::vector<SublayerOutput> hidden = sublayer_outputs_layout(d);
  // Per chunk: its rows of the state arrays.
  std::vector<float> ch0, cc0, chn, ccn;
  for (int64_t i = 0; i < ds.n; i += chunk) {
    const int64_t b = std::min(chunk, ds.n - i);
    auto take = [&](const std::vector<float> &full, std::vector<float> &part, bool cell) -> float * {
      if (full.empty()) return nullptr;
      part.resize(static_cast<size_t>(state_size(d, b, cell)));
      copy_state_rows(d, cell, full.data(), ds.n, i, part.data(), b, 0, b);
      return part.data();
    };
    const float *h0p = take(h0, ch0, false), *c0p = take(c0, cc0, true);
    chn.resize(h_n.empty() ? 0 : state_size(d, b, false));
    ccn.resize(c_n.empty() ? 0 : state_size(d, b, true));
    forward(*m, ds.inputs_of(d, i), ds.lengths.data() + i, b, ds.t, h0p, c0p, out.data() + i * per_seq,
            chn.empty() ? nullptr : chn.data(), ccn.empty() ? nullptr : ccn.data());
    if (!h_n.empty()) copy_state_rows(d, false, chn.data(), b, 0, h_n.data(), ds.n, i, b);
    if (!c_n.empty()) copy_state_rows(d, true, ccn.data(), b, 0, c_n.data(), ds.n, i, b);
    if (o.has("output-hidden")) append_sublayer_outputs(*m, ds.t, hidden);
  }
  std::vector<int64_t> shape = {ds.n};
  if (d.per_step_output) shape.push_back(ds.t);
  shape.push_back(d.output_width);
  write_npy(o.str("output"), DType::kF32, out.data(), shape);
  std::vector<std::string> wrote = {o.str("output")};
  if (!h_n.empty()) {
    write_states(d, o.str("output-h"), h_n.data(), ds.n, false);
    wrote.push_back(o.str("output-h"));
  }
  if (!c_n.empty()) {
    write_states(d, o.str("output-c"), c_n.data(), ds.n, true);
    wrote.push_back(o.str("output-c"));
  }
  if (o.has("output-hidden")) {
    const std::string dir = o.str("output-hidden");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir)) throw RtError("cannot create the directory " + dir);
    for (const SublayerOutput &h : hidden) {
      wrote.push_back(dir + "/layers." + std::to_string(h.layer) + "_l" + std::to_string(h.sublayer) + ".npy");
      write_npy(wrote.back(), DType::kF32, h.data.data(), {ds.n, ds.t, h.width});
    }
  }
  if (o.has("json")) print_json_line({{"sequences", ds.n}, {"output_shape", shape}, {"wrote", wrote}});
  return 0;
}

// The notebook's hidden-state evolution: per sub-layer direction and input
// position t, the mean and population standard deviation of h_t (and c_t)
// over every unit of the sequences still running at t.
int cmd_trace(const ModelDesc &d, const Options &o) {
  apply_threads_option(o);
  const int64_t chunk = o.int_or("batch-size", 256, 1, 1 << 20);
  auto m = open_weights(d, o.str("weights"));
  Dataset ds = load_dataset(d, o.str("inputs"), o.str_or("lengths", ""));
  std::vector<StepMoments> h(d.num_states, StepMoments(ds.t)), c(d.num_states, StepMoments(ds.t));
  std::vector<float> out(static_cast<size_t>(chunk * output_size(d, 1, ds.t)));
  for (int64_t i = 0; i < ds.n; i += chunk) {
    const int64_t b = std::min(chunk, ds.n - i);
    forward(*m, ds.inputs_of(d, i), ds.lengths.data() + i, b, ds.t, nullptr, nullptr, out.data(), nullptr, nullptr);
    for (int32_t s = 0; s < d.num_states; ++s) {
      add_state_moments(*m, s, 0, h[s]);
      if (d.states[s].c_buffer >= 0) add_state_moments(*m, s, 1, c[s]);
    }
  }
  if (o.has("json")) {
    // Steps no sequence reaches have no statistics: null.
    auto list = [&](const StepMoments &mo, bool std_dev) {
      Json v = Json::array();
      for (int64_t t = 0; t < ds.t; ++t)
        v.push_back(mo.count[t] > 0 ? Json(std_dev ? mo.stddev(t) : mo.mean(t)) : Json());
      return v;
    };
    Json entries = Json::array();
    for (int32_t s = 0; s < d.num_states; ++s) {
      Json e = state_json(d.states[s]);
      e["h_mean"] = list(h[s], false);
      e["h_std"] = list(h[s], true);
      if (d.states[s].c_buffer >= 0) {
        e["c_mean"] = list(c[s], false);
        e["c_std"] = list(c[s], true);
      }
      entries.push_back(std::move(e));
    }
    print_json_line({{"trace", std::move(entries)}});
    return 0;
  }
  for (int32_t s = 0; s < d.num_states; ++s) {
    const StateDesc &st = d.states[s];
    const bool cell = st.c_buffer >= 0;
    std::printf("%s%s (hidden %d): hidden-state evolution over %lld sequences\n", s ? "\n" : "",
                state_name(d, s).c_str(), st.hidden, static_cast<long long>(ds.n));
    std::printf("%6s %6s %11s %11s%s\n", "step", "seqs", "h mean", "h std", cell ? "      c mean       c std" : "");
    for (int64_t t = 0; t < ds.t; ++t) {
      const int64_t seqs = h[s].count[t] / st.hidden;
      if (seqs == 0) {
        std::printf("%6lld %6d %11s %11s%s\n", static_cast<long long>(t), 0, "-", "-",
                    cell ? "           -           -" : "");
        continue;
      }
      std::printf("%6lld %6lld %11.6f %11.6f", static_cast<long long>(t), static_cast<long long>(seqs), h[s].mean(t),
                  h[s].stddev(t));
      if (cell) std::printf(" %11.6f %11.6f", c[s].mean(t), c[s].stddev(t));
      std::printf("\n");
    }
  }
  return 0;
}

int cmd_bench(const ModelDesc &d, const Options &o) {
  apply_threads_option(o);
  const int64_t batch = o.int_or("batch", 0, 1, 1 << 20), steps = o.int_or("steps", 0, 1, 1 << 20);
  const int64_t repeat = o.int_or("repeat", 20, 1, 1 << 20);
  std::unique_ptr<Model> m;
  if (o.has("weights")) {
    m = open_weights(d, o.str("weights"));
  } else {
    m = new_model(&d);
    init_params(*m, 0);
  }
  Rng rng(1);
  std::vector<int32_t> tokens;
  std::vector<float> features;
  if (d.input_kind == kInputTokens) {
    tokens.resize(batch * steps);
    for (auto &v : tokens) v = static_cast<int32_t>(rng.next() % static_cast<uint64_t>(d.vocab));
  } else {
    features.resize(batch * steps * d.input_size);
    for (auto &v : features) v = static_cast<float>(rng.normal());
  }
  const void *inputs = tokens.empty() ? static_cast<const void *>(features.data()) : tokens.data();
  std::vector<float> out(static_cast<size_t>(output_size(d, batch, steps)));
  const bool train = o.has("train");
  std::function<void()> run = [&] {
    forward(*m, inputs, nullptr, batch, steps, nullptr, nullptr, out.data(), nullptr, nullptr);
  };
  // Training: one optimizer step (forward, loss, backward, clipping, update)
  // per run, on random labels.
  std::unique_ptr<Trainer> trainer;
  Batch b;
  if (train) {
    trainer = std::make_unique<Trainer>(*m, TrainConfig::from(d));
    b.n = batch;
    b.t = steps;
    b.tokens = tokens;
    b.features = features;
    b.lengths.assign(batch, static_cast<int32_t>(steps));
    const int64_t rows = batch * (d.per_step_output ? steps : 1);
    if (d.loss == kLossCrossEntropy) {
      b.classes.resize(rows);
      for (auto &c : b.classes) c = static_cast<int32_t>(rng.next() % static_cast<uint64_t>(d.output_width));
    } else {
      b.targets.resize(rows * d.output_width);
      for (auto &v : b.targets) v = static_cast<float>(rng.normal());
    }
    run = [&] { trainer->train_step(b); };
  }
  run();  // warm-up: allocates the workspace and faults in the weights
  std::vector<double> ms;
  for (int64_t i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  if (o.has("json")) {
    print_profile(*m);  // on stderr, as in text mode
    print_json_line({{"model", d.name},
                     {"mode", train ? "training_step" : "forward"},
                     {"batch", batch},
                     {"steps", steps},
                     {"runs", repeat},
                     {"sequences_per_s", batch / (median / 1000.0)},
                     {"median_ms", median},
                     {"min_ms", ms.front()}});
    return 0;
  }
  std::printf("model %s: %s of %lld sequences x %lld steps, %lld runs\n", d.name, train ? "training step" : "forward",
              static_cast<long long>(batch), static_cast<long long>(steps), static_cast<long long>(repeat));
  std::printf("sequences/s: %.1f\n", batch / (median / 1000.0));
  print_profile(*m);
  std::printf("bench: median_ms=%.4f min_ms=%.4f runs=%lld\n", median, ms.front(), static_cast<long long>(repeat));
  return 0;
}

}  // namespace

void apply_threads_option(const Options &o) {
  if (o.has("threads")) set_kernel_threads(static_cast<int>(o.int_or("threads", 1, 1, 1024)));
}

std::unique_ptr<Model> open_weights(const ModelDesc &d, const std::string &path) {
  auto m = new_model(&d);
  load_weights(*m, path);
  return m;
}

void print_layer_table(const ModelDesc &d) {
  std::printf("model %s (from %s)\n", d.name, d.source_file);
  std::printf("%-6s %-10s %-34s %-16s %12s\n", "layer", "kind", "details", "output", "params");
  for (int32_t i = 0; i < d.num_layers; ++i) {
    const LayerInfo &l = d.layers[i];
    const std::string idx = l.index >= 0 ? std::to_string(l.index) : "-";
    std::printf("%-6s %-10s %-34s %-16s %12lld\n", idx.c_str(), l.kind, l.details, l.output_shape,
                static_cast<long long>(l.params));
  }
  std::printf("%-69s %12lld\n", "total", static_cast<long long>(d.total_params));
}

std::vector<Command> inference_commands() {
  const OptionSpec threads{"threads", "N", "threads for the kernels (default: one per core)"};
  return {
      {"info",
       "Print the model's layer table.",
       {{"json", "", "print one JSON object {\"model\", \"source\", \"layers\": [...], \"total_params\", \"loss\"}"}},
       cmd_info},
      {"init",
       "Write initial weights: PyTorch's default initialisation, or chrono for layers with init = \"chrono\".",
       {{"output", "W.safetensors", "where to write the weights", true},
        {"seed", "S", "random seed (default 0)"},
        {"json", "", "print one JSON object {\"wrote\": [W], \"parameters\", \"seed\"}"}},
       cmd_init},
      {"predict",
       "Run the model on inputs and write its raw outputs (logits: no softmax).",
       {{"weights", "W.safetensors", "weights or checkpoint", true},
        {"inputs", "X.npy",
         "[N, T] int32/int64 token ids or [N, T, I] float32/float64 features (or D.npz holding inputs and lengths)",
         true},
        {"lengths", "L.npy", "[N] int32/int64 lengths in 1..T (default: the inputs' .npz, or all T)"},
        {"output", "Y.npy", "float32 [N, out], or [N, T, out] for readout \"all\"", true},
        {"h0", "H0.npy",
         "initial hidden states [L, N, H] in PyTorch's h_0 order, entries in model order (.npz "
         "keyed layers.<i> when hidden sizes differ; default zeros)"},
        {"c0", "C0.npy", "initial cell states of the lstm entries, as --h0"},
        {"output-h", "HN.npy", "write the final hidden states h_n, laid out as --h0"},
        {"output-c", "CN.npy", "write the final cell states c_n of the lstm entries"},
        {"output-hidden", "DIR",
         "write every recurrent sub-layer's per-step outputs as DIR/layers.<i>_l<k>.npy "
         "[N, T, directions x H] (forward half first, zeros at padded steps)"},
        {"batch-size", "B", "sequences per forward call (default 256)"},
        {"json", "", "print one JSON object {\"sequences\", \"output_shape\", \"wrote\": [files]}"},
        threads},
       cmd_predict},
      {"trace",
       "Print the hidden-state evolution: per recurrent sub-layer, direction and step t, the mean and standard "
       "deviation of h_t (and c_t) over the units of the sequences still running at t.",
       {{"weights", "W.safetensors", "weights or checkpoint", true},
        {"inputs", "X.npy", "inputs (or D.npz holding inputs and lengths)", true},
        {"lengths", "L.npy", "lengths (default: the inputs' .npz, or all T)"},
        {"json", "", "print one JSON object {\"trace\": [{\"layer\", \"sublayer\", \"direction\", \"h_mean\", ...}]}"},
        {"batch-size", "B", "sequences per forward call (default 256)"},
        threads},
       cmd_trace},
      {"bench",
       "Time the forward pass (or a training step) on generated inputs; a measuring tool, not a test.",
       {{"batch", "B", "sequences per run", true},
        {"steps", "T", "steps per sequence", true},
        {"repeat", "K", "timed runs (default 20)"},
        {"weights", "W.safetensors", "weights (default: initialised from seed 0)"},
        {"train", "", "time one training step per run (on random labels) instead of a forward"},
        {"json", "",
         "print one JSON object {\"model\", \"mode\", \"batch\", \"steps\", \"runs\", \"sequences_per_s\", "
         "\"median_ms\", \"min_ms\"}"},
        threads},
       cmd_bench},
  };
}

int api_program_main(const ModelDesc *desc, int argc, char **argv) {
  const ModelDesc &d = *desc;
  const std::string program = argc > 0 ? argv[0] : d.name;
  std::vector<Command> commands = inference_commands();
  for (Command &c : training_commands()) commands.push_back(std::move(c));
  auto overview = [&](FILE *f) {
    std::fprintf(f,
                 "usage: %s <command> [options]\n\nThe program of model %s, generated by rnnc from %s.\n\ncommands:\n",
                 program.c_str(), d.name, d.source_file);
    for (const Command &c : commands) std::fprintf(f, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(f, "\n'%s <command> --help' describes a command's options.\n", program.c_str());
  };
  if (argc < 2) {
    overview(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    overview(stdout);
    return 0;
  }
  if (name == "--version") {
    std::printf("%s: generated by rnnc %s from %s (sha256 %s)\ntarget %s, runtime ABI %u\n", d.name, d.rnnc_version,
                d.source_file, d.model_sha256, d.target, d.abi_version);
    return 0;
  }
  // The commands that run kernels (those with --threads) also take --device
  // and, in a CUDA build, find the GPU before they read any file.
  auto runs_kernels = [](const Command &c) {
    return std::any_of(c.options.begin(), c.options.end(), [](const OptionSpec &s) { return s.name == "threads"; });
  };
  for (Command &c : commands)
    if (runs_kernels(c)) c.options.push_back({"device", "N", "the GPU to run on, in a CUDA build (default 0)"});
  for (const Command &c : commands) {
    if (name != c.name) continue;
    Options o(c.name, c.summary, c.options);
    try {
      if (!o.parse(std::vector<std::string>(argv + 2, argv + argc))) {
        std::printf("%s", o.usage(program).c_str());
        return 0;
      }
      install_halide_error_handler();
      if (runs_kernels(c) && o.has("device") && !uses_cuda(d))
        throw UsageError(std::string("this build of ") + d.name + " runs on the CPU (target " + d.target +
                         "); --device is for CUDA builds");
      if (runs_kernels(c) && uses_cuda(d)) {
        select_cuda_device(static_cast<int>(o.int_or("device", 0, 0, 1 << 16)));
        const CudaDevice dev = probe_cuda_device(selected_cuda_device(), cuda_driver_override());
        std::fprintf(stderr, "%s: running on %s\n", program.c_str(), describe(dev).c_str());
      }
      return c.run(d, o);
    } catch (const UsageError &e) {
      std::fprintf(stderr, "%s %s: error: %s\n(see '%s %s --help')\n", program.c_str(), c.name, e.what(),
                   program.c_str(), c.name);
      return 2;
    } catch (const std::bad_alloc &) {
      std::fprintf(stderr, "%s %s: error: out of memory\n", program.c_str(), c.name);
      return 1;
    } catch (const std::exception &e) {
      std::fprintf(stderr, "%s %s: error: %s\n", program.c_str(), c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "%s: error: unknown command '%s'\n", program.c_str(), name.c_str());
  overview(stderr);
  return 2;
}

}  // namespace rnnc_rt

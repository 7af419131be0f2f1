// Times oneDNN's RNN primitives on the recurrent layers of an rnnc model file.
//
//   onednn_rnn --model bench/configs/c_lstm.toml --batch 64 --steps 100
//              --mode infer|train --threads 1 --repeat 10
//
// Every recurrent layer of the model (each of a stacked entry's num_layers too)
// becomes one unidirectional oneDNN primitive of its own, because oneDNN's
// multi-layer primitives need the input width to equal the hidden width. The
// embedding, readout, head, loss and optimizer of the model are not run: oneDNN
// has no such primitives, and at these sizes they are a small share of rnnc's
// and PyTorch's time.
//
// infer: forward_inference of every layer in turn. Weights are reordered from
//   PyTorch's layout (ldigo) into the primitive's once, before timing, as any
//   inference deployment would.
// train: forward_training of every layer, then backward of every layer in
//   reverse, with what one training step of a real loop must redo each time:
//   the reorders of the (changed) weights into the forward and the backward
//   primitives' layouts, zeroing of the weight gradients (oneDNN accumulates
//   into them), and the reorders of the weight gradients back into ldigo.
//
// Prints one JSON line with the median and minimum milliseconds over the timed
// runs (at least --repeat, and more until --min-time seconds have passed) after
// --warmup untimed ones, the implementation oneDNN chose and
// its effective ISA.
#include <omp.h>

#include <toml++/toml.h>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <functional>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

enum class Cell { kRnnTanh, kRnnRelu, kLstm, kGru, kLbrGru };

// One recurrent layer, one direction: the unit a oneDNN primitive runs here.
struct LayerSpec {
  Cell cell;
  int64_t input;
  int64_t hidden;
  bool bias;
};

struct ModelSpec {
  std::string name;
  std::vector<LayerSpec> layers;
};

const char *cell_name(Cell c) {
  switch (c) {
    case Cell::kRnnTanh:
      return "rnn_tanh";
    case Cell::kRnnRelu:
      return "rnn_relu";
    case Cell::kLstm:
      return "lstm";
    case Cell::kGru:
      return "gru";
    case Cell::kLbrGru:
      return "lbr_gru";
  }
  return "?";
}

int64_t gates(Cell c) {
  switch (c) {
    case Cell::kLstm:
      return 4;
    case Cell::kGru:
    case Cell::kLbrGru:
      return 3;
    default:
      return 1;
  }
}

// Reads the recurrent layers of a model file (docs/model_format.md). Only the
// shapes matter here; the file is assumed to pass `rnnc check`.
ModelSpec read_model(const std::string &path) {
  toml::table t = toml::parse_file(path);
  ModelSpec m;
  std::string file = path.substr(path.find_last_of('/') + 1);
  m.name = t["name"].value_or(file.substr(0, file.find('.')));
  const std::string input_kind = t["input"]["kind"].value_or(std::string());
  int64_t width = input_kind == "features" ? t["input"]["size"].value_or(int64_t{0}) : 0;
  const toml::array *layers = t["layers"].as_array();
  if (!layers) throw std::runtime_error(path + ": no [[layers]]");
  for (const toml::node &n : *layers) {
    const toml::table &l = *n.as_table();
    const std::string kind = l["kind"].value_or(std::string());
    if (kind == "embedding") {
      width = l["dim"].value_or(int64_t{0});
      continue;
    }
    if (kind != "rnn" && kind != "lstm" && kind != "gru") continue;
    if (l["bidirectional"].value_or(false))
      throw std::runtime_error(path + ": bidirectional layers are not supported by this harness");
    Cell cell = Cell::kLstm;
    if (kind == "rnn")
      cell = l["nonlinearity"].value_or(std::string("tanh")) == "relu" ? Cell::kRnnRelu : Cell::kRnnTanh;
    if (kind == "gru") cell = l["linear_before_reset"].value_or(true) ? Cell::kLbrGru : Cell::kGru;
    const int64_t hidden = l["hidden"].value_or(int64_t{0});
    const int64_t stacked = l["num_layers"].value_or(int64_t{1});
    for (int64_t k = 0; k < stacked; ++k) {
      m.layers.push_back({cell, width, hidden, l["bias"].value_or(true)});
      width = hidden;
    }
  }
  if (m.layers.empty()) throw std::runtime_error(path + ": no recurrent layer");
  return m;
}

const char *isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}

// Forward and (for training) backward primitives of one layer, with their
// descriptors kept for the memory queries.
struct Prims {
  dnnl::primitive_desc fwd_pd, bwd_pd;
  dnnl::primitive fwd, bwd;
};

// The memory descriptors a layer's primitives are created from. Zero
// descriptors mean "absent": no initial state (zeros), no final state, no bias.
struct LayerDescs {
  memory::desc src_layer, weights_layer, weights_iter, bias, dst_layer, none;
};

template <class Fwd, class Bwd, class FwdDesc, class BwdDesc>
Prims make_prims(const dnnl::engine &eng, bool train, FwdDesc fwd_desc, BwdDesc bwd_desc) {
  typename Fwd::primitive_desc fpd(
      fwd_desc(train ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference), eng);
  Prims p;
  p.fwd_pd = fpd;
  p.fwd = Fwd(fpd);
  if (train) {
    typename Bwd::primitive_desc bpd(bwd_desc(), eng, fpd);
    p.bwd_pd = bpd;
    p.bwd = Bwd(bpd);
  }
  return p;
}

Prims create_prims(const dnnl::engine &eng, Cell cell, bool train, const LayerDescs &d) {
  const auto dir = dnnl::rnn_direction::unidirectional_left2right;
  const auto &z = d.none;
  // Weights and their gradients are left to the primitive (format any); the
  // activations keep the plain time-major layout so that layers chain.
  switch (cell) {
    case Cell::kRnnTanh:
    case Cell::kRnnRelu: {
      const auto act = cell == Cell::kRnnTanh ? dnnl::algorithm::eltwise_tanh : dnnl::algorithm::eltwise_relu;
      return make_prims<dnnl::vanilla_rnn_forward, dnnl::vanilla_rnn_backward>(
          eng, train,
          [&](dnnl::prop_kind pk) {
            return dnnl::vanilla_rnn_forward::desc(pk, act, dir, d.src_layer, z, d.weights_layer, d.weights_iter,
                                                   d.bias, d.dst_layer, z);
          },
          [&] {
            return dnnl::vanilla_rnn_backward::desc(
                dnnl::prop_kind::backward, act, dir, d.src_layer, z, d.weights_layer, d.weights_iter, d.bias,
                d.dst_layer, z, d.src_layer, z, d.weights_layer, d.weights_iter, d.bias, d.dst_layer, z);
          });
    }
    case Cell::kLstm:
      return make_prims<dnnl::lstm_forward, dnnl::lstm_backward>(
          eng, train,
          [&](dnnl::prop_kind pk) {
            return dnnl::lstm_forward::desc(pk, dir, d.src_layer, z, z, d.weights_layer, d.weights_iter, d.bias,
                                            d.dst_layer, z, z);
          },
          [&] {
            return dnnl::lstm_backward::desc(dnnl::prop_kind::backward, dir, d.src_layer, z, z, d.weights_layer,
                                             d.weights_iter, d.bias, d.dst_layer, z, z, d.src_layer, z, z,
                                             d.weights_layer, d.weights_iter, d.bias, d.dst_layer, z, z);
          });
    case Cell::kGru:
      return make_prims<dnnl::gru_forward, dnnl::gru_backward>(
          eng, train,
          [&](dnnl::prop_kind pk) {
            return dnnl::gru_forward::desc(pk, dir, d.src_layer, z, d.weights_layer, d.weights_iter, d.bias,
                                           d.dst_layer, z);
          },
          [&] {
            return dnnl::gru_backward::desc(dnnl::prop_kind::backward, dir, d.src_layer, z, d.weights_layer,
                                            d.weights_iter, d.bias, d.dst_layer, z, d.src_layer, z, d.weights_layer,
                                            d.weights_iter, d.bias, d.dst_layer, z);
          });
    case Cell::kLbrGru:
      return make_prims<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(
          eng, train,
          [&](dnnl::prop_kind pk) {
            return dnnl::lbr_gru_forward::desc(pk, dir, d.src_layer, z, d.weights_layer, d.weights_iter, d.bias,
                                               d.dst_layer, z);
          },
          [&] {
            return dnnl::lbr_gru_backward::desc(dnnl::prop_kind::backward, dir, d.src_layer, z, d.weights_layer,
                                                d.weights_iter, d.bias, d.dst_layer, z, d.src_layer, z, d.weights_layer,
                                                d.weights_iter, d.bias, d.dst_layer, z);
          });
  }
  throw std::logic_error("unknown cell");
}

void fill_uniform(const memory &m, float bound, std::mt19937 &rng) {
  std::uniform_real_distribution<float> u(-bound, bound);
  float *p = static_cast<float *>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) p[i] = u(rng);
}

void fill_zero(const memory &m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

// A primitive with its arguments, ready to execute.
struct Call {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
};

// The calls of one timed run, in order, plus what must be zeroed first.
struct Plan {
  std::vector<memory> to_zero;
  std::vector<Call> calls;
  std::string impl_fwd, impl_bwd;
};

// Returns the memory for a weight in the primitive's layout `want`: `user`
// itself when the layouts agree, else a new buffer with a reorder from `user`
// appended to `calls` (timed) or executed now (`once`).
memory weights_for(const memory &user, const memory::desc &want, const dnnl::engine &eng, dnnl::stream &s, bool once,
                   std::vector<Call> &calls) {
  if (want == user.get_desc()) return user;
  memory m(want, eng);
  dnnl::reorder r(user, m);
  if (once) {
    r.execute(s, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}});
    s.wait();
  } else {
    calls.push_back({r, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}}});
  }
  return m;
}

Plan build_plan(const ModelSpec &model, int64_t batch, int64_t steps, bool train, const dnnl::engine &eng,
                dnnl::stream &s) {
  std::mt19937 rng(1);
  Plan plan;
  std::vector<Call> grads_out;  // diff-weight reorders back to ldigo, after all backward calls
  memory src(memory::desc({steps, batch, model.layers.front().input}, dt::f32, tag::tnc), eng);
  fill_uniform(src, 1.0f, rng);
  std::vector<memory> diff_dst_of;  // per layer: the gradient arriving at its output
  std::vector<std::vector<Call>> bwd_calls(model.layers.size());
  std::vector<memory> dst_of, diff_src_of;
  for (size_t li = 0; li < model.layers.size(); ++li) {
    const LayerSpec &l = model.layers[li];
    const int64_t g = gates(l.cell), bias_gates = l.cell == Cell::kLbrGru ? 4 : g;
    LayerDescs d;
    d.src_layer = memory::desc({steps, batch, l.input}, dt::f32, tag::tnc);
    d.dst_layer = memory::desc({steps, batch, l.hidden}, dt::f32, tag::tnc);
    d.weights_layer = memory::desc({1, 1, l.input, g, l.hidden}, dt::f32, tag::any);
    d.weights_iter = memory::desc({1, 1, l.hidden, g, l.hidden}, dt::f32, tag::any);
    d.bias = l.bias ? memory::desc({1, 1, bias_gates, l.hidden}, dt::f32, tag::ldgo) : memory::desc();
    Prims p = create_prims(eng, l.cell, train, d);
    plan.impl_fwd = p.fwd_pd.impl_info_str();
    if (train) plan.impl_bwd = p.bwd_pd.impl_info_str();

    // Weights as a framework holds them (PyTorch's gate-major rows = ldigo).
    const float bound = 1.0f / std::sqrt(static_cast<float>(l.hidden));
    memory wl_user(memory::desc({1, 1, l.input, g, l.hidden}, dt::f32, tag::ldigo), eng);
    memory wi_user(memory::desc({1, 1, l.hidden, g, l.hidden}, dt::f32, tag::ldigo), eng);
    fill_uniform(wl_user, bound, rng);
    fill_uniform(wi_user, bound, rng);
    memory bias;
    if (l.bias) {
      bias = memory(d.bias, eng);
      fill_uniform(bias, bound, rng);
    }
    memory dst(p.fwd_pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_DST_LAYER), eng);
    Call fwd{p.fwd, {{DNNL_ARG_SRC_LAYER, li == 0 ? src : dst_of.back()}, {DNNL_ARG_DST_LAYER, dst}}};
    const memory::desc ws_md = p.fwd_pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WORKSPACE);
    memory ws;
    if (ws_md.get_size() > 0) {
      ws = memory(ws_md, eng);
      fwd.args[DNNL_ARG_WORKSPACE] = ws;
    }
    if (l.bias) fwd.args[DNNL_ARG_BIAS] = bias;
    const bool once = !train;
    fwd.args[DNNL_ARG_WEIGHTS_LAYER] = weights_for(
        wl_user, p.fwd_pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_LAYER), eng, s, once, plan.calls);
    fwd.args[DNNL_ARG_WEIGHTS_ITER] = weights_for(
        wi_user, p.fwd_pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_ITER), eng, s, once, plan.calls);
    plan.calls.push_back(fwd);
    dst_of.push_back(dst);
    if (!train) continue;

    auto md = [&](int arg) { return p.bwd_pd.query_md(dnnl::query::exec_arg_md, arg); };
    std::vector<Call> &bc = bwd_calls[li];
    Call bwd{p.bwd,
             {{DNNL_ARG_SRC_LAYER, fwd.args[DNNL_ARG_SRC_LAYER]}, {DNNL_ARG_DST_LAYER, dst}, {DNNL_ARG_WORKSPACE, ws}}};
    if (l.bias) bwd.args[DNNL_ARG_BIAS] = bias;
    bwd.args[DNNL_ARG_WEIGHTS_LAYER] = weights_for(wl_user, md(DNNL_ARG_WEIGHTS_LAYER), eng, s, false, bc);
    bwd.args[DNNL_ARG_WEIGHTS_ITER] = weights_for(wi_user, md(DNNL_ARG_WEIGHTS_ITER), eng, s, false, bc);
    memory diff_src(md(DNNL_ARG_DIFF_SRC_LAYER), eng), diff_dst(md(DNNL_ARG_DIFF_DST_LAYER), eng);
    bwd.args[DNNL_ARG_DIFF_SRC_LAYER] = diff_src;
    bwd.args[DNNL_ARG_DIFF_DST_LAYER] = diff_dst;
    // Weight gradients: oneDNN accumulates into them, so each step zeroes
    // them first, as a training loop's zero_grad does.
    for (int arg : {DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS}) {
      if (arg == DNNL_ARG_DIFF_BIAS && !l.bias) continue;
      memory dw(md(arg), eng);
      bwd.args[arg] = dw;
      plan.to_zero.push_back(dw);
      if (arg == DNNL_ARG_DIFF_BIAS) continue;
      memory user(memory::desc({1, 1, arg == DNNL_ARG_DIFF_WEIGHTS_LAYER ? l.input : l.hidden, g, l.hidden}, dt::f32,
                               tag::ldigo),
                  eng);
      if (dw.get_desc() != user.get_desc())
        grads_out.push_back({dnnl::reorder(dw, user), {{DNNL_ARG_FROM, dw}, {DNNL_ARG_TO, user}}});
    }
    bc.push_back(bwd);
    diff_src_of.push_back(diff_src);
    diff_dst_of.push_back(diff_dst);
  }
  if (!train) return plan;
  // The top layer's output gradient is a fixed random tensor (the head's
  // backward is not run); every lower layer's is the input gradient of the
  // layer above, read in place (both are plain time-major tensors).
  fill_uniform(diff_dst_of.back(), 0.01f, rng);
  for (size_t li = model.layers.size(); li-- > 0;) {
    if (li + 1 < model.layers.size()) {
      if (diff_src_of[li + 1].get_desc() != diff_dst_of[li].get_desc())
        throw std::logic_error("layer gradients do not chain: unexpected oneDNN layouts");
      bwd_calls[li].back().args[DNNL_ARG_DIFF_DST_LAYER] = diff_src_of[li + 1];
    }
    for (Call &c : bwd_calls[li]) plan.calls.push_back(c);
  }
  for (Call &c : grads_out) plan.calls.push_back(c);
  return plan;
}

void run_once(const Plan &plan, dnnl::stream &s) {
  for (const memory &m : plan.to_zero) fill_zero(m);
  for (const Call &c : plan.calls) c.prim.execute(s, c.args);
  s.wait();
}

}  // namespace

int main(int argc, char **argv) {
  namespace po = boost::program_options;
  std::string model_path, mode;
  int64_t batch = 0, steps = 0, repeat = 10, warmup = 1;
  double min_time = 0;
  int threads = 1;
  po::options_description opts("onednn_rnn --model FILE --batch B --steps T [options]");
  opts.add_options()("model", po::value(&model_path)->required(), "rnnc model file (TOML)")(
      "batch", po::value(&batch)->required(), "sequences per run (B)")("steps", po::value(&steps)->required(),
                                                                       "steps per sequence (T)")(
      "mode", po::value(&mode)->default_value("infer"), "infer or train")(
      "threads", po::value(&threads)->default_value(1), "OpenMP threads")(
      "repeat", po::value(&repeat)->default_value(10), "timed runs, at least")(
      "min-time", po::value(&min_time)->default_value(0), "seconds of timed runs, at least")(
      "warmup", po::value(&warmup)->default_value(1), "untimed runs before the timed ones")("help,h", "this text");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help")) {
      std::cout << opts;
      return 0;
    }
    po::notify(vm);
    if (mode != "infer" && mode != "train") throw std::runtime_error("--mode must be infer or train");
    if (batch < 1 || steps < 1 || repeat < 1 || warmup < 0 || threads < 1)
      throw std::runtime_error("--batch, --steps, --repeat and --threads must be positive");

    // oneDNN's CPU engine runs on the OpenMP runtime this program shares.
    omp_set_num_threads(threads);
    const ModelSpec model = read_model(model_path);
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream s(eng);
    const Plan plan = build_plan(model, batch, steps, mode == "train", eng, s);
    for (int64_t i = 0; i < warmup; ++i) run_once(plan, s);
    std::vector<double> ms;
    double total_ms = 0;
    while (static_cast<int64_t>(ms.size()) < repeat || total_ms < 1e3 * min_time) {
      const auto t0 = std::chrono::steady_clock::now();
      run_once(plan, s);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      total_ms += ms.back();
    }
    std::sort(ms.begin(), ms.end());
    const size_t n = ms.size();
    const double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
    std::string cells;
    for (const LayerSpec &l : model.layers) cells += std::string(cells.empty() ? "" : ",") + cell_name(l.cell);
    std::printf(
        "{\"lib\": \"onednn\", \"model\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, \"steps\": %lld, "
        "\"threads\": %d, \"median_ms\": %.6f, \"min_ms\": %.6f, \"runs\": %zu, \"cells\": \"%s\", "
        "\"impl_fwd\": \"%s\", \"impl_bwd\": \"%s\", \"isa\": \"%s\", \"omp_max_threads\": %d, "
        "\"onednn_version\": \"%d.%d.%d\"}\n",
        model.name.c_str(), mode.c_str(), static_cast<long long>(batch), static_cast<long long>(steps), threads, median,
        ms.front(), n, cells.c_str(), plan.impl_fwd.c_str(), plan.impl_bwd.c_str(),
        isa_name(dnnl::get_effective_cpu_isa()), omp_get_max_threads(), dnnl::version()->major, dnnl::version()->minor,
        dnnl::version()->patch);
    return 0;
  } catch (const po::error &e) {
    std::fprintf(stderr, "onednn_rnn: %s\n%s", e.what(), "run 'onednn_rnn --help' for the options\n");
    return 2;
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "onednn_rnn: oneDNN: %s (status %d)\n", e.what(), static_cast<int>(e.status));
    return 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "onednn_rnn: %s\n", e.what());
    return 1;
  }
}

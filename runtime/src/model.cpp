#include "model.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cuda_driver.h"
#include "error.h"
#include "parallel.h"

namespace rnnc_rt {

namespace {

// Marks the base buffers a step list touches.
std::vector<char> used_buffers(const ModelDesc &d, StepList list) {
  std::vector<char> used(d.num_buffers, 0);
  for (int32_t i = 0; i < list.count; ++i) {
    const StepDesc &s = d.steps[list.first + i];
    for (int32_t a = 0; a < s.num_args; ++a) {
      const ArgDesc &arg = d.args[s.first_arg + a];
      if (arg.kind != kArgBuffer) continue;
      const BufferDesc &b = d.buffers[arg.id];
      used[b.parent >= 0 ? b.parent : arg.id] = 1;
    }
  }
  const BufferDesc &out = d.buffers[d.output_buffer];
  used[out.parent >= 0 ? out.parent : d.output_buffer] = 1;
  return used;
}

// for_each_state_block over the h (which = 0) or c (which = 1) state
// buffers of the current batch: fn(buffer, hidden, offset).
template <class Fn>
void for_each_state(const Model &m, int which, Fn fn) {
  const ModelDesc &d = *m.desc;
  for_each_state_block(d, which == 1, m.geo.n, [&](int32_t s, int64_t hidden, int64_t offset) {
    fn(which == 0 ? d.states[s].h_buffer : d.states[s].c_buffer, hidden, offset);
  });
}

// Sets the initial-state rows (sorted order) of every state buffer from
// h0/c0 (input order) or zeros.
void set_initial_states(Model &m, const float *h0, const float *c0) {
  const Geometry &g = m.geo;
  std::vector<float> rows;
  for (int which = 0; which < 2; ++which) {
    const float *src = which == 0 ? h0 : c0;
    for_each_state(m, which, [&](int32_t buf, int64_t hidden, int64_t offset) {
      const MatrixView dst = m.ws.view(buf);
      rows.assign(static_cast<size_t>(g.n * hidden), 0.0f);
      if (src)
        for (int64_t b = 0; b < g.n; ++b)
          std::memcpy(&rows[b * hidden], src + offset + g.order[b] * hidden, sizeof(float) * hidden);
      // One write when the rows are contiguous (a device copy crosses once).
      if (dst.stride == hidden) {
        dst.array->write(dst.offset, rows.size(), rows.data());
      } else {
        for (int64_t b = 0; b < g.n; ++b) dst.write_row(b, &rows[b * hidden]);
      }
    });
  }
}

// Which argv positions of kernel `k` it writes, from its metadata.
std::vector<char> kernel_writes(const KernelEntry &k) {
  const halide_filter_metadata_t *md = k.metadata ? k.metadata() : nullptr;
  if (!md) return {};  // unknown: every buffer argument may be written
  // argv[0] is the user context, which the metadata may or may not list.
  const int shift = md->num_arguments > 0 && std::strcmp(md->arguments[0].name, "__user_context") == 0 ? 0 : 1;
  std::vector<char> w(static_cast<size_t>(md->num_arguments + shift), 0);
  for (int i = 0; i < md->num_arguments; ++i)
    w[i + shift] = md->arguments[i].kind == halide_argument_kind_output_buffer;
  return w;
}

}  // namespace

void get_final_states(const Model &m, float *h_n, float *c_n) {
  const Geometry &g = m.geo;
  for (int which = 0; which < 2; ++which) {
    float *dst = which == 0 ? h_n : c_n;
    if (!dst) continue;
    for_each_state(m, which, [&](int32_t buf, int64_t hidden, int64_t offset) {
      const MatrixView src = m.ws.view(buf);
      for (int64_t i = 0; i < g.n; ++i) src.read_row(g.n + g.index[kIdxLastRow][i], dst + offset + i * hidden);
    });
  }
}

std::unique_ptr<Model> new_model(const ModelDesc *desc) {
  if (desc->abi_version != kAbiVersion) throw RtError("this library was generated for another runtime version");
  install_halide_error_handler();
  install_parallel_runtime();
  auto m = std::make_unique<Model>();
  m->desc = desc;
  m->cuda = uses_cuda(*desc);
  if (m->cuda) {
    m->device = std::make_unique<Device>(cuda_device_interface(), false);
  } else if (const char *e = std::getenv("RNNC_EMULATE_DEVICE"); e && std::string(e) == "1") {
    m->device = std::make_unique<Device>(emulated_device_interface(), true);
  }
  if (m->device) m->device->report = std::getenv("RNNC_DEVICE_STATS") != nullptr;
  m->params.assign(static_cast<size_t>(desc->num_param_floats), 0.0f);
  m->packed.resize(desc->num_packed);
  for (int32_t i = 0; i < desc->num_packed; ++i) {
    int64_t n = 1;
    for (int k = 0; k < desc->packed[i].ndim; ++k) n *= desc->packed[i].dims[k];
    m->packed[i].assign(static_cast<size_t>(n), 0.0f);
  }
  attach_arrays(*m);
  int64_t zeros = 1;
  for (int32_t i = 0; i < desc->num_args; ++i)
    if (desc->args[i].kind == kArgZeros) zeros = std::max<int64_t>(zeros, desc->args[i].id);
  m->zeros.assign(static_cast<size_t>(zeros), 0.0f);
  for (int32_t k = 0; k < desc->num_kernels; ++k) m->kernel_writes.push_back(kernel_writes(desc->kernels[k]));
  // The metadata must describe the arguments the plan passes.
  for (int32_t i = 0; i < desc->num_steps; ++i) {
    const StepDesc &s = desc->steps[i];
    if (s.kernel < 0) continue;
    const std::vector<char> &w = m->kernel_writes[s.kernel];
    if (!w.empty() && w.size() != static_cast<size_t>(s.num_args) + 1)
      throw RtError(std::string("kernel ") + desc->kernels[s.kernel].name + " takes " + std::to_string(w.size() - 1) +
                    " arguments, but step '" + s.comment + "' passes " + std::to_string(s.num_args));
  }
  for (int32_t i = 0; i < desc->num_packed; ++i) {
    const std::vector<char> &w = m->kernel_writes[desc->packed[i].kernel];
    if (!w.empty() && (w.size() != 3 || !w[2]))
      throw RtError(std::string("the pack kernel of ") + desc->packed[i].name + " does not take (weights, packed)");
  }
  auto add = [&](std::vector<char> &used, StepList l) {
    const std::vector<char> u = used_buffers(*desc, l);
    for (size_t i = 0; i < u.size(); ++i) used[i] |= u[i];
  };
  m->profile = std::getenv("RNNC_PROFILE") != nullptr;
  m->step_seconds.assign(desc->num_steps, 0.0);
  m->step_calls.assign(desc->num_steps, 0);
  m->used_infer = used_buffers(*desc, desc->infer);
  m->used_eval = m->used_infer;
  add(m->used_eval, desc->loss_steps);
  m->used_train = m->used_eval;
  for (StepList l : {desc->train_fwd, desc->train_bwd, desc->grad_norm, desc->input_grad}) add(m->used_train, l);
  return m;
}

void attach_arrays(Model &m) {
  Device *dev = m.device.get();
  m.params.attach(dev);
  for (Mirror<float> &p : m.packed) p.attach(dev);
  m.zeros.attach(dev);
  TrainState &t = m.train;
  for (Mirror<float> *a : {&t.grads, &t.slot1, &t.slot2, &t.next_params, &t.next_slot1, &t.next_slot2}) a->attach(dev);
  StagedBatch &s = m.staged;
  s.tokens.attach(dev);
  s.classes.attach(dev);
  s.features.attach(dev);
  s.targets.attach(dev);
  for (Mirror<int32_t> &i : s.index) i.attach(dev);
}

void print_profile(const Model &m) {
  if (!m.profile) return;
  const ModelDesc &d = *m.desc;
  std::vector<int32_t> order;
  double total = 0;
  for (int32_t i = 0; i < d.num_steps; ++i) {
    if (m.step_calls[i] > 0) order.push_back(i);
    total += m.step_seconds[i];
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return m.step_seconds[a] > m.step_seconds[b]; });
  std::fprintf(stderr, "profile of %s: %.3f s in steps\n", d.name, total);
  for (int32_t i : order) {
    const StepDesc &s = d.steps[i];
    std::fprintf(stderr, "  %6.1f%% %9.3f ms %8lld calls  %s  [%s]\n", 100.0 * m.step_seconds[i] / total,
                 1e3 * m.step_seconds[i], static_cast<long long>(m.step_calls[i]), s.comment,
                 s.kernel >= 0 ? d.kernels[s.kernel].name : "runtime");
  }
}

int64_t output_size(const ModelDesc &d, int64_t n, int64_t t) {
  return n * (d.per_step_output ? t : 1) * d.output_width;
}

int64_t state_size(const ModelDesc &d, int64_t n, bool cell_state) {
  int64_t total = 0;
  for_each_state_block(d, cell_state, n, [&](int32_t, int64_t hidden, int64_t) { total += n * hidden; });
  return total;
}

void prepare_batch(Model &m, const BatchInput &in, const int32_t *lengths, int64_t n, int64_t t, BatchMode mode,
                   const float *h0, const float *c0) {
  const ModelDesc &d = *m.desc;
  m.geo = make_geometry(lengths, n, t, in.tokens, d.vocab);
  require_device(m);
  ++m.batch;
  m.ws.allocate(d, m.geo.n, m.geo.rows,
                mode == BatchMode::kTrain  ? m.used_train
                : mode == BatchMode::kEval ? m.used_eval
                                           : m.used_infer,
                m.device.get());
  if (m.device)
    for (int k = 0; k < kIdxCount; ++k) m.staged.index[k].take(std::vector<int32_t>(m.geo.index[k]));
  set_initial_states(m, h0, c0);
}

OutputView output_view(const Model &m) {
  const ModelDesc &d = *m.desc;
  const MatrixView out = m.ws.view(d.output_buffer);
  OutputView v;
  v.data = out.host();
  v.stride = out.stride;
  v.rows = d.per_step_output ? m.geo.rows : m.geo.n;
  return v;
}

namespace {

uint64_t handle(const void *p) { return reinterpret_cast<uint64_t>(p); }

// The device halves of forward(Residence::kDevice): the initial states from
// device h0/c0 (input order) into the state buffers' first rows (sorted).
void set_initial_states_device(Model &m, const float *h0, const float *c0) {
  const Geometry &g = m.geo;
  const int64_t f = sizeof(float);
  for (int which = 0; which < 2; ++which) {
    const float *src = which == 0 ? h0 : c0;
    if (!src) continue;
    for_each_state(m, which, [&](int32_t buf, int64_t hidden, int64_t offset) {
      const MatrixView dst = m.ws.view(buf);
      m.device->gather_rows(dst.array->device_current(), dst.offset * f, dst.stride * f, handle(src), offset * f,
                            hidden * f, hidden * f, g.n, g.order.data());
      dst.array->device_written();
    });
  }
}

// The outputs into a device array laid out as copy_outputs' (0 at padding).
void copy_outputs_device(Model &m, float *outputs) {
  const ModelDesc &d = *m.desc;
  const Geometry &g = m.geo;
  const MatrixView out = m.ws.view(d.output_buffer);
  const int64_t f = sizeof(float), w = d.output_width;
  const uint64_t src = out.array->device_current();
  if (!d.per_step_output) {
    m.device->gather_rows(handle(outputs), 0, w * f, src, out.offset * f, out.stride * f, w * f, g.n, nullptr);
    return;
  }
  m.device->zero_rows(handle(outputs), 0, w * f, w * f, g.n * g.t);
  std::vector<int32_t> rows;
  for (int64_t i = 0; i < g.n; ++i) {
    rows.resize(g.lengths[i]);
    for (int64_t s = 0; s < g.lengths[i]; ++s) rows[s] = static_cast<int32_t>(g.row(i, s));
    m.device->gather_rows(handle(outputs), i * g.t * w * f, w * f, src, out.offset * f, out.stride * f, w * f,
                          g.lengths[i], rows.data());
  }
}

// Every state's value after its sequence's last step into device h_n/c_n.
void get_final_states_device(Model &m, float *h_n, float *c_n) {
  const Geometry &g = m.geo;
  const int64_t f = sizeof(float);
  std::vector<int32_t> last(g.n);
  for (int64_t i = 0; i < g.n; ++i) last[i] = static_cast<int32_t>(g.n + g.index[kIdxLastRow][i]);
  for (int which = 0; which < 2; ++which) {
    float *dst = which == 0 ? h_n : c_n;
    if (!dst) continue;
    for_each_state(m, which, [&](int32_t buf, int64_t hidden, int64_t offset) {
      const MatrixView src = m.ws.view(buf);
      m.device->gather_rows(handle(dst), offset * f, hidden * f, src.array->device_current(), src.offset * f,
                            src.stride * f, hidden * f, g.n, last.data());
    });
  }
}

}  // namespace

void forward(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
             const float *c0, float *outputs, float *h_n, float *c_n, Residence where) {
  const ModelDesc &d = *m.desc;
  if (!inputs) throw RtError("inputs is NULL");
  if (!outputs) throw RtError("outputs is NULL");
  const bool on_device = where == Residence::kDevice;
  if (on_device && !m.device)
    throw RtError(std::string("this build of ") + d.name + " runs on the CPU (target " + d.target +
                  "): device pointers are for CUDA builds");
  BatchInput in;
  std::vector<int32_t> tokens;
  if (d.input_kind == kInputTokens) {
    in.tokens = static_cast<const int32_t *>(inputs);
    if (on_device) {
      if (n < 1 || t < 1 || n > INT32_MAX / t) throw RtError("n and t must be at least 1 (and n * t below 2^31)");
      require_device(m);
      tokens.resize(static_cast<size_t>(n * t));
      m.device->download(handle(inputs), 0, tokens.data(), static_cast<int64_t>(tokens.size() * sizeof(int32_t)));
      in.tokens = tokens.data();
    }
  } else if (!on_device) {
    in.features = static_cast<const float *>(inputs);
  }
  prepare_batch(m, in, lengths, n, t, BatchMode::kInfer, on_device ? nullptr : h0, on_device ? nullptr : c0);
  if (on_device) {
    if (d.input_kind == kInputFeatures) {
      // The features stay on the device: one device copy into the staged input.
      Mirror<float> &x = m.staged.features;
      x.resize_unspecified(static_cast<size_t>(n * t * d.input_size));
      m.device->copy_rows(x.device_current(), 0, 0, handle(inputs), 0, 0,
                          static_cast<int64_t>(x.size() * sizeof(float)), 1);
      x.device_written();
      m.staged.inputs_of = m.batch;
    }
    set_initial_states_device(m, h0, c0);
  }
  run_steps(m, d.infer, in);
  if (on_device) {
    copy_outputs_device(m, outputs);
    get_final_states_device(m, h_n, c_n);
  } else {
    copy_outputs(m, outputs);
    get_final_states(m, h_n, c_n);
  }
}

void copy_outputs(const Model &m, float *outputs) {
  const ModelDesc &d = *m.desc;
  const int64_t n = m.geo.n, t = m.geo.t;
  const OutputView ov = output_view(m);
  const float *src = ov.data;
  const int64_t w = d.output_width, stride = ov.stride;
  if (!d.per_step_output) {
    for (int64_t i = 0; i < n; ++i) std::memcpy(outputs + i * w, src + i * stride, sizeof(float) * w);
  } else {
    // Packed rows back to [n, t, w]; padded positions are 0.
    std::memset(outputs, 0, sizeof(float) * n * t * w);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t s = 0; s < m.geo.lengths[i]; ++s)
        std::memcpy(outputs + (i * t + s) * w, src + m.geo.row(i, s) * stride, sizeof(float) * w);
  }
}

}  // namespace rnnc_rt

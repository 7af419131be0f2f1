#include "model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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
  for (int which = 0; which < 2; ++which) {
    const float *src = which == 0 ? h0 : c0;
    for_each_state(m, which, [&](int32_t buf, int64_t hidden, int64_t offset) {
      const MatrixView dst = m.ws.view(buf);
      for (int64_t b = 0; b < g.n; ++b) {
        if (src) {
          std::memcpy(dst.row(b), src + offset + g.order[b] * hidden, sizeof(float) * hidden);
        } else {
          std::memset(dst.row(b), 0, sizeof(float) * hidden);
        }
      }
    });
  }
}

}  // namespace

void get_final_states(const Model &m, float *h_n, float *c_n) {
  const Geometry &g = m.geo;
  for (int which = 0; which < 2; ++which) {
    float *dst = which == 0 ? h_n : c_n;
    if (!dst) continue;
    for_each_state(m, which, [&](int32_t buf, int64_t hidden, int64_t offset) {
      const MatrixView src = m.ws.view(buf);
      for (int64_t i = 0; i < g.n; ++i)
        std::memcpy(dst + offset + i * hidden, src.row(g.n + g.index[kIdxLastRow][i]), sizeof(float) * hidden);
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
  m->params.assign(static_cast<size_t>(desc->num_param_floats), 0.0f);
  m->packed.resize(desc->num_packed);
  for (int32_t i = 0; i < desc->num_packed; ++i) {
    int64_t n = 1;
    for (int k = 0; k < desc->packed[i].ndim; ++k) n *= desc->packed[i].dims[k];
    m->packed[i].assign(static_cast<size_t>(n), 0.0f);
  }
  int64_t zeros = 1;
  for (int32_t i = 0; i < desc->num_args; ++i)
    if (desc->args[i].kind == kArgZeros) zeros = std::max<int64_t>(zeros, desc->args[i].id);
  m->zeros.assign(static_cast<size_t>(zeros), 0.0f);
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
  m.ws.allocate(d, m.geo.n, m.geo.rows,
                mode == BatchMode::kTrain  ? m.used_train
                : mode == BatchMode::kEval ? m.used_eval
                                           : m.used_infer);
  set_initial_states(m, h0, c0);
}

OutputView output_view(const Model &m) {
  const ModelDesc &d = *m.desc;
  const MatrixView out = m.ws.view(d.output_buffer);
  OutputView v;
  v.data = out.data;
  v.stride = out.stride;
  v.rows = d.per_step_output ? m.geo.rows : m.geo.n;
  return v;
}

void forward(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
             const float *c0, float *outputs, float *h_n, float *c_n) {
  const ModelDesc &d = *m.desc;
  if (!inputs) throw RtError("inputs is NULL");
  if (!outputs) throw RtError("outputs is NULL");
  BatchInput in;
  if (d.input_kind == kInputTokens) {
    in.tokens = static_cast<const int32_t *>(inputs);
  } else {
    in.features = static_cast<const float *>(inputs);
  }
  prepare_batch(m, in, lengths, n, t, BatchMode::kInfer, h0, c0);
  run_steps(m, d.infer, in);
  copy_outputs(m, outputs);
  get_final_states(m, h_n, c_n);
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

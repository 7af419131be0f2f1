// The executor: turns the plan's argument descriptors into Halide buffers
// and calls the generated kernels through their _argv entry points.
#include <HalideRuntime.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda_driver.h"
#include "error.h"
#include "model.h"

namespace rnnc_rt {

namespace {

extern "C" void rnnc_halide_error(void *user_context, const char *msg) {
  if (user_context) {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    static_cast<CallContext *>(user_context)->message += msg;
  }
}

constexpr int kMaxArgs = 24;

// The rows of a buffer argument at step t.
MatrixView region(const Model &m, const ArgDesc &a, int64_t t) { return m.ws.slice(a.id, a.slice, m.geo, t); }

// A buffer's shape: dense in the given extents (innermost first), with no
// storage yet (place() and place_raw() give it one).
void set_buffer(halide_buffer_t &hb, halide_dimension_t *dims, halide_type_code_t code, int ndims,
                const int64_t *extents) {
  hb = halide_buffer_t{};
  hb.type.code = code;
  hb.type.bits = 32;
  hb.type.lanes = 1;
  hb.dimensions = ndims;
  hb.dim = dims;
  int64_t stride = 1;
  for (int i = 0; i < ndims; ++i) {
    dims[i].min = 0;
    dims[i].extent = static_cast<int32_t>(extents[i]);
    dims[i].stride = static_cast<int32_t>(stride);
    dims[i].flags = 0;
    stride *= extents[i];
  }
}

// Gives a buffer argument the storage of elements [offset, ...) of `a`
// where the kernels read it: the host copy (no device); the emulated
// device's copy, which CPU kernels read as host memory; or the device copy
// (GPU kernels; no host pointer, so that nothing on the host reads a stale
// copy). Returns the array when a kernel may write it (float arrays).
template <class T>
Mirror<float> *place(Model &m, halide_buffer_t &hb, Mirror<T> &a, int64_t offset) {
  if (a.empty()) throw RtError("an argument's array is empty");
  if (!m.device) {
    hb.host = reinterpret_cast<uint8_t *>(a.host_unsynced() + offset);
  } else {
    const uint64_t at = a.device_current() + static_cast<uint64_t>(offset) * sizeof(T);
    if (m.device->emulated()) {
      hb.host = reinterpret_cast<uint8_t *>(at);
    } else {
      hb.device = at;
      hb.device_interface = m.device->interface();
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    return &a;
  } else {
    return nullptr;
  }
}

// A host pointer of the caller's (inputs and labels without a device).
void place_raw(halide_buffer_t &hb, const void *p) { hb.host = static_cast<uint8_t *>(const_cast<void *>(p)); }

// After a call: on a device, what the kernel wrote is newer there. A GPU
// kernel that left results on the host ran a stage there, which no schedule
// should do.
void mark_written(Model &m, const char *kernel, const halide_buffer_t &hb, Mirror<float> *a) {
  if (!m.device || !a) return;
  if (!m.device->emulated() && (hb.flags & halide_buffer_flag_host_dirty))
    throw RtError(std::string("kernel ") + kernel + " wrote a result on the host; CUDA schedules must not");
  a->device_written();
}

std::string kernel_failure(const char *what, int rc, const CallContext &ctx) {
  std::string msg = std::string(what) + " (code " + std::to_string(rc) + ")";
  if (!ctx.message.empty()) msg += ": " + ctx.message;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  return msg;
}

class Call {
 public:
  Call(Model &m, const StepDesc &s, const BatchInput &in, int64_t t) : m_(m), s_(s), in_(in), t_(t) {}

  void run() {
    const ModelDesc &d = *m_.desc;
    if (s_.num_args + 1 > kMaxArgs) throw RtError(std::string("step '") + s_.comment + "' has too many arguments");
    ctx_ptr_ = &ctx_;
    argv_[0] = &ctx_ptr_;
    for (int i = 0; i < s_.num_args; ++i) {
      arrays_[i] = nullptr;
      bind(i, d.args[s_.first_arg + i]);
    }
    const KernelEntry &k = d.kernels[s_.kernel];
    const int rc = k.fn(argv_);
    if (rc != 0)
      throw RtError(
          kernel_failure((std::string("kernel ") + k.name + " failed in step '" + s_.comment + "'").c_str(), rc, ctx_));
    const std::vector<char> &writes = m_.kernel_writes[s_.kernel];
    for (int i = 0; i < s_.num_args; ++i) {
      const size_t pos = static_cast<size_t>(i) + 1;
      if (writes.empty() || (pos < writes.size() && writes[pos])) mark_written(m_, k.name, bufs_[i], arrays_[i]);
    }
  }

 private:
  void bind(int i, const ArgDesc &a) {
    const ModelDesc &d = *m_.desc;
    halide_buffer_t &hb = bufs_[i];
    halide_dimension_t *dims = dims_[i];
    argv_[i + 1] = &hb;
    StagedBatch &staged = m_.staged;
    switch (a.kind) {
      case kArgBuffer: {
        const MatrixView r = region(m_, a, t_);
        const int64_t ext[2] = {r.cols, r.rows};
        set_buffer(hb, dims, halide_type_float, 2, ext);
        dims[1].stride = static_cast<int32_t>(r.stride);
        arrays_[i] = place(m_, hb, *r.array, r.offset);
        break;
      }
      case kArgParam:
      case kArgGrad: {
        // A tensor, or rows [row0, row0 + nrows) of it, in Halide order.
        const ParamDesc &p = d.params[a.id];
        Mirror<float> &base = a.kind == kArgParam ? m_.params : m_.train.grads;
        if (base.empty())
          throw RtError(std::string("step '") + s_.comment + "' needs gradients that are not allocated");
        int64_t ext[4];
        for (int k = 0; k < p.ndim; ++k) ext[k] = p.shape[p.ndim - 1 - k];
        int64_t row_floats = 1;
        for (int k = 1; k < p.ndim; ++k) row_floats *= p.shape[k];
        if (a.nrows > 0) ext[p.ndim - 1] = a.nrows;
        set_buffer(hb, dims, halide_type_float, p.ndim, ext);
        arrays_[i] = place(m_, hb, base, p.offset + a.row0 * row_floats);
        break;
      }
      case kArgFlat: {
        const int64_t ext[1] = {a.nrows > 0 ? a.nrows : d.num_param_floats};
        set_buffer(hb, dims, halide_type_float, 1, ext);
        arrays_[i] = place(m_, hb, flat_array(a.id), a.row0);
        break;
      }
      case kArgLabels: {
        if (d.loss == kLossCrossEntropy) {
          const int64_t ext[1] = {in_.label_rows};
          set_buffer(hb, dims, halide_type_int, 1, ext);
          if (m_.device) {
            place(m_, hb, staged_labels(staged.classes), 0);
          } else {
            place_raw(hb, in_.class_labels);
          }
        } else {
          const int64_t ext[2] = {d.output_width, in_.label_rows};
          set_buffer(hb, dims, halide_type_float, 2, ext);
          if (m_.device) {
            place(m_, hb, staged_labels(staged.targets), 0);
          } else {
            place_raw(hb, in_.targets);
          }
        }
        break;
      }
      case kArgScalar:
        fscalar_[i] = in_.scalars[a.id];  // int scalars travel as their bits
        argv_[i + 1] = &fscalar_[i];
        break;
      case kArgPacked: {
        const PackedDesc &p = d.packed[a.id];
        set_buffer(hb, dims, halide_type_float, p.ndim, p.dims);
        place(m_, hb, m_.packed[a.id], 0);
        break;
      }
      case kArgIndex: {
        std::vector<int32_t> &v = m_.geo.index[a.id];
        const int64_t ext[1] = {static_cast<int64_t>(v.size())};
        set_buffer(hb, dims, halide_type_int, 1, ext);
        if (m_.device) {
          place(m_, hb, staged.index[a.id], 0);
        } else {
          place_raw(hb, v.data());
        }
        break;
      }
      case kArgInput: {
        if (d.input_kind == kInputTokens) {
          const int64_t ext[1] = {m_.geo.n * m_.geo.t};
          set_buffer(hb, dims, halide_type_int, 1, ext);
          if (m_.device) {
            place(m_, hb, staged_inputs(staged.tokens), 0);
          } else {
            place_raw(hb, in_.tokens);
          }
        } else {
          const int64_t ext[2] = {d.input_size, m_.geo.n * m_.geo.t};
          set_buffer(hb, dims, halide_type_float, 2, ext);
          if (m_.device) {
            place(m_, hb, staged_inputs(staged.features), 0);
          } else {
            place_raw(hb, in_.features);
          }
        }
        break;
      }
      case kArgZeros: {
        const int64_t ext[1] = {a.id};
        set_buffer(hb, dims, halide_type_float, 1, ext);
        place(m_, hb, m_.zeros, 0);
        break;
      }
      case kArgConstF:
        fscalar_[i] = a.fvalue;
        argv_[i + 1] = &fscalar_[i];
        break;
      case kArgDropoutRate:
        fscalar_[i] = in_.dropout ? a.fvalue : 0.0f;
        argv_[i + 1] = &fscalar_[i];
        break;
      case kArgConstI:
        iscalar_[i] = a.id;
        argv_[i + 1] = &iscalar_[i];
        break;
      default:
        throw RtError(std::string("step '") + s_.comment + "' has an argument of an unsupported kind");
    }
  }

  template <class T>
  Mirror<T> &staged_inputs(Mirror<T> &a) {
    if (m_.staged.inputs_of != m_.batch) throw RtError(std::string("step '") + s_.comment + "' has no inputs");
    return a;
  }
  template <class T>
  Mirror<T> &staged_labels(Mirror<T> &a) {
    if (m_.staged.labels_of != m_.batch) throw RtError(std::string("step '") + s_.comment + "' has no labels");
    return a;
  }

  Mirror<float> &flat_array(int32_t id) {
    TrainState &t = m_.train;
    switch (id) {
      case kFlatParams:
        return m_.params;
      case kFlatGrads:
        return t.grads;
      case kFlatSlot1:
        return t.slot1;
      case kFlatSlot2:
        return t.slot2;
      case kFlatParamsNext:
        return t.next_params;
      case kFlatSlot1Next:
        return t.next_slot1;
      case kFlatSlot2Next:
        return t.next_slot2;
      default:
        throw RtError(std::string("step '") + s_.comment + "' names an unknown flat array");
    }
  }

  Model &m_;
  const StepDesc &s_;
  const BatchInput &in_;
  int64_t t_;
  CallContext ctx_;
  void *ctx_ptr_ = nullptr;
  void *argv_[kMaxArgs];
  halide_buffer_t bufs_[kMaxArgs];
  halide_dimension_t dims_[kMaxArgs][4];
  Mirror<float> *arrays_[kMaxArgs];
  float fscalar_[kMaxArgs];
  int32_t iscalar_[kMaxArgs];
};

// A batch's inputs and labels on the device, copied there once per batch.
void stage_batch(Model &m, const BatchInput &in) {
  const ModelDesc &d = *m.desc;
  StagedBatch &s = m.staged;
  const int64_t cells = m.geo.n * m.geo.t;
  if (s.inputs_of != m.batch && (in.tokens || in.features)) {
    if (in.tokens) {
      s.tokens.take(std::vector<int32_t>(in.tokens, in.tokens + cells));
    } else {
      s.features.take(std::vector<float>(in.features, in.features + cells * d.input_size));
    }
    s.inputs_of = m.batch;
  }
  if (s.labels_of != m.batch && (in.class_labels || in.targets)) {
    if (in.class_labels) {
      s.classes.take(std::vector<int32_t>(in.class_labels, in.class_labels + in.label_rows));
    } else {
      s.targets.take(std::vector<float>(in.targets, in.targets + in.label_rows * d.output_width));
    }
    s.labels_of = m.batch;
  }
}

void gather_rows(Model &m, const StepDesc &s) {
  const ModelDesc &d = *m.desc;
  const ArgDesc &dst_a = d.args[s.first_arg], &src_a = d.args[s.first_arg + 1], &idx_a = d.args[s.first_arg + 2];
  const MatrixView dst = region(m, dst_a, 0), src = region(m, src_a, 0);
  const int32_t *idx = idx_a.kind == kArgIndex ? m.geo.index[idx_a.id].data() : nullptr;
  if (!m.device) {
    float *out = dst.array->host_mut() + dst.offset;
    const float *in = src.array->host() + src.offset;
    const size_t bytes = sizeof(float) * dst.cols;
    for (int64_t r = 0; r < dst.rows; ++r)
      std::memcpy(out + r * dst.stride, in + (idx ? idx[r] : r) * src.stride, bytes);
    return;
  }
  const int64_t f = sizeof(float);
  m.device->gather_rows(dst.array->device_current(), dst.offset * f, dst.stride * f, src.array->device_current(),
                        src.offset * f, src.stride * f, dst.cols * f, dst.rows, idx);
  dst.array->device_written();
}

void zero_rows(Model &m, const StepDesc &s) {
  const MatrixView r = region(m, m.desc->args[s.first_arg], 0);
  if (!m.device) {
    float *out = r.array->host_mut() + r.offset;
    for (int64_t i = 0; i < r.rows; ++i) std::memset(out + i * r.stride, 0, sizeof(float) * r.cols);
    return;
  }
  const int64_t f = sizeof(float);
  m.device->zero_rows(r.array->device_current(), r.offset * f, r.stride * f, r.cols * f, r.rows);
  r.array->device_written();
}

void pack_one(Model &m, int32_t id) {
  const ModelDesc &d = *m.desc;
  const PackedDesc &p = d.packed[id];
  const ParamDesc &src = d.params[p.param];
  halide_dimension_t in_dims[2], out_dims[4];
  halide_buffer_t in, out;
  const int64_t in_ext[2] = {src.shape[1], src.shape[0]};
  set_buffer(in, in_dims, halide_type_float, 2, in_ext);
  place(m, in, m.params, src.offset);
  set_buffer(out, out_dims, halide_type_float, p.ndim, p.dims);
  Mirror<float> *packed = place(m, out, m.packed[id], 0);
  CallContext ctx;
  void *ctx_ptr = &ctx;
  void *argv[3] = {&ctx_ptr, &in, &out};
  const int rc = d.kernels[p.kernel].fn(argv);
  if (rc != 0) throw RtError(kernel_failure((std::string("packing ") + p.name + " failed").c_str(), rc, ctx));
  mark_written(m, d.kernels[p.kernel].name, out, packed);
}

}  // namespace

void install_halide_error_handler() {
  static std::once_flag once;
  std::call_once(once, [] { halide_set_error_handler(&rnnc_halide_error); });
}

void repack(Model &m) {
  for (int32_t i = 0; i < m.desc->num_packed; ++i) pack_one(m, i);
}

bool uses_cuda(const ModelDesc &d) { return d.target && std::strstr(d.target, "cuda") != nullptr; }

void require_device(Model &m) {
  if (!m.cuda || m.device_checked) return;
  // Find the GPU first, for one clear line when there is none.
  probe_cuda_device(selected_cuda_device(), cuda_driver_override());
  use_primary_context();
  // The CUDA path has not run on a GPU yet: it is opt-in.
  const char *unverified = std::getenv("RNNC_CUDA_UNVERIFIED");
  if (!unverified || std::string(unverified) != "1")
    throw RtError(std::string("CUDA: model ") + m.desc->name +
                  "'s kernels are compiled for the GPU, but this rnnc runtime's CUDA path has not been verified on a "
                  "GPU yet (RNNC_CUDA_UNVERIFIED=1 runs it)");
  m.device_checked = true;
}

void run_steps(Model &m, StepList list, const BatchInput &in) {
  const ModelDesc &d = *m.desc;
  require_device(m);
  if (m.device) stage_batch(m, in);
  if (m.packed_stale) {
    repack(m);
    m.packed_stale = false;
  }
  for (int32_t i = 0; i < list.count; ++i) {
    const StepDesc &s = d.steps[list.first + i];
    const auto t0 = m.profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    switch (s.op) {
      case kOpCall:
      case kOpWholeLoop:
        Call(m, s, in, 0).run();
        break;
      case kOpTimeLoop:
        if (s.direction == kForward) {
          for (int64_t t = 0; t < m.geo.steps; ++t) Call(m, s, in, t).run();
        } else {
          for (int64_t t = m.geo.steps - 1; t >= 0; --t) Call(m, s, in, t).run();
        }
        break;
      case kOpGatherRows:
        gather_rows(m, s);
        break;
      case kOpZero:
        zero_rows(m, s);
        break;
      default:
        throw RtError(std::string("step '") + s.comment + "' has an unknown operation");
    }
    if (m.profile) {
      m.step_seconds[list.first + i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++m.step_calls[list.first + i];
    }
  }
}

}  // namespace rnnc_rt

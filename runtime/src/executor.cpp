// The executor: turns the plan's argument descriptors into Halide buffers
// and calls the generated kernels through their _argv entry points.
#include <HalideRuntime.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "cuda_driver.h"
#include "error.h"
#include "model.h"

namespace rnnc_rt {

namespace {

// Passed to every kernel as its user_context, so that a Halide error lands
// in the call that caused it, on whatever thread reports it.
struct CallContext {
  std::string message;
};

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

void set_buffer(halide_buffer_t &hb, halide_dimension_t *dims, void *host, halide_type_code_t code, int ndims,
                const int64_t *extents) {
  hb = halide_buffer_t{};
  hb.host = static_cast<uint8_t *>(host);
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

// The per-call device path of a CUDA build (RNNC_CUDA_UNVERIFIED): every
// buffer argument lives on the host between calls. Before a call each one
// is marked host-dirty, so that Halide copies it to a fresh device
// allocation; after it, what the kernel left on the device is copied back
// and the allocations are freed. Correct by Halide's buffer protocol, and
// slow (an allocation and two copies per argument and call); not yet run
// on a GPU. The device memory layer replaces it.
// After a call: copies what the kernel left on the device back (when the
// call succeeded) and frees the device allocation, through the buffer's own
// device interface (so the runtime needs no CUDA symbol of its own).
int copy_back_and_free(void *user_context, halide_buffer_t *b, int rc) {
  if (!b->device || !b->device_interface) return rc;
  if (rc == 0 && (b->flags & halide_buffer_flag_device_dirty)) rc = b->device_interface->copy_to_host(user_context, b);
  b->device_interface->device_free(user_context, b);
  return rc;
}

class Call {
 public:
  Call(Model &m, const StepDesc &s, const BatchInput &in, int64_t t) : m_(m), s_(s), in_(in), t_(t) {}

  void run() {
    const ModelDesc &d = *m_.desc;
    if (s_.num_args + 1 > kMaxArgs) throw RtError(std::string("step '") + s_.comment + "' has too many arguments");
    ctx_ptr_ = &ctx_;
    argv_[0] = &ctx_ptr_;
    for (int i = 0; i < s_.num_args; ++i) bind(i, d.args[s_.first_arg + i]);
    const KernelEntry &k = d.kernels[s_.kernel];
    const bool device = m_.cuda;
    if (device)
      for (int i = 0; i < s_.num_args; ++i)
        if (argv_[i + 1] == &bufs_[i]) bufs_[i].flags |= halide_buffer_flag_host_dirty;
    int rc = k.fn(argv_);
    if (device)
      for (int i = 0; i < s_.num_args; ++i)
        if (argv_[i + 1] == &bufs_[i]) rc = copy_back_and_free(ctx_ptr_, &bufs_[i], rc);
    if (rc != 0) {
      std::string msg =
          std::string("kernel ") + k.name + " failed (code " + std::to_string(rc) + ") in step '" + s_.comment + "'";
      if (!ctx_.message.empty()) msg += ": " + ctx_.message;
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      throw RtError(msg);
    }
  }

 private:
  void bind(int i, const ArgDesc &a) {
    const ModelDesc &d = *m_.desc;
    halide_buffer_t &hb = bufs_[i];
    halide_dimension_t *dims = dims_[i];
    argv_[i + 1] = &hb;
    switch (a.kind) {
      case kArgBuffer: {
        const MatrixView r = region(m_, a, t_);
        const int64_t ext[2] = {r.cols, r.rows};
        set_buffer(hb, dims, r.data, halide_type_float, 2, ext);
        dims[1].stride = static_cast<int32_t>(r.stride);
        break;
      }
      case kArgParam:
      case kArgGrad: {
        // A tensor, or rows [row0, row0 + nrows) of it, in Halide order.
        const ParamDesc &p = d.params[a.id];
        float *base = a.kind == kArgParam ? m_.params.data() : m_.train.grads.data();
        if (!base) throw RtError(std::string("step '") + s_.comment + "' needs gradients that are not allocated");
        int64_t ext[4];
        for (int k = 0; k < p.ndim; ++k) ext[k] = p.shape[p.ndim - 1 - k];
        int64_t row_floats = 1;
        for (int k = 1; k < p.ndim; ++k) row_floats *= p.shape[k];
        if (a.nrows > 0) ext[p.ndim - 1] = a.nrows;
        set_buffer(hb, dims, base + p.offset + a.row0 * row_floats, halide_type_float, p.ndim, ext);
        break;
      }
      case kArgFlat: {
        float *base = flat_array(a.id);
        const int64_t ext[1] = {a.nrows > 0 ? a.nrows : d.num_param_floats};
        set_buffer(hb, dims, base + a.row0, halide_type_float, 1, ext);
        break;
      }
      case kArgLabels: {
        if (d.loss == kLossCrossEntropy) {
          const int64_t ext[1] = {in_.label_rows};
          set_buffer(hb, dims, const_cast<int32_t *>(in_.class_labels), halide_type_int, 1, ext);
        } else {
          const int64_t ext[2] = {d.output_width, in_.label_rows};
          set_buffer(hb, dims, const_cast<float *>(in_.targets), halide_type_float, 2, ext);
        }
        break;
      }
      case kArgScalar:
        fscalar_[i] = in_.scalars[a.id];  // int scalars travel as their bits
        argv_[i + 1] = &fscalar_[i];
        break;
      case kArgPacked: {
        const PackedDesc &p = d.packed[a.id];
        set_buffer(hb, dims, m_.packed[a.id].data(), halide_type_float, p.ndim, p.dims);
        break;
      }
      case kArgIndex: {
        std::vector<int32_t> &v = m_.geo.index[a.id];
        const int64_t ext[1] = {static_cast<int64_t>(v.size())};
        set_buffer(hb, dims, v.data(), halide_type_int, 1, ext);
        break;
      }
      case kArgInput: {
        if (d.input_kind == kInputTokens) {
          const int64_t ext[1] = {m_.geo.n * m_.geo.t};
          set_buffer(hb, dims, const_cast<int32_t *>(in_.tokens), halide_type_int, 1, ext);
        } else {
          const int64_t ext[2] = {d.input_size, m_.geo.n * m_.geo.t};
          set_buffer(hb, dims, const_cast<float *>(in_.features), halide_type_float, 2, ext);
        }
        break;
      }
      case kArgZeros: {
        const int64_t ext[1] = {a.id};
        set_buffer(hb, dims, m_.zeros.data(), halide_type_float, 1, ext);
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

  float *flat_array(int32_t id) {
    TrainState &t = m_.train;
    switch (id) {
      case kFlatParams:
        return m_.params.data();
      case kFlatGrads:
        return t.grads.data();
      case kFlatSlot1:
        return t.slot1.data();
      case kFlatSlot2:
        return t.slot2.data();
      case kFlatParamsNext:
        return t.next_params.data();
      case kFlatSlot1Next:
        return t.next_slot1.data();
      case kFlatSlot2Next:
        return t.next_slot2.data();
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
  float fscalar_[kMaxArgs];
  int32_t iscalar_[kMaxArgs];
};

void gather_rows(Model &m, const StepDesc &s) {
  const ModelDesc &d = *m.desc;
  const ArgDesc &dst_a = d.args[s.first_arg], &src_a = d.args[s.first_arg + 1], &idx_a = d.args[s.first_arg + 2];
  const MatrixView dst = region(m, dst_a, 0), src = region(m, src_a, 0);
  const int32_t *idx = idx_a.kind == kArgIndex ? m.geo.index[idx_a.id].data() : nullptr;
  const size_t bytes = sizeof(float) * dst.cols;
  for (int64_t r = 0; r < dst.rows; ++r) std::memcpy(dst.row(r), src.row(idx ? idx[r] : r), bytes);
}

void zero_rows(Model &m, const StepDesc &s) {
  const MatrixView r = region(m, m.desc->args[s.first_arg], 0);
  for (int64_t i = 0; i < r.rows; ++i) std::memset(r.row(i), 0, sizeof(float) * r.cols);
}

void pack_one(Model &m, int32_t id) {
  const ModelDesc &d = *m.desc;
  const PackedDesc &p = d.packed[id];
  const ParamDesc &src = d.params[p.param];
  halide_dimension_t in_dims[2], out_dims[4];
  halide_buffer_t in, out;
  const int64_t in_ext[2] = {src.shape[1], src.shape[0]};
  set_buffer(in, in_dims, m.params.data() + src.offset, halide_type_float, 2, in_ext);
  set_buffer(out, out_dims, m.packed[id].data(), halide_type_float, p.ndim, p.dims);
  CallContext ctx;
  void *ctx_ptr = &ctx;
  void *argv[3] = {&ctx_ptr, &in, &out};
  const bool device = m.cuda;
  if (device) {
    in.flags |= halide_buffer_flag_host_dirty;
    out.flags |= halide_buffer_flag_host_dirty;
  }
  int rc = d.kernels[p.kernel].fn(argv);
  if (device)
    for (halide_buffer_t *b : {&in, &out}) rc = copy_back_and_free(ctx_ptr, b, rc);
  if (rc != 0) throw RtError(std::string("packing ") + p.name + " failed: " + ctx.message);
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

void run_steps(Model &m, StepList list, const BatchInput &in) {
  const ModelDesc &d = *m.desc;
  if (m.cuda && !m.device_checked) {
    // Find the GPU first, for one clear line when there is none. The
    // per-call copy path (Call::run) has not run on a GPU yet: it is opt-in.
    probe_cuda_device(selected_cuda_device(), cuda_driver_override());
    const char *unverified = std::getenv("RNNC_CUDA_UNVERIFIED");
    if (!unverified || std::string(unverified) != "1")
      throw RtError(std::string("CUDA: model ") + d.name +
                    "'s kernels are compiled for the GPU, but this rnnc runtime's CUDA path has not been verified on "
                    "a GPU yet (RNNC_CUDA_UNVERIFIED=1 runs it, copying every buffer to the GPU and back per call)");
    m.device_checked = true;
  }
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

// The C API behind every generated <name>.h: exceptions stop here and become
// a failure code plus a message for <name>_last_error().
#include <HalideRuntime.h>

#include <algorithm>
#include <new>

#include "cuda_driver.h"
#include "error.h"
#include "model.h"
#include "parallel.h"
#include "rnnc/runtime_api.h"
#include "train.h"
#include "weights.h"

namespace rnnc_rt {

namespace {

template <class F>
int guarded(F &&f) {
  try {
    f();
    set_last_error("");
    return 0;
  } catch (const std::bad_alloc &) {
    set_last_error("out of memory");
  } catch (const std::exception &e) {
    set_last_error(e.what());
  }
  return -1;
}

// A Batch from the C API's raw arrays.
Batch raw_batch(const Model &m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t) {
  const ModelDesc &d = *m.desc;
  if (!inputs) throw RtError("inputs is NULL");
  if (!labels) throw RtError("labels is NULL");
  if (n < 1 || t < 1) throw RtError("n and t must be positive");
  Batch b;
  b.n = n;
  b.t = t;
  if (d.input_kind == kInputTokens) {
    const int32_t *p = static_cast<const int32_t *>(inputs);
    b.tokens.assign(p, p + n * t);
  } else {
    const float *p = static_cast<const float *>(inputs);
    b.features.assign(p, p + n * t * d.input_size);
  }
  b.lengths.resize(n);
  for (int64_t i = 0; i < n; ++i) b.lengths[i] = lengths ? lengths[i] : static_cast<int32_t>(t);
  const int64_t rows = n * (d.per_step_output ? t : 1);
  if (d.loss == kLossCrossEntropy) {
    const int32_t *p = static_cast<const int32_t *>(labels);
    b.classes.assign(p, p + rows);
    // Validate where it counts (before each sequence's length), as the program does.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t s = 0; s < (d.per_step_output ? b.lengths[i] : 1) && s < t; ++s) {
        const int32_t c = b.classes[d.per_step_output ? i * t + s : i];
        if (c < 0 || c >= d.output_width)
          throw RtError("class id " + std::to_string(c) + " of sequence " + std::to_string(i) + " is outside [0, " +
                        std::to_string(d.output_width) + ")");
      }
  } else {
    const float *p = static_cast<const float *>(labels);
    b.targets.assign(p, p + rows * d.output_width);
  }
  return b;
}

}  // namespace

int api_get_params(Model *m, float *out) {
  return guarded([&] {
    if (!m || !out) throw RtError("model or out is NULL");
    std::copy(m->params.host(), m->params.host() + m->params.size(), out);
  });
}

int api_set_params(Model *m, const float *in) {
  return guarded([&] {
    if (!m || !in) throw RtError("model or in is NULL");
    std::copy(in, in + m->params.size(), m->params.host_overwrite());
    m->packed_stale = true;
  });
}

int api_loss(Model *m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t,
             double *loss) {
  return guarded([&] {
    if (!m || !loss) throw RtError("model or loss is NULL");
    Trainer tr(*m, TrainConfig::from(*m->desc));
    *loss = tr.evaluate(raw_batch(*m, inputs, lengths, labels, n, t)).mean_loss();
  });
}

int api_gradients(Model *m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t,
                  float *grads, double *loss) {
  return guarded([&] {
    if (!m || !grads) throw RtError("model or grads is NULL");
    Trainer tr(*m, TrainConfig::from(*m->desc));
    const LossSums r = tr.train_forward_backward(raw_batch(*m, inputs, lengths, labels, n, t));
    std::copy(m->train.grads.host(), m->train.grads.host() + m->train.grads.size(), grads);
    if (loss) *loss = r.mean_loss();
  });
}

int api_train_step(Model *m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t,
                   double *loss) {
  return guarded([&] {
    if (!m) throw RtError("model is NULL");
    Trainer tr(*m, TrainConfig::from(*m->desc));
    const LossSums r = tr.train_step(raw_batch(*m, inputs, lengths, labels, n, t));
    if (loss) *loss = r.mean_loss();
  });
}

int api_forward_train(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                      const float *c0, int dropout, uint64_t dropout_seed, float *outputs, float *h_n, float *c_n) {
  return guarded([&] {
    if (!m) throw RtError("model is NULL");
    forward_train(*m, inputs, lengths, n, t, h0, c0, dropout != 0, dropout_seed, outputs, h_n, c_n);
  });
}

int api_backward(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                 const float *c0, int dropout, uint64_t dropout_seed, const float *grad_outputs, float *param_grads,
                 float *input_grads) {
  return guarded([&] {
    if (!m) throw RtError("model is NULL");
    backward(*m, inputs, lengths, n, t, h0, c0, dropout != 0, dropout_seed, grad_outputs, param_grads, input_grads);
  });
}

Model *api_open(const ModelDesc *desc, const char *weights_path) {
  Model *result = nullptr;
  guarded([&] {
    if (!weights_path) throw RtError("weights_path is NULL");
    auto m = new_model(desc);
    load_weights(*m, weights_path);
    result = m.release();
  });
  return result;
}

Model *api_init(const ModelDesc *desc, uint64_t seed) {
  Model *result = nullptr;
  guarded([&] {
    auto m = new_model(desc);
    init_params(*m, seed);
    result = m.release();
  });
  return result;
}

int api_forward(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, float *outputs) {
  return api_forward_state(m, inputs, lengths, n, t, nullptr, nullptr, outputs, nullptr, nullptr);
}

int api_forward_state(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                      const float *c0, float *outputs, float *h_n, float *c_n) {
  return guarded([&] {
    if (!m) throw RtError("model is NULL");
    forward(*m, inputs, lengths, n, t, h0, c0, outputs, h_n, c_n);
  });
}

int api_forward_device(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                       const float *c0, float *outputs, float *h_n, float *c_n) {
  return guarded([&] {
    if (!m) throw RtError("model is NULL");
    forward(*m, inputs, lengths, n, t, h0, c0, outputs, h_n, c_n, Residence::kDevice);
  });
}

int64_t api_output_size(const ModelDesc *desc, int64_t n, int64_t t) { return output_size(*desc, n, t); }

int64_t api_state_size(const ModelDesc *desc, int64_t n, bool cell_state) { return state_size(*desc, n, cell_state); }

int api_set_device(const ModelDesc *desc, int device) {
  return guarded([&] {
    if (!uses_cuda(*desc))
      throw RtError(std::string("this build of ") + desc->name + " runs on the CPU (target " + desc->target +
                    "); a device is for CUDA builds");
    select_cuda_device(device);
  });
}

int api_set_stream(const ModelDesc *desc, void *stream) {
  return guarded([&] {
    if (!uses_cuda(*desc))
      throw RtError(std::string("this build of ") + desc->name + " runs on the CPU (target " + desc->target +
                    "); a CUDA stream is for CUDA builds");
    set_cuda_stream(stream);
  });
}

int api_save(Model *m, const char *path) {
  return guarded([&] {
    if (!m) throw RtError("model is NULL");
    if (!path) throw RtError("path is NULL");
    save_weights(*m, path);
  });
}

int api_set_threads(const ModelDesc *, int threads) {
  return guarded([&] {
    if (threads < 1) throw RtError("the thread count must be at least 1");
    set_kernel_threads(threads);
  });
}

const char *api_last_error() { return last_error(); }

void api_close(Model *m) { delete m; }

}  // namespace rnnc_rt

// The C API behind every generated <name>.h: exceptions stop here and become
// a failure code plus a message for <name>_last_error().
#include <HalideRuntime.h>

#include <new>

#include "error.h"
#include "model.h"
#include "rnnc/runtime_api.h"
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

}  // namespace

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

int64_t api_output_size(const ModelDesc *desc, int64_t n, int64_t t) { return output_size(*desc, n, t); }

int64_t api_state_size(const ModelDesc *desc, int64_t n, bool cell_state) { return state_size(*desc, n, cell_state); }

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
    halide_set_num_threads(threads);
  });
}

const char *api_last_error() { return last_error(); }

void api_close(Model *m) { delete m; }

}  // namespace rnnc_rt

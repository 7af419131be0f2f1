// KernelDesc: one kernel to generate — its family, the sizes fixed at compile
// time, its flags and the schedule parameters that shape its data layout.
// Two layers with equal descriptors share one generated kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "schedule_params.h"

namespace rnnc::kernels {

enum class Family {
  kPackWeights,   // W [g*h, k] -> tiles (ji, g, k, jo) of `tile` hidden units
  kGemmFwd,       // out[r, n] = sum_k a[idx(r), k] w[n, k] + bias[n]
  kRnnStepFwd,    // one vanilla-RNN step (tanh or relu)
  kLstmStepFwd,   // one LSTM step
  kGruStepFwd,    // one GRU step (linear before reset, or the ONNX form)
  kReadoutLast,   // per sequence: the state after its last step (both directions)
  kReadoutMean,   // per sequence: mean of its outputs over its own steps
};

const char *to_string(Family f);

struct KernelDesc {
  Family family = Family::kGemmFwd;
  // Sizes, by family:
  //   kPackWeights: g gates of h rows each, k columns.
  //   kGemmFwd: k inputs, n outputs.
  //   step kernels: h hidden units (g gates).
  //   readouts: h width per direction, dirs directions.
  int64_t k = 0;
  int64_t n = 0;
  int64_t h = 0;
  int g = 1;
  int dirs = 1;
  bool gather = false;  // kGemmFwd: rows of `a` are picked through an index array
  bool train = false;   // step kernels: also write the activations backward needs
  bool relu = false;    // kRnnStepFwd
  bool linear_before_reset = true;  // kGruStepFwd
  schedules::ScheduleParams sched;  // layout-relevant schedule choices (part of the identity)

  // A unique, readable name, also the generated function's suffix,
  // e.g. "lstm_step_fwd_h64_t8_train".
  std::string name() const;
};

enum class ArgType { kBufferF32, kBufferI32, kScalarF32, kScalarI32 };

// One argument of a generated kernel, in call order (inputs, then outputs).
struct ArgSig {
  std::string name;
  ArgType type;
  int dims;         // buffers only
  bool output;
  int64_t width;    // extent of dimension 0 (innermost), or -1 when free
};

// The argument list of the kernel `d` generates; the plan must pass exactly
// these, in this order.
std::vector<ArgSig> signature(const KernelDesc &d);

}  // namespace rnnc::kernels

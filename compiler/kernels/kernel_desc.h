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
  // Forward (inference and training)
  kPackWeights,  // W [g*h, k] -> tiles (ji, g, k, jo) of `tile` units; transposed: W [k, h]
  kGemmFwd,      // out[r, n] = sum_k a[idx(r), k] w[n, k] (+ a second such term) + bias[n]
  kRnnStepFwd,   // one vanilla-RNN step (tanh or relu)
  kLstmStepFwd,  // one LSTM step
  kGruStepFwd,   // one GRU step (linear before reset, or the ONNX form)
  kReadoutLast,  // per sequence: the state after its last step (both directions)
  kReadoutMean,  // per sequence: mean of its outputs over its own steps
  kDropout,      // out = x * keep(seed, site, element) / (1 - p), counter-based
  // Backward
  kGemmWgrad,    // dw[n, k] = sum_r dy[r, n] a[idx(r), k]
  kColSum,       // db[n] = sum_r dy[r, n]
  kScatterRows,  // out[v, :] = sum of dx[r, :] over the rows r with idx(r) = v (embedding gradient)
  kRnnStepBwd,   // gate gradients and dh_{t-1} of one step
  kLstmStepBwd,  // gate gradients, dh_{t-1} and dc_{t-1}
  kGruStepBwd,   // gate gradients (input and hidden side) and dh_{t-1}
  kReadoutLastBwd,
  kReadoutMeanBwd,
  // Losses
  kSoftmaxXent,  // per-row cross-entropy and its gradient
  kMseLoss,      // per-row squared error and its gradient
  // Optimizer
  kSumSquares,  // sum of squares of a gradient (for norms and clipping)
  kAdamUpdate,
  kSgdUpdate,
};

const char *to_string(Family f);

struct KernelDesc {
  Family family = Family::kGemmFwd;
  // Sizes, by family:
  //   kPackWeights: g gates of h rows each, k columns.
  //   kGemmFwd: k inputs, n outputs.
  //   step kernels: h hidden units (g gates).
  //   readouts: h width per direction, dirs directions.
  //   kGemmWgrad: k inputs, n outputs. kColSum, kDropout, losses: n columns.
  //   kScatterRows: n columns, k rows of the output (the vocabulary).
  int64_t k = 0;
  int64_t n = 0;
  int64_t h = 0;
  int g = 1;
  int dirs = 1;
  bool gather = false;              // kGemmFwd: rows of `a` are picked through an index array
  bool train = false;               // step kernels: also write the activations backward needs
  bool relu = false;                // kRnnStepFwd
  bool linear_before_reset = true;  // GRU steps
  bool clip = false;                // step kernels: a `clip` scalar bounds every gate pre-activation
  bool peephole = false;            // LSTM steps: ONNX peepholes (a `peephole` [3h] input)
  bool input_forget = false;        // LSTM steps: f = 1 - i
  int64_t proj = 0;                 // LSTM steps: projection size (h = W_hr (o ⊙ tanh(c)) is proj wide); 0: none
  bool transpose = false;           // kPackWeights: pack W^T (units are W's columns)
  int terms = 1;                    // kGemmFwd: 2 adds a second product, its rows always gathered
  schedules::ScheduleParams sched;  // layout-relevant schedule choices (part of the identity)

  // Step kernels: the width of h (the projection's size, else the hidden size).
  int64_t state_width() const { return proj > 0 ? proj : h; }

  // Row-wise kernels (readouts, their gradients, dropout, losses): the width
  // of the rows they write (a loss's gradient; its per-row loss is 1 wide).
  int64_t row_width() const {
    switch (family) {
      case Family::kSoftmaxXent:
      case Family::kMseLoss:
      case Family::kDropout:
        return n;
      case Family::kReadoutLastBwd:
      case Family::kReadoutMeanBwd:
        return h;
      default:
        return h * dirs;
    }
  }

  // The workload apart from its schedule: family, sizes and flags, e.g.
  // "lstm_step_fwd_h64_train". Tuning records are keyed by it.
  std::string workload_key() const;
  // A unique, readable name, also the generated function's suffix: the
  // workload key and the schedule's key, e.g. "lstm_step_fwd_h64_train_t16v16r6...".
  std::string name() const;
};

enum class ArgType { kBufferF32, kBufferI32, kScalarF32, kScalarI32 };

// One argument of a generated kernel, in call order (inputs, then outputs).
struct ArgSig {
  std::string name;
  ArgType type;
  int dims;  // buffers only
  bool output;
  int64_t width;  // extent of dimension 0 (innermost), or -1 when free
};

// The argument list of the kernel `d` generates; the plan must pass exactly
// these, in this order.
std::vector<ArgSig> signature(const KernelDesc &d);

}  // namespace rnnc::kernels

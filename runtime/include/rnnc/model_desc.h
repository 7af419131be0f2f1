// The compiled plan of one model, as the generated glue hands it to the
// runtime. rnnc writes these tables as static data (<name>_glue.cpp); the
// runtime interprets them and never knows which model it runs.
//
// Vocabulary:
//   N       sequences in the batch, sorted internally by length (descending,
//           ties in input order); "sorted position" is the rank in that order.
//   R       packed rows: one per valid (sequence, step), step-major like
//           PyTorch's PackedSequence: step t holds batch_sizes[t] rows, the
//           first batch_sizes[t] sequences in sorted position.
//   reverse-packed order: the same row set, where row (b, s) holds position
//           length_b - 1 - s, so that a reverse direction also walks a prefix.
//   state buffer: N leading rows (the initial state h0/c0, sorted order)
//           followed by R packed rows (the state after each step).
#pragma once

#include <cstdint>

struct halide_filter_metadata_t;

namespace rnnc_rt {

using KernelFn = int (*)(void **args);  // a Halide pipeline's _argv entry point
// A Halide pipeline's _metadata entry point: its arguments' names and kinds
// (which buffers it writes).
using KernelMetadataFn = const halide_filter_metadata_t *(*)();

struct KernelEntry {
  const char *name;
  KernelFn fn;
  KernelMetadataFn metadata;  // NULL: every buffer argument may be written
};

// How many rows a workspace buffer has for a batch.
enum RowKind : int32_t {
  kRowsPacked = 0,  // R
  kRowsState = 1,   // N + R
  kRowsBatch = 2,   // N
  kRowsOne = 3,     // 1
};

// A float32 workspace matrix [rows, cols], row-major. A view (parent >= 0)
// shares the parent's storage: its row 0 is the parent's row `row_offset`
// (0, or N when skip_state_rows), its column 0 the parent's column col_offset,
// and its row stride the parent's.
struct BufferDesc {
  const char *name;
  int32_t rows;  // RowKind
  int32_t cols;
  int32_t parent;
  int32_t skip_state_rows;
  int32_t col_offset;
};

// How init_params fills a parameter. The chrono kinds set a gate bias
// [gates * H] from per-unit draws u ~ U(1, bound - 1) (bound = T_max): LSTM
// (gates i, f, g, o) b_f = log u, b_i = -b_f; GRU (r, z, n) b_z = log u;
// every other element 0.
enum InitKind : int32_t {
  kInitUniform = 0,  // U(-bound, bound)
  kInitNormal = 1,   // N(0, 1)
  kInitChronoLstm = 2,
  kInitChronoGru = 3,
  kInitZero = 4,
};

// One parameter tensor, stored at `offset` floats in the model's flat
// parameter array (its gradient at the same offset in the gradient array).
struct ParamDesc {
  const char *name;  // PyTorch state_dict name
  int32_t ndim;
  int64_t shape[4];
  int64_t offset;
  int64_t numel;
  int32_t init;  // InitKind
  float bound;   // kInitUniform: U(-bound, bound)
};

// A parameter re-laid out for a kernel (by a pack kernel), kept beside the
// flat parameters and refreshed whenever they change.
struct PackedDesc {
  const char *name;
  int32_t param;   // source parameter
  int32_t kernel;  // pack kernel: args (param as [d0, d1], packed)
  int32_t ndim;
  int64_t dims[4];  // Halide order (innermost first)
};

// Per-batch integer arrays the runtime derives from the lengths.
enum IndexKind : int32_t {
  kIdxInputFwd = 0,     // [R] packed row -> layer-0 source row (token id, or n*T + t for features)
  kIdxInputRev = 1,     // [R] the same for reverse-packed rows
  kIdxPerm = 2,         // [R] packed row <-> reverse-packed row (an involution)
  kIdxLastRow = 3,      // [N] input order -> packed row of the sequence's last step
  kIdxRowSeq = 4,       // [R] packed row -> sequence (input order)
  kIdxLengths = 5,      // [N] input order -> length
  kIdxStepOffsets = 6,  // [T] step -> first packed row of the step
  kIdxSortPos = 7,      // [N] input order -> sorted position
  kIdxLastOf = 8,       // [R] packed row -> sequence whose last step it is, or -1
  kIdxBatchSizes = 9,   // [T] step -> sequences still running
  kIdxPrevRow = 10,     // [R] packed row -> its state buffer row before the step (b, or N + offset[t-1] + b)
  kIdxCount = 11,
};

// Which rows of a buffer an argument covers. Inside a time loop, the
// step-relative kinds use the current step t; elsewhere only kSliceAll.
enum SliceKind : int32_t {
  kSliceAll = 0,
  kSliceStep = 1,       // packed rows of step t: [offset[t], +batch_sizes[t])
  kSliceStateCur = 2,   // state rows after step t: [N + offset[t], +batch_sizes[t])
  kSliceStatePrev = 3,  // state rows before step t: t = 0 ? [0, +b_0) : [N + offset[t-1], +batch_sizes[t])
};

// Values the runtime supplies per call.
enum RuntimeScalar : int32_t {
  kScalarDropoutSeed = 0,  // uint32 stream id of this batch (from the training seed and step)
  kScalarLossScale = 1,    // 1 / number of loss terms in the batch
  kScalarLearningRate = 2,
  kScalarBiasCorrection1 = 3,  // Adam: 1 - beta1^step
  kScalarBiasCorrection2 = 4,  // Adam: 1 - beta2^step
  kScalarGradScale = 5,        // clipping factor applied to gradients (1 when not clipping)
  kScalarCount = 6,
};

enum ArgKind : int32_t {
  kArgBuffer = 0,   // workspace buffer `id`, `slice` rows, as Halide (cols, rows)
  kArgParam = 1,    // parameter `id` in its own shape (Halide order reversed)
  kArgGrad = 2,     // gradient of parameter `id`
  kArgPacked = 3,   // packed weight `id`
  kArgIndex = 4,    // index array `id` (IndexKind), int32, 1-D
  kArgInput = 5,    // the user's input: tokens int32 [N*T] or features (I, N*T)
  kArgZeros = 6,    // a zero-filled float vector of `id` elements (stands for an absent bias)
  kArgConstF = 7,   // float constant `fvalue`
  kArgConstI = 8,   // int32 constant `id`
  kArgScalar = 9,   // RuntimeScalar `id`
  kArgFlat = 10,    // a flat array (FlatArray `id`) as 1-D, elements [row0, row0 + nrows)
  kArgLabels = 11,  // the batch's labels: int32 [rows] class ids or float (out, rows) targets
  kArgDropoutRate = 12,  // a dropout site's rate `fvalue`, or 0 when the batch runs with dropout off
};

// The flat arrays of a model: parameters, gradients, the optimizer's two
// state slots (Adam: exp_avg, exp_avg_sq; SGD: momentum_buffer), and the
// arrays an update writes before they replace the current ones.
enum FlatArray : int32_t {
  kFlatParams = 0,
  kFlatGrads = 1,
  kFlatSlot1 = 2,
  kFlatSlot2 = 3,
  kFlatParamsNext = 4,
  kFlatSlot1Next = 5,
  kFlatSlot2Next = 6,
  kFlatCount = 7,
};

struct ArgDesc {
  int32_t kind;  // ArgKind
  int32_t id;
  int32_t slice;  // SliceKind, for kArgBuffer
  float fvalue;
  // kArgParam / kArgGrad: rows [row0, row0 + nrows) of the tensor (nrows 0:
  // all); kArgFlat: elements [row0, row0 + nrows) (nrows 0: all).
  int64_t row0;
  int64_t nrows;
};

enum OpKind : int32_t {
  kOpCall = 0,        // call `kernel` once with `args`
  kOpTimeLoop = 1,    // call `kernel` once per step (forward: t = 0..T-1, backward: T-1..0)
  kOpWholeLoop = 2,   // call `kernel` once; it runs the time loop itself (its args include
                      // kIdxBatchSizes and kIdxStepOffsets, the batch geometry)
  kOpGatherRows = 3,  // args: dst buffer, src buffer, index: dst[r] = src[index[r]] (runtime copy)
  kOpZero = 4,        // args: buffer; fill with zeros
};

enum Direction : int32_t { kForward = 0, kBackward = 1 };

struct StepDesc {
  int32_t op;         // OpKind
  int32_t kernel;     // index into the kernel table, or -1
  int32_t direction;  // for kOpTimeLoop
  int32_t first_arg;  // into ModelDesc::args
  int32_t num_args;
  const char *comment;  // what the step computes, for dumps and error messages
};

struct StepList {
  int32_t first;  // into ModelDesc::steps
  int32_t count;
};

enum InputKindDesc : int32_t { kInputTokens = 0, kInputFeatures = 1 };
enum LossKindDesc : int32_t { kLossNone = 0, kLossCrossEntropy = 1, kLossMse = 2 };
enum OptimizerDesc : int32_t { kOptAdam = 0, kOptSgd = 1 };

struct TrainDesc {
  int32_t optimizer;  // OptimizerDesc
  float learning_rate;
  float beta1, beta2, eps;
  float weight_decay;
  float momentum;
  float clip_grad_norm;  // <= 0: no clipping
  int64_t epochs;
  int64_t batch_size;
  uint64_t seed;
};

// One row of the layer table (`<name> info`).
struct LayerInfo {
  int32_t index;  // [[layers]] index, -1 for the input
  const char *kind;
  const char *details;
  const char *output_shape;
  int64_t params;
};

// State of one recurrent sub-layer direction: optional h0/c0, h_n, the
// per-step outputs and, after a training backward, dL/dh_t. Buffers of a
// reverse direction are in reverse-packed row order.
struct StateDesc {
  int32_t h_buffer;  // state buffer holding h (N leading rows = h0)
  int32_t c_buffer;  // state buffer holding c, or -1
  int32_t hidden;    // width of h (the projection's size for an LSTM with proj_size)
  int32_t c_hidden;  // width of c (the LSTM's hidden size), 0 without c
  int32_t layer;     // [[layers]] index of the recurrent entry
  int32_t sublayer;  // stacked layer within the entry (PyTorch's _l<k>)
  int32_t reverse;   // 1 for the reverse direction
  // Training: dL/dh_t = out_grad row + rec_grad state row (after the
  // backward list): the gradient arriving from above (packed rows), and the
  // one arriving through the recurrence from step t+1 (state buffer). -1
  // when the model has no training lists.
  int32_t out_grad_buffer;
  int32_t rec_grad_buffer;
};

struct ModelDesc {
  const char *name;
  const char *source_file;
  uint32_t abi_version;
  // Provenance: the rnnc version that generated the library, the SHA-256 of
  // the model file it was generated from (hex), and the Halide target.
  const char *rnnc_version;
  const char *model_sha256;
  const char *target;
  int32_t input_kind;  // InputKindDesc
  int64_t vocab;       // tokens
  int64_t input_size;  // features
  int64_t output_width;
  int32_t per_step_output;  // 1: outputs are [N, T, width] (readout "all")
  int32_t loss;             // LossKindDesc
  TrainDesc train;

  const KernelEntry *kernels;
  int32_t num_kernels;
  const ParamDesc *params;
  int32_t num_params;
  int64_t num_param_floats;
  const PackedDesc *packed;
  int32_t num_packed;
  const BufferDesc *buffers;
  int32_t num_buffers;
  const ArgDesc *args;
  int32_t num_args;
  const StepDesc *steps;
  int32_t num_steps;
  StepList infer;           // inference forward
  StepList train_fwd;       // training forward (saves activations, dropout on)
  StepList loss_steps;      // per-row losses and the output's gradient (after infer or train_fwd)
  StepList train_bwd;       // from the output's gradient back to every parameter's gradient
  StepList grad_norm;       // per-parameter sums of squares of the gradients into grad_sq_buffer
  StepList update;          // one optimizer step into the *Next flat arrays
  StepList input_grad;      // features input: dL/dx into input_grad_buffer (after train_bwd)
  int32_t output_buffer;    // buffer holding the model's output after a forward
  int32_t loss_buffer;      // training: per-row losses [rows, 1] (rows as the output's)
  int32_t grad_sq_buffer;   // training: [1, num_params] sums of squares
  int32_t output_grad_buffer;  // training: dL/d(output), rows as the output's (loss_steps write it)
  int32_t input_grad_buffer;   // features input: dL/dx [R, input_size] in packed rows, or -1
  const StateDesc *states;  // sub-layer directions in PyTorch h_n order
  int32_t num_states;
  const LayerInfo *layers;
  int32_t num_layers;
  int64_t total_params;
};

constexpr uint32_t kAbiVersion = 7;

}  // namespace rnnc_rt

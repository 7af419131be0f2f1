// Halide algorithms of every kernel family: what is computed, never how.
// Each function declares the kernel's inputs in signature order, defines its
// stages and returns the handles its schedule (schedules/) needs.
#pragma once

#include <variant>
#include <vector>

#include "Halide.h"
#include "kernels/kernel_desc.h"

namespace rnnc::kernels {

using KernelInput = std::variant<Halide::ImageParam, Halide::Param<float>, Halide::Param<int32_t>>;

// Inputs in call order, and the outputs in call order: `out` first, then
// `more_outputs` (a Tuple-valued Func contributes one buffer per element).
struct AlgorithmBase {
  std::vector<KernelInput> inputs;
  Halide::Func out;
  std::vector<Halide::Func> more_outputs;
};

// A product against packed weights: mm(ji, g, jo, r) = sum_k w(ji, g, k, jo) * x(k, r),
// consumed as out(j, r) (j = jo * tile + ji). Used by the GEMM and by every
// cell step (there g runs over the gates of one hidden unit).
struct PackedProduct {
  Halide::Func mm;
  Halide::Var ji, g, jo, r;
  Halide::RDom k;
  int gates = 1;
  Halide::Func in;      // the operand the weights multiply, in(k, r)
  bool gather = false;  // `in` reads its rows through an index
};

// Weight packing: a pointwise re-layout.
struct PackAlgorithm : AlgorithmBase {
  Halide::Var ji, g, k, jo;
};

struct GemmAlgorithm : AlgorithmBase {
  std::vector<PackedProduct> prods;  // one per term
  Halide::Var j, r;                  // out(j, r)
};

// One recurrent step, forward or backward. Forward: out(j, r) is a Tuple of
// the new state(s) and, in training, the saved activations. Backward: `out`
// holds the gate gradients (a(n, r), n over gates x units, split by unit
// count `gate_width`), `prod` the product with the transposed weights that
// gives dh_{t-1}, in `dh_prev`.
struct CellAlgorithm : AlgorithmBase {
  PackedProduct prod;
  Halide::Var j, r;
  // Steps with two products in a row (`has_pre`): a first stage `pre` over
  // (pj, pr) whose product is `pre_prod`, then `prod`.
  //  - GRU in the ONNX form, forward: `pre` holds (r, z), `rh` = r ⊙ h is
  //    the second product's input; backward: `pre` holds da_n and
  //    `pre_prod` is W_hn^T da_n, needed before the r gate's gradient.
  //  - LSTM with a projection, forward: `pre` is the cell over all units
  //    (m = o ⊙ tanh(c), c, the gates) and `prod` W_hr m; backward: `pre` is
  //    dL/dh (proj wide) and `pre_prod` W_hr^T dL/dh.
  bool has_pre = false;
  PackedProduct pre_prod;
  // Backward: the first product's result as a stage over (unit, row), so
  // that the schedule can tile it like a step.
  Halide::Func pre_result;
  Halide::Func pre, rh;
  Halide::Var pj, pr;
  // Backward only.
  bool backward = false;
  Halide::Func dh_prev;
  Halide::Var k;  // dh_prev(k, r)
  int gate_width = 0;
  int gates = 1;
  std::vector<Halide::Func> gate_outputs;  // more outputs laid out like `out`
  std::vector<Halide::Func> unit_outputs;  // more elementwise outputs over units
};

// Gathers and per-row maps: out(d, s) with simple inner loops.
struct RowwiseAlgorithm : AlgorithmBase {
  Halide::Var d, s;
  Halide::Func sum;        // a per-row reduction stage, when defined
  Halide::Func acc_stage;  // a second per-row reduction stage, when defined
};

// Reductions over all rows into a small output (weight gradients, column
// sums, the embedding scatter, sums of squares).
struct ReductionAlgorithm : AlgorithmBase {
  Halide::Var x, y;  // out(x, y)
  Halide::Func acc;  // the accumulating stage
  Halide::RDom rows;
  // Weight gradients: the two operands as functions of (column, row), the
  // gather and the edge clamps applied, so that a schedule can stage them.
  Halide::Func dy_rows, a_rows;
  bool scatter = false;  // rows land at data-dependent places (no parallel rows)
};

// Flat elementwise updates over the whole parameter vector.
struct ElementwiseAlgorithm : AlgorithmBase {
  Halide::Var i;
};

PackAlgorithm pack_weights(const KernelDesc &d);
GemmAlgorithm gemm_fwd(const KernelDesc &d);
CellAlgorithm rnn_step_fwd(const KernelDesc &d);
CellAlgorithm lstm_step_fwd(const KernelDesc &d);
CellAlgorithm gru_step_fwd(const KernelDesc &d);
RowwiseAlgorithm readout_last(const KernelDesc &d);
RowwiseAlgorithm readout_mean(const KernelDesc &d);
RowwiseAlgorithm dropout(const KernelDesc &d);

ReductionAlgorithm gemm_wgrad(const KernelDesc &d);
ReductionAlgorithm colsum(const KernelDesc &d);
ReductionAlgorithm scatter_rows(const KernelDesc &d);
ReductionAlgorithm sum_squares(const KernelDesc &d);
CellAlgorithm rnn_step_bwd(const KernelDesc &d);
CellAlgorithm lstm_step_bwd(const KernelDesc &d);
CellAlgorithm gru_step_bwd(const KernelDesc &d);
RowwiseAlgorithm readout_last_bwd(const KernelDesc &d);
RowwiseAlgorithm readout_mean_bwd(const KernelDesc &d);
RowwiseAlgorithm softmax_xent(const KernelDesc &d);
RowwiseAlgorithm mse_loss(const KernelDesc &d);
ElementwiseAlgorithm adam_update(const KernelDesc &d);
ElementwiseAlgorithm sgd_update(const KernelDesc &d);

// Helpers shared by the algorithm files.
namespace detail {
// A float32 input buffer whose dimension 0 has fixed extent `width`
// (min 0, stride 1); the other dimensions stay free.
Halide::ImageParam matrix_input(const std::string &name, int dims, int64_t width);
// An int32 index vector.
Halide::ImageParam index_input(const std::string &name);
// Packed weights of `gates` gates, k inputs and h hidden units, laid out in
// tiles of d.sched.tile hidden units (see pack_weights).
Halide::ImageParam packed_weights(const std::string &name, const KernelDesc &d, int gates, int64_t k, int64_t h);
// A float32 vector of exactly n elements.
Halide::ImageParam vector_input(const std::string &name, int64_t n);
// A float32 vector of any length (flat parameter arrays).
Halide::ImageParam flat_input(const std::string &name);
// Fixes the output's dimension 0 to [0, width) with stride 1.
void fix_output_width(Halide::Func &out, int64_t width);
// Defines p.mm as the packed product of w (ji, g, k, jo) with x(k, r).
// gate_offset selects which gates of w the product uses (g + gate_offset);
// k_offset shifts the reduction (w(.., k + k_offset, ..), x(k + k_offset, r)).
void define_packed_product(PackedProduct &p, const Halide::ImageParam &w, const Halide::Func &x, int64_t k_extent,
                           int gates, int gate_offset = 0, int64_t k_offset = 0);
// Forward steps: p = the packed product of w (`gates` gates) with the first
// k_extent columns of h_prev.
void define_step_product(PackedProduct &p, const Halide::ImageParam &w, const Halide::ImageParam &h_prev,
                         int64_t k_extent, int gates);
// Backward steps: a.prod = the product of W^T (wt, packed transposed in
// tiles of `tile` units) with the first k_extent columns of the gate
// gradients `da`; returns its value for unit a.k of row a.r.
Halide::Expr define_dh_prev_product(CellAlgorithm &a, const Halide::ImageParam &wt, const Halide::Func &da,
                                    int64_t k_extent, int tile);
// Clipping steps save, per unit, which gate pre-activations stayed inside
// [-clip, clip] (where the clamp's derivative is 1) as one float holding
// the sum of 2^q over those gates q; an undefined Expr marks a gate whose
// pre-activation is unused (bit 0). clip_mask_bit reads bit q back (0 or 1).
Halide::Expr pack_clip_mask(const std::vector<Halide::Expr> &pre, const Halide::Expr &clip);
Halide::Expr clip_mask_bit(const Halide::Expr &mask, int q);
// The counter-based random number of dropout: a uint32 from (seed, site,
// element), with good avalanche (two rounds of the lowbias32 mixer).
Halide::Expr dropout_hash(Halide::Expr seed, Halide::Expr site, Halide::Expr element);
}  // namespace detail

}  // namespace rnnc::kernels

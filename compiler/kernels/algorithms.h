// Halide algorithms of every kernel family: what is computed, never how.
// Each function declares the kernel's inputs in signature order, defines its
// stages and returns the handles its schedule (schedules/) needs.
#pragma once

#include <vector>

#include "Halide.h"
#include "kernels/kernel_desc.h"

namespace rnnc::kernels {

// Inputs in call order, and the output stage (a Tuple for several outputs).
struct AlgorithmBase {
  std::vector<Halide::ImageParam> inputs;
  Halide::Func out;
};

// Weight packing: a pointwise re-layout.
struct PackAlgorithm : AlgorithmBase {
  Halide::Var ji, g, k, jo;
};

// A product against packed weights: mm(ji, g, jo, r) = sum_k w(ji, g, k, jo) * x(k, r),
// consumed as out(j, r) (j = jo * tile + ji). Used by the GEMM and by every
// cell step (there g runs over the gates of one hidden unit).
struct PackedProduct {
  Halide::Func mm;
  Halide::Var ji, g, jo, r;
  Halide::RDom k;
  int gates = 1;
};

struct GemmAlgorithm : AlgorithmBase {
  PackedProduct prod;
  Halide::Var j, r;  // out(j, r)
};

// One recurrent step: out(j, r) is a Tuple of the new state(s) and, in
// training, the saved activations.
struct CellAlgorithm : AlgorithmBase {
  PackedProduct prod;
  Halide::Var j, r;
  // GRU in the ONNX form needs r ⊙ h before its second product: `pre` holds
  // the r and z gates (pre(j, g, r)), `pre_prod` their product, `rh` = r ⊙ h.
  bool has_pre = false;
  PackedProduct pre_prod;
  Halide::Func pre, rh;
  Halide::Var pj, pg, pr;
};

// Readouts: a gather or a short reduction per sequence.
struct ReadoutAlgorithm : AlgorithmBase {
  Halide::Var d, s;  // out(d, s): column, sequence
  Halide::Func sum;  // readout_mean's running sum; undefined for readout_last
};

PackAlgorithm pack_weights(const KernelDesc &d);
GemmAlgorithm gemm_fwd(const KernelDesc &d);
CellAlgorithm rnn_step_fwd(const KernelDesc &d);
CellAlgorithm lstm_step_fwd(const KernelDesc &d);
CellAlgorithm gru_step_fwd(const KernelDesc &d);
ReadoutAlgorithm readout_last(const KernelDesc &d);
ReadoutAlgorithm readout_mean(const KernelDesc &d);

// Helpers shared by the algorithm files.
namespace detail {
// A float32 input buffer whose dimension 0 has fixed extent `width`
// (min 0, stride 1); the other dimensions stay free.
Halide::ImageParam matrix_input(const std::string &name, int dims, int64_t width);
// Packed weights of `gates` gates, k inputs and h hidden units, laid out in
// tiles of d.sched.tile hidden units (see pack_weights).
Halide::ImageParam packed_weights(const std::string &name, const KernelDesc &d, int gates, int64_t k, int64_t h);
// A float32 vector of exactly n elements.
Halide::ImageParam vector_input(const std::string &name, int64_t n);
// Fixes the output's dimension 0 to [0, width) with stride 1.
void fix_output_width(Halide::Func &out, int64_t width);
// Defines p.mm as the packed product of w (ji, g, k, jo) with x(k, r).
// gate_offset selects which gates of w the product uses (g + gate_offset).
void define_packed_product(PackedProduct &p, const Halide::ImageParam &w, const Halide::Func &x, int64_t k_extent,
                           int gates, int gate_offset = 0);
}  // namespace detail

}  // namespace rnnc::kernels

// Initial and final recurrent states in files, as PyTorch lays out h_0 /
// h_n: one block [layers x directions, N, H] per recurrent [[layers]] entry,
// in model order (c_0 / c_n: LSTM entries only). When every recurrent entry
// has the same hidden size the blocks form one .npy [L, N, H]; otherwise
// they are the members of an .npz keyed "layers.<i>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rnnc/model_desc.h"

namespace rnnc_rt {

// One recurrent entry's block of states.
struct StateBlock {
  int32_t layer = 0;  // [[layers]] index
  int32_t first = 0;  // its first StateDesc
  int64_t rows = 0;   // layers x directions
  int64_t hidden = 0;
};

// The entries' blocks, for h (cell = false) or c (cell = true).
std::vector<StateBlock> state_blocks(const ModelDesc &d, bool cell);

// True when every recurrent entry's h (or, with `cell`, c) has the same
// width (the states are one .npy).
bool states_fit_one_array(const ModelDesc &d, bool cell);

// Reads h0 (cell = false) or c0 for n sequences, into the flat layout
// forward() takes ([state][n][hidden], states in PyTorch order). Accepts
// float32 or float64 .npy [L, N, H] (when the sizes agree) or an .npz with
// one member per entry. Throws RtError naming the file (and member) and the
// expected shape.
std::vector<float> read_states(const ModelDesc &d, const std::string &path, int64_t n, bool cell);

// Writes states in that flat layout as float32 .npy or .npz, atomically.
void write_states(const ModelDesc &d, const std::string &path, const float *flat, int64_t n, bool cell);

// Copies sequences [first, first + count) of flat states for `total`
// sequences into a flat block for `count` sequences (to_chunk), or back.
void copy_state_rows(const ModelDesc &d, bool cell, const float *src, int64_t src_n, int64_t src_first, float *dst,
                     int64_t dst_n, int64_t dst_first, int64_t count);

}  // namespace rnnc_rt

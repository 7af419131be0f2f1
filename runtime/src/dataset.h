// Arrays the generated programs read: inputs, lengths (and, for training,
// labels) from .npy files, validated against the model with messages that
// name the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rnnc/model_desc.h"

namespace rnnc_rt {

struct Dataset {
  int64_t n = 0;
  int64_t t = 0;
  std::vector<int32_t> tokens;   // [n, t], for token models; 0 at padded positions
  std::vector<float> features;   // [n, t, input_size], for feature models
  std::vector<int32_t> lengths;  // [n], each in 1..t

  // Pointer to sequence i's inputs, as forward() takes them.
  const void *inputs_of(const ModelDesc &d, int64_t i) const;
};

// Data files are .npy arrays, or .npz archives (np.savez) that hold a data
// set's arrays under the keys "inputs", "lengths" and "labels": a path
// ending in .npz is read for the key the argument names, and when the
// inputs are an .npz, its "lengths" (and, for the programs' --labels, its
// "labels") are the defaults.
bool is_npz_path(const std::string &path);

// Labels of a dataset, in input order: cross-entropy class ids ([n] or,
// for per-step outputs, [n, t]) or MSE targets ([n, width] or [n, t, width]).
struct Labels {
  std::vector<int32_t> classes;
  std::vector<float> targets;
};

// Reads labels for `ds` (a .npy, or the "labels" of an .npz): class ids as int32/int64 ([N], or [N, T] for
// readout "all"), targets as float32/float64 ([N, out] or [N, T, out];
// [N] / [N, T] when out = 1). Values at padded positions are ignored and
// not validated. Throws RtError naming the file for a wrong dtype or shape
// or a class id outside [0, out).
Labels load_labels(const ModelDesc &d, const std::string &path, const Dataset &ds);

// Reads inputs ([N, T] int32/int64 ids, or [N, T, I] float32/float64
// features; [N, T] when I = 1) and optional lengths ([N] int32/int64;
// empty path = the inputs' .npz "lengths" if any, else all T). Throws RtError naming the file for a wrong dtype or
// shape, a length outside 1..T, or an id outside the vocabulary before a
// sequence's length.
Dataset load_dataset(const ModelDesc &d, const std::string &inputs_path, const std::string &lengths_path);

}  // namespace rnnc_rt

// The workspace of a batch: the plan's buffers (BufferDesc) as float
// matrices, and the one place that knows their geometry — how many rows a
// row kind has for the batch, where a view starts in its parent, which rows
// an argument's slice covers at step t. The executor, the state and
// gradient readers and the training code all go through it.
#pragma once

#include <cstdint>
#include <vector>

#include "geometry.h"
#include "memory.h"
#include "rnnc/model_desc.h"

namespace rnnc_rt {

// Rows [0, rows) of a float32 matrix inside an array: row r starts at
// element offset + r * stride.
struct MatrixView {
  Mirror<float> *array = nullptr;
  int64_t offset = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;

  // Row r into dst, from whichever copy is newer.
  void read_row(int64_t r, float *dst) const { array->read(offset + r * stride, cols, dst); }
  // Row r from src, in both copies.
  void write_row(int64_t r, const float *src) const { array->write(offset + r * stride, cols, src); }
  // Element (0, 0) in the host copy, current (the whole array is copied
  // back when the device's is newer): for results and inspection.
  const float *host() const { return array->host() + offset; }
};

class Workspace {
 public:
  // Sizes the base buffers `used` marks (indexed by buffer id) for a batch
  // of n sequences in `packed_rows` packed rows; the others stay empty.
  // The arrays are reused from batch to batch (their capacity is kept);
  // their values are unspecified until the batch writes them. With a
  // device, they live there (memory.h).
  void allocate(const ModelDesc &d, int64_t n, int64_t packed_rows, const std::vector<char> &used,
                Device *device = nullptr);

  int64_t n() const { return n_; }
  int64_t packed_rows() const { return rows_; }
  // Rows of a buffer of RowKind `kind` in this batch: R, N + R, N or 1.
  int64_t rows(int32_t kind) const;

  // Buffer `id` whole (a view: its rows and columns within its parent; a
  // state buffer's row 0 is the first initial-state row).
  MatrixView view(int32_t id) const;
  // The rows of buffer `id` that an argument slice (SliceKind) covers at
  // step t of the batch's geometry.
  MatrixView slice(int32_t id, int32_t slice_kind, const Geometry &g, int64_t t) const;
  // Base buffer `id` (which must not be a view) whole, for scans.
  const Mirror<float> &storage(int32_t id) const { return storage_[id]; }

 private:
  const ModelDesc *desc_ = nullptr;
  std::vector<Mirror<float>> storage_;
  int64_t n_ = 0;
  int64_t rows_ = 0;
};

}  // namespace rnnc_rt

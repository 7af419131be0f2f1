#include "workspace.h"

#include <algorithm>
#include <climits>
#include <string>

#include "error.h"

namespace rnnc_rt {

int64_t Workspace::rows(int32_t kind) const {
  switch (kind) {
    case kRowsPacked:
      return rows_;
    case kRowsState:
      return n_ + rows_;
    case kRowsBatch:
      return n_;
    default:
      return 1;
  }
}

void Workspace::allocate(const ModelDesc &d, int64_t n, int64_t packed_rows, const std::vector<char> &used,
                         Device *device) {
  desc_ = &d;
  n_ = n;
  rows_ = packed_rows;
  storage_.resize(d.num_buffers);
  for (int32_t i = 0; i < d.num_buffers; ++i) {
    const BufferDesc &b = d.buffers[i];
    if (b.parent >= 0 || !used[i]) continue;
    // Checked before anything is allocated: a kernel buffer holds at most
    // 2^31 - 1 bytes (Halide's limit without large buffers).
    const int64_t rows_here = rows(b.rows);
    if (rows_here > (INT32_MAX / 4) / std::max<int64_t>(b.cols, 1))
      throw RtError("this batch (" + std::to_string(n) + " sequences, " + std::to_string(packed_rows) +
                    " steps in all) needs buffer " + b.name + " of " + std::to_string(rows_here) + " x " +
                    std::to_string(b.cols) +
                    " floats, above the limit of 2^31 - 1 bytes per kernel buffer; use "
                    "smaller batches or shorter sequences");
  }
  for (int32_t i = 0; i < d.num_buffers; ++i) {
    const BufferDesc &b = d.buffers[i];
    if (b.parent >= 0 || !used[i]) continue;
    storage_[i].attach(device);
    storage_[i].resize_unspecified(static_cast<size_t>(rows(b.rows) * b.cols));
  }
}

MatrixView Workspace::view(int32_t id) const {
  const BufferDesc &b = desc_->buffers[id];
  const int32_t base = b.parent >= 0 ? b.parent : id;
  const int64_t stride = desc_->buffers[base].cols;
  const Mirror<float> &s = storage_[base];
  if (s.empty()) throw RtError(std::string("buffer ") + b.name + " is not allocated for this batch");
  MatrixView v;
  v.array = const_cast<Mirror<float> *>(&s);
  v.offset = (b.skip_state_rows ? n_ * stride : 0) + b.col_offset;
  v.rows = rows(b.rows);
  v.cols = b.cols;
  v.stride = stride;
  return v;
}

MatrixView Workspace::slice(int32_t id, int32_t slice_kind, const Geometry &g, int64_t t) const {
  MatrixView v = view(id);
  int64_t row0 = 0;
  switch (slice_kind) {
    case kSliceAll:
      return v;
    case kSliceStep:
      row0 = g.offsets[t];
      break;
    case kSliceStateCur:
      row0 = g.n + g.offsets[t];
      break;
    case kSliceStatePrev:
      row0 = t == 0 ? 0 : g.n + g.offsets[t - 1];
      break;
    default:
      throw RtError(std::string("buffer ") + desc_->buffers[id].name + ": unknown slice kind");
  }
  v.offset += row0 * v.stride;
  v.rows = g.batch_sizes[t];
  return v;
}

}  // namespace rnnc_rt

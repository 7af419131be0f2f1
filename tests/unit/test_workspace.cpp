// The workspace's geometry: rows per row kind, views within their parents
// (after the initial-state rows, at a column offset) and the rows an
// argument slice covers at each step of a packed batch.
#include <gtest/gtest.h>

#include <vector>

#include "error.h"
#include "geometry.h"
#include "workspace.h"

namespace rnnc_rt {
namespace {

// Buffers: 0 a packed [R, 6] matrix, 1 its columns 2..5, 2 a state buffer
// [N + R, 3], 3 its rows after the initial states, 4 a per-sequence [N, 2],
// 5 a [1, 4] scalar row, 6 never used.
const BufferDesc kBuffers[] = {
    {"packed", kRowsPacked, 6, -1, 0, 0}, {"packed[:, 2:]", kRowsPacked, 4, 0, 0, 2},
    {"state", kRowsState, 3, -1, 0, 0},   {"state.rows", kRowsPacked, 3, 2, 1, 0},
    {"batch", kRowsBatch, 2, -1, 0, 0},   {"one", kRowsOne, 4, -1, 0, 0},
    {"unused", kRowsPacked, 5, -1, 0, 0},
};

ModelDesc desc() {
  ModelDesc d{};
  d.name = "workspace";
  d.buffers = kBuffers;
  d.num_buffers = 7;
  return d;
}

TEST(Workspace, RowsViewsAndSlicesOfAPackedBatch) {
  const ModelDesc d = desc();
  // Lengths 3, 1, 2: sorted 0, 2, 1; steps hold 3, 2, 1 rows (R = 6).
  const std::vector<int32_t> lengths = {3, 1, 2};
  const Geometry g = make_geometry(lengths.data(), 3, 3, nullptr, 0);
  ASSERT_EQ(g.rows, 6);
  Workspace ws;
  ws.allocate(d, g.n, g.rows, {1, 0, 1, 0, 1, 1, 0});
  EXPECT_EQ(ws.rows(kRowsPacked), 6);
  EXPECT_EQ(ws.rows(kRowsState), 9);
  EXPECT_EQ(ws.rows(kRowsBatch), 3);
  EXPECT_EQ(ws.rows(kRowsOne), 1);
  EXPECT_EQ(ws.storage(0).size(), 36u);
  EXPECT_EQ(ws.storage(2).size(), 27u);
  EXPECT_EQ(ws.storage(4).size(), 6u);
  EXPECT_EQ(ws.storage(5).size(), 4u);
  EXPECT_TRUE(ws.storage(6).empty());

  const MatrixView packed = ws.view(0), cols = ws.view(1);
  EXPECT_EQ(cols.array, packed.array);
  EXPECT_EQ(cols.offset, packed.offset + 2);
  EXPECT_EQ(cols.stride, 6);
  EXPECT_EQ(cols.cols, 4);
  EXPECT_EQ(cols.rows, 6);
  const MatrixView state = ws.view(2), after = ws.view(3);
  EXPECT_EQ(after.array, state.array);
  EXPECT_EQ(after.offset, state.offset + 3 * 3);  // past the N = 3 initial rows
  EXPECT_EQ(after.rows, 6);

  // Step t's packed rows start at offsets[t] = 0, 3, 5 and hold 3, 2, 1 rows.
  const int64_t offsets[] = {0, 3, 5}, sizes[] = {3, 2, 1};
  for (int64_t t = 0; t < 3; ++t) {
    const MatrixView step = ws.slice(1, kSliceStep, g, t);
    EXPECT_EQ(step.offset, cols.offset + offsets[t] * 6) << t;
    EXPECT_EQ(step.rows, sizes[t]) << t;
    const MatrixView cur = ws.slice(2, kSliceStateCur, g, t);
    EXPECT_EQ(cur.offset, state.offset + (3 + offsets[t]) * 3) << t;
    EXPECT_EQ(cur.rows, sizes[t]) << t;
    const MatrixView prev = ws.slice(2, kSliceStatePrev, g, t);
    EXPECT_EQ(prev.offset, state.offset + (t == 0 ? 0 : 3 + offsets[t - 1]) * 3) << t;
    EXPECT_EQ(prev.rows, sizes[t]) << t;
  }
  const MatrixView all = ws.slice(4, kSliceAll, g, 0);
  EXPECT_EQ(all.rows, 3);
  EXPECT_EQ(all.offset, ws.view(4).offset);
  EXPECT_EQ(all.array, ws.view(4).array);
  // A buffer the batch's lists do not use has no storage: naming it is an error.
  EXPECT_THROW(ws.view(6), RtError);
}

TEST(Workspace, GeometryFollowsEachBatch) {
  const ModelDesc d = desc();
  Workspace ws;
  const std::vector<char> used = {1, 0, 1, 0, 1, 1, 0};
  ws.allocate(d, 2, 4, used);
  EXPECT_EQ(ws.view(3).offset, ws.view(2).offset + 2 * 3);
  ws.allocate(d, 5, 9, used);
  EXPECT_EQ(ws.rows(kRowsState), 14);
  EXPECT_EQ(ws.storage(2).size(), 42u);
  EXPECT_EQ(ws.view(3).offset, ws.view(2).offset + 5 * 3);
}

// A buffer that would pass a kernel buffer's 2^31 - 1 bytes for this batch
// is refused, naming it, before anything is allocated.
TEST(Workspace, RefusesABatchWhoseBufferWouldPassTheLimit) {
  const BufferDesc wide[] = {{"wide", kRowsPacked, 1 << 20, -1, 0, 0}};
  ModelDesc d{};
  d.name = "wide";
  d.buffers = wide;
  d.num_buffers = 1;
  Workspace ws;
  ws.allocate(d, 4, 8, {1});  // 8 x 2^20 floats: 32 MiB
  EXPECT_EQ(ws.storage(0).size(), size_t{8} << 20);
  try {
    ws.allocate(d, 4, 512, {1});  // 512 x 2^20 floats: 2^31 bytes
    FAIL() << "a 2 GiB buffer was allocated";
  } catch (const RtError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("buffer wide of 512 x 1048576 floats"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2^31 - 1 bytes"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace rnnc_rt

#include "state_files.h"

#include <cmath>
#include <cstring>

#include "error.h"
#include "io/file.h"
#include "io/npy.h"
#include "io/npz.h"
#include "model.h"

namespace rnnc_rt {

namespace {

std::string key_of(const StateBlock &b) { return "layers." + std::to_string(b.layer); }

std::string expected_shape(const StateBlock &b, int64_t n) { return shape_str({b.rows, n, b.hidden}); }

// Converts one array's float32/float64 data into dst (numel floats).
void take_floats(const NpyArray &a, const std::string &name, float *dst, int64_t numel) {
  if (a.dtype == DType::kF32) {
    std::memcpy(dst, a.as<float>(), sizeof(float) * numel);
  } else if (a.dtype == DType::kF64) {
    for (int64_t k = 0; k < numel; ++k) dst[k] = static_cast<float>(a.as<double>()[k]);
  } else {
    throw RtError(name + ": dtype " + dtype_name(a.dtype) + "; states are float32 (or float64)");
  }
  for (int64_t k = 0; k < numel; ++k)
    if (!std::isfinite(dst[k])) throw RtError(name + ": non-finite value at element " + std::to_string(k));
}

bool is_zip(const std::string &path) {
  InputFile f(path);
  uint8_t magic[4] = {0, 0, 0, 0};
  if (f.size() >= 4) f.read_at(0, magic, 4, "the magic bytes");
  return magic[0] == 'P' && magic[1] == 'K';
}

}  // namespace

std::vector<StateBlock> state_blocks(const ModelDesc &d, bool cell) {
  std::vector<StateBlock> blocks;
  for (int32_t s = 0; s < d.num_states; ++s) {
    const StateDesc &st = d.states[s];
    if (cell && st.c_buffer < 0) continue;
    if (blocks.empty() || blocks.back().layer != st.layer) {
      StateBlock b;
      b.layer = st.layer;
      b.first = s;
      b.hidden = cell ? st.c_hidden : st.hidden;
      blocks.push_back(b);
    }
    ++blocks.back().rows;
  }
  return blocks;
}

bool states_fit_one_array(const ModelDesc &d, bool cell) {
  const std::vector<StateBlock> blocks = state_blocks(d, cell);
  for (const StateBlock &b : blocks)
    if (b.hidden != blocks[0].hidden) return false;
  return true;
}

std::vector<float> read_states(const ModelDesc &d, const std::string &path, int64_t n, bool cell) {
  const std::vector<StateBlock> blocks = state_blocks(d, cell);
  if (blocks.empty()) throw RtError(path + ": model " + d.name + " has no cell states (no lstm layer)");
  int64_t total_rows = 0, total = 0;
  for (const StateBlock &b : blocks) {
    total_rows += b.rows;
    total += b.rows * n * b.hidden;
  }
  std::vector<float> flat(static_cast<size_t>(total));
  if (!is_zip(path)) {
    if (!states_fit_one_array(d, cell)) {
      std::string sizes;
      for (const StateBlock &b : blocks)
        sizes += (sizes.empty() ? "" : ", ") + key_of(b) + ": " + std::to_string(b.hidden);
      throw RtError(path + ": model " + d.name + " has recurrent entries of different hidden sizes (" + sizes +
                    "); give the states as an .npz with one array [layers x directions, N, H] per entry, keyed "
                    "layers.<i>");
    }
    const NpyArray a = read_npy(path);
    const std::vector<int64_t> want = {total_rows, n, blocks[0].hidden};
    if (a.shape != want)
      throw RtError(path + ": shape " + shape_str(a.shape) + "; expected " + shape_str(want) +
                    " (layers x directions, sequences, hidden)");
    take_floats(a, path, flat.data(), total);
    return flat;
  }
  const std::vector<NpzMember> members = read_npz(path);
  for (const NpzMember &m : members) {
    bool known = false;
    for (const StateBlock &b : blocks) known = known || m.key == key_of(b);
    if (!known) {
      std::string keys;
      for (const StateBlock &b : blocks) keys += (keys.empty() ? "" : ", ") + key_of(b);
      throw RtError(path + ": unknown member '" + m.key + "'; expected " + keys);
    }
  }
  int64_t offset = 0;
  for (const StateBlock &b : blocks) {
    const NpzMember *found = nullptr;
    for (const NpzMember &m : members)
      if (m.key == key_of(b)) found = &m;
    const std::string name = path + "[" + key_of(b) + "]";
    if (!found) throw RtError(name + ": missing; expected shape " + expected_shape(b, n));
    if (found->array.shape != std::vector<int64_t>{b.rows, n, b.hidden})
      throw RtError(name + ": shape " + shape_str(found->array.shape) + "; expected " + expected_shape(b, n));
    take_floats(found->array, name, flat.data() + offset, b.rows * n * b.hidden);
    offset += b.rows * n * b.hidden;
  }
  return flat;
}

void write_states(const ModelDesc &d, const std::string &path, const float *flat, int64_t n, bool cell) {
  const std::vector<StateBlock> blocks = state_blocks(d, cell);
  if (blocks.empty()) throw RtError(path + ": model " + d.name + " has no cell states (no lstm layer)");
  if (states_fit_one_array(d, cell)) {
    int64_t rows = 0;
    for (const StateBlock &b : blocks) rows += b.rows;
    write_npy(path, DType::kF32, flat, {rows, n, blocks[0].hidden});
    return;
  }
  std::vector<NpzOutput> arrays;
  int64_t offset = 0;
  for (const StateBlock &b : blocks) {
    arrays.push_back({key_of(b), DType::kF32, flat + offset, {b.rows, n, b.hidden}});
    offset += b.rows * n * b.hidden;
  }
  write_npz(path, arrays);
}

void copy_state_rows(const ModelDesc &d, bool cell, const float *src, int64_t src_n, int64_t src_first, float *dst,
                     int64_t dst_n, int64_t dst_first, int64_t count) {
  // Block offsets for one sequence, scaled to each side's count.
  for_each_state_block(d, cell, 1, [&](int32_t, int64_t hidden, int64_t offset) {
    std::memcpy(dst + offset * dst_n + dst_first * hidden, src + offset * src_n + src_first * hidden,
                sizeof(float) * count * hidden);
  });
}

}  // namespace rnnc_rt

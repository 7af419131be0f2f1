// NumPy .npz archives (np.savez): a zip of .npy members, one per key. Only
// stored (uncompressed) members are read, as np.savez writes them;
// np.savez_compressed archives are refused with a message saying so.
#pragma once

#include <string>
#include <vector>

#include "io/npy.h"

namespace rnnc_rt {

struct NpzMember {
  std::string key;  // the member's name without ".npy"
  NpyArray array;
};

// Reads every member of an .npz file, in archive order; throws RtError
// "<path>: ..." for a malformed archive, a compressed or encrypted member,
// a CRC mismatch or a malformed .npy member (named "<path>[key]").
std::vector<NpzMember> read_npz(const std::string &path);

// One array to write: numel(shape) elements of dtype in C order.
struct NpzOutput {
  std::string key;
  DType dtype;
  const void *data;
  std::vector<int64_t> shape;
};

// Writes an .npz file that np.load reads (stored members "<key>.npy"),
// atomically; throws RtError "<path>: ..." and leaves path untouched on failure.
void write_npz(const std::string &path, const std::vector<NpzOutput> &arrays);

}  // namespace rnnc_rt

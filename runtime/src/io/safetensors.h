// safetensors files (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header describing each tensor, then the
// tensors' bytes. Weights move between rnnc and PyTorch in this format.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rnnc_rt {

struct SafeTensor {
  std::string name;
  std::string dtype;           // As in the file: "F32", "I64", "BF16", ...
  std::vector<int64_t> shape;  // Empty for a scalar.
  std::vector<uint8_t> data;   // Raw little-endian bytes.

  // Product of shape (1 for a scalar); assumes the shape was validated.
  int64_t numel() const;
};

struct SafeTensorsFile {
  std::vector<SafeTensor> tensors;  // In header order.
  // The "__metadata__" string map, in header order; empty when absent.
  std::vector<std::pair<std::string, std::string>> metadata;

  // Returns the tensor called name, nullptr when there is none.
  const SafeTensor *find(const std::string &name) const;
};

// Bytes per element of a safetensors dtype ("F32" → 4); 0 for dtypes this
// runtime does not know, and for sub-byte ones such as "F4".
int64_t safetensors_dtype_size(const std::string &dtype);

// Reads and validates path; unknown dtypes are kept with their bytes, and
// every problem throws RtError "<path>: ..." naming the tensor concerned.
SafeTensorsFile read_safetensors(const std::string &path);

// Writes file with the tensors laid out contiguously in the given order and
// the header padded with spaces to a multiple of 8 bytes, atomically; throws
// RtError "<path>: ..." (path untouched) for inconsistent tensors or I/O errors.
void write_safetensors(const std::string &path, const SafeTensorsFile &file);

}  // namespace rnnc_rt

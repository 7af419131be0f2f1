// NumPy .npy files: the fixtures and checkpoints exchanged with PyTorch and
// NumPy. Only little-endian plain dtypes are interpreted; anything else is
// either kept raw as DType::kOther or refused with a message naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rnnc_rt {

enum class DType { kF32, kF64, kI32, kI64, kU8, kBool, kOther };

// The NumPy name of dtype: "float32", "float64", "int32", "int64", "uint8",
// "bool", or "other".
const char *dtype_name(DType dtype);

// Bytes per element of dtype; 0 for kOther, whose size depends on the descr.
size_t dtype_size(DType dtype);

struct NpyArray {
  DType dtype = DType::kOther;
  std::string descr;           // As in the file, e.g. "<f4", for messages.
  std::vector<int64_t> shape;  // Empty for a scalar.
  std::vector<uint8_t> data;   // Elements in C (row-major) order, little-endian.

  // Product of shape (1 for a scalar); assumes the shape was validated.
  int64_t numel() const;

  // The data as T; the caller checks that dtype matches T first.
  template <class T>
  const T *as() const {
    return reinterpret_cast<const T *>(data.data());
  }
};

// Reads a version 1.0, 2.0 or 3.0 .npy file, converting Fortran order to C
// order; throws RtError "<path>: ..." for big-endian data, malformed headers
// and data whose size does not match the shape.
NpyArray read_npy(const std::string &path);

class InputFile;

// Reads the .npy image held in bytes [base, base + size) of file (an .npz
// member); messages name `name`.
NpyArray read_npy_region(const InputFile &file, uint64_t base, uint64_t size, const std::string &name);

// The bytes before the data of a .npy file of dtype and shape, as
// numpy.save writes them; *nbytes receives the data's size. Throws RtError
// "<name>: ..." for a shape that is invalid or too large.
std::string npy_file_header(const std::string &name, DType dtype, const std::vector<int64_t> &shape, uint64_t *nbytes);

// Writes data (numel(shape) elements of dtype in C order) as a version 1.0
// .npy file laid out as numpy.save does (2.0 if the header needs it),
// atomically; throws RtError "<path>: ..." and leaves path untouched on failure.
void write_npy(const std::string &path, DType dtype, const void *data, const std::vector<int64_t> &shape);

}  // namespace rnnc_rt

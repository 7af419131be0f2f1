// Byte-level file access shared by the format readers and writers: bounded
// reads whose errors name the file, and atomic replacement of a file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rnnc_rt {

// A file opened for reading whose size is known up front, so that readers can
// check lengths claimed by a header before allocating anything.
class InputFile {
 public:
  // Opens path; throws RtError "<path>: cannot open: <reason>".
  explicit InputFile(std::string path);
  ~InputFile();
  InputFile(const InputFile &) = delete;
  InputFile &operator=(const InputFile &) = delete;

  const std::string &path() const { return path_; }
  uint64_t size() const { return size_; }

  // Reads exactly size bytes at offset into dst; throws RtError naming the
  // file and what was being read when the file ends early.
  void read_at(uint64_t offset, void *dst, size_t size, const char *what) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// One contiguous piece of the bytes to write.
struct ByteSpan {
  const void *data;
  size_t size;
};

// Writes the concatenated pieces to path + ".tmp.<pid>" and renames it over
// path; on failure removes the temporary file, leaves path untouched and
// throws RtError "<path>: ...".
void write_file_atomically(const std::string &path, const std::vector<ByteSpan> &pieces);

// Returns the element count of shape, or -1 when a dimension is negative or
// the count does not fit in int64.
int64_t checked_numel(const std::vector<int64_t> &shape);

// A shape for messages: "[2, 3]".
std::string shape_str(const std::vector<int64_t> &shape);

}  // namespace rnnc_rt

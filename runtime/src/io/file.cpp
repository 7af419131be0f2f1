#include "io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "error.h"

namespace rnnc_rt {

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw RtError(path_ + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throw RtError(path_ + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw RtError(path_ + ": not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() { ::close(fd_); }

void InputFile::read_at(uint64_t offset, void *dst, size_t size, const char *what) const {
  if (offset > size_ || size > size_ - offset) {
    throw RtError(path_ + ": file is truncated: " + what + " needs " + std::to_string(size) + " bytes at offset " +
                  std::to_string(offset) + " but the file has " + std::to_string(size_) + " bytes");
  }
  auto *out = static_cast<char *>(dst);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw RtError(path_ + ": read error: " + std::strerror(errno));
    // The file shrank after it was opened.
    if (n == 0) throw RtError(path_ + ": file is truncated while reading " + what);
    done += static_cast<size_t>(n);
  }
}

void write_file_atomically(const std::string &path, const std::vector<ByteSpan> &pieces) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  // O_EXCL: never write through a stale temporary (or a link planted there).
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) {
    ::unlink(tmp.c_str());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) {
    throw RtError(path + ": cannot create temporary file " + tmp + ": " + std::strerror(errno));
  }
  auto fail = [&](const std::string &what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    const bool kept = ::access(path.c_str(), F_OK) == 0;
    throw RtError(path + ": " + what + ": " + std::strerror(err) +
                  (kept ? "; the file keeps its previous contents" : "; nothing was written"));
  };
  for (const ByteSpan &piece : pieces) {
    const auto *p = static_cast<const char *>(piece.data);
    size_t left = piece.size;
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("write error", errno);
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  // On disk before the rename, so that a crash of the machine (not only of
  // the process) leaves either the old file or the whole new one.
  if (::fsync(fd) != 0) fail("cannot flush", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("write error", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " into place", errno);
}

int64_t checked_numel(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d == 0) n = 0;
  }
  if (n == 0) return 0;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

std::string shape_str(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace rnnc_rt

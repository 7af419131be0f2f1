// What the fuzz harnesses share: the input as a file (a memfd, named by
// /proc/self/fd/N, so that the readers under test open it as they open any
// file, without touching the disk), and a scratch directory for harnesses
// whose code writes files.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace rnnc_fuzz {

class InputAsFile {
 public:
  InputAsFile(const uint8_t *data, size_t size) {
    fd_ = memfd_create("rnnc-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    for (size_t done = 0; done < size;) {
      const ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputAsFile() { close(fd_); }
  InputAsFile(const InputAsFile &) = delete;
  InputAsFile &operator=(const InputAsFile &) = delete;

  const std::string &path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A directory of this process's own, made once.
inline const std::string &scratch_dir() {
  static const std::string dir = [] {
    std::string t = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + std::string("/rnnc-fuzz.XXXXXX");
    if (!mkdtemp(t.data())) std::abort();
    return t;
  }();
  return dir;
}

}  // namespace rnnc_fuzz

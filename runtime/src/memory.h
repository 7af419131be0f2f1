// Where a model's arrays live. Every array has host storage, which the C
// API, checkpoints and messages read. With a device (a CUDA build, or the
// emulated device a CPU build runs with RNNC_EMULATE_DEVICE=1) it also has
// a device copy, which the kernels read and write, and the array records
// which copy is newer: weights, optimizer state, activations and states
// stay on the device across steps, batches and epochs, and cross to the
// host only when something there asks for them.
//
// The device is reached through Halide's device interface, by its public
// entry points only (malloc, free, copy to and from the host, buffer copy),
// so that the emulated device and the tests' fakes stand in for CUDA.
#pragma once

#include <HalideRuntime.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "error.h"

namespace rnnc_rt {

// Passed as the user_context of Halide calls, so that a Halide error lands
// in the call that caused it (the handler appends to `message`).
struct CallContext {
  std::string message;
};

// What crossed between host and device, for tests and --verbose reports.
struct TransferStats {
  int64_t uploads = 0, upload_bytes = 0;      // host -> device
  int64_t downloads = 0, download_bytes = 0;  // device -> host
  int64_t device_copies = 0;                  // device -> device (row gathers, zeroing)
  int64_t allocations = 0, allocated_bytes = 0;
};

class Device {
 public:
  // `emulated`: the kernels are CPU kernels and find the device copy at a
  // buffer's host pointer (the handles are host addresses); otherwise they
  // are GPU kernels given `interface` and the handle as the buffer's device.
  Device(const halide_device_interface_t *interface, bool emulated);
  ~Device();
  Device(const Device &) = delete;
  Device &operator=(const Device &) = delete;

  const halide_device_interface_t *interface() const { return interface_; }
  bool emulated() const { return emulated_; }

  // Handles are device addresses: handle + byte offset addresses within an
  // allocation (as Halide's CUDA crops do). Each throws RtError naming what
  // failed.
  uint64_t allocate(int64_t bytes);
  void release(uint64_t handle, int64_t bytes);
  void upload(uint64_t handle, int64_t offset, const void *src, int64_t bytes);
  void download(uint64_t handle, int64_t offset, void *dst, int64_t bytes) const;
  // `rows` rows of `row_bytes` from src + src_offset (rows src_stride bytes
  // apart) to dst + dst_offset (dst_stride apart), on the device.
  void copy_rows(uint64_t dst, int64_t dst_offset, int64_t dst_stride, uint64_t src, int64_t src_offset,
                 int64_t src_stride, int64_t row_bytes, int64_t rows);
  void zero_rows(uint64_t dst, int64_t offset, int64_t stride, int64_t row_bytes, int64_t rows);
  // Row r of dst (r < rows) from row index[r] of src (index NULL: row r),
  // one copy per run of consecutive source rows.
  void gather_rows(uint64_t dst, int64_t dst_offset, int64_t dst_stride, uint64_t src, int64_t src_offset,
                   int64_t src_stride, int64_t row_bytes, int64_t rows, const int32_t *index);

  mutable TransferStats stats;
  // Print `stats` on stderr when the device goes (RNNC_DEVICE_STATS=1).
  bool report = false;

 private:
  void check(int rc, const CallContext &ctx, const char *what) const;

  const halide_device_interface_t *interface_;
  bool emulated_;
  uint64_t zero_ = 0;  // a device row of zeros (zero_rows' source)
  int64_t zero_bytes_ = 0;
};

// The emulated device: a Halide device interface whose allocations are
// separate host memory, filled with NaN (0xff bytes) so that a kernel that
// reads what nothing wrote shows in its results.
const halide_device_interface_t *emulated_device_interface();

// An array of T with host storage and, once attached to a device, a device
// copy. Without a device it is a plain vector (every device call throws).
template <class T>
class Mirror {
 public:
  Mirror() = default;
  ~Mirror() { drop_device(); }
  Mirror(const Mirror &) = delete;
  Mirror &operator=(const Mirror &) = delete;
  Mirror(Mirror &&o) noexcept { swap(o); }
  Mirror &operator=(Mirror &&o) noexcept {
    swap(o);
    return *this;
  }

  // Before the first use; the device outlives the array.
  void attach(Device *device) { device_ = device; }
  Device *device() const { return device_; }

  size_t size() const { return host_.size(); }
  bool empty() const { return host_.empty(); }

  // n copies of v.
  void assign(size_t n, T v) {
    host_.assign(n, v);
    state_ = kHostNewer;
  }
  // The contents of v (moved in).
  void take(std::vector<T> &&v) {
    host_ = std::move(v);
    state_ = kHostNewer;
  }
  // n elements whose values are unspecified until written (the workspace,
  // from batch to batch): nothing is copied either way, and a device copy
  // that is too small is replaced now.
  void resize_unspecified(size_t n) {
    host_.resize(n);
    if (!device_) return;
    if (device_bytes_ < bytes()) {
      drop_device();
      allocate_device();
    }
    state_ = kSame;
  }

  // The host copy, current (copied back from the device when that is newer).
  const T *host() const {
    if (state_ == kDeviceNewer) {
      device_->download(handle_, 0, host_.data(), bytes());
      state_ = kSame;
    }
    return host_.data();
  }
  // host(), for changes: the device copy is stale afterwards.
  T *host_mut() {
    host();
    if (device_) state_ = kHostNewer;
    return host_.data();
  }
  // For a caller that overwrites every element: nothing is copied back.
  T *host_overwrite() {
    if (device_) state_ = kHostNewer;
    return host_.data();
  }
  // Elements [offset, offset + n) into dst, from the newer copy (the
  // array's state does not change).
  void read(size_t offset, size_t n, T *dst) const {
    if (state_ == kDeviceNewer) {
      device_->download(handle_, static_cast<int64_t>(offset * sizeof(T)), dst, static_cast<int64_t>(n * sizeof(T)));
    } else {
      std::memcpy(dst, host_.data() + offset, n * sizeof(T));
    }
  }
  // Writes elements [offset, offset + n) in both copies (the host copy only
  // while it is the newer one).
  void write(size_t offset, size_t n, const T *src) {
    std::memcpy(host_.data() + offset, src, n * sizeof(T));
    if (device_ && state_ != kHostNewer)
      device_->upload(handle_, static_cast<int64_t>(offset * sizeof(T)), src, static_cast<int64_t>(n * sizeof(T)));
  }

  // The device copy, allocated and current (uploaded when the host is newer).
  uint64_t device_current() {
    if (!device_) throw RtError("internal: a device copy was asked of an array in host memory");
    if (host_.empty()) return 0;
    if (device_bytes_ < bytes()) {
      drop_device();
      allocate_device();
      state_ = kHostNewer;  // a fresh allocation holds nothing yet
    }
    if (state_ == kHostNewer) {
      device_->upload(handle_, 0, host_.data(), bytes());
      state_ = kSame;
    }
    return handle_;
  }
  // A kernel (or a device copy) wrote the device copy.
  void device_written() { state_ = kDeviceNewer; }
  // The host storage as it is, not synchronised: only for a buffer whose
  // host the kernels never read (a GPU kernel's argument).
  T *host_unsynced() { return host_.data(); }

  void swap(Mirror &o) noexcept {
    std::swap(device_, o.device_);
    host_.swap(o.host_);
    std::swap(handle_, o.handle_);
    std::swap(device_bytes_, o.device_bytes_);
    std::swap(state_, o.state_);
  }

 private:
  enum State { kSame, kHostNewer, kDeviceNewer };

  int64_t bytes() const { return static_cast<int64_t>(host_.size() * sizeof(T)); }
  void allocate_device() {
    if (!device_ || host_.empty()) return;
    handle_ = device_->allocate(bytes());
    device_bytes_ = bytes();
  }
  void drop_device() {
    if (device_ && handle_) device_->release(handle_, device_bytes_);
    handle_ = 0;
    device_bytes_ = 0;
  }

  Device *device_ = nullptr;
  mutable std::vector<T> host_;
  uint64_t handle_ = 0;
  int64_t device_bytes_ = 0;
  mutable State state_ = kHostNewer;
};

}  // namespace rnnc_rt

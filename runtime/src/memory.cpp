#include "memory.h"

#include <cstdio>
#include <cstdlib>

#include "error.h"

namespace rnnc_rt {

namespace {

// A halide_buffer_t over bytes: one dimension of `bytes`, or `rows` rows of
// `row_bytes` that are `stride` bytes apart.
struct ByteBuffer {
  halide_buffer_t b{};
  halide_dimension_t dim[2] = {};

  ByteBuffer(const halide_device_interface_t *iface, uint64_t device, void *host, int64_t row_bytes, int64_t rows = 1,
             int64_t stride = 0) {
    if (row_bytes > INT32_MAX || rows > INT32_MAX || stride > INT32_MAX)
      throw RtError("a device transfer of " + std::to_string(row_bytes) + " x " + std::to_string(rows) +
                    " bytes exceeds Halide's 2^31 limit per dimension");
    b.device = device;
    b.device_interface = device ? iface : nullptr;
    b.host = static_cast<uint8_t *>(host);
    b.type.code = halide_type_uint;
    b.type.bits = 8;
    b.type.lanes = 1;
    b.dimensions = rows > 1 || stride > 0 ? 2 : 1;
    b.dim = dim;
    dim[0].extent = static_cast<int32_t>(row_bytes);
    dim[0].stride = 1;
    dim[1].extent = static_cast<int32_t>(rows);
    dim[1].stride = static_cast<int32_t>(stride);
  }
};

}  // namespace

Device::Device(const halide_device_interface_t *interface, bool emulated) : interface_(interface), emulated_(emulated) {
  if (!interface_) throw RtError("no device interface (this library has no GPU runtime)");
}

Device::~Device() {
  if (report)
    std::fprintf(stderr,
                 "rnnc %s: %lld uploads (%lld bytes), %lld downloads (%lld bytes), %lld device copies, %lld "
                 "allocations (%lld bytes)\n",
                 emulated_ ? "emulated device" : "CUDA device", static_cast<long long>(stats.uploads),
                 static_cast<long long>(stats.upload_bytes), static_cast<long long>(stats.downloads),
                 static_cast<long long>(stats.download_bytes), static_cast<long long>(stats.device_copies),
                 static_cast<long long>(stats.allocations), static_cast<long long>(stats.allocated_bytes));
  if (zero_) {
    try {
      release(zero_, zero_bytes_);
    } catch (const RtError &) {
      // Nothing to report to at teardown.
    }
  }
}

void Device::check(int rc, const CallContext &ctx, const char *what) const {
  if (rc == 0) return;
  std::string msg =
      std::string(emulated_ ? "emulated device" : "CUDA") + ": " + what + " failed (code " + std::to_string(rc) + ")";
  if (!ctx.message.empty()) msg += ": " + ctx.message;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  throw RtError(msg);
}

uint64_t Device::allocate(int64_t bytes) {
  CallContext ctx;
  ByteBuffer buf(interface_, 0, nullptr, bytes);
  check(interface_->device_malloc(&ctx, &buf.b, interface_), ctx,
        ("allocating " + std::to_string(bytes) + " bytes").c_str());
  ++stats.allocations;
  stats.allocated_bytes += bytes;
  return buf.b.device;
}

void Device::release(uint64_t handle, int64_t bytes) {
  CallContext ctx;
  ByteBuffer buf(interface_, handle, nullptr, bytes);
  check(interface_->device_free(&ctx, &buf.b), ctx, "freeing device memory");
}

void Device::upload(uint64_t handle, int64_t offset, const void *src, int64_t bytes) {
  if (bytes == 0) return;
  CallContext ctx;
  ByteBuffer buf(interface_, handle + static_cast<uint64_t>(offset), const_cast<void *>(src), bytes);
  buf.b.flags = halide_buffer_flag_host_dirty;
  check(interface_->copy_to_device(&ctx, &buf.b, interface_), ctx, "copying to the device");
  ++stats.uploads;
  stats.upload_bytes += bytes;
}

void Device::download(uint64_t handle, int64_t offset, void *dst, int64_t bytes) const {
  if (bytes == 0) return;
  CallContext ctx;
  ByteBuffer buf(interface_, handle + static_cast<uint64_t>(offset), dst, bytes);
  buf.b.flags = halide_buffer_flag_device_dirty;
  check(interface_->copy_to_host(&ctx, &buf.b), ctx, "copying from the device");
  ++stats.downloads;
  stats.download_bytes += bytes;
}

void Device::copy_rows(uint64_t dst, int64_t dst_offset, int64_t dst_stride, uint64_t src, int64_t src_offset,
                       int64_t src_stride, int64_t row_bytes, int64_t rows) {
  if (rows == 0 || row_bytes == 0) return;
  CallContext ctx;
  ByteBuffer from(interface_, src + static_cast<uint64_t>(src_offset), nullptr, row_bytes, rows, src_stride);
  ByteBuffer to(interface_, dst + static_cast<uint64_t>(dst_offset), nullptr, row_bytes, rows, dst_stride);
  // Both have two dimensions, as halide_buffer_copy requires of a pair.
  from.b.dimensions = to.b.dimensions = 2;
  check(interface_->buffer_copy(&ctx, &from.b, interface_, &to.b), ctx, "copying rows on the device");
  ++stats.device_copies;
}

void Device::gather_rows(uint64_t dst, int64_t dst_offset, int64_t dst_stride, uint64_t src, int64_t src_offset,
                         int64_t src_stride, int64_t row_bytes, int64_t rows, const int32_t *index) {
  auto from = [&](int64_t r) -> int64_t { return index ? index[r] : r; };
  for (int64_t r = 0; r < rows;) {
    int64_t e = r + 1;
    while (e < rows && from(e) == from(e - 1) + 1) ++e;
    copy_rows(dst, dst_offset + r * dst_stride, dst_stride, src, src_offset + from(r) * src_stride, src_stride,
              row_bytes, e - r);
    r = e;
  }
}

void Device::zero_rows(uint64_t dst, int64_t offset, int64_t stride, int64_t row_bytes, int64_t rows) {
  if (rows == 0 || row_bytes == 0) return;
  if (zero_bytes_ < row_bytes) {
    if (zero_) release(zero_, zero_bytes_);
    zero_ = 0;
    zero_ = allocate(row_bytes);
    zero_bytes_ = row_bytes;
    const std::vector<uint8_t> zeros(static_cast<size_t>(row_bytes), 0);
    upload(zero_, 0, zeros.data(), row_bytes);
  }
  // The zero row, repeated (a source stride of 0).
  copy_rows(dst, offset, stride, zero_, 0, 0, row_bytes, rows);
}

// --- the emulated device -------------------------------------------------------

namespace {

// Calls fn(dst_byte_offset, src_byte_offset, bytes) for every contiguous
// run of a one- or two-dimensional byte copy between a and b (same shape).
template <class Fn>
void for_each_run(const halide_buffer_t *a, const halide_buffer_t *b, Fn fn) {
  const int64_t row = a->dim[0].extent;
  const int64_t rows = a->dimensions > 1 ? a->dim[1].extent : 1;
  const int64_t sa = a->dimensions > 1 ? a->dim[1].stride : 0, sb = b->dimensions > 1 ? b->dim[1].stride : 0;
  for (int64_t r = 0; r < rows; ++r) fn(r * sa, r * sb, row);
}

bool byte_buffer(const halide_buffer_t *b) {
  return b->type.bytes() == 1 && b->dimensions >= 1 && b->dimensions <= 2 && b->dim[0].stride == 1;
}

int64_t extent_bytes(const halide_buffer_t *b) {
  int64_t n = b->dim[0].extent;
  if (b->dimensions > 1) n += static_cast<int64_t>(b->dim[1].extent - 1) * b->dim[1].stride;
  return n;
}

int emu_malloc(void *, halide_buffer_t *b, const halide_device_interface_t *iface) {
  if (!byte_buffer(b)) return halide_error_code_device_malloc_failed;
  const int64_t bytes = extent_bytes(b);
  void *p = std::malloc(static_cast<size_t>(bytes > 0 ? bytes : 1));
  if (!p) return halide_error_code_out_of_memory;
  std::memset(p, 0xff, static_cast<size_t>(bytes));  // NaN in every float
  b->device = reinterpret_cast<uint64_t>(p);
  b->device_interface = iface;
  return 0;
}

int emu_free(void *, halide_buffer_t *b) {
  std::free(reinterpret_cast<void *>(b->device));
  b->device = 0;
  b->device_interface = nullptr;
  return 0;
}

uint8_t *at(uint64_t handle) { return reinterpret_cast<uint8_t *>(handle); }

int emu_to_device(void *, halide_buffer_t *b, const halide_device_interface_t *) {
  if (!byte_buffer(b) || !b->device || !b->host) return halide_error_code_copy_to_device_failed;
  if (!(b->flags & halide_buffer_flag_host_dirty)) return 0;
  for_each_run(b, b, [&](int64_t off, int64_t, int64_t n) { std::memcpy(at(b->device) + off, b->host + off, n); });
  b->flags &= ~static_cast<uint64_t>(halide_buffer_flag_host_dirty);
  return 0;
}

int emu_to_host(void *, halide_buffer_t *b) {
  if (!byte_buffer(b) || !b->device || !b->host) return halide_error_code_copy_to_host_failed;
  if (!(b->flags & halide_buffer_flag_device_dirty)) return 0;
  for_each_run(b, b, [&](int64_t off, int64_t, int64_t n) { std::memcpy(b->host + off, at(b->device) + off, n); });
  b->flags &= ~static_cast<uint64_t>(halide_buffer_flag_device_dirty);
  return 0;
}

int emu_buffer_copy(void *, halide_buffer_t *src, const halide_device_interface_t *iface, halide_buffer_t *dst) {
  if (!byte_buffer(src) || !byte_buffer(dst) || src->dimensions != dst->dimensions ||
      src->dim[0].extent != dst->dim[0].extent || !src->device || !dst->device || !iface)
    return halide_error_code_device_buffer_copy_failed;
  for_each_run(dst, src,
               [&](int64_t d, int64_t s, int64_t n) { std::memmove(at(dst->device) + d, at(src->device) + s, n); });
  return 0;
}

const halide_device_interface_t kEmulated = {
    emu_malloc,      emu_free, nullptr, nullptr, emu_to_host, emu_to_device, nullptr, nullptr,
    emu_buffer_copy, nullptr,  nullptr, nullptr, nullptr,     nullptr,       nullptr, nullptr,
};

}  // namespace

const halide_device_interface_t *emulated_device_interface() { return &kEmulated; }

}  // namespace rnnc_rt

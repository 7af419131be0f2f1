// The runtime's memory layer (runtime/src/memory.h) on the emulated device:
// which copy of an array is current after each kind of access, what crosses
// between host and device (and what does not), and the device-side row
// copies the executor's gathers and zeroing use. The emulated device keeps
// Halide's dirty-flag protocol (a copy without its flag set copies nothing),
// so a transfer the layer forgets to flag shows here as stale values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "error.h"
#include "memory.h"

namespace rnnc_rt {
namespace {

Device emulated() { return Device(emulated_device_interface(), true); }

// The device copy's element i (the emulated device's handles are host addresses).
float on_device(uint64_t handle, size_t i) { return reinterpret_cast<const float *>(handle)[i]; }
void set_on_device(uint64_t handle, size_t i, float v) { reinterpret_cast<float *>(handle)[i] = v; }

TEST(Mirror, WithoutADeviceIsAPlainArray) {
  Mirror<float> a;
  a.assign(4, 2.0f);
  a.host_mut()[1] = 3.0f;
  float out[2];
  a.read(1, 2, out);
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], 2.0f);
  const float in[2] = {7.0f, 8.0f};
  a.write(2, 2, in);
  EXPECT_EQ(a.host()[3], 8.0f);
  EXPECT_THROW(a.device_current(), std::exception);
}

TEST(Mirror, CrossesOnlyWhenTheOtherSideIsNewer) {
  Device dev = emulated();
  Mirror<float> a;
  a.attach(&dev);
  a.assign(8, 1.5f);
  EXPECT_EQ(dev.stats.uploads, 0);  // nothing moves until a kernel needs it

  const uint64_t h = a.device_current();
  EXPECT_EQ(dev.stats.uploads, 1);
  EXPECT_EQ(dev.stats.upload_bytes, 32);
  EXPECT_EQ(on_device(h, 7), 1.5f);
  EXPECT_EQ(a.device_current(), h);  // current: no second upload
  EXPECT_EQ(dev.stats.uploads, 1);
  a.host();  // the host copy is current too: nothing comes back
  EXPECT_EQ(dev.stats.downloads, 0);

  // A kernel writes the device copy: the host copy comes back once, when read.
  set_on_device(h, 3, 9.0f);
  a.device_written();
  float one = 0;
  a.read(3, 1, &one);  // a range read leaves the array's state alone
  EXPECT_EQ(one, 9.0f);
  EXPECT_EQ(dev.stats.downloads, 1);
  EXPECT_EQ(dev.stats.download_bytes, 4);
  EXPECT_EQ(a.host()[3], 9.0f);
  EXPECT_EQ(dev.stats.downloads, 2);
  EXPECT_EQ(dev.stats.download_bytes, 36);
  a.host();
  EXPECT_EQ(dev.stats.downloads, 2);

  // host_mut makes the host newer: the next device use uploads.
  a.host_mut()[0] = -1.0f;
  a.device_current();
  EXPECT_EQ(dev.stats.uploads, 2);
  EXPECT_EQ(on_device(h, 0), -1.0f);

  // host_overwrite does not copy back what it is about to overwrite.
  a.device_written();
  float *w = a.host_overwrite();
  EXPECT_EQ(dev.stats.downloads, 2);
  for (size_t i = 0; i < a.size(); ++i) w[i] = static_cast<float>(i);
  a.device_current();
  EXPECT_EQ(on_device(h, 5), 5.0f);
}

TEST(Mirror, RangeWritesKeepBothCopiesCoherent) {
  Device dev = emulated();
  Mirror<float> a;
  a.attach(&dev);
  a.assign(6, 0.0f);
  const uint64_t h = a.device_current();
  // The device copy is newer except where the host writes a row.
  set_on_device(h, 0, 4.0f);
  a.device_written();
  const float row[2] = {1.0f, 2.0f};
  a.write(2, 2, row);
  EXPECT_EQ(on_device(h, 2), 1.0f);
  EXPECT_EQ(on_device(h, 3), 2.0f);
  EXPECT_EQ(a.host()[0], 4.0f);  // the rest came back from the device
  EXPECT_EQ(a.host()[3], 2.0f);
  // While the host is newer a range write stays on the host (the whole
  // array goes up at the next device use).
  a.host_mut();
  const int64_t ups = dev.stats.uploads;
  a.write(4, 2, row);
  EXPECT_EQ(dev.stats.uploads, ups);
  a.device_current();
  EXPECT_EQ(dev.stats.uploads, ups + 1);
  EXPECT_EQ(on_device(h, 5), 2.0f);
}

TEST(Mirror, UnspecifiedResizeMovesNothingAndFreshDeviceMemoryIsNaN) {
  Device dev = emulated();
  Mirror<float> a;
  a.attach(&dev);
  a.resize_unspecified(16);
  EXPECT_EQ(dev.stats.allocations, 1);
  const uint64_t h = a.device_current();
  EXPECT_EQ(dev.stats.uploads, 0);
  // What nothing wrote reads as NaN, so a kernel reading it shows.
  EXPECT_TRUE(std::isnan(on_device(h, 0)));
  a.resize_unspecified(8);  // smaller: the allocation is kept
  EXPECT_EQ(a.device_current(), h);
  a.resize_unspecified(32);  // larger: replaced, still without a copy
  EXPECT_EQ(dev.stats.allocations, 2);
  EXPECT_EQ(dev.stats.uploads + dev.stats.downloads, 0);
}

TEST(Mirror, SwapExchangesBothCopies) {
  Device dev = emulated();
  Mirror<float> a, b;
  a.attach(&dev);
  b.attach(&dev);
  a.assign(3, 1.0f);
  b.assign(3, 2.0f);
  const uint64_t ha = a.device_current(), hb = b.device_current();
  set_on_device(hb, 0, 5.0f);
  b.device_written();
  a.swap(b);
  EXPECT_EQ(a.device_current(), hb);
  EXPECT_EQ(b.device_current(), ha);
  EXPECT_EQ(a.host()[0], 5.0f);
  EXPECT_EQ(b.host()[0], 1.0f);
}

TEST(Device, CopiesAndZeroesStridedRowsOnTheDevice) {
  Device dev = emulated();
  Mirror<float> src, dst;
  src.attach(&dev);
  dst.attach(&dev);
  std::vector<float> v(12);
  std::iota(v.begin(), v.end(), 0.0f);
  src.take(std::vector<float>(v));  // 4 rows of 3
  dst.assign(10, -1.0f);            // 5 rows of 2
  const uint64_t s = src.device_current(), d = dst.device_current();
  const int64_t f = sizeof(float);
  // Columns 1..2 of source rows 2 and 3 into destination rows 1 and 2.
  dev.copy_rows(d, 2 * f, 2 * f, s, (2 * 3 + 1) * f, 3 * f, 2 * f, 2);
  // Zero destination rows 3 and 4.
  dev.zero_rows(d, 6 * f, 2 * f, 2 * f, 2);
  dst.device_written();
  const float *out = dst.host();
  const std::vector<float> want = {-1, -1, 7, 8, 10, 11, 0, 0, 0, 0};
  EXPECT_EQ(std::vector<float>(out, out + 10), want);
  EXPECT_EQ(dev.stats.device_copies, 2);
}

TEST(Device, AnInterfaceErrorNamesTheOperation) {
  // An interface whose copies fail (as a GPU does when it is lost).
  halide_device_interface_t broken = *emulated_device_interface();
  broken.copy_to_device = [](void *, halide_buffer_t *, const halide_device_interface_t *) { return -42; };
  Device dev(&broken, true);
  Mirror<float> a;
  a.attach(&dev);
  a.assign(4, 0.0f);
  try {
    a.device_current();
    FAIL() << "a failed upload was not reported";
  } catch (const RtError &e) {
    EXPECT_NE(std::string(e.what()).find("copying to the device failed (code -42)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rnnc_rt

// Fuzz target: the .npy and .npz readers. Every input is read or refused
// with an RtError naming the file.
#include <cstdint>

#include "error.h"
#include "fuzz_input.h"
#include "io/npy.h"
#include "io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const rnnc_fuzz::InputAsFile f(data, size);
  try {
    const rnnc_rt::NpyArray a = rnnc_rt::read_npy(f.path());
    volatile size_t sink = 0;
    for (size_t i = 0; i < a.data.size(); i += 4096) sink = sink + static_cast<unsigned char>(a.data[i]);
  } catch (const rnnc_rt::RtError &) {
  }
  try {
    (void)rnnc_rt::read_npz(f.path());
  } catch (const rnnc_rt::RtError &) {
  }
  return 0;
}

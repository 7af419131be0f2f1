// Fuzz target: the safetensors reader. Every input is read (and then
// written back and read again, which must give the same tensors) or refused
// with an RtError naming the file.
#include <cstdint>
#include <cstdlib>

#include "error.h"
#include "fuzz_input.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const rnnc_fuzz::InputAsFile f(data, size);
  rnnc_rt::SafeTensorsFile st;
  try {
    st = rnnc_rt::read_safetensors(f.path());
  } catch (const rnnc_rt::RtError &) {
    return 0;
  }
  const std::string out = rnnc_fuzz::scratch_dir() + "/roundtrip.safetensors";
  rnnc_rt::write_safetensors(out, st);
  const rnnc_rt::SafeTensorsFile back = rnnc_rt::read_safetensors(out);
  if (back.tensors.size() != st.tensors.size()) std::abort();
  for (size_t i = 0; i < st.tensors.size(); ++i)
    if (back.tensors[i].name != st.tensors[i].name || back.tensors[i].dtype != st.tensors[i].dtype ||
        back.tensors[i].shape != st.tensors[i].shape || back.tensors[i].data != st.tensors[i].data)
      std::abort();
  return 0;
}

// Fuzz target: `rnnc import` on an ONNX file. Every input is imported (a
// model file and weights are written) or refused with an ImportError.
#include <cstdint>

#include "fuzz_input.h"
#include "import/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const rnnc_fuzz::InputAsFile f(data, size);
  rnnc::onnx_import::ImportOptions opt;
  opt.onnx_path = f.path();
  opt.toml_path = rnnc_fuzz::scratch_dir() + "/imported.toml";
  opt.weights_path = rnnc_fuzz::scratch_dir() + "/imported.safetensors";
  try {
    (void)rnnc::onnx_import::import_onnx(opt);
  } catch (const rnnc::onnx_import::ImportError &) {
  }
  return 0;
}

// Parameters in and out: PyTorch-default initialisation, and safetensors
// files whose tensors carry the PyTorch state_dict names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model.h"

namespace rnnc_rt {

// Deterministic generator (xoshiro256**) for initialisation and data.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();  // [0, 1)
  double normal();   // N(0, 1)

 private:
  uint64_t s_[4];
};

// Fills every parameter as PyTorch's default initialisation does
// (uniform(-bound, bound), or N(0, 1) for embeddings), from `seed`.
void init_params(Model &m, uint64_t seed);

// Loads every parameter from `path` and repacks. Tensors named optim.* are
// skipped; any other unknown tensor, a missing one, or one with a wrong
// dtype, shape or a non-finite value is refused with a message naming the
// file and the tensor. On failure the model's parameters are unchanged.
void load_weights(Model &m, const std::string &path);
// The same, from a file already read.
void load_weights(Model &m, const SafeTensorsFile &file, const std::string &path);

// The parameters as safetensors tensors (F32, PyTorch names and order).
std::vector<SafeTensor> param_tensors(const Model &m);

// The safetensors metadata every file the runtime writes carries: `extra`
// (e.g. {"format", "pt"} first), then the model's name and the provenance
// of its library (rnnc_version, rnnc_model_sha256, rnnc_target).
std::vector<std::pair<std::string, std::string>> file_metadata(
    const ModelDesc &d, std::vector<std::pair<std::string, std::string>> extra);

// Writes the parameters to `path` atomically.
void save_weights(const Model &m, const std::string &path);

}  // namespace rnnc_rt

#include "weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"
#include "io/file.h"

namespace rnnc_rt {

namespace {

uint64_t splitmix64(uint64_t &x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto &v : s_) v = splitmix64(x);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  // Box-Muller; 1 - u keeps the logarithm finite.
  const double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

namespace {

// Chrono initialisation of one gate bias (see InitKind): `gates` blocks of
// `hidden` units; u ~ U(1, t_max - 1) per unit.
void init_chrono(float *dst, int64_t numel, int gates, double t_max, Rng &rng) {
  const int64_t hidden = numel / gates;
  std::fill(dst, dst + numel, 0.0f);
  for (int64_t j = 0; j < hidden; ++j) {
    const double u = 1.0 + (t_max - 2.0) * rng.uniform();
    const float b = static_cast<float>(std::log(u));
    if (gates == 4) {  // LSTM: i, f, g, o
      dst[hidden + j] = b;
      dst[j] = -b;
    } else {  // GRU: r, z, n
      dst[hidden + j] = b;
    }
  }
}

}  // namespace

void init_params(Model &m, uint64_t seed) {
  Rng rng(seed);
  const ModelDesc &d = *m.desc;
  float *params = m.params.host_mut();
  for (int32_t i = 0; i < d.num_params; ++i) {
    const ParamDesc &p = d.params[i];
    float *dst = params + p.offset;
    switch (p.init) {
      case kInitNormal:
        for (int64_t k = 0; k < p.numel; ++k) dst[k] = static_cast<float>(rng.normal());
        break;
      case kInitChronoLstm:
      case kInitChronoGru:
        init_chrono(dst, p.numel, p.init == kInitChronoLstm ? 4 : 3, p.bound, rng);
        break;
      case kInitZero:
        std::fill(dst, dst + p.numel, 0.0f);
        break;
      default:
        for (int64_t k = 0; k < p.numel; ++k) dst[k] = static_cast<float>((2.0 * rng.uniform() - 1.0) * p.bound);
        break;
    }
  }
  m.packed_stale = true;
}

void load_weights(Model &m, const SafeTensorsFile &file, const std::string &path) {
  const ModelDesc &d = *m.desc;
  std::vector<float> params(m.params.size());
  std::vector<char> seen(d.num_params, 0);
  for (const SafeTensor &t : file.tensors) {
    if (t.name.rfind("optim.", 0) == 0) continue;
    int32_t id = -1;
    for (int32_t i = 0; i < d.num_params; ++i)
      if (t.name == d.params[i].name) id = i;
    if (id < 0) {
      std::string names;
      for (int32_t i = 0; i < d.num_params && i < 6; ++i) names += (i ? ", " : "") + std::string(d.params[i].name);
      if (d.num_params > 6) names += ", ...";
      throw RtError(path + ": unknown tensor '" + t.name + "'; model " + d.name + " has " + names);
    }
    const ParamDesc &p = d.params[id];
    if (t.dtype != "F32") throw RtError(path + ": tensor '" + t.name + "' has dtype " + t.dtype + "; expected F32");
    bool same = static_cast<int>(t.shape.size()) == p.ndim;
    for (int k = 0; same && k < p.ndim; ++k) same = t.shape[k] == p.shape[k];
    if (!same)
      throw RtError(path + ": tensor '" + t.name + "' has shape " + shape_str(t.shape) + "; expected " +
                    shape_str(std::vector<int64_t>(p.shape, p.shape + p.ndim)));
    float *dst = params.data() + p.offset;
    std::memcpy(dst, t.data.data(), sizeof(float) * p.numel);
    for (int64_t k = 0; k < p.numel; ++k)
      if (!std::isfinite(dst[k]))
        throw RtError(path + ": tensor '" + t.name + "' holds a non-finite value at element " + std::to_string(k));
    seen[id] = 1;
  }
  for (int32_t i = 0; i < d.num_params; ++i)
    if (!seen[i])
      throw RtError(path + ": missing tensor '" + std::string(d.params[i].name) + "' (F32 " +
                    shape_str(std::vector<int64_t>(d.params[i].shape, d.params[i].shape + d.params[i].ndim)) + ")");
  m.params.take(std::move(params));
  m.packed_stale = true;
}

void load_weights(Model &m, const std::string &path) { load_weights(m, read_safetensors(path), path); }

std::vector<SafeTensor> param_tensors(const Model &m) {
  const ModelDesc &d = *m.desc;
  std::vector<SafeTensor> out;
  const float *params = m.params.host();
  for (int32_t i = 0; i < d.num_params; ++i) {
    const ParamDesc &p = d.params[i];
    SafeTensor t;
    t.name = p.name;
    t.dtype = "F32";
    t.shape.assign(p.shape, p.shape + p.ndim);
    t.data.resize(sizeof(float) * p.numel);
    std::memcpy(t.data.data(), params + p.offset, t.data.size());
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> file_metadata(const ModelDesc &d,
                                                               std::vector<std::pair<std::string, std::string>> extra) {
  extra.insert(extra.end(), {{"rnnc_model", d.name},
                             {"rnnc_version", d.rnnc_version},
                             {"rnnc_model_sha256", d.model_sha256},
                             {"rnnc_target", d.target}});
  return extra;
}

void save_weights(const Model &m, const std::string &path) {
  SafeTensorsFile f;
  f.tensors = param_tensors(m);
  f.metadata = file_metadata(*m.desc, {{"format", "pt"}});
  write_safetensors(path, f);
}

}  // namespace rnnc_rt

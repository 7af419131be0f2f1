#include "dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "error.h"
#include "io/file.h"
#include "io/npy.h"
#include "io/npz.h"

namespace rnnc_rt {

bool is_npz_path(const std::string &path) { return path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0; }

namespace {

// One array of a data file and its name in messages: a .npy file, or the
// member `key` of an .npz ("<path>[key]").
struct DataArray {
  NpyArray array;
  std::string name;
};

// Reads `key` from an .npz (nullopt when absent and not required) or the
// whole .npy.
std::optional<DataArray> read_data_array(const std::string &path, const std::string &key, bool required) {
  if (!is_npz_path(path)) return DataArray{read_npy(path), path};
  std::vector<NpzMember> members = read_npz(path);
  std::string keys;
  for (NpzMember &m : members) {
    if (m.key == key) return DataArray{std::move(m.array), path + "[" + key + "]"};
    keys += (keys.empty() ? "'" : ", '") + m.key + "'";
  }
  if (!required) return std::nullopt;
  throw RtError(path + ": holds no array '" + key + "' (it holds " + (keys.empty() ? "none" : keys) +
                "); an .npz data set keeps its arrays under the keys 'inputs', 'lengths' and 'labels'");
}

}  // namespace

const void *Dataset::inputs_of(const ModelDesc &d, int64_t i) const {
  if (d.input_kind == kInputTokens) return tokens.data() + i * t;
  return features.data() + i * t * d.input_size;
}

namespace {

std::string non_finite_name(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%g, beyond float32's range", v);
  return buf;
}

}  // namespace

Dataset load_dataset(const ModelDesc &d, const std::string &inputs_file, const std::string &lengths_file) {
  DataArray in_file = *read_data_array(inputs_file, "inputs", true);
  const NpyArray &in = in_file.array;
  const std::string &inputs_path = in_file.name;
  std::optional<DataArray> len_file;
  if (!lengths_file.empty()) {
    len_file = read_data_array(lengths_file, "lengths", true);
  } else if (is_npz_path(inputs_file)) {
    len_file = read_data_array(inputs_file, "lengths", false);
  }
  Dataset ds;
  const bool tokens = d.input_kind == kInputTokens;
  if (tokens) {
    if (in.dtype != DType::kI32 && in.dtype != DType::kI64)
      throw RtError(inputs_path + ": dtype " + (in.dtype == DType::kOther ? in.descr : dtype_name(in.dtype)) +
                    "; model " + d.name + " reads token ids as int32 or int64 [N, T]");
    if (in.shape.size() != 2)
      throw RtError(inputs_path + ": shape " + shape_str(in.shape) + "; token ids must be [N, T]");
  } else {
    if (in.dtype != DType::kF32 && in.dtype != DType::kF64)
      throw RtError(inputs_path + ": dtype " + (in.dtype == DType::kOther ? in.descr : dtype_name(in.dtype)) +
                    "; model " + d.name + " reads features as float32 or float64 [N, T, " +
                    std::to_string(d.input_size) + "]");
    const bool ok3 = in.shape.size() == 3 && in.shape[2] == d.input_size;
    const bool ok2 = in.shape.size() == 2 && d.input_size == 1;
    if (!ok3 && !ok2)
      throw RtError(inputs_path + ": shape " + shape_str(in.shape) + "; model " + d.name + " reads features [N, T, " +
                    std::to_string(d.input_size) + "]" + (d.input_size == 1 ? " (or [N, T])" : ""));
  }
  ds.n = in.shape[0];
  ds.t = in.shape[1];
  if (ds.n < 1 || ds.t < 1) throw RtError(inputs_path + ": shape " + shape_str(in.shape) + " holds no sequence");

  ds.lengths.assign(ds.n, static_cast<int32_t>(std::min<int64_t>(ds.t, std::numeric_limits<int32_t>::max())));
  if (len_file) {
    const NpyArray &len = len_file->array;
    const std::string &lengths_path = len_file->name;
    if (len.dtype != DType::kI32 && len.dtype != DType::kI64)
      throw RtError(lengths_path + ": dtype " + (len.dtype == DType::kOther ? len.descr : dtype_name(len.dtype)) +
                    "; lengths must be int32 or int64 [N]");
    if (len.shape.size() != 1 || len.shape[0] != ds.n)
      throw RtError(lengths_path + ": shape " + shape_str(len.shape) + "; expected [" + std::to_string(ds.n) +
                    "] to match " + inputs_path);
    for (int64_t i = 0; i < ds.n; ++i) {
      const int64_t v = len.dtype == DType::kI32 ? len.as<int32_t>()[i] : len.as<int64_t>()[i];
      if (v < 1 || v > ds.t)
        throw RtError(lengths_path + ": the length of sequence " + std::to_string(i) + " is " + std::to_string(v) +
                      "; lengths must be in 1.." + std::to_string(ds.t) + " (T of " + inputs_path + ")");
      ds.lengths[i] = static_cast<int32_t>(v);
    }
  }

  if (tokens) {
    ds.tokens.assign(ds.n * ds.t, 0);
    for (int64_t i = 0; i < ds.n; ++i)
      for (int64_t s = 0; s < ds.lengths[i]; ++s) {
        const int64_t k = i * ds.t + s;
        const int64_t v = in.dtype == DType::kI32 ? in.as<int32_t>()[k] : in.as<int64_t>()[k];
        if (v < 0 || v >= d.vocab)
          throw RtError(inputs_path + ": token id " + std::to_string(v) + " of sequence " + std::to_string(i) +
                        " at position " + std::to_string(s) + " is outside the vocabulary [0, " +
                        std::to_string(d.vocab) + ")");
        ds.tokens[k] = static_cast<int32_t>(v);
      }
  } else {
    const int64_t count = ds.n * ds.t * d.input_size;
    ds.features.resize(count);
    if (in.dtype == DType::kF32) {
      const float *src = in.as<float>();
      std::copy(src, src + count, ds.features.begin());
    } else {
      const double *src = in.as<double>();
      for (int64_t k = 0; k < count; ++k) ds.features[k] = static_cast<float>(src[k]);
    }
    // Every feature a sequence reads must be finite (float32: a float64
    // beyond its range is refused too); padding past a length is ignored.
    const int64_t I = d.input_size;
    for (int64_t i = 0; i < ds.n; ++i)
      for (int64_t s = 0; s < ds.lengths[i]; ++s)
        for (int64_t f = 0; f < I; ++f) {
          const int64_t k = (i * ds.t + s) * I + f;
          if (std::isfinite(ds.features[k])) continue;
          const double v = in.dtype == DType::kF32 ? in.as<float>()[k] : in.as<double>()[k];
          throw RtError(inputs_path + ": element [" + std::to_string(i) + ", " + std::to_string(s) +
                        (in.shape.size() == 3 ? ", " + std::to_string(f) : std::string()) + "] is " +
                        non_finite_name(v) + "; features must be finite float32 values");
        }
  }
  return ds;
}

Labels load_labels(const ModelDesc &d, const std::string &file, const Dataset &ds) {
  const DataArray labels = *read_data_array(file, "labels", true);
  const NpyArray &a = labels.array;
  const std::string &path = labels.name;
  Labels l;
  const bool per_step = d.per_step_output != 0;
  const int64_t w = d.output_width;
  const std::string dtype = a.dtype == DType::kOther ? a.descr : dtype_name(a.dtype);
  std::vector<int64_t> want = {ds.n};
  if (per_step) want.push_back(ds.t);
  if (d.loss == kLossCrossEntropy) {
    if (a.dtype != DType::kI32 && a.dtype != DType::kI64)
      throw RtError(path + ": dtype " + dtype + "; cross-entropy labels are class ids, int32 or int64 " +
                    shape_str(want));
    if (a.shape != want)
      throw RtError(path + ": shape " + shape_str(a.shape) + "; expected " + shape_str(want) +
                    (per_step ? " (a class id per sequence and step)" : " (a class id per sequence)"));
    l.classes.assign(a.numel(), 0);
    for (int64_t i = 0; i < ds.n; ++i) {
      const int64_t steps = per_step ? ds.lengths[i] : 1;
      for (int64_t s = 0; s < steps; ++s) {
        const int64_t k = per_step ? i * ds.t + s : i;
        const int64_t v = a.dtype == DType::kI32 ? a.as<int32_t>()[k] : a.as<int64_t>()[k];
        if (v < 0 || v >= w)
          throw RtError(path + ": class id " + std::to_string(v) + " of sequence " + std::to_string(i) +
                        (per_step ? " at position " + std::to_string(s) : std::string()) + " is outside [0, " +
                        std::to_string(w) + ")");
        l.classes[k] = static_cast<int32_t>(v);
      }
    }
    return l;
  }
  if (d.loss != kLossMse) throw RtError("model " + std::string(d.name) + " has no loss ([loss] kind = \"none\")");
  if (a.dtype != DType::kF32 && a.dtype != DType::kF64)
    throw RtError(path + ": dtype " + dtype + "; MSE targets are float32 or float64");
  std::vector<int64_t> full = want;
  full.push_back(w);
  if (a.shape != full && !(w == 1 && a.shape == want))
    throw RtError(path + ": shape " + shape_str(a.shape) + "; expected " + shape_str(full) +
                  (w == 1 ? " or " + shape_str(want) : std::string()));
  const int64_t count = a.numel();
  l.targets.resize(count);
  for (int64_t k = 0; k < count; ++k)
    l.targets[k] = a.dtype == DType::kF32 ? a.as<float>()[k] : static_cast<float>(a.as<double>()[k]);
  // Targets the loss reads must be finite; those at padded steps are ignored.
  for (int64_t i = 0; i < ds.n; ++i)
    for (int64_t s = 0; s < (per_step ? ds.lengths[i] : 1); ++s)
      for (int64_t c = 0; c < w; ++c) {
        const int64_t k = ((per_step ? i * ds.t + s : i) * w) + c;
        if (std::isfinite(l.targets[k])) continue;
        const double v = a.dtype == DType::kF32 ? a.as<float>()[k] : a.as<double>()[k];
        std::string index = std::to_string(i);
        if (per_step) index += ", " + std::to_string(s);
        if (a.shape.size() > want.size()) index += ", " + std::to_string(c);
        throw RtError(path + ": target [" + index + "] is " + non_finite_name(v) +
                      "; MSE targets must be finite float32 values");
      }
  return l;
}

}  // namespace rnnc_rt

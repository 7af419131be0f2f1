// End-to-end checks against the PyTorch fixtures: every forward case
// (tests/fixtures/fwd_*) is compiled with rnnc and its generated program's
// `predict` must reproduce expected.npy. Three properties of predict are
// checked on the same cases: omitting --lengths means every sequence is T
// long, and neither the order of the sequences in a batch nor splitting the
// batch (--batch-size) changes any sequence's output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "io/npy.h"

namespace rnnc_e2e {
namespace {

using rnnc_rt::DType;
using rnnc_rt::NpyArray;

// Tolerance against the fixtures: expected.npy holds float64 results rounded
// to float32, and the kernels compute in float32.
constexpr double kFixtureTol = 1e-5;
// Tolerance between two runs of the same program on the same sequences.
constexpr double kSameRunTol = 1e-6;

// Writes a copy of a with its sequences (first dimension) in the order
// perm: row i of the result is row perm[i] of a.
void write_permuted(const std::string &path, const NpyArray &a, const std::vector<int64_t> &perm) {
  const size_t row = a.data.size() / static_cast<size_t>(a.shape[0]);
  std::vector<uint8_t> out(a.data.size());
  for (size_t i = 0; i < perm.size(); ++i)
    std::memcpy(out.data() + i * row, a.data.data() + static_cast<size_t>(perm[i]) * row, row);
  rnnc_rt::write_npy(path, a.dtype, out.data(), a.shape);
}

class FixtureTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string fixture(const std::string &file) const { return fixtures_dir() + "/" + GetParam() + "/" + file; }

  const CompiledModel &model() const { return compiled_model(fixture("model.toml")); }

  // Runs `predict` with the fixture's weights and any extra options; lengths
  // may be empty.
  RunResult predict(const std::string &inputs, const std::string &lengths, const std::string &output,
                    const std::vector<std::string> &extra = {}) const {
    std::vector<std::string> argv = {model().program, "predict", "--weights", fixture("weights.safetensors"),
                                     "--inputs",      inputs,    "--output",  output};
    if (!lengths.empty()) argv.insert(argv.end(), {"--lengths", lengths});
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv);
  }
};

TEST(FixtureCases, AreFoundAndComplete) {
  std::vector<std::string> names = fixture_cases("fwd_");
  ASSERT_FALSE(names.empty()) << "no fwd_* directory in " << fixtures_dir();
  const std::vector<std::string> exported = fixture_cases("export_");
  EXPECT_GE(exported.size(), 3u) << "export_* cases (tests/make_export_fixtures.py)";
  names.insert(names.end(), exported.begin(), exported.end());
  for (const std::string &n : names)
    for (const char *f : {"model.toml", "weights.safetensors", "inputs.npy", "lengths.npy", "expected.npy"})
      EXPECT_TRUE(fs::is_regular_file(fixtures_dir() + "/" + n + "/" + f)) << n << " lacks " << f;
}

TEST_P(FixtureTest, PredictMatchesPyTorch) {
  const ScratchDir dir;
  const RunResult r = predict(fixture("inputs.npy"), fixture("lengths.npy"), dir.file("out.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const FloatArray expected = read_f32(fixture("expected.npy"));
  EXPECT_TRUE(arrays_close(read_f32(dir.file("out.npy")), expected, kFixtureTol)) << GetParam();
}

TEST_P(FixtureTest, NoLengthsMeansFullLength) {
  const ScratchDir dir;
  // The fixtures' sequences are shorter than T and hold junk past their
  // lengths (out-of-range token ids among it), so the full-length batch is a
  // copy whose junk ids are mapped into the vocabulary.
  NpyArray in = rnnc_rt::read_npy(fixture("inputs.npy"));
  const int64_t n = in.shape[0], t = in.shape[1];
  if (model().tokens) {
    auto valid = [&](int64_t v) { return ((v % model().vocab) + model().vocab) % model().vocab; };
    if (in.dtype == DType::kI64) {
      int64_t *p = reinterpret_cast<int64_t *>(in.data.data());
      for (int64_t k = 0; k < in.numel(); ++k) p[k] = valid(p[k]);
    } else {
      ASSERT_EQ(in.dtype, DType::kI32) << "token fixture " << GetParam() << " holds " << in.descr;
      int32_t *p = reinterpret_cast<int32_t *>(in.data.data());
      for (int64_t k = 0; k < in.numel(); ++k) p[k] = static_cast<int32_t>(valid(p[k]));
    }
  }
  rnnc_rt::write_npy(dir.file("inputs.npy"), in.dtype, in.data.data(), in.shape);
  const std::vector<int64_t> full(static_cast<size_t>(n), t);
  rnnc_rt::write_npy(dir.file("lengths.npy"), DType::kI64, full.data(), {n});

  const RunResult explicit_run = predict(dir.file("inputs.npy"), dir.file("lengths.npy"), dir.file("explicit.npy"));
  ASSERT_EQ(explicit_run.exit_code, 0) << explicit_run.describe();
  const RunResult implicit_run = predict(dir.file("inputs.npy"), "", dir.file("implicit.npy"));
  ASSERT_EQ(implicit_run.exit_code, 0) << implicit_run.describe();
  EXPECT_TRUE(arrays_close(read_f32(dir.file("implicit.npy")), read_f32(dir.file("explicit.npy")), kSameRunTol));
}

TEST_P(FixtureTest, SequenceOrderDoesNotMatter) {
  const ScratchDir dir;
  const NpyArray in = rnnc_rt::read_npy(fixture("inputs.npy"));
  const NpyArray len = rnnc_rt::read_npy(fixture("lengths.npy"));
  const int64_t n = in.shape[0];
  ASSERT_GE(n, 2) << "a permutation needs two sequences";
  // Reversed, then rotated by one: every sequence moves, and sequences of
  // equal length (if any) swap their relative order.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.rbegin(), perm.rend(), 0);
  std::rotate(perm.begin(), perm.begin() + 1, perm.end());
  write_permuted(dir.file("inputs.npy"), in, perm);
  write_permuted(dir.file("lengths.npy"), len, perm);

  const RunResult original_run = predict(fixture("inputs.npy"), fixture("lengths.npy"), dir.file("original.npy"));
  ASSERT_EQ(original_run.exit_code, 0) << original_run.describe();
  const RunResult permuted_run = predict(dir.file("inputs.npy"), dir.file("lengths.npy"), dir.file("permuted.npy"));
  ASSERT_EQ(permuted_run.exit_code, 0) << permuted_run.describe();

  const FloatArray original = read_f32(dir.file("original.npy"));
  const FloatArray permuted = read_f32(dir.file("permuted.npy"));
  ASSERT_EQ(permuted.shape, original.shape);
  const size_t row = original.data.size() / static_cast<size_t>(n);
  std::vector<float> restored(original.data.size());
  for (size_t i = 0; i < perm.size(); ++i)
    std::copy_n(permuted.data.begin() + static_cast<std::ptrdiff_t>(i * row), row,
                restored.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(perm[i]) * row));
  EXPECT_TRUE(arrays_close(restored, original.shape, original.data, original.shape, kSameRunTol))
      << "permutation " << ::testing::PrintToString(perm);
}

TEST_P(FixtureTest, BatchSizeDoesNotMatter) {
  const ScratchDir dir;
  // --batch-size 2 splits the batch into forward calls of 2, 2, ... sequences,
  // each with its own longest length.
  const RunResult whole = predict(fixture("inputs.npy"), fixture("lengths.npy"), dir.file("whole.npy"));
  ASSERT_EQ(whole.exit_code, 0) << whole.describe();
  const RunResult chunked =
      predict(fixture("inputs.npy"), fixture("lengths.npy"), dir.file("chunked.npy"), {"--batch-size", "2"});
  ASSERT_EQ(chunked.exit_code, 0) << chunked.describe();
  EXPECT_TRUE(arrays_close(read_f32(dir.file("chunked.npy")), read_f32(dir.file("whole.npy")), kSameRunTol));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, ::testing::ValuesIn(fixture_cases("fwd_")),
                         [](const ::testing::TestParamInfo<std::string> &info) { return info.param; });
// Models written by a PyTorch user and exported by python/rnnc_export.py;
// expected.npy is the model's own forward().
INSTANTIATE_TEST_SUITE_P(Exported, FixtureTest, ::testing::ValuesIn(fixture_cases("export_")),
                         [](const ::testing::TestParamInfo<std::string> &info) { return info.param; });

}  // namespace
}  // namespace rnnc_e2e

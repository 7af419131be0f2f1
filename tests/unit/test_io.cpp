// Unit tests of the runtime's file formats: .npy and safetensors (with its JSON header). The
// expected bytes of numpy- and safetensors-written files are spelled out by
// hand from the formats' specifications, so the tests need no Python.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "error.h"
#include "io/npy.h"
#include "io/safetensors.h"

namespace rnnc_rt {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp for one test, removed with its contents.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/rnnc_test_io.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string &name) const { return path_ + "/" + name; }
  const std::string &path() const { return path_; }

  // Names of the entries in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(path_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

void write_bytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <class T>
std::string bytes_of(const std::vector<T> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}

std::string le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

std::string le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A version 1.0 .npy file with the given header dict, padded as numpy pads.
std::string npy_v1(const std::string &dict, const std::string &data) {
  std::string header = dict;
  size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

// Runs f, expecting an RtError whose message contains every one of parts.
void expect_error(const std::function<void()> &f, const std::vector<std::string> &parts) {
  try {
    f();
  } catch (const RtError &e) {
    std::string message = e.what();
    for (const std::string &part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "message \"" << message << "\" lacks \"" << part << "\"";
    }
    return;
  } catch (const std::exception &e) {
    ADD_FAILURE() << "threw a non-RtError: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw";
}

// ----------------------------------------------------------------- npy ---

template <class T>
void expect_npy_round_trip(DType dtype, const char *descr, const std::vector<T> &values,
                           const std::vector<int64_t> &shape) {
  TempDir dir;
  std::string path = dir.file("a.npy");
  write_npy(path, dtype, values.data(), shape);
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.dtype, dtype);
  EXPECT_EQ(a.descr, descr);
  EXPECT_EQ(a.shape, shape);
  EXPECT_EQ(a.numel(), static_cast<int64_t>(values.size()));
  ASSERT_EQ(a.data.size(), values.size() * sizeof(T));
  if (!values.empty()) {
    EXPECT_EQ(std::memcmp(a.as<T>(), values.data(), a.data.size()), 0);
  }
  // numpy aligns the data to 64 bytes.
  EXPECT_EQ((read_bytes(path).size() - a.data.size()) % 64, 0u);
}

TEST(Npy, RoundTripsEachDtype) {
  std::vector<int64_t> shape = {2, 3};
  expect_npy_round_trip<float>(DType::kF32, "<f4", {0.5f, -1.f, 3.25f, 1e30f, -0.f, 7.f}, shape);
  expect_npy_round_trip<double>(DType::kF64, "<f8", {0.5, -1., 3.25, 1e300, -0., 7.}, shape);
  expect_npy_round_trip<int32_t>(DType::kI32, "<i4", {0, -1, INT32_MAX, INT32_MIN, 5, 6}, shape);
  expect_npy_round_trip<int64_t>(DType::kI64, "<i8", {0, -1, INT64_MAX, INT64_MIN, 5, 6}, shape);
  expect_npy_round_trip<uint8_t>(DType::kU8, "|u1", {0, 1, 2, 128, 254, 255}, shape);
  expect_npy_round_trip<uint8_t>(DType::kBool, "|b1", {0, 1, 1, 0, 0, 1}, shape);
}

TEST(Npy, RoundTripsScalarsAndEmptyArrays) {
  expect_npy_round_trip<double>(DType::kF64, "<f8", {3.5}, {});
  expect_npy_round_trip<float>(DType::kF32, "<f4", {}, {0, 3});
  expect_npy_round_trip<int64_t>(DType::kI64, "<i8", {4, 5, 6}, {3});
}

TEST(Npy, WritesTheBytesNumpySaveWrites) {
  TempDir dir;
  // numpy pads the dict with spaces for the first axis to grow to 21 digits
  // (GROWTH_AXIS_MAX_DIGITS), then to a 64-byte boundary, then ends with \n.
  auto expected_header = [](const std::string &dict) {
    std::string h = std::string("\x93NUMPY\x01\x00", 8) + le32(118).substr(0, 2) + dict;
    h.append(127 - h.size(), ' ');
    return h + "\n";
  };
  std::vector<float> f = {0, 1, 2, 3, 4, 5};
  write_npy(dir.file("f.npy"), DType::kF32, f.data(), {2, 3});
  EXPECT_EQ(read_bytes(dir.file("f.npy")),
            expected_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") + bytes_of(f));

  double d = 3.5;
  write_npy(dir.file("d.npy"), DType::kF64, &d, {});
  EXPECT_EQ(read_bytes(dir.file("d.npy")), expected_header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }") +
                                               bytes_of(std::vector<double>{d}));

  std::vector<uint8_t> u(12345, 7);
  write_npy(dir.file("u.npy"), DType::kU8, u.data(), {12345});
  EXPECT_EQ(read_bytes(dir.file("u.npy")),
            expected_header("{'descr': '|u1', 'fortran_order': False, 'shape': (12345,), }") + bytes_of(u));

  write_npy(dir.file("b.npy"), DType::kBool, nullptr, {0, 3});
  EXPECT_EQ(read_bytes(dir.file("b.npy")),
            expected_header("{'descr': '|b1', 'fortran_order': False, 'shape': (0, 3), }"));
}

TEST(Npy, ReadsFortranOrderAsCOrder) {
  TempDir dir;
  // [[0 1 2] [3 4 5]] stored column by column.
  std::string path = dir.file("f2.npy");
  write_bytes(path, npy_v1("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
                           bytes_of(std::vector<int32_t>{0, 3, 1, 4, 2, 5})));
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::vector<int32_t>(a.as<int32_t>(), a.as<int32_t>() + 6), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));

  // A 3-d array of doubles whose C-order value is its C-order index: element
  // (i, j, k) lies at i + 2j + 6k in Fortran order and holds 12i + 4j + k.
  std::vector<double> fortran(24);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) fortran[i + 2 * j + 6 * k] = 12 * i + 4 * j + k;
    }
  }
  std::string path3 = dir.file("f3.npy");
  write_bytes(path3, npy_v1("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 4), }", bytes_of(fortran)));
  NpyArray b = read_npy(path3);
  ASSERT_EQ(b.numel(), 24);
  for (int n = 0; n < 24; ++n) EXPECT_EQ(b.as<double>()[n], n) << "element " << n;
}

TEST(Npy, ReadsVersions2And3) {
  TempDir dir;
  std::string dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
  size_t unpadded = 12 + dict.size() + 1;
  std::string header = dict + std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  ASSERT_EQ((12 + header.size()) % 64, 0u);
  std::vector<int64_t> values = {-1, 2, 1LL << 40};
  for (char version : {'\x02', '\x03'}) {
    std::string path = dir.file(std::string("v") + char('0' + version) + ".npy");
    write_bytes(path, std::string("\x93NUMPY", 6) + version + '\0' + le32(header.size()) + header + bytes_of(values));
    NpyArray a = read_npy(path);
    EXPECT_EQ(a.dtype, DType::kI64);
    EXPECT_EQ(a.shape, std::vector<int64_t>{3});
    EXPECT_EQ(std::vector<int64_t>(a.as<int64_t>(), a.as<int64_t>() + 3), values);
  }
}

TEST(Npy, WritesVersion2WhenTheHeaderIsTooLongForVersion1) {
  TempDir dir;
  std::string path = dir.file("long.npy");
  std::vector<int64_t> shape(25000, 1);  // "1, " × 25000 exceeds 65535 bytes
  float value = 2.5f;
  write_npy(path, DType::kF32, &value, shape);
  std::string bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 12u);
  EXPECT_EQ(bytes[6], '\x02');
  EXPECT_EQ(bytes[7], '\x00');
  EXPECT_EQ((bytes.size() - 4) % 64, 0u);
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, shape);
  EXPECT_EQ(a.as<float>()[0], 2.5f);
}

TEST(Npy, AcceptsNativeOrderAndPython2Longs) {
  TempDir dir;
  std::string path = dir.file("n.npy");
  write_bytes(path, npy_v1("{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"=f4\"}",
                           bytes_of(std::vector<float>{1, 2})));
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.descr, "=f4");
  EXPECT_EQ(a.shape, std::vector<int64_t>{2});
}

TEST(Npy, KeepsOtherDtypesRaw) {
  TempDir dir;
  std::string path = dir.file("i2.npy");
  write_bytes(path, npy_v1("{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }",
                           bytes_of(std::vector<int16_t>{1, -2, 3})));
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.dtype, DType::kOther);
  EXPECT_EQ(a.descr, "<i2");
  EXPECT_EQ(a.data.size(), 6u);
  EXPECT_STREQ(dtype_name(a.dtype), "other");
  EXPECT_STREQ(dtype_name(DType::kI32), "int32");
}

TEST(Npy, RefusesBigEndian) {
  TempDir dir;
  std::string path = dir.file("be.npy");
  write_bytes(path, npy_v1("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')));
  expect_error([&] { read_npy(path); }, {path + ": ", "'>f4'", "big-endian"});
}

TEST(Npy, RefusesMalformedFiles) {
  TempDir dir;
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string data = bytes_of(std::vector<float>(6, 1.f));
  struct Case {
    const char *name;
    std::string bytes;
    std::vector<std::string> parts;
  };
  std::string huge_v2 = std::string("\x93NUMPY\x02\x00", 8) + le32(0xFFFFFFF0u) + "{}";
  std::vector<Case> cases = {
      {"empty", "", {"too short"}},
      {"magic", "\x93NUMPX\x01\x00" + npy_v1(dict, data).substr(8), {"magic"}},
      {"version", std::string("\x93NUMPY\x04\x00", 8) + npy_v1(dict, data).substr(8), {"version 4.0"}},
      {"truncated_data", npy_v1(dict, data.substr(0, 23)), {"truncated", "24 bytes", "23"}},
      {"trailing_data", npy_v1(dict, data + "x"), {"1 unexpected bytes"}},
      {"truncated_header", npy_v1(dict, data).substr(0, 40), {"header length"}},
      {"huge_header", huge_v2, {"header length 4294967280 exceeds"}},
      {"huge_shape",
       npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""),
       {"too large"}},
      {"overflow_bytes",
       npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", ""),
       {"too large"}},
      {"dim_overflow",
       npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", ""),
       {"dimension too large"}},
      {"negative", npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""), {"negative"}},
      {"missing_key", npy_v1("{'descr': '<f4', 'shape': (2, 3), }", data), {"'fortran_order'"}},
      {"extra_key",
       npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", data),
       {"unexpected key 'x'"}},
      {"object",
       npy_v1("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "12345678"),
       {"'|O'", "not supported"}},
      {"structured",
       npy_v1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "1234"),
       {"structured"}},
      {"bad_descr", npy_v1("{'descr': '<q4', 'fortran_order': False, 'shape': (1,), }", "1234"), {"'<q4'"}},
      {"unterminated", npy_v1("{'descr': '<f4, 'fortran_order': False", data), {"malformed"}},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = dir.file(std::string(c.name) + ".npy");
    write_bytes(path, c.bytes);
    std::vector<std::string> parts = c.parts;
    parts.push_back(path + ": ");
    expect_error([&] { read_npy(path); }, parts);
  }
  expect_error([&] { read_npy(dir.file("absent.npy")); }, {dir.file("absent.npy") + ": cannot open"});
}

TEST(Npy, WriteRefusesBadArguments) {
  TempDir dir;
  std::string path = dir.file("x.npy");
  float f = 1;
  expect_error([&] { write_npy(path, DType::kF32, &f, {-1}); }, {path + ": ", "shape"});
  expect_error([&] { write_npy(path, DType::kF32, &f, {INT64_MAX, 4}); }, {path + ": ", "shape"});
  expect_error([&] { write_npy(path, DType::kOther, &f, {1}); }, {path + ": "});
  expect_error([&] { write_npy(path, DType::kF32, nullptr, {1}); }, {path + ": "});
  EXPECT_TRUE(dir.entries().empty());
}

// --------------------------------------------------------- safetensors ---

SafeTensor make_tensor(const std::string &name, const std::string &dtype, const std::vector<int64_t> &shape,
                       const std::string &bytes) {
  return SafeTensor{name, dtype, shape, std::vector<uint8_t>(bytes.begin(), bytes.end())};
}

// A safetensors file with the given header text, padded as the reference pads.
std::string safetensors_bytes(std::string header, const std::string &data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}

TEST(SafeTensors, RoundTripsWithMetadata) {
  TempDir dir;
  std::string path = dir.file("w.safetensors");
  SafeTensorsFile file;
  file.metadata = {{"format", "pt"}, {"note", "caf\xc3\xa9 \"q\""}};
  file.tensors.push_back(make_tensor("w", "F32", {2, 2}, bytes_of(std::vector<float>{1, 2, 3, 4})));
  file.tensors.push_back(make_tensor("b", "F64", {3}, bytes_of(std::vector<double>{-1, 0, 1})));
  file.tensors.push_back(make_tensor("step", "I64", {}, bytes_of(std::vector<int64_t>{42})));
  file.tensors.push_back(make_tensor("ids", "I32", {0, 5}, ""));
  file.tensors.push_back(make_tensor("mask", "BOOL", {3}, std::string("\x01\x00\x01", 3)));
  file.tensors.push_back(make_tensor("u", "U8", {2}, "\xff\x01"));
  file.tensors.push_back(make_tensor("h", "F16", {1}, std::string("\x00\x3c", 2)));
  file.tensors.push_back(make_tensor("x", "F99", {1}, "abc"));  // unknown dtype: kept as is
  write_safetensors(path, file);

  SafeTensorsFile back = read_safetensors(path);
  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    SCOPED_TRACE(file.tensors[i].name);
    EXPECT_EQ(back.tensors[i].name, file.tensors[i].name);
    EXPECT_EQ(back.tensors[i].dtype, file.tensors[i].dtype);
    EXPECT_EQ(back.tensors[i].shape, file.tensors[i].shape);
    EXPECT_EQ(back.tensors[i].data, file.tensors[i].data);
  }
  EXPECT_EQ(back.find("step")->numel(), 1);
  EXPECT_EQ(back.find("ids")->numel(), 0);
  EXPECT_EQ(back.find("nope"), nullptr);
}

TEST(SafeTensors, WritesTheReferenceLayout) {
  TempDir dir;
  std::string path = dir.file("r.safetensors");
  SafeTensorsFile file;
  file.metadata = {{"format", "pt"}};
  file.tensors.push_back(make_tensor("a", "F32", {2}, bytes_of(std::vector<float>{1, 2})));
  file.tensors.push_back(make_tensor("b", "I64", {1, 1}, bytes_of(std::vector<int64_t>{7})));
  write_safetensors(path, file);
  // serde_json's compact form, as safetensors' Rust core writes it, with the
  // header padded by spaces to a multiple of 8 and the tensors back to back.
  std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]}})";
  std::string expected =
      safetensors_bytes(header, bytes_of(std::vector<float>{1, 2}) + bytes_of(std::vector<int64_t>{7}));
  EXPECT_EQ(read_bytes(path), expected);
  ASSERT_EQ(header.size(), 141u);
  EXPECT_EQ(expected.substr(0, 8), le64(144));
  EXPECT_EQ(expected.substr(8 + 141, 3), "   ");

  // Without metadata the key is left out, and no tensors is an empty object.
  write_safetensors(path, SafeTensorsFile{});
  EXPECT_EQ(read_bytes(path), le64(8) + "{}      ");
  EXPECT_TRUE(read_safetensors(path).tensors.empty());
}

TEST(SafeTensors, ReadsFilesWithGapsAndAnyKeyOrder) {
  TempDir dir;
  std::string path = dir.file("g.safetensors");
  write_bytes(path, safetensors_bytes(R"({"b":{"data_offsets":[4,8],"shape":[1],"dtype":"I32"},)"
                                      R"("a":{"shape":[],"dtype":"U8","data_offsets":[0,1]}})",
                                      std::string("\x05\x00\x00\x00\x09\x00\x00\x00", 8)));
  SafeTensorsFile f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "b");
  EXPECT_EQ(f.tensors[0].data, (std::vector<uint8_t>{9, 0, 0, 0}));
  EXPECT_EQ(f.tensors[1].data, std::vector<uint8_t>{5});
}

TEST(SafeTensors, RefusesMalformedFiles) {
  TempDir dir;
  std::string data16(16, '\0');
  struct Case {
    const char *name;
    std::string bytes;
    std::vector<std::string> parts;
  };
  auto entry = [](const std::string &name, const std::string &dtype, const std::string &shape,
                  const std::string &offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };
  std::vector<Case> cases = {
      {"short", "\x08\x00\x00", {"shorter than 8 bytes"}},
      {"header_beyond_file", le64(1000) + "{}", {"header length 1000 exceeds the file size 10"}},
      {"header_huge", le64(~uint64_t{0}) + "{}", {"header length 18446744073709551615"}},
      {"bad_json", safetensors_bytes("{\"w\":}", data16), {"malformed JSON", "byte 5"}},
      {"not_object", safetensors_bytes("[]", data16), {"not a JSON object"}},
      {"out_of_range",
       safetensors_bytes("{" + entry("w.weight", "F32", "[4]", "[8,24]") + "}", data16),
       {"tensor 'w.weight'", "[8, 24]", "16-byte data buffer"}},
      {"reversed", safetensors_bytes("{" + entry("r", "U8", "[0]", "[8,4]") + "}", data16), {"tensor 'r'", "reversed"}},
      {"wrong_size",
       safetensors_bytes("{" + entry("w", "F64", "[3]", "[0,16]") + "}", data16),
       {"tensor 'w'", "16 bytes", "F64", "needs 24"}},
      {"duplicate",
       safetensors_bytes("{" + entry("d", "F32", "[2]", "[0,8]") + "," + entry("d", "F32", "[2]", "[8,16]") + "}",
                         data16),
       {"tensor 'd'", "twice"}},
      {"missing_field",
       safetensors_bytes(R"({"m":{"dtype":"F32","shape":[1]}})", data16),
       {"tensor 'm'", "'data_offsets'"}},
      {"negative_shape",
       safetensors_bytes("{" + entry("n", "F32", "[-1]", "[0,4]") + "}", data16),
       {"tensor 'n'", "non-negative"}},
      {"float_shape",
       safetensors_bytes("{" + entry("n", "F32", "[1.5]", "[0,4]") + "}", data16),
       {"tensor 'n'", "non-negative integers"}},
      {"overflow_shape",
       safetensors_bytes("{" + entry("o", "F32", "[4294967296,4294967296]", "[0,4]") + "}", data16),
       {"tensor 'o'", "too large"}},
      {"offsets_shape",
       safetensors_bytes("{" + entry("s", "F32", "[1]", "[0]") + "}", data16),
       {"tensor 's'", "two integers"}},
      {"dtype_type",
       safetensors_bytes(R"({"t":{"dtype":4,"shape":[],"data_offsets":[0,4]}})", data16),
       {"tensor 't'", "'dtype'"}},
      {"metadata_value", safetensors_bytes(R"({"__metadata__":{"k":1}})", data16), {"'__metadata__'", "'k'"}},
      // JSON allows repeated keys; a header that repeats one is ambiguous.
      {"duplicate_field",
       safetensors_bytes(R"({"m":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", data16),
       {"tensor 'm'", "field 'dtype' appears twice"}},
      {"duplicate_metadata_entry",
       safetensors_bytes(R"({"__metadata__":{"k":"a","k":"b"}})", data16),
       {"'__metadata__' entry 'k' appears twice"}},
      {"metadata_twice",
       safetensors_bytes(R"({"__metadata__":{},"__metadata__":{}})", data16),
       {"'__metadata__' appears twice"}},
      {"duplicate_deeper",
       safetensors_bytes(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":{"a":1,"a":2}}})", data16),
       {"tensor 'x'", "key 'a' appears twice in field 'extra'"}},
      {"trailing_comma", safetensors_bytes(R"({"w":{"dtype":"F32",}})", data16), {"malformed JSON", "byte 20"}},
      {"bad_utf8", safetensors_bytes("{\"\xff\":{}}", data16), {"malformed JSON", "byte 2", "UTF-8"}},
      {"control_character", safetensors_bytes("{\"a\nb\":{}}", data16), {"malformed JSON", "byte 3", "control"}},
      {"number_overflow",
       safetensors_bytes(R"({"n":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", data16),
       {"malformed JSON", "1e999"}},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = dir.file(std::string(c.name) + ".safetensors");
    write_bytes(path, c.bytes);
    std::vector<std::string> parts = c.parts;
    parts.push_back(path + ": ");
    expect_error([&] { read_safetensors(path); }, parts);
  }
}

TEST(SafeTensors, WriteRefusesInconsistentTensors) {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  SafeTensorsFile wrong_size;
  wrong_size.tensors.push_back(make_tensor("w", "F32", {3}, std::string(8, '\0')));
  expect_error([&] { write_safetensors(path, wrong_size); }, {path + ": ", "tensor 'w'", "needs 12"});
  SafeTensorsFile duplicate;
  duplicate.tensors.push_back(make_tensor("d", "U8", {1}, "a"));
  duplicate.tensors.push_back(make_tensor("d", "U8", {1}, "b"));
  expect_error([&] { write_safetensors(path, duplicate); }, {path + ": ", "tensor 'd'", "twice"});
  SafeTensorsFile reserved;
  reserved.tensors.push_back(make_tensor("__metadata__", "U8", {1}, "a"));
  expect_error([&] { write_safetensors(path, reserved); }, {path + ": ", "reserved"});
  EXPECT_TRUE(dir.entries().empty());
}

// -------------------------------------------------------- atomic write ---

TEST(AtomicWrite, MissingDirectoryThrowsAndCreatesNothing) {
  TempDir dir;
  std::string path = dir.file("no/such/dir/a.npy");
  float f = 1;
  expect_error([&] { write_npy(path, DType::kF32, &f, {1}); }, {path + ": "});
  SafeTensorsFile file;
  expect_error([&] { write_safetensors(dir.file("no/a.safetensors"), file); }, {dir.file("no/a.safetensors") + ": "});
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicWrite, ReplacesAnExistingFile) {
  TempDir dir;
  std::string path = dir.file("a.npy");
  write_bytes(path, "old contents");
  int32_t v = 5;
  write_npy(path, DType::kI32, &v, {});
  EXPECT_EQ(read_npy(path).as<int32_t>()[0], 5);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.npy"});
}

TEST(AtomicWrite, FailedWriteLeavesTheDestinationUntouched) {
  TempDir dir;
  std::string path = dir.file("keep.npy");
  write_bytes(path, "precious");

  // Make the write itself fail halfway: a file-size limit turns the write into
  // EFBIG (with SIGXFSZ, ignored here) after some bytes reached the temporary.
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct sigaction ignore = {}, old_action;
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::vector<float> big(4096, 1.f);
  bool threw = false;
  std::string message;
  try {
    write_npy(path, DType::kF32, big.data(), {4096});
  } catch (const RtError &e) {
    threw = true;
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_TRUE(threw);
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  EXPECT_EQ(read_bytes(path), "precious");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"keep.npy"});

  // A destination that cannot be replaced (a directory) also survives, and
  // the temporary is cleaned up.
  fs::create_directory(dir.file("sub.safetensors"));
  write_bytes(dir.file("sub.safetensors/inner"), "x");
  SafeTensorsFile file;
  file.tensors.push_back(make_tensor("a", "U8", {1}, "a"));
  expect_error([&] { write_safetensors(dir.file("sub.safetensors"), file); },
               {dir.file("sub.safetensors") + ": ", "rename"});
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"keep.npy", "sub.safetensors"}));
  EXPECT_EQ(read_bytes(dir.file("sub.safetensors/inner")), "x");
}

}  // namespace
}  // namespace rnnc_rt

#include "io/safetensors.h"

#include <unordered_set>

#include "error.h"
#include "io/file.h"
#include "io/json.h"

namespace rnnc_rt {

int64_t SafeTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const SafeTensor *SafeTensorsFile::find(const std::string &name) const {
  for (const SafeTensor &t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

int64_t safetensors_dtype_size(const std::string &dtype) {
  static const std::pair<const char *, int64_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},   {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1}, {"I16", 2}, {"U16", 2},
      {"F16", 2},  {"BF16", 2}, {"I32", 4}, {"U32", 4},     {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8},
  };
  for (const auto &entry : kSizes) {
    if (dtype == entry.first) return entry.second;
  }
  return 0;
}

namespace {

constexpr char kMetadataKey[] = "__metadata__";
// The reference implementation refuses larger headers (MAX_HEADER_SIZE); so
// do we, so that a corrupt length cannot make us allocate gigabytes.
constexpr uint64_t kMaxHeaderSize = 100'000'000;

// Returns the byte size of shape × dtype, 0 when unknown dtype, or -1 when
// it overflows.
int64_t expected_nbytes(const std::string &dtype, const std::vector<int64_t> &shape) {
  int64_t numel = checked_numel(shape);
  if (numel < 0) return -1;
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, safetensors_dtype_size(dtype), &nbytes)) return -1;
  return nbytes;
}

// Where a tensor's entry in the header says its bytes are.
struct TensorEntry {
  SafeTensor tensor;
  uint64_t begin;
  uint64_t end;
};

class HeaderReader {
 public:
  explicit HeaderReader(const std::string &path) : path_(path) {}

  [[noreturn]] void fail(const std::string &what) const { throw RtError(path_ + ": " + what); }

  [[noreturn]] void fail_tensor(const std::string &name, const std::string &what) const {
    throw RtError(path_ + ": tensor '" + name + "': " + what);
  }

  // The unique member key of entry, or nullptr; refuses repeated fields.
  const JsonValue *field(const std::string &name, const JsonValue &entry, const char *key) const {
    const JsonValue *found = nullptr;
    for (const auto &member : entry.as_object()) {
      if (member.first != key) continue;
      if (found != nullptr) fail_tensor(name, std::string("field '") + key + "' appears twice");
      found = &member.second;
    }
    if (found == nullptr) fail_tensor(name, std::string("missing field '") + key + "'");
    return found;
  }

  // A non-negative integer, as shapes and offsets must be.
  int64_t count(const std::string &name, const JsonValue &value, const char *what) const {
    if (!value.is_int() || value.as_int() < 0) {
      fail_tensor(name, std::string(what) + " must be non-negative integers");
    }
    return value.as_int();
  }

  TensorEntry tensor(const std::string &name, const JsonValue &entry, uint64_t data_size) const {
    if (!entry.is_object()) fail_tensor(name, "entry is not a JSON object");
    TensorEntry out;
    out.tensor.name = name;
    const JsonValue *dtype = field(name, entry, "dtype");
    if (!dtype->is_string()) fail_tensor(name, "'dtype' is not a string");
    out.tensor.dtype = dtype->as_string();

    const JsonValue *shape = field(name, entry, "shape");
    if (!shape->is_array()) fail_tensor(name, "'shape' is not an array");
    for (const JsonValue &d : shape->as_array()) out.tensor.shape.push_back(count(name, d, "'shape' entries"));

    const JsonValue *offsets = field(name, entry, "data_offsets");
    if (!offsets->is_array() || offsets->as_array().size() != 2) {
      fail_tensor(name, "'data_offsets' is not an array of two integers");
    }
    out.begin = static_cast<uint64_t>(count(name, offsets->as_array()[0], "'data_offsets'"));
    out.end = static_cast<uint64_t>(count(name, offsets->as_array()[1], "'data_offsets'"));
    std::string range = "data_offsets [" + std::to_string(out.begin) + ", " + std::to_string(out.end) + "]";
    if (out.begin > out.end) fail_tensor(name, range + " are reversed");
    if (out.end > data_size) {
      fail_tensor(name, range + " exceed the " + std::to_string(data_size) + "-byte data buffer");
    }
    int64_t nbytes = expected_nbytes(out.tensor.dtype, out.tensor.shape);
    if (nbytes < 0) fail_tensor(name, "shape " + shape_str(out.tensor.shape) + " is too large");
    if (safetensors_dtype_size(out.tensor.dtype) > 0 && static_cast<uint64_t>(nbytes) != out.end - out.begin) {
      fail_tensor(name, range + " hold " + std::to_string(out.end - out.begin) + " bytes but " + out.tensor.dtype +
                            " of shape " + shape_str(out.tensor.shape) + " needs " + std::to_string(nbytes));
    }
    return out;
  }

  std::vector<std::pair<std::string, std::string>> metadata(const JsonValue &value) const {
    if (!value.is_object()) fail("'__metadata__' is not a JSON object");
    std::vector<std::pair<std::string, std::string>> out;
    std::unordered_set<std::string> seen;
    for (const auto &member : value.as_object()) {
      if (!member.second.is_string()) {
        fail("'__metadata__' entry '" + member.first + "' is not a string");
      }
      if (!seen.insert(member.first).second) {
        fail("'__metadata__' entry '" + member.first + "' appears twice");
      }
      out.emplace_back(member.first, member.second.as_string());
    }
    return out;
  }

 private:
  const std::string &path_;
};

}  // namespace

SafeTensorsFile read_safetensors(const std::string &path) {
  InputFile file(path);
  if (file.size() < 8) throw RtError(path + ": not a safetensors file (shorter than 8 bytes)");
  uint8_t size_bytes[8];
  file.read_at(0, size_bytes, 8, "the header length");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | size_bytes[i];
  if (header_size > file.size() - 8) {
    throw RtError(path + ": header length " + std::to_string(header_size) + " exceeds the file size " +
                  std::to_string(file.size()));
  }
  if (header_size > kMaxHeaderSize) {
    throw RtError(path + ": header length " + std::to_string(header_size) + " exceeds the limit of " +
                  std::to_string(kMaxHeaderSize) + " bytes");
  }
  std::string header_text(header_size, '\0');
  file.read_at(8, header_text.data(), header_size, "the header");
  JsonValue header;
  try {
    header = parse_json(header_text);
  } catch (const RtError &e) {
    throw RtError(path + ": malformed JSON header: " + e.what());
  }
  HeaderReader reader(path);
  if (!header.is_object()) reader.fail("the header is not a JSON object");

  uint64_t data_start = 8 + header_size;
  uint64_t data_size = file.size() - data_start;
  SafeTensorsFile result;
  std::unordered_set<std::string> names;
  bool seen_metadata = false;
  for (const auto &member : header.as_object()) {
    if (member.first == kMetadataKey) {
      if (seen_metadata) reader.fail("'__metadata__' appears twice");
      seen_metadata = true;
      result.metadata = reader.metadata(member.second);
      continue;
    }
    if (!names.insert(member.first).second) {
      reader.fail_tensor(member.first, "appears twice in the header");
    }
    TensorEntry entry = reader.tensor(member.first, member.second, data_size);
    entry.tensor.data.resize(entry.end - entry.begin);
    std::string what = "tensor '" + member.first + "'";
    file.read_at(data_start + entry.begin, entry.tensor.data.data(), entry.tensor.data.size(), what.c_str());
    result.tensors.push_back(std::move(entry.tensor));
  }
  return result;
}

void write_safetensors(const std::string &path, const SafeTensorsFile &file) {
  JsonValue::Object header;
  if (!file.metadata.empty()) {
    JsonValue::Object metadata;
    std::unordered_set<std::string> keys;
    for (const auto &entry : file.metadata) {
      if (!keys.insert(entry.first).second) {
        throw RtError(path + ": '__metadata__' entry '" + entry.first + "' appears twice");
      }
      metadata.emplace_back(entry.first, JsonValue::make_string(entry.second));
    }
    header.emplace_back(kMetadataKey, JsonValue::make_object(std::move(metadata)));
  }

  std::unordered_set<std::string> names;
  int64_t offset = 0;
  for (const SafeTensor &t : file.tensors) {
    auto fail = [&](const std::string &what) { return RtError(path + ": tensor '" + t.name + "': " + what); };
    if (t.name == kMetadataKey) throw fail("the name is reserved for metadata");
    if (!names.insert(t.name).second) throw fail("appears twice");
    if (t.dtype.empty()) throw fail("no dtype");
    int64_t nbytes = expected_nbytes(t.dtype, t.shape);
    if (nbytes < 0) throw fail("invalid shape " + shape_str(t.shape));
    if (safetensors_dtype_size(t.dtype) > 0 && static_cast<uint64_t>(nbytes) != t.data.size()) {
      throw fail("has " + std::to_string(t.data.size()) + " bytes but " + t.dtype + " of shape " + shape_str(t.shape) +
                 " needs " + std::to_string(nbytes));
    }
    JsonValue::Array shape;
    for (int64_t d : t.shape) shape.push_back(JsonValue::make_int(d));
    int64_t end = offset + static_cast<int64_t>(t.data.size());
    JsonValue::Object entry;
    entry.emplace_back("dtype", JsonValue::make_string(t.dtype));
    entry.emplace_back("shape", JsonValue::make_array(std::move(shape)));
    entry.emplace_back("data_offsets", JsonValue::make_array({JsonValue::make_int(offset), JsonValue::make_int(end)}));
    header.emplace_back(t.name, JsonValue::make_object(std::move(entry)));
    offset = end;
  }

  std::string text = to_json(JsonValue::make_object(std::move(header)));
  // The reference implementation pads with spaces so that the data starts
  // 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t size_bytes[8];
  for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  std::vector<ByteSpan> pieces = {{size_bytes, 8}, {text.data(), text.size()}};
  for (const SafeTensor &t : file.tensors) pieces.push_back({t.data.data(), t.data.size()});
  write_file_atomically(path, pieces);
}

}  // namespace rnnc_rt

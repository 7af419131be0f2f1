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

  // Member key of entry; the parser has refused repeated keys.
  const Json &field(const std::string &name, const Json &entry, const char *key) const {
    const auto it = entry.find(key);
    if (it == entry.end()) fail_tensor(name, std::string("missing field '") + key + "'");
    return *it;
  }

  // A non-negative integer, as shapes and offsets must be.
  int64_t count(const std::string &name, const Json &value, const char *what) const {
    const bool ok = value.is_number_unsigned()  ? value.get<uint64_t>() <= uint64_t{INT64_MAX}
                    : value.is_number_integer() ? value.get<int64_t>() >= 0
                                                : false;
    if (!ok) fail_tensor(name, std::string(what) + " must be non-negative integers");
    return value.get<int64_t>();
  }

  TensorEntry tensor(const std::string &name, const Json &entry, uint64_t data_size) const {
    if (!entry.is_object()) fail_tensor(name, "entry is not a JSON object");
    TensorEntry out;
    out.tensor.name = name;
    const Json &dtype = field(name, entry, "dtype");
    if (!dtype.is_string()) fail_tensor(name, "'dtype' is not a string");
    out.tensor.dtype = dtype.get<std::string>();

    const Json &shape = field(name, entry, "shape");
    if (!shape.is_array()) fail_tensor(name, "'shape' is not an array");
    for (const Json &d : shape) out.tensor.shape.push_back(count(name, d, "'shape' entries"));

    const Json &offsets = field(name, entry, "data_offsets");
    if (!offsets.is_array() || offsets.size() != 2) {
      fail_tensor(name, "'data_offsets' is not an array of two integers");
    }
    out.begin = static_cast<uint64_t>(count(name, offsets[0], "'data_offsets'"));
    out.end = static_cast<uint64_t>(count(name, offsets[1], "'data_offsets'"));
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

  std::vector<std::pair<std::string, std::string>> metadata(const Json &value) const {
    if (!value.is_object()) fail("'__metadata__' is not a JSON object");
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto &member : value.items()) {
      if (!member.value().is_string()) fail("'__metadata__' entry '" + member.key() + "' is not a string");
      out.emplace_back(member.key(), member.value().get<std::string>());
    }
    return out;
  }

  // What a key that appears twice in one object is called in the message:
  // `enclosing` holds the keys of the objects around it, outermost first.
  [[noreturn]] void fail_duplicate(const std::vector<std::string> &enclosing, const std::string &key) const {
    if (enclosing.empty()) {
      if (key == kMetadataKey) fail("'__metadata__' appears twice");
      fail_tensor(key, "appears twice in the header");
    }
    if (enclosing.size() == 1 && enclosing[0] == kMetadataKey) fail("'__metadata__' entry '" + key + "' appears twice");
    if (enclosing[0] == kMetadataKey) fail("key '" + key + "' appears twice in '__metadata__'");
    if (enclosing.size() == 1) fail_tensor(enclosing[0], "field '" + key + "' appears twice");
    std::string field = enclosing[1];
    for (size_t i = 2; i < enclosing.size(); ++i) field += "." + enclosing[i];
    fail_tensor(enclosing[0], "key '" + key + "' appears twice in field '" + field + "'");
  }

  // Parses the header text. JSON allows repeated keys and nlohmann keeps the
  // last one silently, but a header naming a tensor or a field twice is
  // ambiguous: a parser callback tracks the keys of each open object and
  // refuses a repeated one.
  Json parse(const std::string &text) const {
    struct Level {
      bool object = false;
      std::unordered_set<std::string> keys;
      std::string key;  // the member being parsed
    };
    std::vector<Level> open;
    auto track = [&](int, Json::parse_event_t event, Json &parsed) {
      switch (event) {
        case Json::parse_event_t::object_start:
        case Json::parse_event_t::array_start:
          open.push_back(Level{event == Json::parse_event_t::object_start, {}, {}});
          break;
        case Json::parse_event_t::object_end:
        case Json::parse_event_t::array_end:
          open.pop_back();
          break;
        case Json::parse_event_t::key: {
          Level &top = open.back();
          top.key = parsed.get<std::string>();
          if (!top.keys.insert(top.key).second) {
            std::vector<std::string> enclosing;
            for (size_t i = 0; i + 1 < open.size(); ++i)
              if (open[i].object) enclosing.push_back(open[i].key);
            fail_duplicate(enclosing, top.key);
          }
          break;
        }
        case Json::parse_event_t::value:
          break;
      }
      return true;
    };
    try {
      return Json::parse(text, track);
    } catch (const Json::parse_error &e) {
      // "[json.exception.parse_error.101] parse error at line 1, column 6: <what>";
      // e.byte counts the bytes read up to and including the offending one.
      const std::string what = e.what();
      const size_t at = what.find(": ", what.find("parse error"));
      fail("malformed JSON header: byte " + std::to_string(e.byte > 0 ? e.byte - 1 : 0) + ": " +
           (at == std::string::npos ? what : what.substr(at + 2)));
    } catch (const Json::exception &e) {
      // Numbers out of range, which carry no position.
      const std::string what = e.what();
      const size_t at = what.find("] ");
      fail("malformed JSON header: " + (at == std::string::npos ? what : what.substr(at + 2)));
    }
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
  HeaderReader reader(path);
  const Json header = reader.parse(header_text);
  if (!header.is_object()) reader.fail("the header is not a JSON object");

  uint64_t data_start = 8 + header_size;
  uint64_t data_size = file.size() - data_start;
  SafeTensorsFile result;
  for (const auto &member : header.items()) {
    if (member.key() == kMetadataKey) {
      result.metadata = reader.metadata(member.value());
      continue;
    }
    TensorEntry entry = reader.tensor(member.key(), member.value(), data_size);
    entry.tensor.data.resize(entry.end - entry.begin);
    std::string what = "tensor '" + member.key() + "'";
    file.read_at(data_start + entry.begin, entry.tensor.data.data(), entry.tensor.data.size(), what.c_str());
    result.tensors.push_back(std::move(entry.tensor));
  }
  return result;
}

void write_safetensors(const std::string &path, const SafeTensorsFile &file) {
  Json header = Json::object();
  if (!file.metadata.empty()) {
    Json metadata = Json::object();
    std::unordered_set<std::string> keys;
    for (const auto &entry : file.metadata) {
      if (!keys.insert(entry.first).second) {
        throw RtError(path + ": '__metadata__' entry '" + entry.first + "' appears twice");
      }
      metadata[entry.first] = entry.second;
    }
    header[kMetadataKey] = std::move(metadata);
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
    int64_t end = offset + static_cast<int64_t>(t.data.size());
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }

  // serde_json's compact form, as the reference implementation writes it.
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error &) {
    throw RtError(path + ": tensor names and metadata must be UTF-8 (JSON strings cannot hold other bytes)");
  }
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

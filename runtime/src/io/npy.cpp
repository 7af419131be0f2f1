#include "io/npy.h"

#include <cstring>

#include "error.h"
#include "io/file.h"

namespace rnnc_rt {

// Element bytes are handed out as stored; that is only correct on a
// little-endian host, which is all the runtime targets.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rnnc runtime assumes little-endian");

const char *dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "float32";
    case DType::kF64:
      return "float64";
    case DType::kI32:
      return "int32";
    case DType::kI64:
      return "int64";
    case DType::kU8:
      return "uint8";
    case DType::kBool:
      return "bool";
    case DType::kOther:
      return "other";
  }
  return "other";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF64:
      return 8;
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
    case DType::kBool:
      return 1;
    case DType::kOther:
      return 0;
  }
  return 0;
}

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// numpy aligns the start of the data to this many bytes (ARRAY_ALIGN).
constexpr size_t kAlign = 64;
// numpy leaves room for the growing axis to reach this many digits, so that
// the header can be rewritten in place (GROWTH_AXIS_MAX_DIGITS).
constexpr size_t kGrowthAxisMaxDigits = 21;

std::string shape_repr(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// Parses the Python dict literal numpy writes, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(const std::string &path, const std::string &text) : path_(path), text_(text) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (seen_descr) fail("key 'descr' appears twice");
        seen_descr = true;
        if (peek() == '[') fail("structured dtypes are not supported");
        header.descr = parse_string();
      } else if (key == "fortran_order") {
        if (seen_fortran) fail("key 'fortran_order' appears twice");
        seen_fortran = true;
        header.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (seen_shape) fail("key 'shape' appears twice");
        seen_shape = true;
        header.shape = parse_shape();
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header dict");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      fail("header must contain 'descr', 'fortran_order' and 'shape'");
    }
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string &what) const {
    throw RtError(path_ + ": malformed .npy header at byte " + std::to_string(pos_) + ": " + what);
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void expect(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::string parse_string() {
    char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a string");
    ++pos_;
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      // Names and descrs numpy writes never need escapes.
      if (text_[pos_] == '\\') fail("escapes in strings are not supported");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    std::string s = text_.substr(start, pos_ - start);
    ++pos_;
    return s;
  }

  bool parse_bool() {
    if (text_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (text_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }

  int64_t parse_dim() {
    if (peek() == '-') fail("negative dimension");
    if (!(peek() >= '0' && peek() <= '9')) fail("expected a dimension");
    int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (__builtin_mul_overflow(value, int64_t{10}, &value) ||
          __builtin_add_overflow(value, int64_t{peek() - '0'}, &value)) {
        fail("dimension too large");
      }
      ++pos_;
    }
    // Python 2 wrote long integers with an L suffix; numpy still reads them.
    if (peek() == 'L') ++pos_;
    return value;
  }

  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        return shape;
      }
      shape.push_back(parse_dim());
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in shape");
      }
    }
  }

  const std::string &path_;
  const std::string &text_;
  size_t pos_ = 0;
};

struct DescrInfo {
  DType dtype;
  size_t itemsize;
};

// Interprets a descr such as "<f4": its DType (kOther when the runtime does
// not compute with it) and its item size; refuses byte orders and kinds whose
// bytes cannot be handed out as they are.
DescrInfo interpret_descr(const std::string &path, const std::string &descr) {
  std::string body = descr;
  char order = '|';
  if (!body.empty() && (body[0] == '<' || body[0] == '>' || body[0] == '=' || body[0] == '|')) {
    order = body[0];
    body.erase(0, 1);
  }
  auto unrecognised = [&]() { return RtError(path + ": dtype '" + descr + "' is not a recognised NumPy dtype"); };
  if (body.empty()) throw unrecognised();
  char kind = body[0];
  if (kind == 'O') {
    throw RtError(path + ": dtype '" + descr +
                  "' (Python objects) is not supported; expected little-endian "
                  "int32/int64/float32/float64");
  }
  if (std::strchr("biufcmMSUV", kind) == nullptr) throw unrecognised();
  size_t i = 1;
  size_t count = 0;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') {
    count = count * 10 + static_cast<size_t>(body[i] - '0');
    if (count > (size_t{1} << 32)) throw unrecognised();
    ++i;
  }
  if (i == 1) throw unrecognised();
  // Datetimes carry a unit, e.g. "<M8[ns]"; nothing else may follow the size.
  bool has_unit = i < body.size() && body[i] == '[' && body.back() == ']';
  if (i != body.size() && !((kind == 'm' || kind == 'M') && has_unit)) throw unrecognised();
  size_t itemsize = kind == 'U' ? count * 4 : count;
  if (order == '>' && itemsize > 1) {
    throw RtError(path + ": dtype '" + descr +
                  "' (big-endian) is not supported; expected little-endian "
                  "int32/int64/float32/float64");
  }
  DType dtype = DType::kOther;
  if (kind == 'f' && itemsize == 4) dtype = DType::kF32;
  if (kind == 'f' && itemsize == 8) dtype = DType::kF64;
  if (kind == 'i' && itemsize == 4) dtype = DType::kI32;
  if (kind == 'i' && itemsize == 8) dtype = DType::kI64;
  if (kind == 'u' && itemsize == 1) dtype = DType::kU8;
  if (kind == 'b' && itemsize == 1) dtype = DType::kBool;
  return {dtype, itemsize};
}

// Returns the elements of src, stored in Fortran (column-major) order for
// shape, rearranged into C (row-major) order.
std::vector<uint8_t> fortran_to_c(const std::vector<uint8_t> &src, const std::vector<int64_t> &shape, size_t itemsize,
                                  int64_t numel) {
  std::vector<uint8_t> dst(src.size());
  size_t rank = shape.size();
  // Element strides of the source: the first axis varies fastest.
  std::vector<int64_t> stride(rank);
  int64_t s = 1;
  for (size_t k = 0; k < rank; ++k) {
    stride[k] = s;
    s *= shape[k];
  }
  // Walk the destination in C order, keeping the source offset in step with
  // the multi-index so that each element costs O(1) amortised.
  std::vector<int64_t> index(rank, 0);
  int64_t from = 0;
  for (int64_t to = 0; to < numel; ++to) {
    std::memcpy(dst.data() + to * itemsize, src.data() + from * itemsize, itemsize);
    for (size_t k = rank; k-- > 0;) {
      if (++index[k] < shape[k]) {
        from += stride[k];
        break;
      }
      index[k] = 0;
      from -= stride[k] * (shape[k] - 1);
    }
  }
  return dst;
}

// The magic string, version, header length and header dict, byte for byte
// what numpy.save writes (numpy.lib.format._write_array_header).
std::string npy_header(const std::string &path, const char *descr, const std::vector<int64_t> &shape) {
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape_repr(shape) + ", }";
  if (!shape.empty()) header.append(kGrowthAxisMaxDigits - std::to_string(shape[0]).size(), ' ');
  size_t hlen = header.size() + 1;  // With the final newline.
  std::string prefix(kMagic, kMagicLen);
  size_t padlen = kAlign - (kMagicLen + 2 + 2 + hlen) % kAlign;
  if (hlen + padlen <= 0xFFFF) {
    size_t total = hlen + padlen;
    prefix += '\x01';
    prefix += '\x00';
    prefix += static_cast<char>(total & 0xFF);
    prefix += static_cast<char>(total >> 8);
  } else {
    // Version 2.0 only widens the header length to four bytes.
    padlen = kAlign - (kMagicLen + 2 + 4 + hlen) % kAlign;
    uint64_t total = hlen + padlen;
    if (total > 0xFFFFFFFFu) throw RtError(path + ": .npy header too long");
    prefix += '\x02';
    prefix += '\x00';
    for (int i = 0; i < 4; ++i) prefix += static_cast<char>((total >> (8 * i)) & 0xFF);
  }
  header.append(padlen, ' ');
  header += '\n';
  return prefix + header;
}

}  // namespace

NpyArray read_npy_region(const InputFile &file, uint64_t base, uint64_t size, const std::string &path) {
  uint8_t preamble[12];
  if (size < 10) throw RtError(path + ": not a .npy file (too short for the magic string)");
  file.read_at(base + 0, preamble, 10, "the magic string");
  if (std::memcmp(preamble, kMagic, kMagicLen) != 0) {
    throw RtError(path + ": not a .npy file (bad magic string)");
  }
  int major = preamble[6];
  int minor = preamble[7];
  uint64_t header_len;
  uint64_t header_start;
  if (major == 1 && minor == 0) {
    header_len = uint64_t{preamble[8]} | uint64_t{preamble[9]} << 8;
    header_start = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    file.read_at(base + 10, preamble + 10, 2, "the header length");
    header_len = uint64_t{preamble[8]} | uint64_t{preamble[9]} << 8 | uint64_t{preamble[10]} << 16 |
                 uint64_t{preamble[11]} << 24;
    header_start = 12;
  } else {
    throw RtError(path + ": unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                  "; expected 1.0, 2.0 or 3.0");
  }
  if (header_len > size - header_start) {
    throw RtError(path + ": header length " + std::to_string(header_len) + " exceeds the file size " +
                  std::to_string(size));
  }
  std::string header_text(header_len, '\0');
  file.read_at(base + header_start, header_text.data(), header_len, "the header");
  NpyHeader header = HeaderParser(path, header_text).parse();

  NpyArray array;
  array.descr = header.descr;
  array.shape = header.shape;
  DescrInfo info = interpret_descr(path, header.descr);
  array.dtype = info.dtype;

  int64_t numel = checked_numel(header.shape);
  uint64_t expected;
  if (numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), info.itemsize, &expected)) {
    throw RtError(path + ": shape " + shape_repr(header.shape) + " of '" + header.descr + "' is too large");
  }
  uint64_t data_start = header_start + header_len;
  uint64_t available = size - data_start;
  if (available < expected) {
    throw RtError(path + ": data is truncated: shape " + shape_repr(header.shape) + " of '" + header.descr +
                  "' needs " + std::to_string(expected) + " bytes, the file has " + std::to_string(available));
  }
  if (available > expected) {
    throw RtError(path + ": " + std::to_string(available - expected) + " unexpected bytes after the data of shape " +
                  shape_repr(header.shape) + " of '" + header.descr + "'");
  }
  array.data.resize(expected);
  file.read_at(base + data_start, array.data.data(), expected, "the data");
  if (header.fortran_order && header.shape.size() > 1 && numel > 0) {
    array.data = fortran_to_c(array.data, header.shape, info.itemsize, numel);
  }
  return array;
}

NpyArray read_npy(const std::string &path) {
  InputFile file(path);
  return read_npy_region(file, 0, file.size(), path);
}

std::string npy_file_header(const std::string &path, DType dtype, const std::vector<int64_t> &shape,
                            uint64_t *nbytes_out) {
  const char *descr = nullptr;
  switch (dtype) {
    case DType::kF32:
      descr = "<f4";
      break;
    case DType::kF64:
      descr = "<f8";
      break;
    case DType::kI32:
      descr = "<i4";
      break;
    case DType::kI64:
      descr = "<i8";
      break;
    case DType::kU8:
      descr = "|u1";
      break;
    case DType::kBool:
      descr = "|b1";
      break;
    case DType::kOther:
      throw RtError(path + ": cannot write an array of dtype 'other'");
  }
  int64_t numel = checked_numel(shape);
  uint64_t nbytes;
  if (numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), dtype_size(dtype), &nbytes) ||
      nbytes > SIZE_MAX) {
    throw RtError(path + ": invalid shape " + shape_repr(shape));
  }

  *nbytes_out = nbytes;
  return npy_header(path, descr, shape);
}

void write_npy(const std::string &path, DType dtype, const void *data, const std::vector<int64_t> &shape) {
  uint64_t nbytes = 0;
  const std::string header = npy_file_header(path, dtype, shape, &nbytes);
  if (nbytes > 0 && data == nullptr) throw RtError(path + ": no data for shape " + shape_repr(shape));
  write_file_atomically(path, {{header.data(), header.size()}, {data, static_cast<size_t>(nbytes)}});
}

}  // namespace rnnc_rt

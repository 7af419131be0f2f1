#include "io/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "error.h"

namespace rnnc_rt {

JsonValue JsonValue::make_bool(bool value) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = value;
  return v;
}

JsonValue JsonValue::make_int(int64_t value) {
  JsonValue v;
  v.kind_ = Kind::kInt;
  v.int_ = value;
  return v;
}

JsonValue JsonValue::make_double(double value) {
  JsonValue v;
  v.kind_ = Kind::kDouble;
  v.double_ = value;
  return v;
}

JsonValue JsonValue::make_string(std::string value) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(value);
  return v;
}

JsonValue JsonValue::make_array(Array value) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.array_ = std::move(value);
  return v;
}

JsonValue JsonValue::make_object(Object value) {
  JsonValue v;
  v.kind_ = Kind::kObject;
  v.object_ = std::move(value);
  return v;
}

void JsonValue::expect(Kind kind) const {
  if (kind_ != kind) {
    throw RtError(std::string("JSON value is ") + json_kind_name(kind_) + ", expected " + json_kind_name(kind));
  }
}

bool JsonValue::as_bool() const {
  expect(Kind::kBool);
  return bool_;
}

int64_t JsonValue::as_int() const {
  expect(Kind::kInt);
  return int_;
}

double JsonValue::as_double() const {
  if (kind_ == Kind::kInt) return static_cast<double>(int_);
  expect(Kind::kDouble);
  return double_;
}

const std::string &JsonValue::as_string() const {
  expect(Kind::kString);
  return string_;
}

const JsonValue::Array &JsonValue::as_array() const {
  expect(Kind::kArray);
  return array_;
}

JsonValue::Array &JsonValue::as_array() {
  expect(Kind::kArray);
  return array_;
}

const JsonValue::Object &JsonValue::as_object() const {
  expect(Kind::kObject);
  return object_;
}

JsonValue::Object &JsonValue::as_object() {
  expect(Kind::kObject);
  return object_;
}

const JsonValue *JsonValue::find(std::string_view key) const {
  for (const auto &member : as_object()) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

const char *json_kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kInt:
      return "an integer";
    case JsonValue::Kind::kDouble:
      return "a non-integral number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kArray:
      return "an array";
    case JsonValue::Kind::kObject:
      return "an object";
  }
  return "?";
}

namespace {

// Deep nesting is refused rather than recursed into, so that a hostile file
// cannot overflow the stack.
constexpr int kMaxDepth = 256;

void append_utf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  JsonValue parse_document() {
    skip_space();
    JsonValue value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string &what) const { fail_at(pos_, what); }

  [[noreturn]] void fail_at(size_t offset, const std::string &what) const {
    throw RtError("byte " + std::to_string(offset) + ": " + what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_char(char c) {
    if (peek() != c || at_end()) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  JsonValue parse_value(int depth) {
    if (at_end()) fail("unexpected end of input, expected a value");
    char c = text_[pos_];
    switch (c) {
      case '{':
        return parse_object(depth);
      case '[':
        return parse_array(depth);
      case '"':
        return JsonValue::make_string(parse_string());
      case 't':
        parse_word("true");
        return JsonValue::make_bool(true);
      case 'f':
        parse_word("false");
        return JsonValue::make_bool(false);
      case 'n':
        parse_word("null");
        return JsonValue();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        fail(std::string("unexpected character '") + printable(c) + "'");
    }
  }

  static std::string printable(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    return buf;
  }

  void parse_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      fail("invalid literal, expected '" + std::string(word) + "'");
    }
    pos_ += word.size();
  }

  JsonValue parse_object(int depth) {
    if (depth >= kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    ++pos_;  // '{'
    JsonValue::Object members;
    skip_space();
    if (peek() == '}' && !at_end()) {
      ++pos_;
      return JsonValue::make_object(std::move(members));
    }
    for (;;) {
      skip_space();
      if (peek() != '"' || at_end()) fail("expected a string key");
      std::string key = parse_string();
      skip_space();
      expect_char(':');
      skip_space();
      JsonValue value = parse_value(depth + 1);
      members.emplace_back(std::move(key), std::move(value));
      skip_space();
      if (peek() == ',' && !at_end()) {
        ++pos_;
        continue;
      }
      if (peek() == '}' && !at_end()) {
        ++pos_;
        return JsonValue::make_object(std::move(members));
      }
      fail("expected ',' or '}' in object");
    }
  }

  JsonValue parse_array(int depth) {
    if (depth >= kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    ++pos_;  // '['
    JsonValue::Array items;
    skip_space();
    if (peek() == ']' && !at_end()) {
      ++pos_;
      return JsonValue::make_array(std::move(items));
    }
    for (;;) {
      skip_space();
      items.push_back(parse_value(depth + 1));
      skip_space();
      if (peek() == ',' && !at_end()) {
        ++pos_;
        continue;
      }
      if (peek() == ']' && !at_end()) {
        ++pos_;
        return JsonValue::make_array(std::move(items));
      }
      fail("expected ',' or ']' in array");
    }
  }

  uint32_t parse_hex4() {
    if (text_.size() - pos_ < 4) fail("truncated \\u escape");
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_ + i];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        value |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        value |= c - 'A' + 10;
      } else {
        fail_at(pos_ + i, "invalid hex digit in \\u escape");
      }
    }
    pos_ += 4;
    return value;
  }

  // Copies one raw UTF-8 sequence starting at pos_, refusing malformed,
  // overlong and surrogate encodings as RFC 3629 requires.
  void copy_utf8(std::string &out) {
    size_t start = pos_;
    auto lead = static_cast<unsigned char>(text_[pos_]);
    int extra;
    uint32_t cp;
    if (lead < 0x80) {
      extra = 0;
      cp = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      cp = lead & 0x07;
    } else {
      fail("invalid UTF-8 byte");
    }
    if (text_.size() - pos_ <= static_cast<size_t>(extra)) fail("truncated UTF-8 sequence");
    for (int i = 1; i <= extra; ++i) {
      auto c = static_cast<unsigned char>(text_[pos_ + i]);
      if ((c & 0xC0) != 0x80) fail_at(pos_ + i, "invalid UTF-8 continuation byte");
      cp = (cp << 6) | (c & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      fail_at(start, "invalid UTF-8 sequence");
    }
    out.append(text_.data() + pos_, extra + 1);
    pos_ += extra + 1;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("unescaped control character in string");
      if (c != '\\') {
        copy_utf8(out);
        continue;
      }
      size_t escape_at = pos_;
      ++pos_;
      if (at_end()) fail("unterminated escape");
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(escape_at, "unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate;
            // together they encode one code point above U+FFFF.
            if (text_.substr(pos_, 2) != "\\u") fail_at(escape_at, "unpaired high surrogate");
            pos_ += 2;
            uint32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_at(escape_at, "unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail_at(escape_at, std::string("invalid escape '\\") + printable(e) + "'");
      }
    }
  }

  JsonValue parse_number() {
    size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("expected a digit");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit in the exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const char *first = text_.data() + start;
    const char *last = text_.data() + pos_;
    if (integral) {
      int64_t value = 0;
      auto result = std::from_chars(first, last, value);
      if (result.ec == std::errc() && result.ptr == last) return JsonValue::make_int(value);
      // Integers beyond int64 fall through and are kept as doubles.
    }
    double value = 0.0;
    auto result = std::from_chars(first, last, value);
    if (result.ec != std::errc() || result.ptr != last) fail_at(start, "number out of range");
    return JsonValue::make_double(value);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void write_value(const JsonValue &value, std::string &out) {
  switch (value.kind()) {
    case JsonValue::Kind::kNull:
      out += "null";
      return;
    case JsonValue::Kind::kBool:
      out += value.as_bool() ? "true" : "false";
      return;
    case JsonValue::Kind::kInt:
      out += std::to_string(value.as_int());
      return;
    case JsonValue::Kind::kDouble: {
      double d = value.as_double();
      if (!std::isfinite(d)) throw RtError("JSON cannot represent the number " + std::to_string(d));
      char buf[32];
      auto result = std::to_chars(buf, buf + sizeof buf, d);
      std::string text(buf, result.ptr);
      // Keep the value a double when read back: "1" would parse as integer.
      if (text.find_first_of(".eE") == std::string::npos) text += ".0";
      out += text;
      return;
    }
    case JsonValue::Kind::kString:
      out += '"';
      out += json_escape(value.as_string());
      out += '"';
      return;
    case JsonValue::Kind::kArray: {
      out += '[';
      bool first = true;
      for (const auto &item : value.as_array()) {
        if (!first) out += ',';
        first = false;
        write_value(item, out);
      }
      out += ']';
      return;
    }
    case JsonValue::Kind::kObject: {
      out += '{';
      bool first = true;
      for (const auto &member : value.as_object()) {
        if (!first) out += ',';
        first = false;
        out += '"';
        out += json_escape(member.first);
        out += "\":";
        write_value(member.second, out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

JsonValue parse_json(std::string_view text) { return Parser(text).parse_document(); }

std::string to_json(const JsonValue &value) {
  std::string out;
  write_value(value, out);
  return out;
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace rnnc_rt

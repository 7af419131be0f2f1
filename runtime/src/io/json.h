// A minimal JSON value, parser and writer: enough for safetensors headers and
// the small descriptor files the runtime reads. Object members keep the order
// they have in the text, and duplicate keys are kept so that callers can
// refuse them with a message of their own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rnnc_rt {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<JsonValue>;
  using Object = std::vector<std::pair<std::string, JsonValue>>;

  // Constructs null.
  JsonValue() = default;

  static JsonValue make_bool(bool value);
  static JsonValue make_int(int64_t value);
  static JsonValue make_double(double value);
  static JsonValue make_string(std::string value);
  static JsonValue make_array(Array value = {});
  static JsonValue make_object(Object value = {});

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  // True for both integers and non-integral numbers.
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kDouble; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // The accessors below throw RtError when the value has another kind.
  bool as_bool() const;
  int64_t as_int() const;
  // Returns the number as a double; integers are converted.
  double as_double() const;
  const std::string &as_string() const;
  const Array &as_array() const;
  Array &as_array();
  const Object &as_object() const;
  Object &as_object();

  // Returns the first member named key of an object, nullptr when absent;
  // throws RtError when the value is not an object.
  const JsonValue *find(std::string_view key) const;

 private:
  void expect(Kind kind) const;

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0.0;
  std::string string_;
  Array array_;
  Object object_;
};

// The kind's name as used in messages: "null", "boolean", "integer", ...
const char *json_kind_name(JsonValue::Kind kind);

// Parses one JSON document (surrounding whitespace allowed); throws RtError
// "byte N: <what>" where N is the offset of the problem in text.
JsonValue parse_json(std::string_view text);

// Serialises value compactly (no spaces); throws RtError for non-finite
// doubles, which JSON cannot represent.
std::string to_json(const JsonValue &value);

// Escapes text for use between the quotes of a JSON string literal (quotes
// not included); bytes >= 0x80 are passed through unchanged.
std::string json_escape(std::string_view text);

}  // namespace rnnc_rt

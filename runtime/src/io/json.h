// JSON in the runtime is nlohmann::ordered_json (header-only, so the static
// runtime that ships with rnnc stays self-contained): members keep the order
// they are added in, which is the order the reports and safetensors headers
// are written in. nlohmann writes non-finite doubles as null.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace rnnc_rt {

using Json = nlohmann::ordered_json;

// The compact text of a report (one line, no newline). Bytes of strings that
// are not UTF-8 (a file name, say) become U+FFFD rather than an error.
inline std::string report_text(const Json &j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Prints j on one line of stdout and flushes it, so that a reader of a pipe
// sees each line (train's epochs) when it is written.
inline void print_json_line(const Json &j) {
  std::printf("%s\n", report_text(j).c_str());
  std::fflush(stdout);
}

}  // namespace rnnc_rt

// Errors inside the runtime. Internally the runtime throws RtError; the C API
// catches it at the boundary, stores the message for <name>_last_error() and
// returns a failure code.
#pragma once

#include <stdexcept>
#include <string>

namespace rnnc_rt {

class RtError : public std::runtime_error {
 public:
  explicit RtError(const std::string &message) : std::runtime_error(message) {}
};

// The calling thread's last error message ("" when none).
const char *last_error();
void set_last_error(const std::string &message);

}  // namespace rnnc_rt

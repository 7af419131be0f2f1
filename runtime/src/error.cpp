#include "error.h"

namespace rnnc_rt {
namespace {
thread_local std::string g_last_error;
}

const char *last_error() { return g_last_error.c_str(); }
void set_last_error(const std::string &message) { g_last_error = message; }

}  // namespace rnnc_rt

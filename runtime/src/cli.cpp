#include "cli.h"

#include "rnnc/edit_distance.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace rnnc_rt {

Options::Options(std::string command, std::string summary, std::vector<OptionSpec> specs)
    : command_(std::move(command)), summary_(std::move(summary)), specs_(std::move(specs)) {}

const OptionSpec *Options::find(const std::string &name) const {
  for (const auto &s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

bool Options::parse(const std::vector<std::string> &args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    if (a == "--help" || a == "-h") return false;
    if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    bool inline_value = false;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const OptionSpec *spec = find(name);
    if (!spec) {
      std::vector<std::string> names;
      for (const auto &s : specs_) names.push_back(s.name);
      const std::string best = nearest_option(name, names);
      throw UsageError("unknown option '--" + name + "' for '" + command_ + "'" +
                       (best.empty() ? "" : "; did you mean '--" + best + "'?"));
    }
    if (spec->metavar.empty()) {
      if (inline_value) throw UsageError("option '--" + name + "' takes no value");
      values_[name] = "1";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) throw UsageError("option '--" + name + "' needs a value (" + spec->metavar + ")");
      value = args[++i];
    }
    if (values_.count(name)) throw UsageError("option '--" + name + "' is given twice");
    values_[name] = value;
  }
  for (const auto &s : specs_)
    if (s.required && !values_.count(s.name))
      throw UsageError("'" + command_ + "' needs --" + s.name + " " + s.metavar);
  return true;
}

std::string Options::usage(const std::string &program) const {
  std::string u = "usage: " + program + " " + command_;
  for (const auto &s : specs_)
    if (s.required) u += " --" + s.name + " " + s.metavar;
  u += " [options]\n\n" + summary_ + "\n\noptions:\n";
  for (const auto &s : specs_) {
    std::string left = "  --" + s.name + (s.metavar.empty() ? "" : " " + s.metavar);
    if (left.size() < 28)
      left.resize(28, ' ');
    else
      left += "\n" + std::string(28, ' ');
    u += left + s.help + (s.required ? " (required)" : "") + "\n";
  }
  u += "  --help                    this text\n";
  return u;
}

bool Options::has(const std::string &name) const { return values_.count(name) > 0; }

std::string Options::str(const std::string &name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw UsageError("'" + command_ + "' needs --" + name);
  return it->second;
}

std::string Options::str_or(const std::string &name, const std::string &fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t Options::int_or(const std::string &name, int64_t fallback, int64_t lo, int64_t hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  errno = 0;
  char *end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    throw UsageError("--" + name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], not '" + it->second + "'");
  return v;
}

double Options::real_or(const std::string &name, double fallback, double lo, double hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char *end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi)
    throw UsageError("--" + name + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], not '" + it->second + "'");
  return v;
}

uint64_t Options::seed_or(const std::string &name, uint64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  errno = 0;
  char *end = nullptr;
  const unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
  if (it->second.empty() || it->second[0] == '-' || *end != '\0' || errno == ERANGE)
    throw UsageError("--" + name + " must be a non-negative integer, not '" + it->second + "'");
  return v;
}

}  // namespace rnnc_rt

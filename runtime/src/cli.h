// A small command-line parser for the generated programs (which must not
// depend on Boost): `--name value` / `--name=value` options and `--flag`s,
// with --help text, checked values and suggestions for misspellings.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnnc_rt {

// A mistake on the command line; the program prints it with the usage hint
// and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string &m) : std::runtime_error(m) {}
};

struct OptionSpec {
  std::string name;     // without dashes
  std::string metavar;  // empty for a flag
  std::string help;
  bool required = false;
};

class Options {
 public:
  Options(std::string command, std::string summary, std::vector<OptionSpec> specs);

  // Parses args (after the command name). Returns false when --help was
  // asked for (the caller prints usage()). Throws UsageError.
  bool parse(const std::vector<std::string> &args);
  std::string usage(const std::string &program) const;

  bool has(const std::string &name) const;
  std::string str(const std::string &name) const;  // required or present
  std::string str_or(const std::string &name, const std::string &fallback) const;
  int64_t int_or(const std::string &name, int64_t fallback, int64_t lo, int64_t hi) const;
  double real_or(const std::string &name, double fallback, double lo, double hi) const;
  uint64_t seed_or(const std::string &name, uint64_t fallback) const;

 private:
  const OptionSpec *find(const std::string &name) const;

  std::string command_, summary_;
  std::vector<OptionSpec> specs_;
  std::map<std::string, std::string> values_;
};

}  // namespace rnnc_rt

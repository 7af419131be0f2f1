// Fuzz target: the generated programs' option parser, with the options of
// `train`. The input is split at newlines into arguments; every argument
// list parses or is refused with a UsageError, and every value is then read
// the way the commands read them.
#include <cstdint>
#include <string>
#include <vector>

#include "cli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      args.emplace_back();
    } else {
      args.back() += static_cast<char>(data[i]);
    }
  }
  rnnc_rt::Options o("train", "fuzz",
                     {{"inputs", "X.npy", "inputs", true},
                      {"labels", "Y.npy", "labels", false},
                      {"epochs", "N", "epochs", false},
                      {"lr", "LR", "learning rate", false},
                      {"seed", "S", "seed", false},
                      {"resume", "", "a flag", false},
                      {"json", "", "a flag", false}});
  try {
    if (!o.parse(args)) {
      (void)o.usage("fuzz");
      return 0;
    }
    (void)o.str("inputs");
    (void)o.str_or("labels", "");
    (void)o.int_or("epochs", 10, 1, 1 << 20);
    (void)o.real_or("lr", 1e-3, 1e-12, 1e6);
    (void)o.seed_or("seed", 0);
    (void)o.has("resume");
  } catch (const rnnc_rt::UsageError &) {
  }
  return 0;
}

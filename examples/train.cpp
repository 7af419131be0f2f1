// train: a few training steps of the tiny_classifier model on a small
// deterministic batch, printing the loss. A C++ program linking the shared
// library that rnnc_add_model built (see CMakeLists.txt).
//
//   train [--steps N] [--save W.safetensors]
//
// The batch: 32 sequences of 6 token ids from a fixed pseudo-random stream,
// each labelled with its first token modulo 3, so the network has to carry
// the first step through the GRU to the end. Prints the inference-mode loss
// before training, every step's training loss, and the loss after; exits
// non-zero when a call fails or a loss is not finite.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tiny_classifier.h"

namespace {

struct ModelCloser {
  void operator()(tiny_classifier_model *m) const { tiny_classifier_close(m); }
};
using ModelPtr = std::unique_ptr<tiny_classifier_model, ModelCloser>;

// Prints what failed with the model's own message; returns the exit status.
int fail(const char *what) {
  std::fprintf(stderr, "train: %s failed: %s\n", what, tiny_classifier_last_error());
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  int steps = 20;
  const char *save_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--save") == 0 && i + 1 < argc) {
      save_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: train [--steps N] [--save W.safetensors]\n");
      return 2;
    }
  }
  if (steps < 1) {
    std::fprintf(stderr, "train: --steps must be at least 1\n");
    return 2;
  }

  constexpr int64_t n = 32, t = 6;
  std::vector<int32_t> tokens(n * t), labels(n);
  uint32_t state = 12345;  // a linear congruential stream: the same batch on every run
  for (int64_t i = 0; i < n * t; ++i) {
    state = state * 1664525u + 1013904223u;
    tokens[i] = static_cast<int32_t>((state >> 16) % TINY_CLASSIFIER_VOCAB);
  }
  for (int64_t i = 0; i < n; ++i) labels[i] = tokens[i * t] % 3;

  ModelPtr model(tiny_classifier_init(0));
  if (!model) return fail("tiny_classifier_init");
  double before = 0, after = 0;
  if (tiny_classifier_loss(model.get(), tokens.data(), nullptr, labels.data(), n, t, &before) != 0)
    return fail("tiny_classifier_loss");
  std::printf("loss before %.6f\n", before);
  for (int s = 0; s < steps; ++s) {
    double loss = 0;
    if (tiny_classifier_train_step(model.get(), tokens.data(), nullptr, labels.data(), n, t, &loss) != 0)
      return fail("tiny_classifier_train_step");
    std::printf("step %d loss %.6f\n", s + 1, loss);
    if (!std::isfinite(loss)) {
      std::fprintf(stderr, "train: the loss of step %d is not finite\n", s + 1);
      return 1;
    }
  }
  if (tiny_classifier_loss(model.get(), tokens.data(), nullptr, labels.data(), n, t, &after) != 0)
    return fail("tiny_classifier_loss");
  std::printf("loss after %.6f\n", after);
  if (save_path && tiny_classifier_save(model.get(), save_path) != 0) return fail("tiny_classifier_save");
  return 0;
}

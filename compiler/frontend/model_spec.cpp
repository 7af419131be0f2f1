#include "frontend/model_spec.h"

namespace rnnc {

const char *to_string(InputKind k) { return k == InputKind::kTokens ? "tokens" : "features"; }

const char *to_string(LayerKind k) {
  switch (k) {
    case LayerKind::kEmbedding:
      return "embedding";
    case LayerKind::kRnn:
      return "rnn";
    case LayerKind::kLstm:
      return "lstm";
    case LayerKind::kGru:
      return "gru";
    case LayerKind::kReadout:
      return "readout";
    case LayerKind::kDropout:
      return "dropout";
    case LayerKind::kLinear:
      return "linear";
  }
  return "?";
}

const char *to_string(ReadoutMode m) {
  switch (m) {
    case ReadoutMode::kLast:
      return "last";
    case ReadoutMode::kAll:
      return "all";
    case ReadoutMode::kMean:
      return "mean";
  }
  return "?";
}

const char *to_string(Nonlinearity n) { return n == Nonlinearity::kTanh ? "tanh" : "relu"; }

const char *to_string(LossKind k) {
  switch (k) {
    case LossKind::kNone:
      return "none";
    case LossKind::kCrossEntropy:
      return "cross_entropy";
    case LossKind::kMse:
      return "mse";
  }
  return "?";
}

const char *to_string(OptimizerKind k) { return k == OptimizerKind::kAdam ? "adam" : "sgd"; }

}  // namespace rnnc

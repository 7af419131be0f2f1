// `rnnc import`: an ONNX model (read with the ONNX project's own protobuf
// classes) to an rnnc model file and safetensors weights with PyTorch's
// names and gate order.
//
// The importer interprets the graph abstractly: constants (initializers,
// Constant nodes and every node whose inputs are all constant) are folded;
// shapes taken of the data (Shape, Gather, Unsqueeze, Concat) stay symbolic
// in the batch and time sizes, so the zero initial states torch.onnx.export
// builds with ConstantOfShape are recognised; every other value is a view of
// one stage of the rnnc layer chain being built (the data, the embedding, a
// recurrent layer's Y / Y_h / Y_c, the readout, a linear layer), with its
// axes labelled (batch, time, directions, features). A node that does not
// map onto the chain fails with one message naming it, its op type and why.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace rnnc::onnx_import {

struct ImportOptions {
  std::string onnx_path;
  std::string toml_path;
  std::string weights_path;
};

// How the ONNX model's inputs and outputs map onto the generated program.
struct ImportReport {
  std::string model_name;
  std::vector<std::string> layers;    // one line per [[layers]] entry
  std::vector<std::string> bindings;  // "input 'X' [T, N, 3] → --inputs as [N, T, 3]", ...
};

// An ONNX model that cannot be imported; what() is the whole message
// ("<file>: node 'name' (LSTM): ...").
class ImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads opt.onnx_path and writes opt.toml_path and opt.weights_path (each
// atomically, and only once the whole model has been mapped and the written
// model file has been parsed back). Throws ImportError.
ImportReport import_onnx(const ImportOptions &opt);

}  // namespace rnnc::onnx_import

// Training reports: the per-epoch metrics CSV and the loss/accuracy plot
// written beside the checkpoint.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rnnc_rt {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  std::optional<double> train_acc;  // absent for MSE
  std::optional<double> val_loss, val_acc;
  double seconds = 0;
};

// Reads a metrics CSV written by write_metrics_csv ("" when absent);
// rows after `up_to_epoch` are dropped (a resumed run rewrites them).
std::vector<EpochMetrics> read_metrics_csv(const std::string &path, int64_t up_to_epoch);

// Writes `epoch,train_loss,train_acc,val_loss,val_acc,seconds` atomically.
void write_metrics_csv(const std::string &path, const std::vector<EpochMetrics> &rows);

// Writes an SVG with two panels (loss, accuracy) against the epoch, train
// and validation curves, atomically.
void write_curves_svg(const std::string &path, const std::string &title, const std::vector<EpochMetrics> &rows);

// One named series of values at x = 0, 1, 2, ...
struct LogCurve {
  std::string name;
  std::vector<double> values;
};

// Writes an SVG of the curves against x with a logarithmic y axis (values
// <= 0 are left out), atomically.
void write_log_curves_svg(const std::string &path, const std::string &title, const std::string &x_label,
                          const std::vector<LogCurve> &curves);

}  // namespace rnnc_rt

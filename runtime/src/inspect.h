// What a batch's recurrent sub-layers hold after a forward (h_t, c_t per
// step) and after a training backward (dL/dh_t per step), indexed by
// sequence (input order) and input position, whatever the direction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/json.h"
#include "model.h"

namespace rnnc_rt {

// "layers.1 lstm layer 0 forward"-style name of state s, and its direction.
std::string state_name(const ModelDesc &d, int32_t s);
const char *direction_name(const StateDesc &st);

// {"layer": "layers.<i>", "sublayer": k, "direction": ...}: how the JSON
// outputs name state s.
Json state_json(const StateDesc &st);

// h (which = 0) or c (which = 1) of state s after input position pos of
// sequence seq (pos < its length), from the last forward's workspace.
const float *state_value(const Model &m, int32_t s, int which, int64_t seq, int64_t pos);

// dL/dh_t of state s at (seq, pos) after the last training backward:
// hidden floats into dst. The model must have training lists.
void state_gradient(const Model &m, int32_t s, int64_t seq, int64_t pos, float *dst);

// Per-position sums over the valid (sequence, unit) values of one state,
// accumulated over batches: count, sum and sum of squares.
struct StepMoments {
  std::vector<int64_t> count;
  std::vector<double> sum, sum_sq;
  explicit StepMoments(int64_t t = 0) : count(t, 0), sum(t, 0.0), sum_sq(t, 0.0) {}
  // Mean and population standard deviation at position t (count > 0).
  double mean(int64_t t) const { return sum[t] / static_cast<double>(count[t]); }
  double stddev(int64_t t) const;
};

// Adds state s's h or c values of the current batch to `acc` (positions < acc's length).
void add_state_moments(const Model &m, int32_t s, int which, StepMoments &acc);

// The Frobenius norm of dL/dh_t over every valid row at each input
// position t < t_len (0 where no sequence is that long), after a backward.
std::vector<double> per_step_gradient_norms(const Model &m, int32_t s, int64_t t_len);

// Hidden-state outputs of the current batch grouped by sub-layer: for each
// (layer, sublayer) in model order, [n, t_len, directions * H] with the
// forward half first and zeros at padded positions, appended to `out`
// (whose entries the first call creates; later calls append rows).
struct SublayerOutput {
  int32_t layer = 0, sublayer = 0;
  int64_t width = 0;
  std::vector<int32_t> states;  // forward, then reverse
  std::vector<float> data;
};
std::vector<SublayerOutput> sublayer_outputs_layout(const ModelDesc &d);
void append_sublayer_outputs(const Model &m, int64_t t_len, std::vector<SublayerOutput> &out);

}  // namespace rnnc_rt

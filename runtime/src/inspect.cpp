#include "inspect.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"

namespace rnnc_rt {

namespace {

// Row `row` of buffer `id`, its view resolved: for a state buffer row 0 is
// the first initial-state row.
const float *buffer_row(const Model &m, int32_t id, int64_t row) {
  const MatrixView v = m.ws.view(id);
  return v.host() + row * v.stride;
}

// The packed row (in the state's own row order) of input position pos of seq.
int64_t packed_row(const Model &m, const StateDesc &st, int64_t seq, int64_t pos) {
  const int64_t len = m.geo.lengths[seq];
  return m.geo.row(seq, st.reverse ? len - 1 - pos : pos);
}

}  // namespace

const char *direction_name(const StateDesc &st) { return st.reverse ? "reverse" : "forward"; }

std::string state_name(const ModelDesc &d, int32_t s) {
  const StateDesc &st = d.states[s];
  std::string kind = "rnn";
  for (int32_t i = 0; i < d.num_layers; ++i)
    if (d.layers[i].index == st.layer) kind = d.layers[i].kind;
  return "layers." + std::to_string(st.layer) + " " + kind + " layer " + std::to_string(st.sublayer) + " " +
         direction_name(st);
}

Json state_json(const StateDesc &st) {
  return {
      {"layer", "layers." + std::to_string(st.layer)}, {"sublayer", st.sublayer}, {"direction", direction_name(st)}};
}

const float *state_value(const Model &m, int32_t s, int which, int64_t seq, int64_t pos) {
  const StateDesc &st = m.desc->states[s];
  const int32_t buf = which == 0 ? st.h_buffer : st.c_buffer;
  return buffer_row(m, buf, m.geo.n + packed_row(m, st, seq, pos));
}

void state_gradient(const Model &m, int32_t s, int64_t seq, int64_t pos, float *dst) {
  const StateDesc &st = m.desc->states[s];
  if (st.out_grad_buffer < 0 || st.rec_grad_buffer < 0) throw RtError("the model has no backward pass");
  const int64_t r = packed_row(m, st, seq, pos);
  const float *above = buffer_row(m, st.out_grad_buffer, r);
  const float *through = buffer_row(m, st.rec_grad_buffer, m.geo.n + r);
  for (int32_t j = 0; j < st.hidden; ++j) dst[j] = above[j] + through[j];
}

double StepMoments::stddev(int64_t t) const {
  const double mu = mean(t);
  return std::sqrt(std::max(0.0, sum_sq[t] / static_cast<double>(count[t]) - mu * mu));
}

void add_state_moments(const Model &m, int32_t s, int which, StepMoments &acc) {
  const StateDesc &st = m.desc->states[s];
  const int64_t h = which == 0 ? st.hidden : st.c_hidden, t_len = static_cast<int64_t>(acc.count.size());
  for (int64_t i = 0; i < m.geo.n; ++i)
    for (int64_t p = 0; p < std::min<int64_t>(m.geo.lengths[i], t_len); ++p) {
      const float *v = state_value(m, s, which, i, p);
      for (int64_t j = 0; j < h; ++j) {
        acc.sum[p] += v[j];
        acc.sum_sq[p] += static_cast<double>(v[j]) * v[j];
      }
      acc.count[p] += h;
    }
}

std::vector<double> per_step_gradient_norms(const Model &m, int32_t s, int64_t t_len) {
  const int64_t h = m.desc->states[s].hidden;
  std::vector<double> sq(t_len, 0.0);
  std::vector<float> g(h);
  for (int64_t i = 0; i < m.geo.n; ++i)
    for (int64_t p = 0; p < std::min<int64_t>(m.geo.lengths[i], t_len); ++p) {
      state_gradient(m, s, i, p, g.data());
      for (float v : g) sq[p] += static_cast<double>(v) * v;
    }
  for (double &v : sq) v = std::sqrt(v);
  return sq;
}

std::vector<SublayerOutput> sublayer_outputs_layout(const ModelDesc &d) {
  std::vector<SublayerOutput> out;
  for (int32_t s = 0; s < d.num_states; ++s) {
    const StateDesc &st = d.states[s];
    if (out.empty() || out.back().layer != st.layer || out.back().sublayer != st.sublayer) {
      SublayerOutput o;
      o.layer = st.layer;
      o.sublayer = st.sublayer;
      out.push_back(o);
    }
    out.back().states.push_back(s);
    out.back().width += st.hidden;
  }
  return out;
}

void append_sublayer_outputs(const Model &m, int64_t t_len, std::vector<SublayerOutput> &out) {
  const int64_t n = m.geo.n;
  for (SublayerOutput &o : out) {
    const size_t first = o.data.size();
    o.data.resize(first + static_cast<size_t>(n * t_len * o.width), 0.0f);
    float *dst = o.data.data() + first;
    int64_t col = 0;
    for (int32_t s : o.states) {
      const int64_t h = m.desc->states[s].hidden;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t p = 0; p < m.geo.lengths[i]; ++p)
          std::memcpy(dst + (i * t_len + p) * o.width + col, state_value(m, s, 0, i, p), sizeof(float) * h);
      col += h;
    }
  }
}

}  // namespace rnnc_rt

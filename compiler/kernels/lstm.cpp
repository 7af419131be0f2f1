// LSTM step, gates in PyTorch order (i, f, g, o):
//   c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c').
// With a projection (PyTorch's proj_size): h' = W_hr (o ⊙ tanh(c')), and
// the recurrent product reads the proj-wide h.
// Variants (ONNX's LSTM attributes and inputs):
//   peepholes: a_i += p_i ⊙ c, a_f += p_f ⊙ c, a_o += p_o ⊙ c' (p = [p_i, p_f, p_o]);
//   input_forget: f = 1 - i (the forget gate's own pre-activation is unused);
//   clip: every gate pre-activation clamped to [-clip, clip] before its
//   activation (tanh(c') is not clipped); in training the kernel also saves
//   which gates were not clamped (detail::pack_clip_mask).
#include "kernels/algorithms.h"
#include "kernels/fast_math.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

CellAlgorithm lstm_step_fwd(const KernelDesc &d) {
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  const int sw = static_cast<int>(d.state_width());
  ImageParam xp = matrix_input("xp", 2, 4 * h);
  ImageParam h_prev = matrix_input("h_prev", 2, sw);
  ImageParam c_prev = matrix_input("c_prev", 2, h);
  ImageParam w = detail::packed_weights("w", d, 4, sw, h);
  a.inputs = {xp, h_prev, c_prev, w};
  ImageParam w_hr;
  if (d.proj > 0) {
    w_hr = detail::packed_weights("w_hr", d, 1, h, sw);
    a.inputs.push_back(w_hr);
  }
  ImageParam bias = detail::vector_input("bias", 4 * h);
  a.inputs.push_back(bias);
  ImageParam peep;
  if (d.peephole) {
    peep = detail::vector_input("peephole", 3 * h);
    a.inputs.push_back(peep);
  }
  Param<float> clip("clip");
  if (d.clip) a.inputs.push_back(clip);

  // The cell over units (j, r): without a projection it is the kernel's
  // output; with one it is a first stage (`pre`, over all h units) whose
  // m = o ⊙ tanh(c) the projection product then reads.
  PackedProduct &gates_prod = d.proj > 0 ? a.pre_prod : a.prod;
  detail::define_step_product(gates_prod, w, h_prev, sw, 4);
  Var &j = d.proj > 0 ? a.pj : a.j;
  Var &r = d.proj > 0 ? a.pr : a.r;
  j = Var(d.proj > 0 ? "pj" : "j");
  r = Var(d.proj > 0 ? "pr" : "r");
  auto pre = [&](int g) { return gates_prod.mm(j % tile, g, j / tile, r) + xp(g * h + j, r) + bias(g * h + j); };
  auto bounded = [&](Expr x) { return d.clip ? clamp(x, -clip, clip) : x; };
  Expr cp = c_prev(j, r);
  Expr ai = pre(0), af = pre(1), ag = pre(2);
  if (d.peephole) {
    ai += peep(j) * cp;
    af += peep(h + j) * cp;
  }
  Expr gi = sigmoid_f32(bounded(ai));
  Expr gf = d.input_forget ? 1.0f - gi : sigmoid_f32(bounded(af));
  Expr gg = tanh_f32(bounded(ag));
  Expr c = gf * cp + gi * gg;
  Expr ao = pre(3);
  if (d.peephole) ao += peep(2 * h + j) * c;
  Expr go = sigmoid_f32(bounded(ao));
  Expr m = go * tanh_f32(c);
  std::vector<Expr> cell = {m, c};
  if (d.train) {
    for (const Expr &e : {gi, gf, gg, go}) cell.push_back(e);
    if (d.clip) cell.push_back(detail::pack_clip_mask({ai, d.input_forget ? Expr() : af, ag, ao}, clip));
  }
  if (d.proj == 0) {
    a.out = Func("out");
    a.out(j, r) = Tuple(cell);
    detail::fix_output_width(a.out, h);
    return a;
  }
  // h = W_hr m; every other output is the cell stage's, and m itself in training.
  a.has_pre = true;
  a.pre = Func("cell");
  a.pre(j, r) = Tuple(cell);
  Func m_in("m_in");
  Var kk("mk"), rr("mr");
  m_in(kk, rr) = a.pre(kk, rr)[0];
  detail::define_packed_product(a.prod, w_hr, m_in, h, 1);
  a.j = Var("j");
  a.r = Var("r");
  a.out = Func("out");
  a.out(a.j, a.r) = a.prod.mm(a.j % tile, 0, a.j / tile, a.r);
  detail::fix_output_width(a.out, sw);
  // The signature's order: c, the gates and the clip mask (cell[1..]), then m (cell[0]) in training.
  std::vector<int> elements;
  for (size_t q = 1; q < cell.size(); ++q) elements.push_back(static_cast<int>(q));
  if (d.train) elements.push_back(0);
  for (int e : elements) {
    Func f("cell_out" + std::to_string(e));
    f(kk, rr) = a.pre(kk, rr)[e];
    detail::fix_output_width(f, h);
    a.more_outputs.push_back(f);
  }
  return a;
}

CellAlgorithm lstm_step_bwd(const KernelDesc &d) {
  // dh = dout + dh_next;  da_o = dh ⊙ tanh(c) ⊙ o(1-o) [⊙ m_o]
  // dc = dc_next + dh ⊙ o ⊙ (1 - tanh(c)^2) [+ da_o ⊙ p_o]
  // da_i = dc ⊙ g ⊙ i(1-i), da_f = dc ⊙ c_prev ⊙ f(1-f), da_g = dc ⊙ i ⊙ (1-g^2)
  //   (input_forget: da_i = dc ⊙ (g - c_prev) ⊙ i(1-i), da_f = 0), each [⊙ m]
  // dc_prev = dc ⊙ f [+ da_i ⊙ p_i + da_f ⊙ p_f];  dh_prev = W_hh^T da.
  // Peepholes: dp_i = da_i ⊙ c_prev, dp_f = da_f ⊙ c_prev, dp_o = da_o ⊙ c
  // per row (summed over rows and steps by the caller).
  // With a projection, dh stands for dL/dm = W_hr^T (dout + dh_next) and
  // dh_prev is proj wide.
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  const int sw = static_cast<int>(d.state_width());
  ImageParam dout = matrix_input("dout", 2, sw), dh_next = matrix_input("dh_next", 2, sw),
             dc_next = matrix_input("dc_next", 2, h), gi = matrix_input("gate_i", 2, h),
             gf = matrix_input("gate_f", 2, h), gg = matrix_input("gate_g", 2, h), go = matrix_input("gate_o", 2, h);
  a.inputs = {dout, dh_next, dc_next, gi, gf, gg, go};
  ImageParam mask;
  if (d.clip) {
    mask = matrix_input("clip_mask", 2, h);
    a.inputs.push_back(mask);
  }
  ImageParam c = matrix_input("c", 2, h), c_prev = matrix_input("c_prev", 2, h);
  ImageParam wt = detail::packed_weights("wt", d, 1, 4 * h, sw);
  a.inputs.push_back(c);
  a.inputs.push_back(c_prev);
  a.inputs.push_back(wt);
  ImageParam w_hr_t;
  if (d.proj > 0) {
    w_hr_t = detail::packed_weights("w_hr_t", d, 1, sw, h);
    a.inputs.push_back(w_hr_t);
  }
  ImageParam peep;
  if (d.peephole) {
    peep = detail::vector_input("peephole", 3 * h);
    a.inputs.push_back(peep);
  }
  a.backward = true;
  a.gates = 4;
  a.gate_width = h;
  a.j = Var("n");
  a.r = Var("r");
  a.k = Var("k");
  const Var &r = a.r;

  auto masked = [&](int g, Expr j, Expr v) { return d.clip ? v * detail::clip_mask_bit(mask(j, r), g) : v; };
  if (d.proj > 0) {
    a.has_pre = true;
    a.pj = Var("pj");
    a.pr = Var("pr");
    a.pre = Func("dh");
    a.pre(a.pj, a.pr) = dout(a.pj, a.pr) + dh_next(a.pj, a.pr);
    detail::fix_output_width(a.pre, sw);
    detail::define_packed_product(a.pre_prod, w_hr_t, a.pre, sw, 1);
    a.pre_result = Func("dm");
    Var mk("mk"), mr("mr");
    a.pre_result(mk, mr) = a.pre_prod.mm(mk % tile, 0, mk / tile, mr);
  }
  // dL/dh at unit j: through the projection (W_hr^T dL/dh') or direct.
  auto dh = [&](Expr j) { return d.proj > 0 ? a.pre_result(j, r) : dout(j, r) + dh_next(j, r); };
  auto dao = [&](Expr j) {
    Expr o = go(j, r), tc = tanh_f32(c(j, r));
    return masked(3, j, dh(j) * tc * o * (1.0f - o));
  };
  auto dc = [&](Expr j) {
    Expr tc = tanh_f32(c(j, r));
    Expr v = dc_next(j, r) + dh(j) * go(j, r) * (1.0f - tc * tc);
    return d.peephole ? v + dao(j) * peep(2 * h + j) : v;
  };
  auto dai = [&](Expr j) {
    Expr i = gi(j, r), g = gg(j, r);
    Expr di = d.input_forget ? dc(j) * (g - c_prev(j, r)) : dc(j) * g;
    return masked(0, j, di * i * (1.0f - i));
  };
  auto daf = [&](Expr j) {
    if (d.input_forget) return Expr(0.0f);
    Expr f = gf(j, r);
    return masked(1, j, dc(j) * c_prev(j, r) * f * (1.0f - f));
  };
  auto dag = [&](Expr j) {
    Expr g = gg(j, r);
    return masked(2, j, dc(j) * gi(j, r) * (1.0f - g * g));
  };
  Expr j = a.j % h, gate = a.j / h;
  a.out = Func("da");
  a.out(a.j, r) = select(gate == 0, dai(j), gate == 1, daf(j), gate == 2, dag(j), dao(j));
  detail::fix_output_width(a.out, 4 * h);
  a.dh_prev = Func("dh_prev");
  a.dh_prev(a.k, r) = detail::define_dh_prev_product(a, wt, a.out, 4 * h, tile);
  detail::fix_output_width(a.dh_prev, sw);
  Func dc_prev("dc_prev");
  Expr dcp = dc(a.k) * gf(a.k, r);
  if (d.peephole) dcp += dai(a.k) * peep(a.k) + daf(a.k) * peep(h + a.k);
  dc_prev(a.k, r) = dcp;
  detail::fix_output_width(dc_prev, h);
  a.more_outputs = {a.dh_prev, dc_prev};
  a.unit_outputs = {dc_prev};
  if (d.peephole) {
    Func dp_i("dpeephole_i"), dp_f("dpeephole_f"), dp_o("dpeephole_o");
    dp_i(a.k, r) = dai(a.k) * c_prev(a.k, r);
    dp_f(a.k, r) = daf(a.k) * c_prev(a.k, r);
    dp_o(a.k, r) = dao(a.k) * c(a.k, r);
    for (Func *f : {&dp_i, &dp_f, &dp_o}) {
      detail::fix_output_width(*f, h);
      a.more_outputs.push_back(*f);
      a.unit_outputs.push_back(*f);
    }
  }
  if (d.proj > 0) a.more_outputs.push_back(a.pre);
  return a;
}

}  // namespace rnnc::kernels

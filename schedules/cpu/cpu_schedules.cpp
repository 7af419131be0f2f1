#include "cpu/cpu_schedules.h"

#include "cpu/cpu_families.h"

#include <algorithm>

namespace rnnc::schedules {

using namespace Halide;
using kernels::Family;
using kernels::KernelDesc;

namespace {

// Work (flops per call) below which a kernel runs on one thread: handing
// half the units to the second thread and joining costs more than it saves.
// With Halide's pool (measured 2026-11-26, 2-core Zen 5 VM) single rows
// gained nothing up to 4 MFLOP, its wake-up costing what the second core
// saved; with the runtime's spinning pool (runtime/src/parallel.cpp,
// schedules/cpu/NOTES.md) a one-row GRU step of 0.39 MFLOP (H = 256) runs
// 1.6x faster on two threads and an RNN step of 0.13 MFLOP does not gain, so
// the threshold sits between them.
constexpr int64_t kParallelFlops = 1 << 18;

// Vector accumulators a register tile may use: AVX-512 has 32 vector
// registers, AVX2 16; the rest hold weights and broadcasts.
int accumulator_budget(int vector) { return vector >= 16 ? 24 : 12; }

int pow2_at_least(int64_t n, int lo) {
  int p = lo;
  while (p < n) p *= 2;
  return p;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The product mm(ji, g, jo, r) is computed per register tile of the consumer:
// `tile` hidden units x its gates x the rows of the tile, accumulated over k
// with the accumulators in registers.
// With row_units, a tile of several rows (rows >= row_tile) accumulates its
// units in groups of row_units, one group's accumulators live across the k
// loop at a time: the packed tile is sized for one row (its gates x tile /
// vector accumulators), the group for row_tile rows (schedules/cpu/NOTES.md).
void product_at(kernels::PackedProduct &p, const Func &consumer, const Var &at, const ScheduleParams &s,
                const Expr &rows) {
  p.mm.compute_at(consumer, at).bound(p.ji, 0, s.tile).vectorize(p.ji, s.vector).unroll(p.ji);
  // The register tile: units (vectors) x gates x rows, unrolled inside k.
  auto registers = [&](Stage st, const Var &units) {
    st.vectorize(units, s.vector).unroll(units).unroll(p.g).unroll(p.r);
  };
  Stage u = p.mm.update();
  if (s.row_units > 0 && s.row_units < s.tile && s.row_tile > 1) {
    Var jg("jg"), jv("jv");
    Stage grouped = u.specialize(rows >= s.row_tile);
    grouped.split(p.ji, jg, jv, s.row_units).reorder(jv, p.g, p.r, p.k.x, jg);
    registers(grouped, jv);
  }
  u.reorder(p.ji, p.g, p.r, p.k.x);
  registers(u, p.ji);
}

// Tiles out(j, r) (which consumes `p`) into register tiles of `tile` units x
// `row_tile` rows. Without column blocks the loops are jo { ro { ri { ji } } }:
// each thread owns a slice of units, so its weight tiles stay in its cache
// across rows (cell steps, small products). With blocks of `block_tiles`
// tiles they are jb { ro { jt { ri { ji } } } }: a block of weights stays in
// L2 while every row passes by, rows split across threads (large products).
// Products (block_tiles > 0) always take the blocked order, a single block
// when all their weights fit: a row tile's (gathered, staged) inputs are then
// read once per block instead of once per unit tile (schedules/cpu/NOTES.md).
// Specialised on the runtime row count: threads above the parallel
// threshold, row tiles when there are enough rows, one row at a time below.
void tile_rows_and_units(Func &out, const Var &j, const Var &r, std::vector<kernels::PackedProduct> prods,
                         const ScheduleParams &s, int64_t units, int block_tiles, Expr rows = Expr()) {
  Var jo("jo_t"), ji("ji_t"), ro("ro_t"), ri("ri_t"), jb("jb_t"), jt("jt_t");
  if (!rows.defined()) rows = out.output_buffers()[0].dim(1).extent();
  const int64_t unit_tiles = ceil_div(units, s.tile);
  const bool blocked = block_tiles > 0;
  block_tiles = static_cast<int>(std::min<int64_t>(block_tiles, unit_tiles));
  const bool guard = units % s.tile != 0;
  auto apply = [&](Stage st, int row_tile, bool parallel) {
    st.split(j, jo, ji, s.tile, guard ? TailStrategy::GuardWithIf : TailStrategy::Auto)
        .split(r, ro, ri, row_tile, row_tile > 1 ? TailStrategy::ShiftInwards : TailStrategy::Auto);
    if (blocked) {
      st.split(jo, jb, jt, block_tiles, TailStrategy::GuardWithIf).reorder(ji, ri, jt, ro, jb);
      if (parallel) st.parallel(ro);
    } else {
      st.reorder(ji, ri, ro, jo);
      // One unit tile (a narrow product: a head, an input gradient into a
      // small embedding): the row tiles go across threads instead.
      if (parallel) st.parallel(unit_tiles > 1 ? jo : ro);
    }
    st.vectorize(ji, s.vector).unroll(ri);
  };
  // Specialisations are tried in order; equal conditions would name the same
  // specialisation twice, so the row-tiled one is skipped when the parallel
  // one already starts at row_tile rows.
  const bool can_parallel = s.parallel_rows > 0;
  const int parallel_from = std::max(s.parallel_rows, s.row_tile);
  if (can_parallel) apply(out.specialize(rows >= parallel_from), s.row_tile, true);
  // Fewer rows than a row tile but enough work per step (a large layer at a
  // small batch): one row at a time, still over both threads' units.
  if (can_parallel && s.parallel_rows < s.row_tile) apply(out.specialize(rows >= s.parallel_rows), 1, true);
  if (s.row_tile > 1 && !(can_parallel && parallel_from == s.row_tile))
    apply(out.specialize(rows >= s.row_tile), s.row_tile, false);
  apply(out, 1, false);
  for (kernels::PackedProduct &p : prods) {
    product_at(p, out, blocked ? jt : ro, s, rows);
    // A gathered operand is copied per row tile into a contiguous block
    // (schedules/cpu/NOTES.md): the register tile then broadcasts from fixed
    // offsets instead of recomputing each row's address in the k loop.
    if (p.gather) p.in.compute_at(out, ro).vectorize(p.in.args()[0], s.vector, TailStrategy::GuardWithIf);
  }
}

bool is_step(Family f) {
  return f == Family::kRnnStepFwd || f == Family::kLstmStepFwd || f == Family::kGruStepFwd ||
         f == Family::kRnnStepBwd || f == Family::kLstmStepBwd || f == Family::kGruStepBwd;
}
bool is_step_bwd(Family f) { return f == Family::kRnnStepBwd || f == Family::kLstmStepBwd || f == Family::kGruStepBwd; }

int64_t parallel_rows_for(int64_t flops_per_row) {
  return std::max<int64_t>(1, ceil_div(kParallelFlops, std::max<int64_t>(flops_per_row, 1)));
}

}  // namespace

ScheduleParams default_cpu_params(const KernelDesc &d, const Target &target) {
  return cpu_family(d.family).defaults(d, target);
}

ScheduleParams gemm_fwd_defaults(const KernelDesc &d, const Target &target) {
  const int nv = target.natural_vector_size<float>();
  ScheduleParams s;
  s.tile = d.n >= 2 * nv ? 2 * nv : pow2_at_least(std::min<int64_t>(d.n, nv), 4);
  s.vector = std::min(nv, s.tile);
  s.row_tile = std::max(1, std::min(8, accumulator_budget(nv) / (s.tile / s.vector)));
  s.parallel_rows = static_cast<int>(parallel_rows_for(2 * d.k * d.n));
  // Weight blocks as large as a core's L2 (1 MiB on the AVX-512 parts seen,
  // 512 KiB on the AVX2 ones): the rows pass over the weights n / block
  // times, and each pass re-reads every input row from L3 or memory
  // (schedules/cpu/NOTES.md: 256 -> 1024 KiB, 68 -> 58 ms on c lstm's
  // input projection).
  s.block_kib = nv >= 16 ? 1024 : 512;
  return s;
}

ScheduleParams step_defaults(const KernelDesc &d, const Target &target) {
  // Forward: a register tile holds the g gates of its units for each row.
  // Backward: dh_prev = W^T da, whose units are the h inputs of W, reduced
  // over g*h: one accumulator per unit and row.
  // The tile holds enough vectors for four accumulators per row where the
  // gates allow (rnn and every backward: 4 vectors, lstm: 1; the GRU's three
  // gates give it three), so that a single row (batch 1, a row tile's tail)
  // is not bound by the FMA latency; rows fill the rest of the budget. A wider
  // one-row tile taken in groups of row_units by the tiles of several rows
  // (the GRU: tile 64, row_units 16) is left to `rnnc tune`: it is 15-30 %
  // faster at batch 1 and 8-16 % slower at batch 64 (schedules/cpu/NOTES.md).
  const int nv = target.natural_vector_size<float>();
  const bool backward = is_step_bwd(d.family);
  const int gates = backward ? 1 : d.g;
  ScheduleParams s;
  s.tile = pow2_at_least(std::min<int64_t>(d.h, int64_t{nv} * std::max(1, 4 / gates)), 4);
  s.vector = std::min(nv, s.tile);
  s.row_tile = std::max(1, std::min(8, accumulator_budget(nv) / (s.tile / s.vector * gates)));
  s.parallel_rows = static_cast<int>(parallel_rows_for(2 * d.g * d.h * d.h));
  return s;
}

ScheduleParams gemm_wgrad_defaults(const KernelDesc &d, const Target &target) {
  const int nv = target.natural_vector_size<float>();
  ScheduleParams s;
  s.tile = d.k >= 2 * nv ? 2 * nv : pow2_at_least(std::min<int64_t>(d.k, nv), 4);
  s.vector = std::min(nv, s.tile);
  s.row_tile = std::max(1, accumulator_budget(nv) / (s.tile / s.vector) - 4);  // output rows (n) per register tile
  s.parallel_rows = 1;
  return s;
}

namespace {

// Elementwise maps over rows of `width` columns: one vector per row slice.
ScheduleParams map_defaults(int64_t width, const Target &target) {
  const int nv = target.natural_vector_size<float>();
  ScheduleParams s;
  s.tile = pow2_at_least(std::min<int64_t>(width, nv), 4);
  s.vector = s.tile;
  s.row_tile = 1;
  s.parallel_rows = 0;
  return s;
}

}  // namespace

ScheduleParams unit_defaults(const KernelDesc &d, const Target &target) { return map_defaults(d.h * d.dirs, target); }

ScheduleParams column_defaults(const KernelDesc &d, const Target &target) { return map_defaults(d.n, target); }

ScheduleParams flat_defaults(const KernelDesc &, const Target &target) {
  const int nv = target.natural_vector_size<float>();
  ScheduleParams s;
  s.tile = nv;
  s.vector = nv;
  s.row_tile = 1;
  s.parallel_rows = 1 << 16;  // elements
  s.split = s.parallel_rows / 4;
  return s;
}

namespace {

// Vector accumulators live at once: the larger of a tile of row_tile rows
// (row_units or tile units) and a one-row tile (tile units).
int accumulators(const KernelDesc &d, const ScheduleParams &p) {
  const int gates = is_step(d.family) && !is_step_bwd(d.family) ? d.g : 1;
  const int group = p.row_units > 0 && p.row_tile > 1 ? p.row_units : p.tile;
  return std::max(group / p.vector * gates * p.row_tile, p.tile / p.vector * gates);
}

}  // namespace

std::string cpu_params_problem(const KernelDesc &d, const ScheduleParams &p, const Target &target) {
  const int nv = target.natural_vector_size<float>();
  auto str = [](int v) { return std::to_string(v); };
  if (p.vector < 1 || (p.vector & (p.vector - 1)) != 0 || p.vector > nv)
    return "vector " + str(p.vector) + " is not a power of two up to the target's " + str(nv) + " floats";
  if (p.tile < p.vector || p.tile % p.vector != 0 || p.tile > 256)
    return "tile " + str(p.tile) + " is not a multiple of the vector width " + str(p.vector) + " (at most 256)";
  if (p.row_tile < 1 || p.row_tile > 32) return "row_tile " + str(p.row_tile) + " is outside 1..32";
  if (p.parallel_rows < 0) return "parallel_rows is negative";
  if (p.block_kib < 0 || p.row_chunk < 1 || p.split < 1 || p.pack_vector < 1) return "a size is not positive";
  if (p.row_units != 0) {
    if (!is_step(d.family)) return "row_units applies to steps only";
    if (p.row_units < p.vector || p.row_units % p.vector || p.tile % p.row_units)
      return "row_units " + str(p.row_units) + " is not a multiple of the vector " + str(p.vector) +
             " dividing the tile " + str(p.tile);
  }
  const bool tiled = d.family == Family::kGemmFwd || d.family == Family::kGemmWgrad || is_step(d.family);
  if (tiled) {
    const int budget = accumulator_budget(nv);
    // Forward steps and products with row tiles keep gates x tile/vector x
    // row_tile accumulators live; beyond the register file they spill.
    if (d.family != Family::kGemmWgrad && accumulators(d, p) > budget)
      return str(accumulators(d, p)) + " vector accumulators exceed the register budget of " + str(budget);
    if (d.family == Family::kGemmWgrad && accumulators(d, p) > budget + 4)
      return str(accumulators(d, p)) + " vector accumulators exceed the register budget of " + str(budget + 4);
  }
  return "";
}

std::vector<ScheduleParams> cpu_tuning_space(const KernelDesc &d, const Target &target) {
  if (!cpu_family(d.family).tunable) return {};
  const int nv = target.natural_vector_size<float>();
  const ScheduleParams def = default_cpu_params(d, target);
  std::vector<ScheduleParams> out = {def};
  auto add = [&](const ScheduleParams &p) {
    if (!cpu_params_problem(d, p, target).empty()) return;
    for (const ScheduleParams &q : out)
      if (q == p) return;
    out.push_back(p);
  };
  const int64_t units = d.family == Family::kGemmFwd ? d.n : d.family == Family::kGemmWgrad ? d.k : d.h;
  std::vector<int> tiles;
  for (int t = std::max(4, nv / 2); t <= 4 * nv; t *= 2)
    if (t <= std::max<int64_t>(pow2_at_least(units, 4), nv)) tiles.push_back(t);
  const std::vector<int> parallel = {0, 1, def.parallel_rows, std::max(1, def.parallel_rows / 4),
                                     def.parallel_rows * 4};
  for (int tile : tiles)
    for (int vector : {nv, nv / 2}) {
      if (vector < 4 || tile % vector) continue;
      for (int row_tile = 1; row_tile <= 24; ++row_tile) {
        ScheduleParams p = def;
        p.tile = tile;
        p.vector = vector;
        p.row_tile = row_tile;
        if (d.family == Family::kGemmWgrad) {
          for (int chunk : {64, 128, 256, 512}) {
            p.row_chunk = chunk;
            add(p);
          }
          continue;
        }
        for (int par : parallel) {
          p.parallel_rows = par;
          if (d.family == Family::kGemmFwd) {
            for (int block : {0, 128, 256, 512, 1024}) {
              p.block_kib = block;
              add(p);
            }
          } else if (is_step(d.family)) {
            for (int group = 0; group < tile; group = group ? group * 2 : vector) {
              p.row_units = group;
              add(p);
            }
          } else {
            add(p);
          }
        }
      }
    }
  return out;
}

void schedule_cpu(kernels::PackAlgorithm &a, const KernelDesc &d) {
  // Runs once per weight update: vectorised over the tile, threads over tiles.
  a.out.vectorize(a.ji, std::min(d.sched.tile, d.sched.pack_vector)).parallel(a.jo);
}

void schedule_cpu(kernels::GemmAlgorithm &a, const KernelDesc &d) {
  // Blocks of weights sized to stay in an L2 share (block_kib; 0: none).
  const int64_t panel = 4 * d.k * d.sched.tile * d.terms;
  const int block_tiles =
      d.sched.block_kib > 0 ? static_cast<int>(std::max<int64_t>(1, (int64_t{d.sched.block_kib} << 10) / panel)) : 0;
  tile_rows_and_units(a.out, a.j, a.r, a.prods, d.sched, d.n, block_tiles);
}

namespace {

// Vectorises an elementwise output f(x, ...) over x.
void vectorize_first(Func f, int vector, int64_t width) {
  f.vectorize(f.args()[0], vector, width % vector ? TailStrategy::GuardWithIf : TailStrategy::Auto);
}

// Gate-major gradients a(n, r) with n = gate * width + j: one loop per gate,
// so that n / width and n % width fold to constants and j.
void schedule_gate_major(Func f, const Var &n, int width, int vector) {
  Var gate("gate"), j("j");
  f.split(n, gate, j, width, TailStrategy::Auto)
      .unroll(gate)
      .vectorize(j, vector, width % vector ? TailStrategy::GuardWithIf : TailStrategy::Auto);
}

}  // namespace

void schedule_cpu(kernels::CellAlgorithm &a, const KernelDesc &d) {
  const ScheduleParams &s = d.sched;
  const int64_t state = d.state_width();
  if (!a.backward && a.has_pre) {
    // Two products in a row: a first stage over every unit (the ONNX-form
    // GRU's r and z; the LSTM cell before its projection), tiled, blocked and
    // threaded like a step, then the output's product (schedules/cpu/NOTES.md).
    Expr rows = a.out.output_buffers()[0].dim(1).extent();
    a.pre.compute_root();
    tile_rows_and_units(a.pre, a.pj, a.pr, {a.pre_prod}, s, d.h, 0, rows);
    if (a.rh.defined()) a.rh.compute_root().vectorize(a.rh.args()[0], s.vector, TailStrategy::GuardWithIf);
    for (Func f : a.more_outputs) vectorize_first(f, s.vector, d.h);
    tile_rows_and_units(a.out, a.j, a.r, {a.prod}, s, state, 0);
    return;
  }
  if (!a.backward) {
    tile_rows_and_units(a.out, a.j, a.r, {a.prod}, s, d.h, 0);
    return;
  }
  // Backward: gate gradients first (elementwise, all units), then the
  // product with W^T that gives dh_prev, tiled like a forward step.
  schedule_gate_major(a.out, a.j, a.gate_width, s.vector);
  for (Func f : a.gate_outputs) schedule_gate_major(f, f.args()[0], a.gate_width, s.vector);
  for (Func f : a.unit_outputs) vectorize_first(f, s.vector, d.h);
  if (a.has_pre) {
    // The first product (W_hn^T da_n, or the projection's W_hr^T dh) over
    // every unit, tiled like a step (schedules/cpu/NOTES.md).
    vectorize_first(a.pre.compute_root(), s.vector, state);
    Expr rows = a.dh_prev.output_buffers()[0].dim(1).extent();
    a.pre_result.compute_root();
    tile_rows_and_units(a.pre_result, a.pre_result.args()[0], a.pre_result.args()[1], {a.pre_prod}, s, d.h, 0, rows);
  }
  tile_rows_and_units(a.dh_prev, a.k, a.r, {a.prod}, s, state, 0);
}

void schedule_cpu(kernels::RowwiseAlgorithm &a, const KernelDesc &d) {
  const int64_t width = d.row_width();
  const int v = d.sched.vector;
  if (d.family == Family::kSoftmaxXent || d.family == Family::kMseLoss) {
    // Per-row reductions feed both outputs (the loss and its gradient).
    if (a.sum.defined()) a.sum.compute_root();
    if (a.acc_stage.defined()) a.acc_stage.compute_root();
    for (Func f : a.more_outputs) vectorize_first(f, v, width);
    return;
  }
  vectorize_first(a.out, v, width);
  for (Func f : a.more_outputs) vectorize_first(f, v, width);
  if (a.sum.defined()) {
    const TailStrategy tail = width % v ? TailStrategy::GuardWithIf : TailStrategy::Auto;
    a.sum.compute_at(a.out, a.s).vectorize(a.sum.args()[0], v, tail);
    a.sum.update().vectorize(a.sum.args()[0], v, tail);
  }
}

void schedule_cpu(kernels::ReductionAlgorithm &a, const KernelDesc &d) {
  const ScheduleParams &s = d.sched;
  switch (d.family) {
    case Family::kGemmWgrad: {
      // A product whose reduction runs over every packed row (thousands).
      // Rows are taken in chunks (rfactor); per chunk, every register tile of
      // `tile` inputs x row_tile outputs sums its partial product in
      // registers and adds it to the result, while the chunk of inputs stays
      // in cache for all tiles. The chunks are summed in order and threads
      // split output rows: the result does not depend on timing.
      Var u("u"), xo("xo"), xi("xi"), yo("yo"), yi("yi");
      RVar ro("ro"), ri("ri");
      a.out.vectorize(a.x, s.vector, TailStrategy::GuardWithIf).parallel(a.y);
      a.acc.compute_root().vectorize(a.x, s.vector, TailStrategy::GuardWithIf);
      Func partial = a.acc.update().split(a.rows.x, ro, ri, s.row_chunk, TailStrategy::GuardWithIf).rfactor(ro, u);
      a.acc.update()
          .tile(a.x, a.y, xo, yo, xi, yi, s.tile, s.row_tile, TailStrategy::GuardWithIf)
          .reorder(xi, yi, xo, yo, ro)
          .vectorize(xi, s.vector)
          .parallel(yo);
      const Var px = partial.args()[0], py = partial.args()[1];
      partial.compute_at(a.acc, xo)
          .bound_extent(px, s.tile)
          .bound_extent(py, s.row_tile)
          .vectorize(px, s.vector)
          .unroll(px)
          .unroll(py);
      partial.update().reorder(px, py, ri).vectorize(px, s.vector).unroll(px).unroll(py);
      // Both operands staged per chunk (schedules/cpu/NOTES.md): the inputs'
      // rows of the chunk gathered into one contiguous block, and each tile's
      // dy columns into a [row][row_tile] panel, so that the register tiles
      // read sequential, cache-resident memory instead of rows scattered
      // over pages.
      a.a_rows.compute_at(a.acc, ro).vectorize(a.a_rows.args()[0], s.vector, TailStrategy::GuardWithIf);
      a.dy_rows.compute_at(a.acc, yo).vectorize(a.dy_rows.args()[0], s.row_tile, TailStrategy::GuardWithIf);
      break;
    }
    case Family::kColSum: {
      // Rows outer, columns inner: each row is read contiguously and the sums
      // stay in L1. (Left to the default order, the row loop ran innermost:
      // one accumulator per 16 columns walking rows a page apart,
      // schedules/cpu/NOTES.md.) Wide outputs split their columns across
      // threads; each column is summed in row order either way.
      a.acc.compute_root().vectorize(a.x, s.vector, TailStrategy::GuardWithIf);
      Var xo("xo"), xi("xi");
      Stage u = a.acc.update();
      const int block = 512;
      if (d.n >= 2 * block) {
        u.split(a.x, xo, xi, block, TailStrategy::GuardWithIf).reorder(xi, a.rows.x, xo).parallel(xo);
        u.vectorize(xi, s.vector);
      } else {
        u.reorder(a.x, a.rows.x).vectorize(a.x, s.vector, TailStrategy::GuardWithIf);
      }
      break;
    }
    case Family::kScatterRows:
      // Rows land at data-dependent outputs: serial over rows, vectorised
      // over the columns.
      a.acc.compute_root().vectorize(a.x, s.vector, TailStrategy::GuardWithIf);
      a.acc.update().vectorize(a.x, s.vector, TailStrategy::GuardWithIf);
      break;
    default:  // sum of squares: a serial scalar reduction
      a.acc.compute_root();
      break;
  }
}

void schedule_cpu(kernels::ElementwiseAlgorithm &a, const KernelDesc &d) {
  // The runtime writes the results to fresh arrays (never in place: a
  // Tuple's elements may be stored before the next one is computed).
  const ScheduleParams &s = d.sched;
  Expr n = a.out.output_buffers()[0].dim(0).extent();
  Var io("io"), ii("ii");
  a.out.specialize(n >= s.parallel_rows)
      .split(a.i, io, ii, s.split, TailStrategy::GuardWithIf)
      .parallel(io)
      .vectorize(ii, s.vector, TailStrategy::GuardWithIf);
  a.out.vectorize(a.i, s.vector, TailStrategy::GuardWithIf);
}

}  // namespace rnnc::schedules

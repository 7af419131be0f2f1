#include "cpu/cpu_schedules.h"

#include <algorithm>

namespace rnnc::schedules {

using namespace Halide;
using kernels::Family;
using kernels::KernelDesc;

namespace {

// Work (flops per call) below which a kernel runs on one thread: waking the
// thread pool and joining costs more than it saves. See the measurement note
// in docs/schedules.md.
constexpr int64_t kParallelFlops = 1 << 20;

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
void product_at(kernels::PackedProduct &p, const Func &consumer, const Var &at, const ScheduleParams &s) {
  p.mm.compute_at(consumer, at).bound(p.ji, 0, s.tile).vectorize(p.ji, s.vector).unroll(p.ji);
  p.mm.update().reorder(p.ji, p.g, p.r, p.k.x).vectorize(p.ji, s.vector).unroll(p.ji).unroll(p.g).unroll(p.r);
}

// Tiles out(j, r) (which consumes `p`) into register tiles of `tile` units x
// `row_tile` rows. Without column blocks the loops are jo { ro { ri { ji } } }:
// each thread owns a slice of units, so its weight tiles stay in its cache
// across rows (cell steps, small products). With blocks of `block_tiles`
// tiles they are jb { ro { jt { ri { ji } } } }: a block of weights stays in
// L2 while every row passes by, rows split across threads (large products).
// Specialised on the runtime row count: threads above the parallel
// threshold, row tiles when there are enough rows, one row at a time below.
void tile_rows_and_units(Func &out, const Var &j, const Var &r, kernels::PackedProduct &p, const ScheduleParams &s,
                         int64_t units, int block_tiles) {
  Var jo("jo_t"), ji("ji_t"), ro("ro_t"), ri("ri_t"), jb("jb_t"), jt("jt_t");
  Expr rows = out.output_buffers()[0].dim(1).extent();
  const int64_t unit_tiles = ceil_div(units, s.tile);
  const bool blocked = block_tiles > 0 && block_tiles < unit_tiles;
  const bool guard = units % s.tile != 0;
  auto apply = [&](Stage st, int row_tile, bool parallel) {
    st.split(j, jo, ji, s.tile, guard ? TailStrategy::GuardWithIf : TailStrategy::Auto)
        .split(r, ro, ri, row_tile, row_tile > 1 ? TailStrategy::ShiftInwards : TailStrategy::Auto);
    if (blocked) {
      st.split(jo, jb, jt, block_tiles, TailStrategy::GuardWithIf).reorder(ji, ri, jt, ro, jb);
      if (parallel) st.parallel(ro);
    } else {
      st.reorder(ji, ri, ro, jo);
      if (parallel) st.parallel(jo);
    }
    st.vectorize(ji, s.vector).unroll(ri);
  };
  // Specialisations are tried in order; equal conditions would name the same
  // specialisation twice, so the row-tiled one is skipped when the parallel
  // one already starts at row_tile rows.
  const bool can_parallel = s.parallel_rows > 0 && (blocked || unit_tiles > 1);
  const int parallel_from = std::max(s.parallel_rows, s.row_tile);
  if (can_parallel) apply(out.specialize(rows >= parallel_from), s.row_tile, true);
  if (s.row_tile > 1 && !(can_parallel && parallel_from == s.row_tile))
    apply(out.specialize(rows >= s.row_tile), s.row_tile, false);
  apply(out, 1, false);
  product_at(p, out, blocked ? jt : ro, s);
}

}  // namespace

ScheduleParams default_cpu_params(const KernelDesc &d, const Target &target) {
  const int nv = target.natural_vector_size<float>();
  ScheduleParams s;
  auto parallel_rows = [](int64_t flops_per_row) {
    return static_cast<int>(std::max<int64_t>(1, ceil_div(kParallelFlops, std::max<int64_t>(flops_per_row, 1))));
  };
  switch (d.family) {
    case Family::kGemmFwd: {
      s.tile = d.n >= 2 * nv ? 2 * nv : pow2_at_least(std::min<int64_t>(d.n, nv), 4);
      s.vector = std::min(nv, s.tile);
      s.row_tile = std::max(1, std::min(8, accumulator_budget(nv) / (s.tile / s.vector)));
      s.parallel_rows = parallel_rows(2 * d.k * d.n);
      break;
    }
    case Family::kRnnStepFwd:
    case Family::kLstmStepFwd:
    case Family::kGruStepFwd: {
      s.tile = pow2_at_least(std::min<int64_t>(d.h, nv), 4);
      s.vector = s.tile;
      s.row_tile = std::max(1, std::min(8, accumulator_budget(nv) / d.g));
      s.parallel_rows = parallel_rows(2 * d.g * d.h * d.h);
      break;
    }
    case Family::kReadoutLast:
    case Family::kReadoutMean:
    case Family::kPackWeights:
      s.tile = pow2_at_least(std::min<int64_t>(d.h * d.dirs, nv), 4);
      s.vector = s.tile;
      s.row_tile = 1;
      s.parallel_rows = 0;
      break;
  }
  return s;
}

void schedule_cpu(kernels::PackAlgorithm &a, const KernelDesc &d) {
  // Runs once per weight update: vectorised over the tile, threads over tiles.
  a.out.vectorize(a.ji, std::min(d.sched.tile, 16)).parallel(a.jo);
}

void schedule_cpu(kernels::GemmAlgorithm &a, const KernelDesc &d) {
  // Blocks of weights sized to stay in a 256 KiB L2 share.
  const int block_tiles = static_cast<int>(std::max<int64_t>(1, (256 << 10) / (4 * d.k * d.sched.tile)));
  tile_rows_and_units(a.out, a.j, a.r, a.prod, d.sched, d.n, block_tiles);
}

void schedule_cpu(kernels::CellAlgorithm &a, const KernelDesc &d) {
  const ScheduleParams &s = d.sched;
  if (a.has_pre) {
    // r and z of every unit are needed before the second product.
    Var pjo("pjo"), pji("pji"), pro("pro"), pri("pri");
    a.pre.compute_root()
        .split(a.pj, pjo, pji, s.tile, d.h % s.tile ? TailStrategy::GuardWithIf : TailStrategy::Auto)
        .reorder(pji, a.pg, a.pr, pjo)
        .vectorize(pji, s.vector)
        .unroll(a.pg);
    a.pre_prod.mm.compute_at(a.pre, a.pr).bound(a.pre_prod.ji, 0, s.tile).vectorize(a.pre_prod.ji, s.vector);
    a.pre_prod.mm.update()
        .reorder(a.pre_prod.ji, a.pre_prod.g, a.pre_prod.r, a.pre_prod.k.x)
        .vectorize(a.pre_prod.ji, s.vector)
        .unroll(a.pre_prod.g);
    a.rh.compute_root().vectorize(a.rh.args()[0], s.vector, TailStrategy::GuardWithIf);
  }
  tile_rows_and_units(a.out, a.j, a.r, a.prod, s, d.h, 0);
}

void schedule_cpu(kernels::ReadoutAlgorithm &a, const KernelDesc &d) {
  const TailStrategy tail = (d.h * d.dirs) % d.sched.vector ? TailStrategy::GuardWithIf : TailStrategy::Auto;
  a.out.vectorize(a.d, d.sched.vector, tail);
  if (a.sum.defined()) {
    a.sum.compute_at(a.out, a.s).vectorize(a.sum.args()[0], d.sched.vector, tail);
    a.sum.update().vectorize(a.sum.args()[0], d.sched.vector, tail);
  }
}

}  // namespace rnnc::schedules

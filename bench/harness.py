#!/usr/bin/python3
"""Run rnnc, oneDNN and PyTorch side by side on the benchmark configurations.

Called by bench/run.sh, which builds what is needed first; see bench/README.md.
For every configuration row (cell, mode) and thread count, each round runs the
three libraries one after the other (their order rotating from round to
round), so slow drift of the machine affects them alike. Every measurement is
a fresh process:

  rnnc    OUT/<name> bench --batch B --steps T --threads N --repeat K [--train]
  oneDNN  onednn_rnn --model FILE --batch B --steps T --threads N --mode M ...
  torch   /usr/bin/python3 bench/torch_rnn.py --model FILE ... (same options)

Before each measurement the harness waits (up to --max-wait seconds) until
other processes use less than --quiet of the machine, and afterwards it
records the share they used while the measurement ran ('others'); a
measurement above --quiet is repeated up to --attempts times and the quietest
attempt kept. Host-level noise (other guests) is invisible to this check
except as 'steal' time, which is recorded too.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIG_DIR = os.path.join(HERE, "configs")
LIBS = ("rnnc", "onednn", "torch")
LIB_TITLE = {"rnnc": "rnnc", "rnnc-tuned": "rnnc-tuned", "onednn": "oneDNN", "torch": "torch"}

# The configurations: batch B, steps T, and per cell the model file and the
# modes measured by default. Shapes of a-e follow the baseline measurements
# (bench/README.md explains how d and e were decoded); 'sentiment' is the
# project's training-throughput model as it ships. The T=100, B=64, H=512 LSTM
# training figure the project reports is row c/lstm/train.
CONFIGS = {
    "a": dict(B=1, T=100, rows=[("rnn", "a_rnn", "infer"), ("lstm", "a_lstm", "infer,train"),
                                ("gru", "a_gru", "infer"), ("gru_onnx", "a_gru_onnx", "infer")]),
    "b": dict(B=1, T=100, rows=[("rnn", "b_rnn", "infer"), ("lstm", "b_lstm", "infer,train"),
                                ("gru", "b_gru", "infer"), ("gru_onnx", "b_gru_onnx", "infer")]),
    "c": dict(B=64, T=100, rows=[("rnn", "c_rnn", "infer"), ("lstm", "c_lstm", "infer,train"),
                                 ("gru", "c_gru", "infer"), ("gru_onnx", "c_gru_onnx", "infer")]),
    "d": dict(B=64, T=50, rows=[("lstm", "d_lstm", "infer,train")]),
    "e": dict(B=800, T=20, rows=[("lstm", "e_lstm", "infer,train")]),
    "sentiment": dict(B=64, T=20, rows=[("lstm", os.path.join(ROOT, "models", "sentiment_lstm.toml"),
                                         "infer,train")]),
}
QUICK_CONFIGS = "a,sentiment"
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/{}"
INSTALL_HINT = ".ci/install-deps.sh --bench (installs libdnnl-dev python3-torch python3-numpy libopenblas0-openmp)"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def model_path(ref):
    return ref if os.path.isabs(ref) else os.path.join(CONFIG_DIR, ref + ".toml")


def load_model(path):
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    spec.setdefault("name", os.path.basename(path).split(".")[0])
    return spec


def recurrent_layers(spec):
    """(gates, input width, hidden, state width, directions) of every recurrent layer of the model file
    (the state width is proj_size for a projecting LSTM, else hidden)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    width = spec["input"].get("size")
    out = []
    for l in spec["layers"]:
        if l["kind"] == "embedding":
            width = l["dim"]
        elif l["kind"] in gates:
            dirs = 2 if l.get("bidirectional", False) else 1
            h = l["hidden"]
            sw = l.get("proj_size", 0) or h
            for _ in range(l.get("num_layers", 1)):
                out.append((gates[l["kind"]], width, h, sw, dirs))
                width = sw * dirs
    return out


def recurrent_weights(g, h, sw):
    """Elements of the weights one step reads: W_hh [g*h, sw] and a projection's W_hr [sw, h]."""
    return g * h * sw + (sw * h if sw != h else 0)


def forward_flops(spec, batch, steps):
    """2*T*B*G*H*(I+H) per recurrent layer and direction (with a projection P: G*H*(I+P) + P*H);
    the embedding and head are not counted."""
    return sum(2 * steps * batch * (g * h * width + recurrent_weights(g, h, sw)) * dirs
               for g, width, h, sw, dirs in recurrent_layers(spec))


def speed_of_light_ms(spec, batch, steps, mode, threads, peak, bw):
    """The batch-1 bound: each step reads every W_hh once from the cache level that holds each thread's
    slice of it (L2 when the slice fits a core's L2, else L3; bandwidths measured now, summed over the
    threads), plus the input-side products at the FMA peak. A training step reads W_hh twice per step
    (forward, and the backward's W_hh^T product) and adds the two weight-gradient products to the
    input projection's FLOPs. None without measurements or above batch 1."""
    if batch != 1 or not peak or not bw or not bw.get("gbps"):
        return None
    # A slice "fits" when it leaves 64 KiB of the L2 for everything else a step touches (its inputs,
    # states and outputs, the stack): a W_hh of exactly the L2's size does not stay there.
    l2_room = bw["cache_kib"]["l2"] * 1024 - 64 * 1024
    seconds = 0.0
    for g, width, h, sw, dirs in recurrent_layers(spec):
        w_bytes = 4 * recurrent_weights(g, h, sw) * dirs
        level = "l2" if w_bytes / threads <= l2_room else "l3"
        reads = 2 if mode == "train" else 1
        seconds += reads * steps * w_bytes / (bw["gbps"][level] * 1e9)
        input_flops = 2 * steps * batch * g * h * width * dirs
        if mode == "train":
            input_flops += 2 * steps * batch * (g * h * width + recurrent_weights(g, h, sw)) * dirs
        seconds += input_flops / (peak * 1e9)
    return seconds * 1e3


# ---------------------------------------------------------------------------
# Machine load
# ---------------------------------------------------------------------------

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def cpu_jiffies():
    """(busy, steal) jiffies of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return user + nice + system + irq + softirq, steal


def own_cpu_seconds():
    """CPU seconds used by this process and its reaped children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class LoadProbe:
    """Shares of the machine used by other processes, and stolen by the host, over an interval."""

    def __enter__(self):
        self.t0, (self.b0, self.s0), self.c0 = time.monotonic(), cpu_jiffies(), own_cpu_seconds()
        return self

    def __exit__(self, *exc):
        wall = max(time.monotonic() - self.t0, 1e-3)
        b1, s1 = cpu_jiffies()
        mine = own_cpu_seconds() - self.c0
        self.others = max(0.0, ((b1 - self.b0) / HZ - mine) / (NCPU * wall))
        self.steal = (s1 - self.s0) / HZ / (NCPU * wall)
        return False


def wait_quiet(threshold, max_wait):
    """Waits until others use less than `threshold` of the machine over 0.5 s, or max_wait passes."""
    deadline = time.monotonic() + max_wait
    while True:
        with LoadProbe() as p:
            time.sleep(0.5)
        if p.others < threshold or time.monotonic() >= deadline:
            return p.others


# ---------------------------------------------------------------------------
# Running one measurement
# ---------------------------------------------------------------------------

RNNC_LINE = re.compile(r"bench: median_ms=([0-9.eE+-]+) min_ms=([0-9.eE+-]+) runs=(\d+)")


class Runner:
    def __init__(self, args, programs, tuned_programs=None):
        self.a = args
        self.programs = programs  # model name -> rnnc program path
        self.tuned_programs = tuned_programs or {}  # model name -> program compiled with tuning records
        self.rnnc_estimate = {}   # (model, mode) -> last rnnc median ms

    def env(self, lib, threads):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        if lib in ("rnnc", "rnnc-tuned"):
            env["HL_NUM_THREADS"] = str(threads)
        elif lib == "onednn" and self.a.onednn_isa:
            env["ONEDNN_MAX_CPU_ISA"] = self.a.onednn_isa
        elif lib == "torch":
            env["OPENBLAS_NUM_THREADS"] = str(threads)
            if self.a.torch_blas != "system":
                d = OPENBLAS_DIR.format(self.a.torch_blas)
                env["LD_LIBRARY_PATH"] = d + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        return env

    def command(self, lib, spec, path, batch, steps, mode, threads, repeat):
        common = ["--batch", str(batch), "--steps", str(steps), "--threads", str(threads)]
        if lib in ("rnnc", "rnnc-tuned"):
            progs = self.programs if lib == "rnnc" else self.tuned_programs
            cmd = [progs[spec["name"]], "bench", *common, "--repeat", str(repeat)]
            return cmd + (["--train"] if mode == "train" else [])
        rest = ["--model", path, *common, "--mode", mode, "--repeat", str(self.a.min_runs),
                "--min-time", str(self.a.min_time)]
        if lib == "onednn":
            return [self.a.onednn, *rest]
        return [sys.executable, os.path.join(HERE, "torch_rnn.py"), *rest]

    def run_child(self, cmd, env):
        """Returns (result dict or None, error text, others share, steal share)."""
        with LoadProbe() as p:
            try:
                r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=self.a.timeout)
            except subprocess.TimeoutExpired:
                r = None
        if r is None:
            return None, f"timed out after {self.a.timeout} s", p.others, p.steal
        if r.returncode != 0:
            return None, (r.stderr or r.stdout).strip()[-800:], p.others, p.steal
        if cmd[1:2] == ["bench"]:
            m = RNNC_LINE.search(r.stdout)
            if not m:
                return None, "no 'bench:' line in rnnc's output", p.others, p.steal
            res = dict(median_ms=float(m.group(1)), min_ms=float(m.group(2)), runs=int(m.group(3)))
        else:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        return res, None, p.others, p.steal

    def rnnc_repeat(self, spec, batch, steps, mode, threads, env):
        """Timed runs for rnnc so that they last about --min-time (rnnc's bench takes a count only)."""
        est = self.rnnc_estimate.get((spec["name"], mode))
        if est is None:  # calibrate: one warm-up and one timed run
            res, _, _, _ = self.run_child(self.command("rnnc", spec, None, batch, steps, mode, threads, 1), env)
            est = res["median_ms"] if res else 1.0
        return max(self.a.min_runs, min(self.a.max_runs, math.ceil(1e3 * self.a.min_time / max(est, 1e-3))))

    def measure(self, lib, spec, path, batch, steps, mode, threads):
        env = self.env(lib, threads)
        repeat = self.rnnc_repeat(spec, batch, steps, mode, threads, env) if lib.startswith("rnnc") else self.a.min_runs
        cmd = self.command(lib, spec, path, batch, steps, mode, threads, repeat)
        best = None
        for attempt in range(1, self.a.attempts + 1):
            before = wait_quiet(self.a.quiet, self.a.max_wait) if self.a.max_wait > 0 else None
            res, err, others, steal = self.run_child(cmd, env)
            rec = dict(lib=lib, model=spec["name"], mode=mode, batch=batch, steps=steps, threads=threads,
                       attempt=attempt, others=round(others, 4), steal=round(steal, 4),
                       others_before=None if before is None else round(before, 4), command=" ".join(cmd))
            if res is None:
                rec["error"] = err
            else:
                rec.update({k: v for k, v in res.items() if k not in rec})
            if best is None or ("error" in best and "error" not in rec) or \
                    ("error" not in rec and rec["others"] < best["others"]):
                best = rec
            if "error" in rec or others <= self.a.quiet:
                break
        best["attempts"] = attempt
        if lib == "rnnc" and "error" not in best:
            self.rnnc_estimate[(spec["name"], mode)] = best["median_ms"]
        return best


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def fmt_num(v):
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 1000 else f"{v:.0f}"


def fmt_ratio(r):
    if r is None:
        return "-"
    how = f"rnnc {1 / r:.2f}x faster" if r < 1 else f"rnnc {r:.2f}x slower"
    return f"{r:.2f} ({how})"


def summarize(rows, measurements, libs, peaks=None):
    """One summary per (config, cell, mode, threads): medians over rounds, per-round ratios, % of the FMA peak."""
    peaks = peaks or {}
    out = []
    for row in rows:
        ms = [m for m in measurements if m["key"] == row["key"]]
        s = dict(row)
        s.pop("key")
        s["others_max"] = max((m["others"] for m in ms), default=None)
        for lib in libs:
            per_round = [m["median_ms"] for m in ms if m["lib"] == lib and "median_ms" in m]
            med = statistics.median(per_round) if per_round else None
            s[lib] = dict(ms=med, rounds_ms=per_round,
                          seq_per_s=None if med is None else row["batch"] / (med / 1e3),
                          gflops=None if med is None else row["flops"] / (med / 1e3) / 1e9,
                          applicable=lib in row["libs"])
            peak = peaks.get(row["threads"])
            s[lib]["peak_pct"] = None if med is None or not peak else 100 * s[lib]["gflops"] / peak
            info = next((m for m in ms if m["lib"] == lib and "median_ms" in m), None)
            if info and lib == "onednn":
                s[lib].update(impl=info.get("impl_fwd") + ("/" + info["impl_bwd"] if info.get("impl_bwd") else ""),
                              isa=info.get("isa"))
            if info and lib == "torch":
                s[lib].update(blas=info.get("blas"))
            errs = [m["error"] for m in ms if m["lib"] == lib and "error" in m]
            if errs:
                s[lib]["error"] = errs[0]
        def ratio(x, y):
            rs = []
            for r in range(row["rounds"]):
                a = next((m["median_ms"] for m in ms if m["lib"] == x and m["round"] == r and "median_ms" in m), None)
                b = next((m["median_ms"] for m in ms if m["lib"] == y and m["round"] == r and "median_ms" in m), None)
                if a and b:
                    rs.append(a / b)
            return statistics.median(rs) if rs else None
        for lib in ("rnnc", "rnnc-tuned"):
            if lib in libs and s.get("sol_ms") and s[lib]["ms"]:
                s[f"{lib}_over_sol"] = s[lib]["ms"] / s["sol_ms"]
        for lib in libs:
            if lib == "rnnc":
                continue
            s[f"rnnc_over_{lib}"] = ratio("rnnc", lib)
            if "rnnc-tuned" in libs and lib not in ("rnnc", "rnnc-tuned"):
                s[f"rnnc-tuned_over_{lib}"] = ratio("rnnc-tuned", lib)
        out.append(s)
    return out


def print_table(summary, libs, quiet, file=sys.stdout, markdown=False):
    head = ["cfg", "cell", "mode", "thr"]
    head += [f"ms {LIB_TITLE[l]}" for l in libs] + [f"seq/s {LIB_TITLE[l]}" for l in libs]
    head += [f"GFLOP/s {LIB_TITLE[l]}" for l in libs]
    head += [f"% peak {LIB_TITLE[l]}" for l in libs if l != "torch"]
    head += [f"rnnc/{LIB_TITLE[l]} (time)" for l in libs if l != "rnnc"]
    tuned = "rnnc-tuned" in libs
    head += [f"rnnc-tuned/{LIB_TITLE[l]} (time)" for l in libs if tuned and l not in ("rnnc", "rnnc-tuned")]
    sol = any(s.get("sol_ms") for s in summary)
    if sol:
        head += ["ms bound"] + [f"{LIB_TITLE[l]}/bound" for l in libs if l in ("rnnc", "rnnc-tuned")]
    if "onednn" in libs:
        head.append("oneDNN impl")
    lines = []
    for s in summary:
        def cell(lib, field, fmt):
            d = s[lib]
            if not d["applicable"]:
                return "n/a"
            if d.get("error") and d["ms"] is None:
                return "error"
            return fmt(d[field])
        mark = "*" if s["others_max"] is not None and s["others_max"] > quiet else ""
        line = [s["config"], s["cell"], s["mode"], f"{s['threads']}{mark}"]
        line += [cell(l, "ms", fmt_ms) for l in libs] + [cell(l, "seq_per_s", fmt_num) for l in libs]
        line += [cell(l, "gflops", fmt_num) for l in libs]
        line += [cell(l, "peak_pct", lambda v: "-" if v is None else f"{v:.1f}") for l in libs if l != "torch"]
        line += [fmt_ratio(s.get(f"rnnc_over_{l}")) if s[l]["applicable"] else "n/a" for l in libs if l != "rnnc"]
        line += [fmt_ratio(s.get(f"rnnc-tuned_over_{l}")) if s[l]["applicable"] else "n/a"
                 for l in libs if tuned and l not in ("rnnc", "rnnc-tuned")]
        if sol:
            line.append(fmt_ms(s.get("sol_ms")) if s.get("sol_ms") else "-")
            line += [f"{s[f'{l}_over_sol']:.2f}" if s.get(f"{l}_over_sol") else "-"
                     for l in libs if l in ("rnnc", "rnnc-tuned")]
        if "onednn" in libs:
            line.append(s["onednn"].get("impl", "-") if s["onednn"]["applicable"] else "n/a")
        lines.append(line)
    if markdown:
        print("| " + " | ".join(head) + " |", file=file)
        print("|" + "|".join("---" for _ in head) + "|", file=file)
        for line in lines:
            print("| " + " | ".join(str(x) for x in line) + " |", file=file)
        return
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    for i, line in enumerate([head] + lines):
        print("  ".join(str(x).rjust(w) if j >= 4 else str(x).ljust(w) for j, (x, w) in enumerate(zip(line, widths))),
              file=file)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=file)


def machine_info():
    info = dict(hostname=platform.node(), kernel=platform.release(), cpus=NCPU)
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        first = txt.split("\n\n")[0]
        kv = dict(l.split(":", 1) for l in first.splitlines() if ":" in l)
        kv = {k.strip(): v.strip() for k, v in kv.items()}
        flags = kv.get("flags", "").split()
        info.update(cpu=kv.get("model name"), cpu_family=kv.get("cpu family"), cpu_model=kv.get("model"),
                    avx2="avx2" in flags, avx512f="avx512f" in flags)
    except OSError:
        pass
    return info


def git_revision():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except OSError:
        return None


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run.sh", description="rnnc vs oneDNN vs PyTorch, side by side.")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: configs {QUICK_CONFIGS}, 1 round, few runs, no waiting for quiet")
    ap.add_argument("--configs", help=f"comma list of {','.join(CONFIGS)} (default: all; --quick: {QUICK_CONFIGS})")
    ap.add_argument("--cells", help="only these cells (rnn,lstm,gru,gru_onnx)")
    ap.add_argument("--modes", default="infer,train", help="infer, train or both (default both)")
    ap.add_argument("--train-all", action="store_true",
                    help="also time training of the rnn and gru cells (default: lstm only, as BASELINES.md)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--libs", default=",".join(LIBS), help="libraries to run (default rnnc,onednn,torch)")
    ap.add_argument("--rounds", type=int, help="rounds per row (default 3; --quick 1)")
    ap.add_argument("--min-runs", type=int, help="timed runs per measurement, at least (default 5; --quick 3)")
    ap.add_argument("--min-time", type=float, help="seconds of timed runs per measurement (default 0.5; --quick 0.1)")
    ap.add_argument("--max-runs", type=int, default=2000, help="cap on rnnc's timed runs (default 2000)")
    ap.add_argument("--quiet", type=float, default=0.10,
                    help="share of the machine other processes may use (default 0.10)")
    ap.add_argument("--max-wait", type=float, help="seconds to wait for quiet before each measurement "
                    "(default 60; --quick 0 = do not wait)")
    ap.add_argument("--attempts", type=int, help="tries per measurement while others intrude (default 3; --quick 1)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per measurement process (default 900)")
    ap.add_argument("--torch-blas", default="openblas-openmp", choices=("openblas-openmp", "openblas-pthread", "system"),
                    help="BLAS for torch, by LD_LIBRARY_PATH (default openblas-openmp; 'system' = libblas.so.3 "
                    "as the alternatives system has it)")
    ap.add_argument("--onednn-isa", help="cap oneDNN's ISA (ONEDNN_MAX_CPU_ISA, e.g. AVX2)")
    ap.add_argument("--out", help="write every measurement and the summary as JSON here")
    ap.add_argument("--markdown", help="also write the table and the machine as a markdown file here")
    ap.add_argument("--tuned", action="store_true",
                    help="also tune each model file with 'rnnc tune' at the row's batch and steps and measure the "
                         "tuned program (column rnnc-tuned)")
    ap.add_argument("--tune-budget", type=float, default=60, help="seconds of 'rnnc tune' per model file (default 60)")
    ap.add_argument("--rnnc", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--fma-peak", help=argparse.SUPPRESS)
    ap.add_argument("--cache-bw", help=argparse.SUPPRESS)
    ap.add_argument("--onednn", help=argparse.SUPPRESS)
    ap.add_argument("--work", required=True, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    q = a.quick
    for name, full, quick in (("rounds", 3, 1), ("min_runs", 5, 3), ("min_time", 0.5, 0.1), ("max_wait", 60, 0),
                              ("attempts", 3, 1)):
        if getattr(a, name) is None:
            setattr(a, name, quick if q else full)
    a.configs = (a.configs or (QUICK_CONFIGS if q else ",".join(CONFIGS))).split(",")
    bad = [c for c in a.configs if c not in CONFIGS]
    if bad:
        ap.error(f"unknown config(s) {','.join(bad)}; known: {','.join(CONFIGS)}")
    a.cells = a.cells.split(",") if a.cells else None
    a.modes = a.modes.split(",")
    a.threads = [int(t) for t in a.threads.split(",")]
    a.libs = [l for l in LIBS if l in a.libs.split(",")]
    if "rnnc" not in a.libs:
        ap.error("--libs must include rnnc (the ratios are rnnc's)")
    if a.tuned:
        a.libs.insert(1, "rnnc-tuned")
    return a


def plan_rows(a):
    rows = []
    for cfg in a.configs:
        c = CONFIGS[cfg]
        for cell, ref, modes in c["rows"]:
            if a.cells and cell not in a.cells:
                continue
            modes = modes.split(",")
            if a.train_all and "train" not in modes:
                modes.append("train")
            path = model_path(ref)
            spec = load_model(path)
            libs = [l for l in a.libs if not (l == "torch" and cell == "gru_onnx")]
            for mode in modes:
                if mode not in a.modes:
                    continue
                fwd = forward_flops(spec, c["B"], c["T"])
                for threads in a.threads:
                    rows.append(dict(key=len(rows), config=cfg, cell=cell, mode=mode, threads=threads, model=spec["name"],
                                     path=path, spec=spec, batch=c["B"], steps=c["T"],
                                     flops=fwd * (3 if mode == "train" else 1), libs=libs, rounds=a.rounds))
    return rows


def compile_models(a, rows):
    programs = {}
    for path in dict.fromkeys(r["path"] for r in rows):
        name = load_model(path)["name"]
        out = os.path.join(a.work, "rnnc", name)
        t0 = time.monotonic()
        r = subprocess.run([a.rnnc, "compile", path, "-o", out], capture_output=True, text=True)
        with open(os.path.join(a.work, "rnnc", name + ".log"), "w") as f:
            f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            sys.exit(f"run.sh: rnnc compile {path} failed:\n{(r.stderr or r.stdout)[-2000:]}")
        log(f"compiled {name} ({time.monotonic() - t0:.1f} s)")
        programs[name] = os.path.join(out, name)
    return programs


def tune_models(a, rows):
    """rnnc tune each model file at its configuration's batch and steps, then compile it with the records."""
    programs = {}
    threads = max(a.threads)
    for path in dict.fromkeys(r["path"] for r in rows):
        row = next(r for r in rows if r["path"] == path)
        name = load_model(path)["name"]
        records = os.path.join(a.work, "rnnc", name + ".records.json")
        out = os.path.join(a.work, "rnnc-tuned", name)
        t0 = time.monotonic()
        for cmd in ([a.rnnc, "tune", path, "-o", records, "--batch", str(row["batch"]), "--steps", str(row["steps"]),
                     "--threads", str(threads), "--time-budget", str(a.tune_budget), "--no-bench"],
                    [a.rnnc, "compile", path, "-o", out, "--schedules", records]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            with open(os.path.join(a.work, "rnnc", name + ".tune.log"), "a") as f:
                f.write(" ".join(cmd) + "\n" + r.stdout + r.stderr)
            if r.returncode != 0:
                sys.exit(f"run.sh: {' '.join(cmd[:3])} failed:\n{(r.stderr or r.stdout)[-2000:]}")
        log(f"tuned and compiled {name} ({time.monotonic() - t0:.1f} s; records {records})")
        programs[name] = os.path.join(out, name)
    return programs


def probe(path, threads, tries):
    """The JSON lines of `tries` runs of a probe (bench/fma_peak.cpp, bench/cache_bandwidth.cpp) on `threads`.
    The best of several is what counts: a probe that loses its core for a moment reads low, never high."""
    out = []
    for _ in range(tries if path else 0):
        r = subprocess.run([path, "--threads", str(threads), "--seconds", "0.3"], capture_output=True, text=True)
        if r.returncode == 0:
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def fma_peaks(a):
    """GFLOP/s of independent FMA chains per thread count (bench/fma_peak.cpp), or {} without the probe."""
    peaks = {}
    for t in a.threads:
        best = max((v["gflops"] for v in probe(a.fma_peak, t, 3) if v.get("gflops")), default=None)
        if best:
            peaks[t] = best
            log(f"FMA peak, {t} thread(s): {best:.1f} GFLOP/s (best of 3 probes)")
    return peaks


def cache_bandwidths(a):
    """Read GB/s per cache level and thread count (bench/cache_bandwidth.cpp), or {} without the probe."""
    out = {}
    for t in a.threads:
        runs = [v for v in probe(a.cache_bw, t, 2) if v.get("gbps")]
        if runs:
            best = dict(runs[0], gbps={k: max(v["gbps"][k] for v in runs) for k in runs[0]["gbps"]})
            out[t] = best
            log(f"read bandwidth, {t} thread(s): " + ", ".join(f"{k} {g:.0f} GB/s" for k, g in best["gbps"].items())
                + " (best of 2 probes)")
    return out


def bandwidth_line(bws):
    kib = next(iter(bws.values()))["cache_kib"]
    per = "; ".join(f"{t} thread(s) " + ", ".join(f"{k.upper()} {g:.0f}" for k, g in v["gbps"].items())
                    for t, v in sorted(bws.items()))
    return (f"read bandwidth measured in the same run (bench/cache_bandwidth.cpp, GB/s summed over threads): {per}; "
            f"caches L1 {kib['l1']} KiB, L2 {kib['l2']} KiB per core, L3 {kib['l3']} KiB")


def main(argv):
    a = parse_args(argv)
    if "torch" in a.libs and a.torch_blas != "system" and not os.path.isdir(OPENBLAS_DIR.format(a.torch_blas)):
        sys.exit(f"run.sh: {OPENBLAS_DIR.format(a.torch_blas)} is missing; install lib{a.torch_blas.replace('-', '0-')}"
                 f" (or {INSTALL_HINT}), or pass --torch-blas system")
    rows = plan_rows(a)
    if not rows:
        sys.exit("run.sh: no configuration row matches the options")
    os.makedirs(os.path.join(a.work, "rnnc"), exist_ok=True)
    os.makedirs(os.path.join(a.work, "rnnc-tuned"), exist_ok=True)
    started = time.monotonic()
    peaks = fma_peaks(a)
    bws = cache_bandwidths(a)
    for r in rows:
        r["sol_ms"] = speed_of_light_ms(r["spec"], r["batch"], r["steps"], r["mode"], r["threads"],
                                        peaks.get(r["threads"]), bws.get(r["threads"]))
    programs = compile_models(a, rows)
    tuned_programs = tune_models(a, rows) if a.tuned else {}
    runner = Runner(a, programs, tuned_programs)
    total = sum(len(r["libs"]) * r["rounds"] for r in rows)
    measurements, done = [], 0
    for row in rows:
        for rnd in range(row["rounds"]):
            k = rnd % len(row["libs"])
            for lib in row["libs"][k:] + row["libs"][:k]:
                m = runner.measure(lib, row["spec"], row["path"], row["batch"], row["steps"], row["mode"],
                                   row["threads"])
                m.update(key=row["key"], round=rnd, config=row["config"], cell=row["cell"])
                measurements.append(m)
                done += 1
                what = f"{m['median_ms']:.4g} ms ({m['runs']} runs)" if "median_ms" in m else "ERROR: " + m["error"]
                log(f"[{done}/{total}] {row['config']} {row['cell']} {row['mode']} {row['threads']}t round {rnd + 1} "
                    f"{lib}: {what}, others {m['others']:.2f}, steal {m['steal']:.2f}")
    elapsed = time.monotonic() - started
    summary = summarize([{k: v for k, v in r.items() if k != "spec"} for r in rows], measurements, a.libs, peaks)

    print()
    print(f"rnnc vs oneDNN vs PyTorch: ms per batch (median over {a.rounds} round(s); each the median of its timed "
          f"runs), sequences/s, GFLOP/s")
    print_table(summary, a.libs, a.quiet)
    print()
    print("FLOPs = 2*T*B*G*H*(I+H) per recurrent layer (G = 1 rnn, 4 lstm, 3 gru); training = 3x forward.")
    print("rnnc/lib = time ratio (median of the per-round ratios): below 1 rnnc is faster.")
    if peaks:
        print("% peak = GFLOP/s over this machine's FMA peak measured now (bench/fma_peak.cpp: "
              + ", ".join(f"{t} thread(s) {v:.0f} GFLOP/s" for t, v in sorted(peaks.items())) + ").")
    if bws:
        print(bandwidth_line(bws) + ".")
        print("ms bound = the batch-1 speed of light: W_hh bytes x T / the read bandwidth of the level holding each "
              "thread's slice (L2 if it fits, else L3) + the input products' FLOPs / the FMA peak; training reads "
              "W_hh twice per step and adds the weight gradients (harness.py, speed_of_light_ms).")
    if a.tuned:
        print(f"rnnc-tuned = the model file compiled with the records of 'rnnc tune' at the row's batch and steps "
              f"({a.tune_budget:.0f} s per model file, {max(a.threads)} thread(s)).")
    print("rnnc and torch run the whole model file (embedding, recurrent layers, readout, head; training adds the")
    print("loss, backward, clipping and Adam); oneDNN runs the recurrent layers only (its training: forward +")
    print("backward with the per-step weight reorders, no loss or optimizer). gru = linear-before-reset (torch nn.GRU,")
    print("oneDNN lbr_gru); gru_onnx = oneDNN's original gru, which torch lacks (n/a).")
    flagged = [s for s in summary if s["others_max"] is not None and s["others_max"] > a.quiet]
    if flagged:
        print(f"* other processes used more than {a.quiet:.0%} of the machine during a measurement of that row "
              f"(worst {max(s['others_max'] for s in flagged):.0%}): treat it as noisy.")
    blas = {m.get("blas") for m in measurements if m["lib"] == "torch" and "blas" in m}
    isa = {m.get("isa") for m in measurements if m["lib"] == "onednn" and "isa" in m}
    info = machine_info()
    print(f"machine: {info.get('cpu')} (family {info.get('cpu_family')}, model {info.get('cpu_model')}), "
          f"{NCPU} CPUs, AVX-512 {'yes' if info.get('avx512f') else 'no'}; torch BLAS: {', '.join(sorted(blas)) or '-'};"
          f" oneDNN ISA: {', '.join(sorted(isa)) or '-'}")
    if a.torch_blas != "system" and blas - {a.torch_blas}:
        print(f"WARNING: torch was asked to use {a.torch_blas} but loaded {', '.join(sorted(blas))}")
    print(f"total time {elapsed / 60:.1f} min for {done} measurements")
    if a.markdown:
        with open(a.markdown, "w") as f:
            print(f"# rnnc vs oneDNN vs PyTorch, {datetime.date.today().isoformat()}\n", file=f)
            print(f"Machine: {info.get('cpu')} (family {info.get('cpu_family')}, model {info.get('cpu_model')}), "
                  f"{NCPU} CPUs, AVX-512 {'yes' if info.get('avx512f') else 'no'}; torch BLAS "
                  f"{', '.join(sorted(blas)) or '-'}; oneDNN ISA {', '.join(sorted(isa)) or '-'}; rnnc revision "
                  f"{git_revision()}.\n", file=f)
            if peaks:
                print("FMA peak measured in the same run (bench/fma_peak.cpp, best of 3 probes): "
                      + ", ".join(f"{t} thread(s) {v:.0f} GFLOP/s" for t, v in sorted(peaks.items())) + ".\n", file=f)
            if bws:
                line = bandwidth_line(bws)
                print(line[0].upper() + line[1:] + ". `ms bound` is the batch-1 speed of light: W_hh bytes "
                      "x T / the bandwidth of the level holding each thread's slice (L2 if it fits, else L3) + the "
                      "input products' FLOPs / the FMA peak (training: W_hh read twice per step, weight gradients "
                      "added); `rnnc/bound` is the goal's ratio (at most 1.3).\n", file=f)
            internal = {"--rnnc", "--onednn", "--fma-peak", "--cache-bw", "--work"}
            shown = [x for i, x in enumerate(argv) if x not in internal and (i == 0 or argv[i - 1] not in internal)]
            print(f"Command: `bench/run.sh {' '.join(shown)}` ({a.rounds} round(s); median ms per batch, "
                  f"sequences/s, GFLOP/s of the recurrent layers, % of the FMA peak; time ratios below 1: rnnc "
                  f"faster).\n", file=f)
            print_table(summary, a.libs, a.quiet, file=f, markdown=True)
            print("\nSee bench/README.md for what each library runs and how the harness measures.", file=f)
        print(f"wrote {a.markdown}")
    if a.out:
        doc = dict(meta=dict(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=info,
                             rnnc_revision=git_revision(), elapsed_s=round(elapsed, 1),
                             options={k: v for k, v in vars(a).items()}),
                   fma_peak_gflops=peaks, cache_bandwidth=bws, summary=summary, measurements=measurements)
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main(sys.argv[1:])

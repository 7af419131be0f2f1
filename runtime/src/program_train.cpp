// The generated program's training commands: train, eval, gradnorm, data, export.
#include <HalideRuntime.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "dataset.h"
#include "inspect.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/safetensors.h"
#include "program.h"
#include "report.h"
#include "train.h"
#include "weights.h"

namespace rnnc_rt {

namespace {

using Clock = std::chrono::steady_clock;

// SIGINT / SIGTERM during `train`: the handler only notes the signal; the
// loop finishes the batch, writes a checkpoint and exits 128 + signal. A
// second signal acts at once (the handler resets itself).
volatile sig_atomic_t g_stop_signal = 0;

extern "C" void note_stop_signal(int sig) { g_stop_signal = sig; }

void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = note_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A write past a file-size limit then fails with an error (EFBIG) that
  // names the file, instead of killing the run.
  signal(SIGXFSZ, SIG_IGN);
}

const char *signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

// The checkpoint's directory must exist and be writable before any work.
void require_writable_dir(const std::string &file) {
  std::string dir = std::filesystem::path(file).parent_path().string();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw RtError("the checkpoint's directory " + dir + " does not exist (--checkpoint " + file + ")");
  // Try it: permissions, a read-only file system, or a directory that takes
  // no files (/proc) all show here, for root too. An unnamed file
  // (O_TMPFILE) leaves nothing behind even if the run is killed right here;
  // file systems without it get a named probe, removed at once.
  int fd = open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    const std::string probe = dir + "/.rnnc-write-test." + std::to_string(getpid());
    fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) unlink(probe.c_str());
  }
  if (fd < 0)
    throw RtError("cannot write the checkpoint into " + dir + ": " + std::strerror(errno) + " (--checkpoint " + file +
                  ")");
  close(fd);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The epoch's order of the sequences: a permutation drawn from (seed,
// epoch) alone, so that a resumed run visits batches in the same order.
std::vector<int32_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.next() % static_cast<uint64_t>(i + 1)]);
  return order;
}

LossSums evaluate_set(Trainer &tr, const ModelDesc &d, const Dataset &ds, const Labels &labels, int64_t batch) {
  LossSums sums;
  std::vector<int32_t> seqs(ds.n);
  std::iota(seqs.begin(), seqs.end(), 0);
  for (int64_t i = 0; i < ds.n; i += batch) {
    const int64_t b = std::min(batch, ds.n - i);
    sums.add(tr.evaluate(make_batch(d, ds, &labels, seqs.data() + i, b)));
  }
  return sums;
}

std::string clock_str(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// Progress within an epoch: a bar redrawn in place when stderr is a
// terminal, nothing otherwise (plain runs get one line per epoch). It is on
// stderr so that stdout holds the report alone, also when piped.
class Progress {
 public:
  Progress() : tty_(isatty(STDERR_FILENO) != 0) {}
  void update(int64_t epoch, int64_t epochs, int64_t done, int64_t total, double loss, double seq_per_s) {
    if (!tty_) return;
    const auto now = Clock::now();
    if (done < total && std::chrono::duration<double>(now - last_).count() < 0.1) return;
    last_ = now;
    const int width = 24, filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
    const double eta = seq_per_s > 0 ? (total - done) / seq_per_s : 0;
    std::fprintf(stderr, "\repoch %lld/%lld [%s%s] %lld/%lld loss %.4f %.0f seq/s ETA %s   ",
                 static_cast<long long>(epoch), static_cast<long long>(epochs), std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<long long>(done), static_cast<long long>(total),
                 loss, seq_per_s, clock_str(eta).c_str());
  }
  void clear() {
    if (tty_) std::fprintf(stderr, "\r%*s\r", 100, "");
  }

 private:
  bool tty_;
  Clock::time_point last_ = Clock::now();
};

struct LabeledSet {
  Dataset data;
  Labels labels;
};

// A metric for JSON: null when absent (accuracy of an MSE model, validation
// without a validation set).
Json optional_json(const std::optional<double> &v) { return v ? Json(*v) : Json(); }

LabeledSet load_set(const ModelDesc &d, const std::string &inputs, const std::string &labels,
                    const std::string &lengths, const char *labels_flag) {
  // An .npz of inputs may carry the labels too.
  if (labels.empty() && !is_npz_path(inputs))
    throw UsageError(std::string("needs --") + labels_flag + " Y.npy (or inputs in an .npz holding 'labels')");
  LabeledSet s;
  s.data = load_dataset(d, inputs, lengths);
  s.labels = load_labels(d, labels.empty() ? inputs : labels, s.data);
  return s;
}

int cmd_train(const ModelDesc &d, const Options &o) {
  apply_threads_option(o);
  TrainConfig cfg = TrainConfig::from(d);
  cfg.epochs = o.int_or("epochs", cfg.epochs, 1, 1 << 20);
  cfg.batch_size = o.int_or("batch-size", cfg.batch_size, 1, 1 << 20);
  cfg.learning_rate = o.real_or("lr", cfg.learning_rate, 1e-12, 1e6);
  cfg.seed = o.seed_or("seed", cfg.seed);
  const std::string ckpt = o.str("checkpoint");
  const bool resume = o.has("resume");
  if (resume && o.has("weights")) throw UsageError("--resume continues from --checkpoint; drop --weights");
  if (o.has("val-labels") && !o.has("val-inputs")) throw UsageError("--val-labels needs --val-inputs");
  require_writable_dir(ckpt);
  install_stop_handlers();

  LabeledSet train = load_set(d, o.str("inputs"), o.str_or("labels", ""), o.str_or("lengths", ""), "labels");
  LabeledSet val;
  const bool has_val = o.has("val-inputs");
  if (has_val)
    val = load_set(d, o.str("val-inputs"), o.str_or("val-labels", ""), o.str_or("val-lengths", ""), "val-labels");

  auto m = new_model(&d);
  int64_t done = 0;
  EpochProgress progress_in;  // an epoch an interrupted run stopped inside
  if (resume) {
    uint64_t ckpt_seed = cfg.seed;
    done = load_checkpoint(*m, ckpt, &ckpt_seed, &progress_in);
    if (o.has("seed") && ckpt_seed != cfg.seed)
      throw UsageError("--seed " + std::to_string(cfg.seed) + " differs from the checkpoint's seed " +
                       std::to_string(ckpt_seed));
    cfg.seed = ckpt_seed;
  } else if (o.has("weights")) {
    load_weights(*m, o.str("weights"));
  } else {
    init_params(*m, cfg.seed);
  }
  Trainer tr(*m, cfg);
  const std::string csv = ckpt + ".metrics.csv", svg = ckpt + ".curves.svg";
  std::vector<EpochMetrics> metrics = resume ? read_metrics_csv(csv, done) : std::vector<EpochMetrics>{};
  const bool ce = d.loss == kLossCrossEntropy;
  // --json: one object per epoch, then a summary (also after a divergence),
  // each on a line of its own; the text lines are left out.
  const bool json = o.has("json");
  Json summary = {
      {"type", "summary"},
      {"model", d.name},
      {"train_sequences", train.data.n},
      {"val_sequences", has_val ? Json(val.data.n) : Json()},
      {"optimizer", cfg.optimizer == kOptAdam ? "adam" : "sgd"},
      {"learning_rate", cfg.learning_rate},
      {"batch_size", cfg.batch_size},
      {"epochs", cfg.epochs},
      {"seed", cfg.seed},
      {"resumed_after", resume ? Json(done) : Json()},
      {"resumed_in",
       progress_in.epoch > 0 ? Json({{"epoch", progress_in.epoch}, {"batch", progress_in.batches_done}}) : Json()}};
  int64_t saved = resume ? done : 0;  // the epoch the checkpoint holds
  auto finish = [&](int64_t epochs_run, const Json &divergence) {
    summary["epochs_run"] = epochs_run;
    summary["diverged"] = !divergence.is_null();
    summary["error"] = divergence.is_null() ? Json() : divergence.at("error");
    summary["diverged_at"] = divergence.is_null() ? Json() : divergence.at("at");
    summary["checkpoint"] = ckpt;
    summary["checkpoint_epoch"] = saved > 0 ? Json(saved) : Json();
    summary["metrics"] = csv;
    summary["plot"] = svg;
    if (!summary.contains("interrupted")) summary["interrupted"] = Json();
    print_json_line(summary);
  };
  // After a stop signal: the checkpoint (inside an epoch: with where it
  // stopped), a message, and 128 + the signal.
  auto stop = [&](int64_t epoch, int64_t batches_done, int64_t batches, const LossSums &sums) {
    const int sig = g_stop_signal;
    EpochProgress where;
    const bool inside = batches_done > 0;
    if (inside) {
      where.epoch = epoch;
      where.batches_done = batches_done;
      where.sums = sums;
      save_checkpoint(*m, ckpt, cfg.seed, epoch - 1, &where);
    }
    const std::string at = inside ? "in epoch " + std::to_string(epoch) + " after batch " +
                                        std::to_string(batches_done) + " of " + std::to_string(batches)
                                  : "after epoch " + std::to_string(epoch);
    if (json) {
      summary["interrupted"] = {
          {"signal", signal_name(sig)}, {"epoch", epoch}, {"batch", inside ? Json(batches_done) : Json()}};
      finish(epoch - done - (inside ? 1 : 0), Json());
    }
    std::fflush(stdout);
    std::fprintf(stderr, "%s train: stopped by %s %s; the checkpoint %s holds it: run again with --resume to go on\n",
                 d.name, signal_name(sig), at.c_str(), ckpt.c_str());
    return 128 + sig;
  };
  if (!json)
    std::printf("training %s on %lld sequences%s: %s, lr %g, batch %lld, epochs %lld%s, seed %llu\n", d.name,
                static_cast<long long>(train.data.n),
                has_val ? (", validating on " + std::to_string(val.data.n)).c_str() : "",
                cfg.optimizer == kOptAdam ? "adam" : "sgd", cfg.learning_rate, static_cast<long long>(cfg.batch_size),
                static_cast<long long>(cfg.epochs),
                !resume                 ? ""
                : progress_in.epoch > 0 ? (" (resuming in epoch " + std::to_string(progress_in.epoch) +
                                           " after batch " + std::to_string(progress_in.batches_done) + ")")
                                              .c_str()
                                        : (" (resuming after epoch " + std::to_string(done) + ")").c_str(),
                static_cast<unsigned long long>(cfg.seed));
  std::fflush(stdout);  // the header shows before the first epoch, also in a log
  if (done >= cfg.epochs) {
    if (json)
      finish(0, Json());
    else
      std::printf("the checkpoint already holds %lld epochs; nothing to do\n", static_cast<long long>(done));
    return 0;
  }
  Progress progress;
  const int64_t n = train.data.n;
  const int64_t batches = (n + cfg.batch_size - 1) / cfg.batch_size;
  for (int64_t epoch = done + 1; epoch <= cfg.epochs; ++epoch) {
    const auto t0 = Clock::now();
    const std::vector<int32_t> order = epoch_order(n, cfg.seed, epoch);
    LossSums sums;
    int64_t first_batch = 0;
    if (progress_in.epoch == epoch) {  // resuming inside this epoch
      if (progress_in.batches_done > batches)
        throw RtError(ckpt + ": the checkpoint stopped after batch " + std::to_string(progress_in.batches_done) +
                      " of epoch " + std::to_string(epoch) + ", but an epoch has " + std::to_string(batches) +
                      " batches here; resume with the data and --batch-size it was trained with");
      first_batch = progress_in.batches_done;
      sums = progress_in.sums;
    }
    for (int64_t bi = first_batch; bi < batches; ++bi) {
      const int64_t first = bi * cfg.batch_size, b = std::min(cfg.batch_size, n - first);
      const Batch batch = make_batch(d, train.data, &train.labels, order.data() + first, b);
      try {
        sums.add(tr.train_step(batch));
      } catch (const DivergenceError &e) {
        progress.clear();
        if (json)
          finish(epoch - 1 - done,
                 {{"error", e.what()}, {"at", {{"epoch", epoch}, {"batch", bi + 1}, {"batches", batches}}}});
        std::fprintf(stderr, "%s train: error: training diverged in epoch %lld, batch %lld of %lld: %s; %s\n", d.name,
                     static_cast<long long>(epoch), static_cast<long long>(bi + 1), static_cast<long long>(batches),
                     e.what(),
                     epoch > 1 ? ("the checkpoint " + ckpt + " keeps epoch " + std::to_string(epoch - 1)).c_str()
                               : "no checkpoint was written");
        return 1;
      }
      progress.update(epoch, cfg.epochs, sums.sequences, n, sums.mean_loss(), sums.sequences / seconds_since(t0));
      if (g_stop_signal) {
        progress.clear();
        return stop(epoch, bi + 1, batches, sums);
      }
    }
    const double train_seconds = seconds_since(t0);
    EpochMetrics em;
    em.epoch = epoch;
    em.train_loss = sums.mean_loss();
    if (ce) em.train_acc = sums.accuracy();
    if (has_val) {
      const LossSums v = evaluate_set(tr, d, val.data, val.labels, std::max<int64_t>(cfg.batch_size, 256));
      em.val_loss = v.mean_loss();
      if (ce) em.val_acc = v.accuracy();
    }
    em.seconds = seconds_since(t0);
    progress.clear();
    if (json) {
      print_json_line({{"type", "epoch"},
                       {"epoch", epoch},
                       {"epochs", cfg.epochs},
                       {"train_loss", em.train_loss},
                       {"train_acc", optional_json(em.train_acc)},
                       {"val_loss", optional_json(em.val_loss)},
                       {"val_acc", optional_json(em.val_acc)},
                       {"sequences_per_s", n / train_seconds},
                       {"seconds", em.seconds}});
    } else {
      std::printf("epoch %lld/%lld  train loss %.4f", static_cast<long long>(epoch), static_cast<long long>(cfg.epochs),
                  em.train_loss);
      if (em.train_acc) std::printf(" acc %.3f", *em.train_acc);
      if (em.val_loss) std::printf("  val loss %.4f", *em.val_loss);
      if (em.val_acc) std::printf(" acc %.3f", *em.val_acc);
      std::printf("  %.0f seq/s  %.2f s\n", n / train_seconds, em.seconds);
      std::fflush(stdout);
    }
    // Metrics first: a resumed run drops rows beyond its checkpoint, so a
    // kill between the two writes never loses the row of a saved epoch.
    metrics.push_back(em);
    write_metrics_csv(csv, metrics);
    write_curves_svg(svg, std::string(d.name) + " training", metrics);
    save_checkpoint(*m, ckpt, cfg.seed, epoch);
    saved = epoch;
    if (g_stop_signal && epoch < cfg.epochs) return stop(epoch, 0, batches, sums);
  }
  if (json)
    finish(cfg.epochs - done, Json());
  else
    std::printf("checkpoint %s, metrics %s, plot %s\n", ckpt.c_str(), csv.c_str(), svg.c_str());
  return 0;
}

int cmd_eval(const ModelDesc &d, const Options &o) {
  apply_threads_option(o);
  auto m = open_weights(d, o.str("weights"));
  LabeledSet s = load_set(d, o.str("inputs"), o.str_or("labels", ""), o.str_or("lengths", ""), "labels");
  Trainer tr(*m, TrainConfig::from(d));
  const LossSums r = evaluate_set(tr, d, s.data, s.labels, o.int_or("batch-size", 256, 1, 1 << 20));
  const bool ce = d.loss == kLossCrossEntropy;
  if (o.has("json")) {
    Json doc = {{"loss", r.mean_loss()}, {"accuracy", ce ? Json(r.accuracy()) : Json()}};
    if (ce) {
      doc["correct"] = r.correct;
      doc["counted"] = r.counted;
    }
    doc["sequences"] = r.sequences;
    print_json_line(doc);
  } else {
    std::printf("loss %.6f", r.mean_loss());
    if (ce)
      std::printf("  accuracy %.4f (%lld of %lld)", r.accuracy(), static_cast<long long>(r.correct),
                  static_cast<long long>(r.counted));
    std::printf("  on %lld sequences\n", static_cast<long long>(r.sequences));
  }
  return 0;
}

int cmd_gradnorm(const ModelDesc &d, const Options &o) {
  apply_threads_option(o);
  auto m = open_weights(d, o.str("weights"));
  LabeledSet s = load_set(d, o.str("inputs"), o.str_or("labels", ""), o.str_or("lengths", ""), "labels");
  TrainConfig cfg = TrainConfig::from(d);
  cfg.seed = o.seed_or("seed", cfg.seed);
  Trainer tr(*m, cfg);
  std::vector<int32_t> all(s.data.n);
  std::iota(all.begin(), all.end(), 0);
  const std::vector<double> norms = tr.gradient_norms(make_batch(d, s.data, &s.labels, all.data(), s.data.n));
  if (o.has("output")) {
    // The gradients themselves, under the parameters' names.
    SafeTensorsFile f;
    f.tensors = param_tensors(*m);
    const float *grads = m->train.grads.host();
    for (int32_t p = 0; p < d.num_params; ++p)
      std::memcpy(f.tensors[p].data.data(), grads + d.params[p].offset, sizeof(float) * d.params[p].numel);
    f.metadata = file_metadata(d, {{"content", "gradients"}});
    write_safetensors(o.str("output"), f);
  }
  double total = 0;
  for (double v : norms) total += v * v;
  total = std::sqrt(total);
  // Per-step flow: |dL/dh_t| over the batch's valid rows, per sub-layer direction.
  const bool per_step = o.has("per-step") || o.has("plot");
  std::vector<std::vector<double>> steps;
  if (per_step)
    for (int32_t k = 0; k < d.num_states; ++k) steps.push_back(per_step_gradient_norms(*m, k, s.data.t));
  if (o.has("plot")) {
    std::vector<LogCurve> curves;
    for (int32_t k = 0; k < d.num_states; ++k) curves.push_back({state_name(d, k), steps[k]});
    write_log_curves_svg(o.str("plot"), std::string(d.name) + ": gradient flow |dL/dh_t| at each step",
                         "step t (input position)", curves);
  }
  if (o.has("json")) {
    Json per_tensor = Json::object();
    for (int32_t p = 0; p < d.num_params; ++p) per_tensor[d.params[p].name] = norms[p];
    Json doc = {{"grad_norms", std::move(per_tensor)}, {"total", total}};
    if (o.has("per-step")) {
      Json entries = Json::array();
      for (int32_t k = 0; k < d.num_states; ++k) {
        Json e = state_json(d.states[k]);
        e["norms"] = steps[k];
        entries.push_back(std::move(e));
      }
      doc["per_step"] = std::move(entries);
    }
    Json wrote = Json::array();
    if (o.has("output")) wrote.push_back(o.str("output"));
    if (o.has("plot")) wrote.push_back(o.str("plot"));
    doc["wrote"] = std::move(wrote);
    print_json_line(doc);
    return 0;
  }
  for (int32_t p = 0; p < d.num_params; ++p) std::printf("%-40s %.6g\n", d.params[p].name, norms[p]);
  std::printf("%-40s %.6g\n", "total", total);
  if (o.has("per-step")) {
    std::printf("\nper-step gradient norms |dL/dh_t| (t = input position):\n%5s", "step");
    for (int32_t k = 0; k < d.num_states; ++k) std::printf("  %28s", state_name(d, k).c_str());
    std::printf("\n");
    for (int64_t t = 0; t < s.data.t; ++t) {
      std::printf("%5lld", static_cast<long long>(t));
      for (int32_t k = 0; k < d.num_states; ++k) std::printf("  %28.6g", steps[k][t]);
      std::printf("\n");
    }
  }
  if (o.has("plot")) std::printf("plot: %s\n", o.str("plot").c_str());
  return 0;
}

int cmd_data(const ModelDesc &d, const Options &o) {
  const std::string task = o.str("task"), dir = o.str("out");
  const int64_t n = o.int_or("n", 0, 1, 1 << 24);
  Rng rng(o.seed_or("seed", 0));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) throw RtError("cannot create the directory " + dir);
  std::vector<int64_t> lengths(n), labels(n);
  std::vector<int64_t> tokens;
  std::vector<float> x;
  std::vector<NpzOutput> arrays;  // inputs, then labels and lengths
  if (task == "parity") {
    // The notebook's token classification: lengths 5..20, label = parity of the token sum.
    const int64_t vocab = o.int_or("vocab", d.input_kind == kInputTokens ? d.vocab : 50, 1, 1 << 20);
    const int64_t t = 20;
    tokens.assign(n * t, 0);
    for (int64_t i = 0; i < n; ++i) {
      lengths[i] = 5 + static_cast<int64_t>(rng.next() % 16);
      int64_t sum = 0;
      for (int64_t s = 0; s < lengths[i]; ++s) {
        tokens[i * t + s] = static_cast<int64_t>(rng.next() % static_cast<uint64_t>(vocab));
        sum += tokens[i * t + s];
      }
      labels[i] = sum % 2;
    }
    arrays.push_back({"inputs", DType::kI64, tokens.data(), {n, t}});
  } else if (task == "memory") {
    // The memory task: T standard-normal inputs, label = the sign of the first.
    const int64_t t = o.int_or("steps", 50, 1, 1 << 20);
    x.resize(n * t);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t s = 0; s < t; ++s) x[i * t + s] = static_cast<float>(rng.normal());
      lengths[i] = t;
      labels[i] = x[i * t] > 0 ? 1 : 0;
    }
    arrays.push_back({"inputs", DType::kF32, x.data(), {n, t, 1}});
  } else {
    throw UsageError("--task must be 'parity' or 'memory', not '" + task + "'");
  }
  arrays.push_back({"labels", DType::kI64, labels.data(), {n}});
  arrays.push_back({"lengths", DType::kI64, lengths.data(), {n}});
  // One .npz holding the three arrays, or one .npy each.
  std::vector<std::string> wrote;
  if (o.has("npz")) {
    wrote.push_back(dir + "/data.npz");
    write_npz(wrote.back(), arrays);
  } else {
    for (const NpzOutput &a : arrays) {
      wrote.push_back(dir + "/" + a.key + ".npy");
      write_npy(wrote.back(), a.dtype, a.data, a.shape);
    }
  }
  if (o.has("json")) {
    print_json_line({{"task", task}, {"sequences", n}, {"wrote", wrote}});
    return 0;
  }
  if (o.has("npz"))
    std::printf("wrote %s (inputs, labels, lengths; %s, %lld sequences)\n", wrote[0].c_str(), task.c_str(),
                static_cast<long long>(n));
  else
    std::printf("wrote %s/inputs.npy, labels.npy, lengths.npy (%s, %lld sequences)\n", dir.c_str(), task.c_str(),
                static_cast<long long>(n));
  return 0;
}

int cmd_export(const ModelDesc &d, const Options &o) {
  auto m = open_weights(d, o.str("checkpoint"));
  save_weights(*m, o.str("output"));
  if (o.has("json"))
    print_json_line({{"wrote", Json::array({o.str("output")})}});
  else
    std::printf("wrote %s\n", o.str("output").c_str());
  return 0;
}

}  // namespace

std::vector<Command> training_commands() {
  const OptionSpec threads{"threads", "N", "threads for the kernels (default: one per core)"};
  return {
      {"train",
       "Train with BPTT; defaults come from the model file's [train] table. Writes the checkpoint after every "
       "epoch, <CKPT>.metrics.csv and the plot <CKPT>.curves.svg.",
       {{"inputs", "X.npy", "training inputs (or D.npz holding inputs, lengths, labels)", true},
        {"labels", "Y.npy", "class ids [N] ([N, T] for readout \"all\"), or MSE targets (default: the inputs' .npz)"},
        {"lengths", "L.npy", "lengths of the training sequences (default: the inputs' .npz, or all T)"},
        {"val-inputs", "X.npy", "validation inputs (or an .npz, as --inputs)"},
        {"val-labels", "Y.npy", "validation labels"},
        {"val-lengths", "L.npy", "validation lengths"},
        {"epochs", "N", "epochs in total (a resumed run continues up to N)"},
        {"batch-size", "B", "sequences per optimizer step (the last batch may be short)"},
        {"lr", "LR", "learning rate"},
        {"seed", "S", "seed of the shuffling, dropout and initial weights"},
        {"weights", "W0.safetensors", "initial weights (default: PyTorch-default initialisation from the seed)"},
        {"checkpoint", "CKPT.safetensors", "where to keep the checkpoint", true},
        {"resume", "", "continue from --checkpoint (weights, optimizer state, epoch count)"},
        {"json", "",
         "print one JSON object per line: {\"type\": \"epoch\", ...} per epoch, then {\"type\": \"summary\", "
         "\"diverged\", ...} (also when training diverges)"},
        threads},
       cmd_train},
      {"eval",
       "Print the loss and accuracy of weights on a labelled set.",
       {{"weights", "W.safetensors", "weights or checkpoint", true},
        {"inputs", "X.npy", "inputs (or D.npz holding inputs, lengths, labels)", true},
        {"labels", "Y.npy", "labels (default: the inputs' .npz)"},
        {"lengths", "L.npy", "lengths"},
        {"json", "", "print one JSON object {\"loss\", \"accuracy\" (null for MSE), \"sequences\", ...}"},
        {"batch-size", "B", "sequences per forward call (default 256)"},
        threads},
       cmd_eval},
      {"gradnorm",
       "Print the gradient norm of every parameter tensor, and the total, on the given batch (training mode).",
       {{"weights", "W.safetensors", "weights or checkpoint", true},
        {"inputs", "X.npy", "inputs, one batch (or D.npz holding inputs, lengths, labels)", true},
        {"labels", "Y.npy", "labels (default: the inputs' .npz)"},
        {"lengths", "L.npy", "lengths"},
        {"seed", "S", "dropout seed"},
        {"json", "", "print one JSON object {\"grad_norms\": {...}, \"total\", \"per_step\", \"wrote\"}"},
        {"output", "G.safetensors", "also write the gradients, under the parameters' names"},
        {"per-step", "",
         "also the norm of dL/dh_t at every step t, per recurrent sub-layer and direction (the "
         "Frobenius norm over the batch's valid rows; t is the input position)"},
        {"plot", "P.svg", "plot the per-step norms on a log scale"},
        threads},
       cmd_gradnorm},
      {"data",
       "Write the notebook's data sets: parity (token sums, lengths 5-20) or memory (sign of the first of T inputs).",
       {{"task", "parity|memory", "which data set", true},
        {"n", "N", "sequences", true},
        {"seed", "S", "random seed (default 0)"},
        {"out", "DIR", "directory for inputs.npy, labels.npy, lengths.npy", true},
        {"steps", "T", "memory: steps per sequence (default 50)"},
        {"vocab", "V", "parity: vocabulary (default: the model's, or 50)"},
        {"npz", "", "write one DIR/data.npz (keys inputs, labels, lengths) instead of three .npy files"},
        {"json", "", "print one JSON object {\"task\", \"sequences\", \"wrote\": [files]}"}},
       cmd_data},
      {"export",
       "Write a checkpoint's weights alone (loads in PyTorch with a strict load_state_dict).",
       {{"checkpoint", "CKPT.safetensors", "checkpoint", true},
        {"output", "W.safetensors", "weights file", true},
        {"json", "", "print one JSON object {\"wrote\": [W]}"}},
       cmd_export},
  };
}

}  // namespace rnnc_rt

// rnnc: the command line. Each command turns its flags into one library call.
#include <boost/program_options.hpp>

#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "codegen/kernel_cache.h"
#include "driver/commands.h"
#include "frontend/diagnostics.h"
#include "import/onnx_import.h"
#include "rnnc/edit_distance.h"
#include "tune/tune_model.h"

#include <rnnc_version.h>

namespace po = boost::program_options;

namespace {

constexpr const char *kVersion = "rnnc " RNNC_VERSION " (Halide 14)";

void print_overview(std::ostream &out) {
  out << "usage: rnnc <command> [options]\n\n"
         "An ahead-of-time compiler for recurrent networks described by model files.\n\n"
         "commands:\n"
         "  check MODEL      validate a model file and print its layer table\n"
         "  compile MODEL    generate OUT/lib<name>.so, OUT/lib<name>.a, OUT/<name>.h and OUT/<name>\n"
         "  tune MODEL       measure schedule candidates for the model's kernels on this machine; write records\n"
         "                   for 'rnnc compile --schedules'\n"
         "  import M.onnx    turn an ONNX model (LSTM / GRU / RNN nodes and their glue) into a model file and\n"
         "                   safetensors weights\n"
         "  cache info|clear show or empty the kernel cache (bounded by $RNNC_CACHE_MAX, default 2G;\n"
         "                   least recently used kernels go first)\n\n"
         "'rnnc <command> --help' describes a command's options; 'rnnc --version' prints the version.\n";
}

struct Usage {
  std::string message;
};

// Parses a command's flags, MODEL being its one positional argument. With
// --help prints the options and returns nullopt (the command then exits 0).
// Option names must be given in full, as in the generated programs: an
// abbreviation that names one option today could name two after the next
// option is added. An unknown one is refused with the nearest name.
std::optional<po::variables_map> parse(const std::string &command, po::options_description &desc,
                                       const std::vector<std::string> &args) {
  desc.add_options()("help,h", "this text");
  po::positional_options_description pos;
  pos.add("model", 1);
  po::variables_map vm;
  try {
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(desc).positional(pos).style(style).run(), vm);
    if (vm.count("help")) {
      std::cout << desc;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::unknown_option &e) {
    // Boost names the option as given, with "=value" when it had one.
    const std::string token = e.get_option_name(), given = token.substr(0, token.find('='));
    std::string best;
    if (given.rfind("--", 0) == 0) {
      std::vector<std::string> names;
      for (const auto &o : desc.options())
        if (!o->long_name().empty()) names.push_back(o->long_name());
      best = rnnc_rt::nearest_option(given.substr(2), names);
    }
    throw Usage{"unknown option '" + given + "' for '" + command + "'" +
                (best.empty() ? "" : "; did you mean '--" + best + "'?")};
  } catch (const po::error &e) {
    throw Usage{e.what()};
  }
  return vm;
}

rnnc::ReportFormat report_format(const po::variables_map &vm) {
  return vm.count("json") ? rnnc::ReportFormat::kJson : rnnc::ReportFormat::kText;
}

// --cache-dir, else $RNNC_CACHE_DIR or ~/.cache/rnnc.
std::string cache_dir_of(const po::variables_map &vm) {
  return vm.count("cache-dir") ? vm["cache-dir"].as<std::string>() : rnnc::codegen::KernelCache::default_dir();
}

int cmd_check(const std::vector<std::string> &args) {
  po::options_description desc(
      "rnnc check MODEL [options]\n\nValidate a model file and print its layer table.\n\noptions");
  std::string model, target;
  desc.add_options()("model", po::value(&model)->required(), "model file")(
      "json", "print the layer table as one JSON object")("dump", "print the graph IR and the plan")(
      "target", po::value(&target)->default_value("host"), "target of the plan shown by --dump");
  const std::optional<po::variables_map> parsed = parse("check", desc, args);
  if (!parsed) return 0;
  const po::variables_map &vm = *parsed;
  if (vm.count("json") && vm.count("dump")) throw Usage{"--json and --dump exclude each other"};
  const rnnc::CheckFormat f = vm.count("json")   ? rnnc::CheckFormat::kJson
                              : vm.count("dump") ? rnnc::CheckFormat::kDump
                                                 : rnnc::CheckFormat::kTable;
  rnnc::check_model(model, f, target, std::cout);
  return 0;
}

int cmd_compile(const std::vector<std::string> &args) {
  po::options_description desc(
      "rnnc compile MODEL -o OUT [options]\n\nGenerate the model's library, header and program into OUT.\n\noptions");
  rnnc::codegen::CompileOptions opt;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  desc.add_options()("model", po::value(&opt.model_path)->required(), "model file")(
      "output,o", po::value(&opt.out_dir)->required(), "output directory (created if missing)")(
      "target", po::value(&opt.target)->default_value("host"),
      "'host' or a Halide target string (e.g. x86-64-linux-avx2-fma)")(
      "cache-dir", po::value<std::string>(),
      "kernel cache directory (default $RNNC_CACHE_DIR or ~/.cache/rnnc; at most $RNNC_CACHE_MAX bytes, default 2G)")(
      "no-cache", "compile every kernel afresh, without reading or writing the cache")(
      "jobs,j", po::value(&opt.jobs)->default_value(static_cast<int>(cores)), "kernel compiler processes")(
      "keep-temps", "keep OUT/.rnnc-build-<pid> (generated sources and objects)")(
      "schedules", po::value(&opt.schedules_path), "tuning records from 'rnnc tune' (default: the default schedules)")(
      "batch", po::value(&opt.batch)->default_value(0),
      "with --schedules: sequences per call to choose records for (default: the records' own)")(
      "steps", po::value(&opt.steps)->default_value(0),
      "with --schedules: steps per sequence to choose records for (default: the records' own)")(
      "json", "print the report as one JSON object (warnings stay on stderr)");
  const std::optional<po::variables_map> parsed = parse("compile", desc, args);
  if (!parsed) return 0;
  const po::variables_map &vm = *parsed;
  if (opt.jobs < 1) throw Usage{"--jobs must be at least 1"};
  if (vm.count("no-cache")) {
    opt.cache_dir.clear();
  } else {
    opt.cache_dir = cache_dir_of(vm);
  }
  opt.keep_temps = vm.count("keep-temps") > 0;
  if (opt.batch < 0 || opt.steps < 0) throw Usage{"--batch and --steps must not be negative"};
  rnnc::codegen::CompileReport r = rnnc::codegen::compile_model(opt);
  for (const std::string &w : r.schedule_warnings) std::cerr << "rnnc compile: warning: " << w << "\n";
  rnnc::print_compile_report(r, report_format(vm), std::cout);
  return 0;
}

int cmd_tune(const std::vector<std::string> &args) {
  po::options_description desc(
      "rnnc tune MODEL -o RECORDS.json [options]\n\nMeasure schedule candidates for every tunable kernel of the "
      "model on this machine (each checked against the kernel's C++ reference, or the default schedule's results, "
      "before it can win) and write "
      "the best as tuning records for 'rnnc compile --schedules RECORDS.json'.\n\noptions");
  rnnc::tune::TuneOptions opt;
  desc.add_options()("model", po::value(&opt.model_path)->required(), "model file")(
      "output,o", po::value(&opt.out_path)->required(), "records file to write (JSON)")(
      "target", po::value(&opt.target)->default_value("host"), "'host' or a Halide target string")(
      "batch", po::value(&opt.batch)->default_value(0),
      "sequences per call to tune for (default: the model's [train] batch_size)")(
      "steps", po::value(&opt.steps)->default_value(0), "steps per sequence to tune for (default 32)")(
      "threads", po::value(&opt.threads)->default_value(0), "threads the kernels run on (default: one per core)")(
      "trials", po::value(&opt.trials)->default_value(24), "candidates per kernel, the default included")(
      "time-budget", po::value(&opt.time_budget_s)->default_value(300), "seconds for the whole search and bench")(
      "no-bench", "skip timing the whole model with and without the records")(
      "cache-dir", po::value<std::string>(), "kernel cache for the bench's compiles (default as for compile)")(
      "seed", po::value(&opt.seed)->default_value(1), "order of the candidates and the generated data")(
      "json", "print the report as one JSON object (the progress line stays on stderr)");
  const std::optional<po::variables_map> parsed = parse("tune", desc, args);
  if (!parsed) return 0;
  const po::variables_map &vm = *parsed;
  if (opt.batch < 0 || opt.steps < 0 || opt.threads < 0)
    throw Usage{"--batch, --steps and --threads must not be negative"};
  if (opt.trials < 1) throw Usage{"--trials must be at least 1"};
  if (!(opt.time_budget_s > 0)) throw Usage{"--time-budget must be positive"};
  opt.bench = vm.count("no-bench") == 0;
  opt.cache_dir = vm.count("cache-dir") ? vm["cache-dir"].as<std::string>() : rnnc::codegen::KernelCache::default_dir();
  opt.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool tty = isatty(STDERR_FILENO) != 0;
  const rnnc::tune::TuneReport r = rnnc::tune::tune_model(opt, [&](const std::string &line) {
    if (!tty) return;
    std::cerr << "\r\033[K" << line << std::flush;
  });
  rnnc::print_tune_report(r, opt.out_path, report_format(vm), std::cout);
  return 0;
}

int cmd_import(const std::vector<std::string> &args) {
  po::options_description desc(
      "rnnc import MODEL.onnx -o MODEL.toml --weights W.safetensors\n\nTurn an ONNX model into an rnnc model file "
      "and its weights (PyTorch names and gate order). Prints how the ONNX inputs and outputs map onto the "
      "generated program's flags. Writes nothing unless the whole model maps.\n\noptions");
  rnnc::onnx_import::ImportOptions opt;
  desc.add_options()("model", po::value(&opt.onnx_path)->required(), "ONNX model")(
      "output,o", po::value(&opt.toml_path)->required(), "model file to write")(
      "weights", po::value(&opt.weights_path)->required(), "safetensors weights to write")(
      "json", "print the report as one JSON object");
  const std::optional<po::variables_map> parsed = parse("import", desc, args);
  if (!parsed) return 0;
  const rnnc::onnx_import::ImportReport r = rnnc::onnx_import::import_onnx(opt);
  rnnc::print_import_report(r, opt, report_format(*parsed), std::cout);
  return 0;
}

int cmd_cache(std::vector<std::string> args) {
  po::options_description desc(
      "rnnc cache info|clear [options]\n\nShow the kernel cache (its directory, entries, bytes and bound) or empty "
      "it.\nThe bound is $RNNC_CACHE_MAX: bytes, or a number with a K, M or G suffix (default 2G); after each\n"
      "compile the least recently used kernels go until the cache is within it.\n\noptions");
  desc.add_options()("cache-dir", po::value<std::string>(),
                     "kernel cache directory (default $RNNC_CACHE_DIR or ~/.cache/rnnc)")("json",
                                                                                          "print one JSON object");
  std::string action;
  if (!args.empty() && args[0].rfind("-", 0) != 0) {
    action = args[0];
    args.erase(args.begin());
  }
  const std::optional<po::variables_map> parsed = parse("cache", desc, args);
  if (!parsed) return 0;
  if (action != "info" && action != "clear")
    throw Usage{action.empty() ? "say 'info' or 'clear'" : "unknown action '" + action + "'; say 'info' or 'clear'"};
  const std::string dir = cache_dir_of(*parsed);
  if (dir.empty()) throw Usage{"no cache directory: set --cache-dir, RNNC_CACHE_DIR or HOME"};
  const rnnc::codegen::KernelCache cache(dir, rnnc::codegen::KernelCache::max_bytes_from_env());
  if (!cache.enabled()) throw std::runtime_error("cannot use " + dir + " as a kernel cache (not writable)");
  const bool json = parsed->count("json") > 0;
  if (action == "clear") {
    const int64_t removed = cache.clear();
    if (json) {
      std::cout << nlohmann::ordered_json{{"cache_dir", dir}, {"removed_entries", removed}}.dump() << "\n";
    } else {
      std::cout << "removed " << removed << " kernel" << (removed == 1 ? "" : "s") << " from " << dir << "\n";
    }
    return 0;
  }
  const rnnc::codegen::KernelCache::Usage u = cache.usage();
  if (json) {
    std::cout << nlohmann::ordered_json{{"cache_dir", dir},
                                        {"entries", u.entries},
                                        {"bytes", u.bytes},
                                        {"max_bytes", cache.max_bytes()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "cache     " << dir << "\nentries   " << u.entries << "\nbytes     " << u.bytes << "\nmax bytes "
              << cache.max_bytes() << " ($RNNC_CACHE_MAX)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_overview(std::cerr);
    return 2;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      print_overview(std::cout);
      return 0;
    }
    if (cmd == "--version") {
      std::cout << kVersion << "\nloaded Halide library: " << rnnc::codegen::halide_library_id() << "\n";
      return 0;
    }
    // A bad cache bound is a usage error of every command that compiles.
    if (cmd == "compile" || cmd == "tune" || cmd == "cache") {
      try {
        rnnc::codegen::KernelCache::max_bytes_from_env();
      } catch (const std::invalid_argument &e) {
        throw Usage{e.what()};
      }
    }
    if (cmd == "check") return cmd_check(args);
    if (cmd == "cache") return cmd_cache(args);
    if (cmd == "compile") return cmd_compile(args);
    if (cmd == "tune") return cmd_tune(args);
    if (cmd == "import") return cmd_import(args);
    std::cerr << "rnnc: error: unknown command '" << cmd << "'\n";
    print_overview(std::cerr);
    return 2;
  } catch (const Usage &u) {
    std::cerr << "rnnc " << cmd << ": error: " << u.message << "\n(see 'rnnc " << cmd << " --help')\n";
    return 2;
  } catch (const rnnc::CompileError &e) {
    std::cerr << e.what() << "\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "rnnc " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}

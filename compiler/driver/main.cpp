// rnnc: the command line. Each command turns its flags into one library call.
#include <boost/program_options.hpp>

#include <iostream>
#include <thread>

#include "codegen/kernel_cache.h"
#include "driver/commands.h"
#include "frontend/diagnostics.h"

namespace po = boost::program_options;

namespace {

constexpr const char *kVersion = "rnnc 0.1.0 (Halide 14)";

void print_overview(std::ostream &out) {
  out << "usage: rnnc <command> [options]\n\n"
         "An ahead-of-time compiler for recurrent networks described by model files.\n\n"
         "commands:\n"
         "  check MODEL      validate a model file and print its layer table\n"
         "  compile MODEL    generate OUT/lib<name>.so, OUT/lib<name>.a, OUT/<name>.h and OUT/<name>\n\n"
         "'rnnc <command> --help' describes a command's options; 'rnnc --version' prints the version.\n";
}

struct Usage {
  std::string message;
};

po::variables_map parse(const std::string &cmd, po::options_description &desc, po::positional_options_description &pos,
                        const std::vector<std::string> &args, bool &help) {
  desc.add_options()("help,h", "this text");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    help = vm.count("help") > 0;
    if (!help) po::notify(vm);
  } catch (const po::error &e) {
    throw Usage{e.what()};
  }
  return vm;
}

int cmd_check(const std::vector<std::string> &args) {
  po::options_description desc(
      "rnnc check MODEL [options]\n\nValidate a model file and print its layer table.\n\noptions");
  std::string model, target;
  desc.add_options()("model", po::value(&model)->required(), "model file")(
      "json", "print the layer table as one JSON object")("dump", "print the graph IR and the plan")(
      "target", po::value(&target)->default_value("host"), "target of the plan shown by --dump");
  po::positional_options_description pos;
  pos.add("model", 1);
  bool help = false;
  po::variables_map vm = parse("check", desc, pos, args, help);
  if (help) {
    std::cout << desc;
    return 0;
  }
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
      "cache-dir", po::value<std::string>(), "kernel cache directory (default $RNNC_CACHE_DIR or ~/.cache/rnnc)")(
      "no-cache", "compile every kernel afresh, without reading or writing the cache")(
      "jobs,j", po::value(&opt.jobs)->default_value(static_cast<int>(cores)), "kernel compiler processes")(
      "keep-temps", "keep OUT/.rnnc-build-<pid> (generated sources and objects)");
  po::positional_options_description pos;
  pos.add("model", 1);
  bool help = false;
  po::variables_map vm = parse("compile", desc, pos, args, help);
  if (help) {
    std::cout << desc;
    return 0;
  }
  if (opt.jobs < 1) throw Usage{"--jobs must be at least 1"};
  if (vm.count("no-cache")) {
    opt.cache_dir.clear();
  } else {
    opt.cache_dir =
        vm.count("cache-dir") ? vm["cache-dir"].as<std::string>() : rnnc::codegen::KernelCache::default_dir();
  }
  opt.keep_temps = vm.count("keep-temps") > 0;
  rnnc::codegen::CompileReport r = rnnc::codegen::compile_model(opt);
  rnnc::print_compile_report(r, std::cout);
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
      std::cout << kVersion << "\n";
      return 0;
    }
    if (cmd == "check") return cmd_check(args);
    if (cmd == "compile") return cmd_compile(args);
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

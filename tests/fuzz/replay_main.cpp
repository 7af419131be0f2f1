// Runs a fuzz target's LLVMFuzzerTestOneInput on files, without libFuzzer:
// the regular (GCC) build replays the committed corpus and the inputs of
// past crashes this way, as regression tests. Arguments: files or
// directories (every regular file below them, sorted); --ext=.X takes only
// the files ending in .X from the directories after it, up to the next
// --ext= (an empty one takes every file again).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::string ext;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--ext=", 0) == 0) {
      ext = arg.substr(6);
    } else if (fs::is_directory(arg)) {
      for (const auto &e : fs::recursive_directory_iterator(arg))
        if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext)) files.push_back(e.path());
    } else {
      files.emplace_back(arg);
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path &p : files) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
      return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return files.empty() ? 1 : 0;
}

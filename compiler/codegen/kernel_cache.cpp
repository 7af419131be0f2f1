#include "codegen/kernel_cache.h"

#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rnnc::codegen {

namespace fs = std::filesystem;

namespace {

uint64_t fnv1a(const std::string &s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string halide_library_id() {
  struct Found {
    std::string id;
    std::string path;
  } found;
  dl_iterate_phdr(
      [](struct dl_phdr_info *info, size_t, void *data) -> int {
        auto *f = static_cast<Found *>(data);
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("libHalide") == std::string::npos) return 0;
        f->path = name;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const auto *p = reinterpret_cast<const unsigned char *>(info->dlpi_addr + ph.p_vaddr);
          const unsigned char *end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            const auto *nh = reinterpret_cast<const ElfW(Nhdr) *>(p);
            const unsigned char *desc = p + sizeof(ElfW(Nhdr)) + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && desc + nh->n_descsz <= end) {
              static const char hex[] = "0123456789abcdef";
              for (size_t k = 0; k < nh->n_descsz; ++k) {
                f->id += hex[desc[k] >> 4];
                f->id += hex[desc[k] & 15];
              }
              return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
          }
        }
        return 1;
      },
      &found);
  if (!found.id.empty()) return found.path + " build-id " + found.id;
  struct stat st;
  if (!found.path.empty() && stat(found.path.c_str(), &st) == 0)
    return found.path + " size " + std::to_string(st.st_size) + " mtime " + std::to_string(st.st_mtime);
  return "linked statically";
}

std::string hash_hex(const std::string &s) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(s)));
  return buf;
}

const std::string &build_id() {
  static const std::string id = [] {
    std::string exe = read_file("/proc/self/exe");
    return hash_hex(exe) + "-halide" + RNNC_HALIDE_VERSION + "-" + hash_hex(halide_library_id());
  }();
  return id;
}

KernelCache::KernelCache(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || access(dir_.c_str(), W_OK) != 0) dir_.clear();  // unusable: compile without caching
}

std::string KernelCache::default_dir() {
  if (const char *d = std::getenv("RNNC_CACHE_DIR")) return d;
  if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/rnnc";
  if (const char *h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/rnnc";
  return "";
}

std::string KernelCache::path_for(const std::string &key, const char *ext) const {
  return dir_ + "/" + hash_hex(key) + ext;
}

std::string KernelCache::lookup(const std::string &key) const {
  if (!enabled()) return "";
  const std::string obj = path_for(key, ".o");
  // The key file guards against hash collisions and half-written entries
  // (it is written after the object).
  if (!fs::exists(obj) || read_file(path_for(key, ".key")) != key) return "";
  return obj;
}

void KernelCache::store(const std::string &key, const std::string &object) const {
  if (!enabled()) return;
  const std::string tmp = dir_ + "/.tmp." + std::to_string(getpid()) + "." + hash_hex(key);
  std::error_code ec;
  fs::copy_file(object, tmp + ".o", fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp + ".o", path_for(key, ".o"), ec);
  if (!ec) {
    std::ofstream(tmp + ".key", std::ios::binary) << key;
    fs::rename(tmp + ".key", path_for(key, ".key"), ec);
  }
  if (ec) {
    fs::remove(tmp + ".o", ec);
    fs::remove(tmp + ".key", ec);
  }
}

}  // namespace rnnc::codegen

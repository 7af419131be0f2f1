#include "codegen/kernel_cache.h"

#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

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

KernelCache::KernelCache(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {
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

int64_t KernelCache::parse_size(const std::string &text) {
  size_t i = 0;
  int64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (n > (INT64_MAX - 9) / 10) return -1;
    n = n * 10 + (text[i++] - '0');
  }
  if (i == 0) return -1;
  if (i == text.size()) return n;
  if (i + 1 != text.size()) return -1;
  int shift = 0;
  switch (std::toupper(static_cast<unsigned char>(text[i]))) {
    case 'K':
      shift = 10;
      break;
    case 'M':
      shift = 20;
      break;
    case 'G':
      shift = 30;
      break;
    default:
      return -1;
  }
  if (n > (INT64_MAX >> shift)) return -1;
  return n << shift;
}

int64_t KernelCache::max_bytes_from_env() {
  const char *v = std::getenv("RNNC_CACHE_MAX");
  if (!v) return kDefaultMaxBytes;
  const int64_t n = parse_size(v);
  if (n < 0)
    throw std::invalid_argument(std::string("RNNC_CACHE_MAX='") + v +
                                "' is not a size: give bytes, or a number with a K, M or G suffix (e.g. 512M)");
  return n;
}

std::string KernelCache::path_for(const std::string &key, const char *ext) const {
  return dir_ + "/" + hash_hex(key) + ext;
}

bool KernelCache::fetch(const std::string &key, const std::string &dest) const {
  if (!enabled()) return false;
  const std::string obj = path_for(key, ".o"), key_file = path_for(key, ".key");
  // The key file guards against hash collisions and half-written entries
  // (it is written after the object).
  if (read_file(key_file) != key) return false;
  std::error_code ec;
  fs::remove(dest, ec);
  fs::create_hard_link(obj, dest, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(obj, dest, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return false;                                                 // evicted meanwhile: a miss
  fs::last_write_time(key_file, fs::file_time_type::clock::now(), ec);  // used now
  return true;
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
  trim();
}

namespace {

struct Entry {
  fs::file_time_type used{};
  int64_t bytes = 0;
  bool has_key = false, has_object = false;
};

// The cache's entries by hash, and its temporary files.
std::map<std::string, Entry> scan(const std::string &dir, std::vector<fs::path> *temps) {
  std::map<std::string, Entry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    const std::string name = p.filename().string(), ext = p.extension().string();
    if (name.rfind(".tmp.", 0) == 0) {
      if (temps) temps->push_back(p);
      continue;
    }
    if (ext != ".o" && ext != ".key") continue;
    std::error_code e2;
    const auto size = fs::file_size(p, e2);
    if (e2) continue;  // removed meanwhile
    Entry &e = entries[p.stem().string()];
    e.bytes += static_cast<int64_t>(size);
    if (ext == ".key") {
      e.has_key = true;
      e.used = fs::last_write_time(p, e2);
    } else {
      e.has_object = true;
      if (!e.has_key) e.used = fs::last_write_time(p, e2);
    }
  }
  return entries;
}

// Removes an entry: its key first, so that no reader takes the object for
// complete while it goes.
void remove_entry(const std::string &dir, const std::string &hash) {
  std::error_code ec;
  fs::remove(dir + "/" + hash + ".key", ec);
  fs::remove(dir + "/" + hash + ".o", ec);
}

}  // namespace

KernelCache::Usage KernelCache::usage() const {
  Usage u;
  if (!enabled()) return u;
  for (const auto &[hash, e] : scan(dir_, nullptr)) {
    u.entries += e.has_key && e.has_object;
    u.bytes += e.bytes;
  }
  return u;
}

void KernelCache::trim() const {
  if (!enabled()) return;
  std::vector<fs::path> temps;
  std::map<std::string, Entry> entries = scan(dir_, &temps);
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  // A compile killed half-way leaves its temporary files; live compiles
  // rename theirs within seconds.
  for (const fs::path &t : temps) {
    const auto age = now - fs::last_write_time(t, ec);
    if (!ec && age > std::chrono::hours(1)) fs::remove(t, ec);
  }
  int64_t total = 0;
  std::vector<std::pair<fs::file_time_type, std::string>> order;
  for (const auto &[hash, e] : entries) {
    total += e.bytes;
    // An object without its key is a store in progress (young) or a
    // compile killed between the two renames (old): the latter goes first.
    if (!e.has_key && now - e.used < std::chrono::minutes(10)) continue;
    order.emplace_back(e.has_key ? e.used : fs::file_time_type::min(), hash);
  }
  if (total <= max_bytes_) return;
  std::sort(order.begin(), order.end());
  for (const auto &[used, hash] : order) {
    if (total <= max_bytes_) break;
    remove_entry(dir_, hash);
    total -= entries[hash].bytes;
  }
}

int64_t KernelCache::clear() const {
  if (!enabled()) return 0;
  std::vector<fs::path> temps;
  int64_t removed = 0;
  for (const auto &[hash, e] : scan(dir_, &temps)) {
    removed += e.has_key && e.has_object;
    remove_entry(dir_, hash);
  }
  std::error_code ec;
  for (const fs::path &t : temps) fs::remove(t, ec);
  return removed;
}

}  // namespace rnnc::codegen

// Cache of generated kernel objects, keyed by a hash of everything that
// determines their code: the kernel's workload and schedule parameters (its
// name), the target, and the builds of rnnc and of the loaded libHalide. A hit skips
// Halide compilation entirely; rebuilding rnnc invalidates every entry.
//
// An entry is <hash>.o and <hash>.key (written after the object, so a key
// names a complete object); the key's modification time is its last use.
// The cache holds at most a bound of bytes ($RNNC_CACHE_MAX, default 2G):
// after each store the least recently used entries go. Compiles sharing the
// cache at once, or killed half-way, are safe: every file appears by rename,
// a hit is hard-linked (or copied) into the compile's own directory before
// use, so an eviction cannot take it away, and temporary files a killed
// compile left are removed once they are an hour old.
#pragma once

#include <cstdint>
#include <string>

namespace rnnc::codegen {

class KernelCache {
 public:
  static constexpr int64_t kDefaultMaxBytes = int64_t{2} << 30;

  // `dir` empty disables caching.
  explicit KernelCache(std::string dir, int64_t max_bytes = kDefaultMaxBytes);

  // $RNNC_CACHE_DIR, else $XDG_CACHE_HOME/rnnc, else $HOME/.cache/rnnc.
  static std::string default_dir();
  // $RNNC_CACHE_MAX (bytes, or a number with a K, M or G suffix: 1024-based),
  // else kDefaultMaxBytes. Throws std::invalid_argument naming the variable
  // when it is not such a size.
  static int64_t max_bytes_from_env();
  // "512M"-style sizes, as RNNC_CACHE_MAX takes them; -1 when malformed.
  static int64_t parse_size(const std::string &text);

  bool enabled() const { return !dir_.empty(); }
  const std::string &dir() const { return dir_; }
  int64_t max_bytes() const { return max_bytes_; }

  // Puts the cached object for `key` at `dest` (a hard link, else a copy)
  // and marks the entry used; false when there is none.
  bool fetch(const std::string &key, const std::string &dest) const;
  // Copies `object` into the cache under `key` (atomically), then trims;
  // best effort: a cache that cannot be written only costs time.
  void store(const std::string &key, const std::string &object) const;

  struct Usage {
    int64_t entries = 0;
    int64_t bytes = 0;
  };
  Usage usage() const;
  // Removes least recently used entries until at most max_bytes() remain,
  // and abandoned temporary files.
  void trim() const;
  // Removes every entry and temporary file; returns the entries removed.
  int64_t clear() const;

 private:
  std::string path_for(const std::string &key, const char *ext) const;
  std::string dir_;
  int64_t max_bytes_;
};

// Identifies this build of rnnc (a hash of its executable) and the Halide
// library actually loaded (its version and GNU build-id), so that neither a
// rebuilt rnnc nor a replaced libHalide reuses stale objects.
const std::string &build_id();

// The loaded libHalide: its path and GNU build-id (or, without one, its
// size and modification time).
std::string halide_library_id();

// 64-bit FNV-1a of `s`, as 16 hex digits.
std::string hash_hex(const std::string &s);

}  // namespace rnnc::codegen

// Cache of generated kernel objects, keyed by a hash of everything that
// determines their code: the kernel's workload and schedule parameters (its
// name), the target, and the builds of rnnc and of the loaded libHalide. A hit skips
// Halide compilation entirely; rebuilding rnnc invalidates every entry.
#pragma once

#include <string>

namespace rnnc::codegen {

class KernelCache {
 public:
  // `dir` empty disables caching.
  explicit KernelCache(std::string dir);

  // $RNNC_CACHE_DIR, else $XDG_CACHE_HOME/rnnc, else $HOME/.cache/rnnc.
  static std::string default_dir();

  bool enabled() const { return !dir_.empty(); }
  // Path of the cached object for `key`, or "" when absent.
  std::string lookup(const std::string &key) const;
  // Copies `object` into the cache under `key` (atomically); best effort:
  // a cache that cannot be written only costs time.
  void store(const std::string &key, const std::string &object) const;

 private:
  std::string path_for(const std::string &key, const char *ext) const;
  std::string dir_;
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

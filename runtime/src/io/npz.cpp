#include "io/npz.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "error.h"
#include "io/file.h"

namespace rnnc_rt {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kMax32 = 0xFFFFFFFFu;

uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint64_t le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

void put(std::string &s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// The central directory's position and entry count, from the end records.
struct Directory {
  uint64_t offset = 0, size = 0, entries = 0;
};

Directory find_directory(const InputFile &f) {
  const std::string &path = f.path();
  if (f.size() < 22) throw RtError(path + ": not an .npz file (too short for a zip archive)");
  const uint64_t tail = std::min<uint64_t>(f.size(), 22 + 0xFFFF);
  std::vector<uint8_t> buf(tail);
  f.read_at(f.size() - tail, buf.data(), tail, "the end of the zip archive");
  int64_t at = -1;
  for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i)
    if (le(&buf[i], 4) == kEndSig) {
      at = i;
      break;
    }
  if (at < 0) throw RtError(path + ": not an .npz file (no zip end-of-directory record)");
  const uint8_t *e = &buf[at];
  Directory d;
  d.entries = le(e + 10, 2);
  d.size = le(e + 12, 4);
  d.offset = le(e + 16, 4);
  if (d.entries == 0xFFFF || d.size == kMax32 || d.offset == kMax32) {
    // Zip64: a locator just before the end record points at the zip64 end record.
    const uint64_t end_pos = f.size() - tail + at;
    if (end_pos < 20) throw RtError(path + ": truncated zip64 archive");
    uint8_t loc[20];
    f.read_at(end_pos - 20, loc, 20, "the zip64 locator");
    if (le(loc, 4) != kZip64LocatorSig) throw RtError(path + ": malformed zip64 archive (no locator)");
    const uint64_t z = le(loc + 8, 8);
    uint8_t rec[56];
    if (z > f.size() || f.size() - z < 56) throw RtError(path + ": malformed zip64 archive (bad end record offset)");
    f.read_at(z, rec, 56, "the zip64 end record");
    if (le(rec, 4) != kZip64EndSig) throw RtError(path + ": malformed zip64 archive (bad end record)");
    d.entries = le(rec + 32, 8);
    d.size = le(rec + 40, 8);
    d.offset = le(rec + 48, 8);
  }
  if (d.offset > f.size() || d.size > f.size() - d.offset)
    throw RtError(path + ": malformed zip archive (the central directory lies outside the file)");
  return d;
}

}  // namespace

std::vector<NpzMember> read_npz(const std::string &path) {
  InputFile f(path);
  const Directory dir = find_directory(f);
  std::vector<uint8_t> cd(dir.size);
  f.read_at(dir.offset, cd.data(), cd.size(), "the zip central directory");
  std::vector<NpzMember> out;
  size_t pos = 0;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    if (cd.size() - pos < 46 || le(&cd[pos], 4) != kCentralSig)
      throw RtError(path + ": malformed zip central directory at entry " + std::to_string(i));
    const uint8_t *c = &cd[pos];
    const uint64_t flags = le(c + 8, 2), method = le(c + 10, 2), crc = le(c + 16, 4);
    uint64_t csize = le(c + 20, 4), usize = le(c + 24, 4), local = le(c + 42, 4);
    const size_t name_len = le(c + 28, 2), extra_len = le(c + 30, 2), comment_len = le(c + 32, 2);
    if (cd.size() - pos - 46 < name_len + extra_len + comment_len)
      throw RtError(path + ": malformed zip central directory at entry " + std::to_string(i));
    std::string name(reinterpret_cast<const char *>(c + 46), name_len);
    // Zip64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in this order.
    for (size_t e = 0; e + 4 <= extra_len;) {
      const uint8_t *x = c + 46 + name_len + e;
      const size_t id = le(x, 2), len = le(x + 2, 2);
      if (e + 4 + len > extra_len) break;
      if (id == 1) {
        size_t k = 4;
        for (uint64_t *field : {&usize, &csize, &local})
          if (*field == kMax32 && k + 8 <= 4 + len) {
            *field = le(x + k, 8);
            k += 8;
          }
      }
      e += 4 + len;
    }
    pos += 46 + name_len + extra_len + comment_len;
    const std::string shown = path + "[" + name + "]";
    if (flags & 1) throw RtError(shown + ": encrypted zip members are not supported");
    if (method != 0)
      throw RtError(shown +
                    ": compressed member; rnnc reads .npz files as np.savez writes them (stored), not "
                    "np.savez_compressed");
    if (csize != usize) throw RtError(shown + ": stored member whose sizes differ");
    uint8_t lh[30];
    if (local > f.size() || f.size() - local < 30) throw RtError(shown + ": local header outside the file");
    f.read_at(local, lh, 30, "a zip local header");
    if (le(lh, 4) != kLocalSig) throw RtError(shown + ": malformed zip local header");
    const uint64_t data = local + 30 + le(lh + 26, 2) + le(lh + 28, 2);
    if (data > f.size() || f.size() - data < usize) throw RtError(shown + ": data outside the file");
    std::vector<uint8_t> bytes(usize);
    f.read_at(data, bytes.data(), bytes.size(), "a zip member");
    if (crc32_update(0, bytes.data(), bytes.size()) != crc) throw RtError(shown + ": CRC mismatch (corrupt archive)");
    std::string key = name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    for (const NpzMember &m : out)
      if (m.key == key) throw RtError(path + ": the key '" + key + "' appears twice");
    NpzMember m;
    m.key = key;
    m.array = read_npy_region(f, data, usize, path + "[" + key + "]");
    out.push_back(std::move(m));
  }
  return out;
}

void write_npz(const std::string &path, const std::vector<NpzOutput> &arrays) {
  // Per member: its zip local header, its .npy header and its data size.
  struct Member {
    std::string local, npy;
    uint64_t nbytes = 0;
  };
  std::vector<Member> members(arrays.size());
  std::string central;
  uint64_t offset = 0;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const NpzOutput &a = arrays[i];
    Member &mb = members[i];
    mb.npy = npy_file_header(path + "[" + a.key + "]", a.dtype, a.shape, &mb.nbytes);
    if (mb.nbytes > 0 && !a.data) throw RtError(path + "[" + a.key + "]: no data");
    const uint64_t size = mb.npy.size() + mb.nbytes;
    if (size >= kMax32 || offset >= kMax32) throw RtError(path + ": too large for a zip archive without zip64");
    uint32_t crc = crc32_update(0, reinterpret_cast<const uint8_t *>(mb.npy.data()), mb.npy.size());
    crc = crc32_update(crc, static_cast<const uint8_t *>(a.data), mb.nbytes);
    const std::string name = a.key + ".npy";
    // Version 2.0, no flags, stored, DOS time 1980-01-01 00:00.
    std::string common;
    put(common, 20, 2);
    put(common, 0, 2);
    put(common, 0, 2);
    put(common, 0, 2);
    put(common, 0x21, 2);
    put(common, crc, 4);
    put(common, size, 4);
    put(common, size, 4);
    put(common, name.size(), 2);
    put(common, 0, 2);
    put(mb.local, kLocalSig, 4);
    mb.local += common + name;
    put(central, kCentralSig, 4);
    put(central, 20, 2);  // made by
    central += common;
    put(central, 0, 2);  // comment length
    put(central, 0, 2);  // disk
    put(central, 0, 2);  // internal attributes
    put(central, 0, 4);  // external attributes
    put(central, offset, 4);
    central += name;
    offset += mb.local.size() + size;
  }
  std::vector<ByteSpan> pieces;
  for (size_t i = 0; i < arrays.size(); ++i) {
    pieces.push_back({members[i].local.data(), members[i].local.size()});
    pieces.push_back({members[i].npy.data(), members[i].npy.size()});
    pieces.push_back({arrays[i].data, static_cast<size_t>(members[i].nbytes)});
  }
  if (offset >= kMax32) throw RtError(path + ": too large for a zip archive without zip64");
  std::string end;
  put(end, kEndSig, 4);
  put(end, 0, 2);
  put(end, 0, 2);
  put(end, arrays.size(), 2);
  put(end, arrays.size(), 2);
  put(end, central.size(), 4);
  put(end, offset, 4);
  put(end, 0, 2);
  pieces.push_back({central.data(), central.size()});
  pieces.push_back({end.data(), end.size()});
  write_file_atomically(path, pieces);
}

}  // namespace rnnc_rt

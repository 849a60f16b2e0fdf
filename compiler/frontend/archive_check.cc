#include "compiler/frontend/archive_check.h"

#include "base/crc32.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace spk::compiler::frontend {
namespace {

constexpr uint32_t kEocdSignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EocdSignature = 0x06064b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;

// Bounds-checked little-endian reads over the archive bytes.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool Has(uint64_t offset, uint64_t size) const {
    return offset <= bytes_.size() && size <= bytes_.size() - offset;
  }
  uint16_t U16(uint64_t o) const { return static_cast<uint16_t>(bytes_[o] | bytes_[o + 1] << 8); }
  uint32_t U32(uint64_t o) const {
    return static_cast<uint32_t>(U16(o)) | static_cast<uint32_t>(U16(o + 2)) << 16;
  }
  uint64_t U64(uint64_t o) const {
    return static_cast<uint64_t>(U32(o)) | static_cast<uint64_t>(U32(o + 4)) << 32;
  }
  std::string_view Str(uint64_t o, uint64_t n) const {
    return std::string_view(reinterpret_cast<const char*>(bytes_.data() + o), n);
  }
  uint64_t size() const { return bytes_.size(); }

 private:
  std::span<const uint8_t> bytes_;
};

Status Invalid(const std::string& what) {
  return InvalidArgumentError("not a valid TorchScript archive: " + what);
}

std::string Bytes(uint64_t n) {
  if (n >= (uint64_t{1} << 30)) return std::to_string(n >> 30) + " GiB";
  if (n >= (uint64_t{1} << 20)) return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

// Reads zip64 sizes from an entry's extra field where the 32-bit ones are
// saturated.
Status ApplyZip64Extra(const Reader& r, uint64_t extra, uint16_t extra_len, ArchiveEntry& e,
                       bool need_uncompressed, bool need_compressed, bool need_offset) {
  uint64_t end = extra + extra_len;
  uint64_t p = extra;
  while (p + 4 <= end) {
    uint16_t id = r.U16(p);
    uint16_t len = r.U16(p + 2);
    if (p + 4 + len > end) break;
    if (id == 0x0001) {
      uint64_t q = p + 4;
      uint64_t qend = q + len;
      auto take = [&](uint64_t& field) -> bool {
        if (q + 8 > qend) return false;
        field = r.U64(q);
        q += 8;
        return true;
      };
      if ((need_uncompressed && !take(e.uncompressed_size)) ||
          (need_compressed && !take(e.compressed_size)) ||
          (need_offset && !take(e.local_header_offset))) {
        return Invalid("entry '" + e.name + "' has a short zip64 extra field");
      }
      return Status();
    }
    p += 4 + static_cast<uint64_t>(len);
  }
  return Invalid("entry '" + e.name + "' lacks the zip64 sizes its header promises");
}

}  // namespace

StatusOr<ArchiveSummary> CheckTorchScriptArchive(std::span<const uint8_t> bytes,
                                                 const ArchiveLimits& limits) {
  if (bytes.size() > limits.max_file_bytes) {
    return InvalidArgumentError("model file is " + Bytes(bytes.size()) + ", over the limit of " +
                                Bytes(limits.max_file_bytes));
  }
  Reader r(bytes);
  if (bytes.size() < kEocdSize) return Invalid("file is too short to be a zip archive");
  if (r.U32(0) != kLocalSignature) {
    return Invalid(
        "file does not start with a zip header (is it a TorchScript .pt saved with "
        "torch.jit.save?)");
  }

  // The end-of-directory record sits in the last 64 KiB (its comment may precede the end).
  uint64_t search_from = bytes.size() >= kEocdSize + 0xFFFF ? bytes.size() - kEocdSize - 0xFFFF : 0;
  std::optional<uint64_t> eocd;
  for (uint64_t p = bytes.size() - kEocdSize + 1; p-- > search_from;) {
    if (r.U32(p) == kEocdSignature) {
      eocd = p;
      break;
    }
  }
  if (!eocd) return Invalid("no zip end-of-directory record (file truncated?)");

  uint64_t count = r.U16(*eocd + 10);
  uint64_t cd_size = r.U32(*eocd + 12);
  uint64_t cd_offset = r.U32(*eocd + 16);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (*eocd < 20 || r.U32(*eocd - 20) != kZip64LocatorSignature) {
      return Invalid("zip64 archive without its locator record");
    }
    uint64_t z64 = r.U64(*eocd - 20 + 8);
    if (!r.Has(z64, 56) || r.U32(z64) != kZip64EocdSignature) {
      return Invalid("zip64 end-of-directory record is out of the file");
    }
    count = r.U64(z64 + 32);
    cd_size = r.U64(z64 + 40);
    cd_offset = r.U64(z64 + 48);
  }
  if (count > limits.max_entries) {
    return InvalidArgumentError("archive has " + std::to_string(count) +
                                " entries, over the limit of " +
                                std::to_string(limits.max_entries));
  }
  if (!r.Has(cd_offset, cd_size))
    return Invalid("zip directory lies outside the file (truncated?)");

  ArchiveSummary summary;
  summary.entries.reserve(static_cast<size_t>(count));
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (p + kCentralSize > cd_end || r.U32(p) != kCentralSignature) {
      return Invalid("zip directory entry " + std::to_string(i) + " is malformed");
    }
    ArchiveEntry e;
    e.method = r.U16(p + 10);
    const uint32_t crc = r.U32(p + 16);
    e.compressed_size = r.U32(p + 20);
    e.uncompressed_size = r.U32(p + 24);
    uint16_t name_len = r.U16(p + 28);
    uint16_t extra_len = r.U16(p + 30);
    uint16_t comment_len = r.U16(p + 32);
    e.local_header_offset = r.U32(p + 42);
    uint64_t next = p + kCentralSize + name_len + extra_len + comment_len;
    if (next > cd_end) return Invalid("zip directory entry " + std::to_string(i) + " is truncated");
    e.name = std::string(r.Str(p + kCentralSize, name_len));
    bool need_u = e.uncompressed_size == 0xFFFFFFFF;
    bool need_c = e.compressed_size == 0xFFFFFFFF;
    bool need_o = e.local_header_offset == 0xFFFFFFFF;
    if (need_u || need_c || need_o) {
      SPK_RETURN_IF_ERROR(
          ApplyZip64Extra(r, p + kCentralSize + name_len, extra_len, e, need_u, need_c, need_o));
    }
    p = next;

    if (e.method != 0 && e.method != 8) {
      return Invalid("entry '" + e.name + "' uses zip compression method " +
                     std::to_string(e.method) + " (only stored and deflate are read)");
    }
    if (e.uncompressed_size > limits.max_entry_bytes) {
      return InvalidArgumentError("archive entry '" + e.name + "' expands to " +
                                  Bytes(e.uncompressed_size) + ", over the limit of " +
                                  Bytes(limits.max_entry_bytes));
    }
    if (e.method == 0 && e.compressed_size != e.uncompressed_size) {
      return Invalid("stored entry '" + e.name + "' declares different packed and unpacked sizes");
    }
    if (e.method == 8 && e.uncompressed_size > 4096 &&
        e.uncompressed_size / std::max<uint64_t>(e.compressed_size, 1) >
            limits.max_compression_ratio) {
      return InvalidArgumentError(
          "archive entry '" + e.name + "' expands " +
          std::to_string(e.uncompressed_size / std::max<uint64_t>(e.compressed_size, 1)) +
          "-fold (" + Bytes(e.uncompressed_size) + "): refused as a zip bomb");
    }
    if (!r.Has(e.local_header_offset, kLocalSize) ||
        r.U32(e.local_header_offset) != kLocalSignature) {
      return Invalid("entry '" + e.name + "' points outside the file (truncated?)");
    }
    uint64_t data = e.local_header_offset + kLocalSize + r.U16(e.local_header_offset + 26) +
                    r.U16(e.local_header_offset + 28);
    if (!r.Has(data, e.compressed_size)) {
      return Invalid("entry '" + e.name + "' is cut off (file truncated?)");
    }
    // LibTorch 1.13 does not notice a damaged stored entry, and a damaged
    // debug pickle crashes it when source lines are looked up; stored
    // entries (all torch.jit.save writes) cost one CRC pass to check.
    if (e.method == 0 && spk::Crc32(bytes.subspan(static_cast<size_t>(data),
                                                  static_cast<size_t>(e.compressed_size))) != crc) {
      return Invalid("entry '" + e.name + "' fails its CRC-32 check (the file is damaged)");
    }
    summary.total_uncompressed += e.uncompressed_size;
    if (summary.total_uncompressed > limits.max_total_bytes) {
      return InvalidArgumentError("archive expands to more than " + Bytes(limits.max_total_bytes) +
                                  " in total");
    }
    auto slash = e.name.find('/');
    std::string root = slash == std::string::npos ? "" : e.name.substr(0, slash);
    if (i == 0) summary.root = root;
    if (root != summary.root || root.empty()) {
      return Invalid("entries are not all inside one folder ('" + e.name + "')");
    }
    auto tail = std::string_view(e.name).substr(root.size() + 1);
    if (e.method == 0 && e.uncompressed_size < 4096) {
      std::string_view content = r.Str(data, e.uncompressed_size);
      if (tail == "version") {
        int64_t v = 0;
        bool any = false;
        for (char c : content) {
          if (c >= '0' && c <= '9' && v < (int64_t{1} << 40)) {
            v = v * 10 + (c - '0');
            any = true;
          } else if (c != '\n' && c != '\r' && c != ' ') {
            any = false;
            break;
          }
        }
        if (any) summary.format_version = v;
      } else if (tail == "extra/spiked.json") {
        summary.extra_json = std::string(content);
      }
    }
    summary.entries.push_back(std::move(e));
  }

  auto has = [&](std::string_view tail) {
    return std::any_of(summary.entries.begin(), summary.entries.end(), [&](const ArchiveEntry& e) {
      return std::string_view(e.name).substr(summary.root.size() + 1) == tail;
    });
  };
  if (!has("data.pkl")) {
    return Invalid("zip archive without data.pkl (not saved by torch.jit.save?)");
  }
  if (!has("constants.pkl") &&
      !std::any_of(summary.entries.begin(), summary.entries.end(), [&](const ArchiveEntry& e) {
        return e.name.find("/code/") != std::string::npos;
      })) {
    return Invalid(
        "archive holds no TorchScript code (an eager torch.save file? save the model "
        "with torch.jit.save(torch.jit.script(model), path))");
  }
  return summary;
}

}  // namespace spk::compiler::frontend

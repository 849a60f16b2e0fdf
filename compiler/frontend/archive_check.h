// Checks a TorchScript archive (a zip file) before LibTorch reads it.
//
// LibTorch trusts the sizes a zip directory declares; a hostile file can make
// it allocate gigabytes (a zip bomb) or abort. This reader walks the central
// directory itself, with no allocation driven by declared sizes, and refuses
// archives that break the limits, so LibTorch only ever sees plausible input.
//
// Thread safety: stateless functions.
#ifndef SPK_COMPILER_FRONTEND_ARCHIVE_CHECK_H_
#define SPK_COMPILER_FRONTEND_ARCHIVE_CHECK_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace spk::compiler::frontend {

struct ArchiveLimits {
  uint64_t max_file_bytes = uint64_t{2} << 30;   // the archive itself
  uint64_t max_entry_bytes = uint64_t{2} << 30;  // one entry, uncompressed
  uint64_t max_total_bytes = uint64_t{4} << 30;  // all entries, uncompressed
  uint32_t max_entries = 200000;
  uint32_t max_compression_ratio = 200;  // uncompressed / compressed
};

struct ArchiveEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

struct ArchiveSummary {
  std::string root;  // the folder every entry sits in
  std::vector<ArchiveEntry> entries;
  uint64_t total_uncompressed = 0;
  std::optional<int64_t> format_version;  // from <root>/version when readable
  std::optional<std::string> extra_json;  // <root>/extra/spiked.json, when present
};

// INVALID_ARGUMENT naming what is wrong: not a zip, truncated, an entry over a
// limit, a compressed entry expanding past the ratio, no TorchScript code.
StatusOr<ArchiveSummary> CheckTorchScriptArchive(std::span<const uint8_t> bytes,
                                                 const ArchiveLimits& limits);

}  // namespace spk::compiler::frontend

#endif  // SPK_COMPILER_FRONTEND_ARCHIVE_CHECK_H_

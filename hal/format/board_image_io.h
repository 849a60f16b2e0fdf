// The byte form of a board image: what the compiler's artifact cache stores,
// what the daemon hands to a device and what a board receives.
//
// Layout (docs/board-image.md has every field): a 40-byte header (magic,
// major/minor version, flags, section count, image size, section-table and
// header CRC-32s), a table of (type, CRC-32, offset, size) entries, then one
// section per part of the image (meta, cores, groups, tables, routes, input
// ports, output ports, host segments). All integers are little-endian. Each
// section is a count followed by length-prefixed records, so a later minor
// version may append fields to a record or add section types that an older
// reader skips; a newer major version is refused.
//
// The writer validates first and is deterministic: the same image always gives
// the same bytes. The reader trusts nothing: every declared size is checked
// against the bytes that remain before anything is allocated, every checksum
// is verified, and the decoded image is validated.
//
// Error codes:
//   INVALID_ARGUMENT     not a board image, inconsistent structure, or an image
//                        that breaks a rule of board_image_validate.h.
//   DATA_LOSS            truncated bytes or a checksum mismatch (names the
//                        header, the section table or the section).
//   FAILED_PRECONDITION  an image of another major version, or with flags this
//                        reader does not understand (names both versions).
//
// Thread safety: pure functions.
#ifndef SPK_HAL_FORMAT_BOARD_IMAGE_IO_H_
#define SPK_HAL_FORMAT_BOARD_IMAGE_IO_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"

namespace spk::hal::format {

// "\x89SPKIMG\n": the high byte and the newline catch 7-bit and text-mode
// transfers, as PNG's signature does.
inline constexpr uint8_t kBoardImageMagic[8] = {0x89, 'S', 'P', 'K', 'I', 'M', 'G', '\n'};
inline constexpr uint32_t kBoardImageHeaderSize = 40;
inline constexpr uint32_t kBoardImageSectionEntrySize = 24;
inline constexpr uint32_t kBoardImageSectionAlignment = 8;
// Flag bits 0..15 must be understood by a reader (it refuses unknown ones);
// bits 16..31 are hints it may ignore. Versions 1.0 and 1.1 define none.
inline constexpr uint32_t kBoardImageRequiredFlagsMask = 0x0000FFFFu;

enum class SectionType : uint32_t {
  kMeta = 1,
  kCores = 2,
  kGroups = 3,
  kTables = 4,
  kRoutes = 5,
  kInputs = 6,
  kOutputs = 7,
  kHostSegments = 8,
};

// "meta", "cores", ... or "unknown".
std::string_view SectionTypeName(uint32_t type);

struct BoardImageSectionInfo {
  uint32_t type = 0;
  uint32_t crc32 = 0;
  uint64_t offset = 0;  // from the start of the image
  uint64_t size = 0;
};

// The framing of an image: header fields and the section table.
struct BoardImageLayout {
  uint16_t version_major = 0;
  uint16_t version_minor = 0;
  uint32_t flags = 0;
  uint32_t header_size = 0;
  uint64_t image_size = 0;
  std::vector<BoardImageSectionInfo> sections;
};

// Validates `image` (INVALID_ARGUMENT naming the field) and encodes it; an
// image of 10,000 tables or more is validated on a second thread meanwhile.
StatusOr<std::vector<uint8_t>> WriteBoardImage(const BoardImage& image);

// Decodes and validates an image. Never reads outside `bytes`, and allocates
// at most a small multiple of bytes.size() whatever the header claims.
StatusOr<BoardImage> ReadBoardImage(std::span<const uint8_t> bytes);

// Checks the header, the section table and every section's checksum without
// decoding the sections (for `spikectl inspect` and for tests).
StatusOr<BoardImageLayout> InspectBoardImage(std::span<const uint8_t> bytes);

// Writes atomically (temporary file, fsync, rename): readers see the old file
// or the whole new one. INVALID_ARGUMENT from validation; when the file system
// refuses, an error naming the path: NOT_FOUND (no such directory),
// PERMISSION_DENIED, RESOURCE_EXHAUSTED (disk full), otherwise UNAVAILABLE.
Status WriteBoardImageFile(const BoardImage& image, const std::string& path);

// NOT_FOUND when the file does not exist, INVALID_ARGUMENT when it is not a
// regular file or is over 4 GiB; otherwise as ReadBoardImage, with the path
// in the message.
StatusOr<BoardImage> ReadBoardImageFile(const std::string& path);

// An image file checked in place (mapped, never copied into memory): its
// framing and every checksum (InspectBoardImage). NOT_FOUND when absent;
// otherwise as ReadBoardImageFile.
Status CheckBoardImageFile(const std::string& path);

// Places the image file `from` at `to` atomically without reading it: a
// reflink (a copy-on-write clone) where the file system has them; else, with
// `may_link`, a hard link (the two names are then one file, so only for
// files nothing writes in place, such as the artifact cache's entries);
// else a copy in the kernel. `to` keeps no temporary file on any failure.
// Errors name `to`, with the codes of WriteBoardImageFile.
Status PlaceBoardImageFile(const std::string& from, const std::string& to, bool may_link);

}  // namespace spk::hal::format

#endif  // SPK_HAL_FORMAT_BOARD_IMAGE_IO_H_

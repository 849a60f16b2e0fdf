// Content-addressed cache of compiled board images.
//
// The key is the SHA-256 of everything that decides the image: the model's
// bytes, the compile options, the chip (and board) profile text and the
// compiler version. Entries are files <dir>/<key>.spkimg; a hit refreshes the
// file's modification time, which is the LRU order used to keep the directory
// under its byte budget. Writers write a uniquely named temporary file and
// rename it into place, so two compiles of the same model racing (threads or
// processes) both succeed and readers only ever see whole images. An entry
// that fails ReadBoardImage (CRC mismatch, truncation) is deleted and
// reported as a miss, so the caller recompiles.
//
// An entry may carry named text attachments (the compile report), files
// <dir>/<key>.<name> that open with their own SHA-256; they are written
// before the image is renamed into place, and they are dropped with it.
//
// Error codes: UNAVAILABLE when the directory cannot be created, read or
// written (naming the path); errors from the compile callback pass through.
//
// Thread safety: all methods may be called from any thread; several
// processes may share one directory.
#ifndef SPK_COMPILER_CACHE_ARTIFACT_CACHE_H_
#define SPK_COMPILER_CACHE_ARTIFACT_CACHE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"

namespace spk::compiler::cache {

struct CacheOptions {
  std::string dir;
  uint64_t max_bytes = uint64_t{1} << 30;  // on-disk budget
};

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t corrupt = 0;  // entries found damaged and dropped
  uint64_t evictions = 0;
};

class ArtifactCache {
 public:
  static StatusOr<std::unique_ptr<ArtifactCache>> Open(CacheOptions options);

  // 64 hex digits naming one compile.
  static std::string Key(std::span<const uint8_t> model, std::string_view options,
                         std::string_view chip_profile, std::string_view compiler_version);

  // The image under `key`; NOT_FOUND when absent or when the entry was
  // corrupt (it is removed).
  StatusOr<hal::format::BoardImage> Lookup(const std::string& key);
  // The path of the entry, its checksums checked in place but not decoded
  // (for placing it as an output with hal::format::PlaceBoardImageFile);
  // misses and corrupt entries as Lookup. Entries are only ever replaced by
  // rename, so the file stays whole while the caller links or copies it.
  StatusOr<std::string> LookupFile(const std::string& key);
  // Stores `image` under `key` (atomically), then evicts least recently used
  // entries beyond the budget (never the one just written).
  Status Insert(const std::string& key, const hal::format::BoardImage& image);
  // The same for an image already written to `image_path` (which must be a
  // checked image): copied by the file system, not encoded again.
  Status InsertFile(const std::string& key, const std::string& image_path);
  // Attachments of `key`: stores `text` under `name` ([a-z0-9_]+). Write
  // them before Insert so readers that find the image find them too.
  Status InsertAttachment(const std::string& key, const std::string& name, std::string_view text);
  // NOT_FOUND when absent; DATA_LOSS when its checksum does not match (the
  // caller should Drop the entry).
  StatusOr<std::string> LookupAttachment(const std::string& key, const std::string& name) const;
  // Removes the entry and its attachments (a damaged entry found by the caller).
  void Drop(const std::string& key);
  // Lookup, or compile and insert. `hit` (may be null) says which happened.
  StatusOr<hal::format::BoardImage> GetOrCompile(
      const std::string& key, const std::function<StatusOr<hal::format::BoardImage>()>& compile,
      bool* hit = nullptr);

  // Bytes of all entries now on disk.
  uint64_t SizeBytes() const;
  CacheStats stats() const;
  std::string PathFor(const std::string& key) const;

 private:
  explicit ArtifactCache(CacheOptions options) : options_(std::move(options)) {}
  void Evict(const std::string& keep);
  void RemoveFiles(const std::string& key) const;
  std::string TempPath(const std::string& key);

  const CacheOptions options_;
  std::atomic<uint64_t> counter_{0};  // unique temporary names
  mutable std::mutex mu_;
  CacheStats stats_;  // guarded by mu_
};

}  // namespace spk::compiler::cache

#endif  // SPK_COMPILER_CACHE_ARTIFACT_CACHE_H_

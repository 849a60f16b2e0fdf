#include "compiler/cache/artifact_cache.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/sha256.h"
#include "hal/format/board_image_io.h"

namespace spk::compiler::cache {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSuffix = ".spkimg";

constexpr std::string_view kAttachmentMagic = "spk-attachment sha256=";

bool IsAttachmentName(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsKey(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

StatusOr<std::unique_ptr<ArtifactCache>> ArtifactCache::Open(CacheOptions options) {
  if (options.dir.empty()) return InvalidArgumentError("artifact cache: no directory given");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec || !fs::is_directory(options.dir)) {
    return UnavailableError("artifact cache: cannot create '" + options.dir + "': " + ec.message());
  }
  return std::unique_ptr<ArtifactCache>(new ArtifactCache(std::move(options)));
}

std::string ArtifactCache::Key(std::span<const uint8_t> model, std::string_view options,
                               std::string_view chip_profile, std::string_view compiler_version) {
  // Length-prefix each part so that moving bytes between parts changes the key.
  spk::Sha256 h;
  auto part = [&](std::string_view text) {
    h.Update(std::to_string(text.size()) + ":");
    h.Update(text);
  };
  part(std::string_view(reinterpret_cast<const char*>(model.data()), model.size()));
  part(options);
  part(chip_profile);
  part(compiler_version);
  return h.FinishHex();
}

std::string ArtifactCache::PathFor(const std::string& key) const {
  return (fs::path(options_.dir) / (key + std::string(kSuffix))).string();
}

StatusOr<hal::format::BoardImage> ArtifactCache::Lookup(const std::string& key) {
  if (!IsKey(key)) return InvalidArgumentError("artifact cache: malformed key '" + key + "'");
  const std::string path = PathFor(key);
  auto image = hal::format::ReadBoardImageFile(path);
  if (image.ok()) {
    std::error_code ec;
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // LRU touch
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.hits;
    return image;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.misses;
  if (image.status().code() != StatusCode::kNotFound) {
    // Damaged (checksum, truncation, invalid): drop it so it is recompiled.
    RemoveFiles(key);
    ++stats_.corrupt;
    return NotFoundError("artifact cache: entry " + key +
                         " was corrupt and is dropped: " + std::string(image.status().message()));
  }
  return NotFoundError("artifact cache: no entry " + key);
}

StatusOr<std::string> ArtifactCache::LookupFile(const std::string& key) {
  if (!IsKey(key)) return InvalidArgumentError("artifact cache: malformed key '" + key + "'");
  const std::string path = PathFor(key);
  const Status checked = hal::format::CheckBoardImageFile(path);
  std::lock_guard<std::mutex> lock(mu_);
  if (checked.ok()) {
    std::error_code ec;
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // LRU touch
    ++stats_.hits;
    return path;
  }
  ++stats_.misses;
  if (checked.code() != StatusCode::kNotFound) {
    RemoveFiles(key);
    ++stats_.corrupt;
    return NotFoundError("artifact cache: entry " + key +
                         " was corrupt and is dropped: " + std::string(checked.message()));
  }
  return NotFoundError("artifact cache: no entry " + key);
}

std::string ArtifactCache::TempPath(const std::string& key) {
  // Unique per process, thread and call: racing writers never share a file.
  return (fs::path(options_.dir) /
          (".tmp." + key + "." + std::to_string(getpid()) + "." +
           std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id())) + "." +
           std::to_string(counter_.fetch_add(1))))
      .string();
}

void ArtifactCache::RemoveFiles(const std::string& key) const {
  std::error_code ec;
  fs::remove(PathFor(key), ec);
  const std::string prefix = key + ".";
  for (const auto& e : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix) && !name.ends_with(kSuffix)) {
      std::error_code rm;
      fs::remove(e.path(), rm);
    }
  }
}

void ArtifactCache::Drop(const std::string& key) {
  if (!IsKey(key)) return;
  RemoveFiles(key);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.corrupt;
}

Status ArtifactCache::InsertAttachment(const std::string& key, const std::string& name,
                                       std::string_view text) {
  if (!IsKey(key)) return InvalidArgumentError("artifact cache: malformed key '" + key + "'");
  if (!IsAttachmentName(name)) {
    return InvalidArgumentError("artifact cache: malformed attachment name '" + name + "'");
  }
  const std::string tmp = TempPath(key);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << kAttachmentMagic << spk::Sha256Hex(text) << "\n" << text;
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return UnavailableError("artifact cache: cannot write '" + tmp + "'");
    }
  }
  const std::string path = (fs::path(options_.dir) / (key + "." + name)).string();
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return UnavailableError("artifact cache: cannot rename into '" + path + "'");
  }
  return Status();
}

StatusOr<std::string> ArtifactCache::LookupAttachment(const std::string& key,
                                                      const std::string& name) const {
  if (!IsKey(key) || !IsAttachmentName(name)) {
    return InvalidArgumentError("artifact cache: malformed key or attachment name");
  }
  const std::string path = (fs::path(options_.dir) / (key + "." + name)).string();
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFoundError("artifact cache: no attachment " + path);
  std::string header;
  std::getline(f, header);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string want = std::string(kAttachmentMagic) + spk::Sha256Hex(text);
  if (header != want) return DataLossError("artifact cache: attachment " + path + " is damaged");
  return text;
}

Status ArtifactCache::Insert(const std::string& key, const hal::format::BoardImage& image) {
  if (!IsKey(key)) return InvalidArgumentError("artifact cache: malformed key '" + key + "'");
  SPK_ASSIGN_OR_RETURN(auto bytes, hal::format::WriteBoardImage(image));
  const std::string tmp = TempPath(key);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return UnavailableError("artifact cache: cannot write '" + tmp + "'");
    }
  }
  std::error_code ec;
  fs::rename(tmp, PathFor(key), ec);
  if (ec) {
    fs::remove(tmp, ec);
    return UnavailableError("artifact cache: cannot rename into '" + PathFor(key) + "'");
  }
  Evict(key);
  return Status();
}

Status ArtifactCache::InsertFile(const std::string& key, const std::string& image_path) {
  if (!IsKey(key)) return InvalidArgumentError("artifact cache: malformed key '" + key + "'");
  // Never a link: the caller's file is theirs to rewrite.
  const Status placed = hal::format::PlaceBoardImageFile(image_path, PathFor(key), false);
  if (!placed.ok()) {
    return UnavailableError("artifact cache: cannot store " + image_path + ": " +
                            std::string(placed.message()));
  }
  Evict(key);
  return Status();
}

StatusOr<hal::format::BoardImage> ArtifactCache::GetOrCompile(
    const std::string& key, const std::function<StatusOr<hal::format::BoardImage>()>& compile,
    bool* hit) {
  auto found = Lookup(key);
  if (found.ok() || found.status().code() != StatusCode::kNotFound) {
    if (hit) *hit = found.ok();
    return found;
  }
  if (hit) *hit = false;
  SPK_ASSIGN_OR_RETURN(auto image, compile());
  SPK_RETURN_IF_ERROR(Insert(key, image));
  return image;
}

uint64_t ArtifactCache::SizeBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > kSuffix.size() && name.ends_with(kSuffix)) {
      std::error_code size_ec;
      const auto size = e.file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

void ArtifactCache::Evict(const std::string& keep) {
  struct Entry {
    fs::file_time_type time;
    std::string key;
    uint64_t size;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.ends_with(kSuffix)) continue;
    const std::string key = name.substr(0, name.size() - kSuffix.size());
    if (!IsKey(key)) continue;
    std::error_code e1, e2;
    const auto size = e.file_size(e1);
    const auto time = e.last_write_time(e2);
    if (e1 || e2) continue;  // raced with another evictor
    entries.push_back({time, key, size});
    total += size;
  }
  if (total <= options_.max_bytes) return;
  // Oldest first; ties by key so the order is deterministic.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.time != b.time ? a.time < b.time : a.key < b.key;
  });
  for (const Entry& e : entries) {
    if (total <= options_.max_bytes) break;
    if (e.key == keep) continue;
    std::error_code rm;
    if (fs::remove(PathFor(e.key), rm)) {
      RemoveFiles(e.key);  // its attachments
      total -= e.size;
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.evictions;
    }
  }
}

CacheStats ArtifactCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace spk::compiler::cache

#include "daemon/state/test_util.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/check.h"

namespace spk::daemon::state::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/spk-state-test-XXXXXX";
  SPK_CHECK(mkdtemp(pattern.data()) != nullptr) << "mkdtemp " << pattern;
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string FakeSha256(int seed) {
  char buffer[65];
  std::snprintf(buffer, sizeof(buffer), "%064x", seed);
  return buffer;
}

ModelRecord SampleModel(int seed) {
  ModelRecord m;
  m.sha256 = FakeSha256(seed);
  m.name = "model-" + std::to_string(seed) + ".pt";
  m.path = "/models/model-" + std::to_string(seed) + ".pt";
  m.size_bytes = 1000 + seed;
  return m;
}

ArtifactRecord SampleArtifact(std::string_view model_sha256, std::string_view key) {
  ArtifactRecord a;
  a.cache_key = std::string(key);
  a.model_sha256 = std::string(model_sha256);
  a.compile_options = R"({"opt_level":2})";
  a.chip_profile = "loihi2";
  a.compiler_version = "0.1.0";
  a.path = "/var/cache/spiked/" + std::string(key) + ".spkimg";
  a.size_bytes = 4096;
  a.checksum = "crc32:deadbeef";
  return a;
}

BoardRecord SampleBoard(std::string_view id, uint32_t cores) {
  BoardRecord b;
  b.id = std::string(id);
  b.driver = "sim";
  b.serial = "SN-" + std::string(id);
  b.board_profile = "test-board";
  b.chip_profile = "loihi2";
  b.total_cores = cores;
  return b;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  SPK_CHECK(out.good()) << "writing " << path;
}

}  // namespace spk::daemon::state::testing

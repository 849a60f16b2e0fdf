// Runs the board-image fuzz target without libFuzzer: over every file named on
// the command line (directories are walked), e.g. a corpus or a crash
// reproducer, so gcc builds can replay what a clang fuzzing run found.
//
//   board_image_fuzz_replay [--write-seeds DIR] [PATH...]
//
// --write-seeds writes valid images (and small variants) to DIR as a seed
// corpus for libFuzzer. Exits non-zero when a path cannot be read; a contract
// violation aborts.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "hal/format/board_image_io.h"
#include "hal/format/test_images.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
namespace format = spk::hal::format;

bool WriteSeeds(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return false;
  }
  format::BoardImage representative = format::testing::MakeRepresentativeImage();
  format::BoardImage no_host = representative;
  no_host.host_segments.clear();
  const std::pair<const char*, format::BoardImage> seeds[] = {
      {"small.spkimg", format::testing::MakeSmallImage()},
      {"representative.spkimg", representative},
      {"no_host_segments.spkimg", no_host},
  };
  for (const auto& [name, image] : seeds) {
    auto bytes = format::WriteBoardImage(image);
    if (!bytes.ok()) {
      std::fprintf(stderr, "seed %s: %s\n", name, bytes.status().ToString().c_str());
      return false;
    }
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes->data()),
              static_cast<std::streamsize>(bytes->size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
      return false;
    }
  }
  return true;
}

bool ReplayFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int replayed = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--write-seeds" && i + 1 < argc) {
      ok &= WriteSeeds(argv[++i]);
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) {
          ok &= ReplayFile(entry.path());
          ++replayed;
        }
      }
    } else {
      ok &= ReplayFile(arg);
      ++replayed;
    }
    if (ec) {
      std::fprintf(stderr, "%s: %s\n", arg.c_str(), ec.message().c_str());
      ok = false;
    }
  }
  std::printf("replayed %d inputs\n", replayed);
  return ok ? 0 : 1;
}

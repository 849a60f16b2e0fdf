// The fuzz contract on every build: thousands of deterministic mutations of
// valid images (byte flips, truncations, inflated length fields, splices),
// each read as is and with its checksums recomputed, plus targeted hostile
// sizes with a bound on the largest single allocation they cause.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hal/format/board_image_io.h"
#include "hal/format/test_images.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Largest single allocation since the last reset: hostile sizes must not turn
// into huge allocations.
namespace {
size_t g_largest_allocation = 0;
}  // namespace

// GCC pairs the malloc inside this replacement with the free in the matching
// delete and warns at -O2; the pair is consistent.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  if (size > g_largest_allocation) g_largest_allocation = size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace spk::hal::format {
namespace {

using ::testing::HasSubstr;

// SplitMix64: a fixed generator, so every run and platform mutates alike.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

void PutU32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4 && at + i < b.size(); ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8 && at + i < b.size(); ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> Mutate(const std::vector<uint8_t>& seed, Rng& rng) {
  std::vector<uint8_t> b = seed;
  constexpr uint32_t kInflated[] = {0xFFFFFFFFu, 0x7FFFFFFFu, 0x80000000u,
                                    0x10000000u, 0x00010000u, 0x00000100u};
  switch (rng.Below(5)) {
    case 0: {  // flip a few bytes
      size_t flips = 1 + rng.Below(4);
      for (size_t i = 0; i < flips; ++i) {
        b[rng.Below(b.size())] ^= static_cast<uint8_t>(1 + rng.Below(255));
      }
      break;
    }
    case 1:  // truncate
      b.resize(rng.Below(b.size()));
      break;
    case 2: {  // inflate a 32-bit length or count anywhere
      uint32_t v = rng.Below(3) == 0 ? static_cast<uint32_t>(b.size() + rng.Below(64))
                                     : kInflated[rng.Below(std::size(kInflated))];
      PutU32(b, rng.Below(b.size()), v);
      break;
    }
    case 3: {  // inflate an offset or size in the section table
      size_t entry = rng.Below(8);
      size_t field =
          kBoardImageHeaderSize + entry * kBoardImageSectionEntrySize + (rng.Below(2) ? 8 : 16);
      uint64_t v = rng.Below(2) ? (uint64_t{1} << (32 + rng.Below(31))) : b.size() + rng.Below(9);
      PutU64(b, field, v);
      break;
    }
    case 4: {  // splice: remove or duplicate a run of bytes
      size_t at = rng.Below(b.size());
      size_t n = 1 + rng.Below(16);
      if (rng.Below(2)) {
        b.erase(b.begin() + static_cast<ptrdiff_t>(at),
                b.begin() + static_cast<ptrdiff_t>(std::min(b.size(), at + n)));
      } else {
        std::vector<uint8_t> run(b.begin() + static_cast<ptrdiff_t>(at),
                                 b.begin() + static_cast<ptrdiff_t>(std::min(b.size(), at + n)));
        b.insert(b.begin() + static_cast<ptrdiff_t>(at), run.begin(), run.end());
      }
      break;
    }
  }
  return b;
}

std::vector<uint8_t> Encode(const BoardImage& image) {
  auto bytes = WriteBoardImage(image);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

// Runs the fuzz target and returns the largest single allocation it made.
size_t FuzzOne(const std::vector<uint8_t>& input) {
  g_largest_allocation = 0;
  LLVMFuzzerTestOneInput(input.data(), input.size());
  return g_largest_allocation;
}

TEST(BoardImageFuzzTest, ThousandsOfMutationsKeepTheContract) {
  const std::vector<std::vector<uint8_t>> seeds = {Encode(testing::MakeSmallImage()),
                                                   Encode(testing::MakeRepresentativeImage())};
  Rng rng(20240611);
  constexpr int kMutations = 4000;
  for (int i = 0; i < kMutations; ++i) {
    const std::vector<uint8_t>& seed = seeds[static_cast<size_t>(i) % seeds.size()];
    std::vector<uint8_t> input = Mutate(seed, rng);
    // The read may copy the input a few times and build objects several times
    // the size of their encoding; anything beyond that came from a length.
    size_t largest = FuzzOne(input);
    ASSERT_LE(largest, 16 * (input.size() + seed.size()) + 65536) << "mutation " << i;
  }
}

TEST(BoardImageFuzzTest, ChecksumFixedMutationsReachTheDecoders) {
  // With checksums recomputed, mutations must mostly fail past the framing,
  // in the decoders or the validator: proof the corpus goes deep.
  std::vector<uint8_t> seed = Encode(testing::MakeRepresentativeImage());
  Rng rng(7);
  std::map<StatusCode, int> codes;
  int decoded_errors = 0;
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint8_t> input = seed;
    input[rng.Below(input.size())] ^= static_cast<uint8_t>(1 + rng.Below(255));
    testing::RecomputeChecksums(input);
    auto image = ReadBoardImage(input);
    codes[image.ok() ? StatusCode::kOk : image.status().code()]++;
    if (!image.ok() && image.status().message().find("section '") != std::string::npos) {
      ++decoded_errors;
    }
    if (!image.ok() && image.status().code() != StatusCode::kFailedPrecondition) {
      EXPECT_TRUE(image.status().code() == StatusCode::kInvalidArgument ||
                  image.status().code() == StatusCode::kDataLoss)
          << image.status();
    }
  }
  EXPECT_GT(codes[StatusCode::kInvalidArgument], 300);
  EXPECT_GT(decoded_errors, 50);
}

// Offsets inside the small image's sections, from the documented layout.
size_t SectionOffset(const std::vector<uint8_t>& bytes, SectionType type) {
  auto layout = InspectBoardImage(bytes);
  EXPECT_TRUE(layout.ok()) << layout.status();
  for (const auto& s : layout->sections) {
    if (s.type == static_cast<uint32_t>(type)) return s.offset;
  }
  ADD_FAILURE() << "no section " << static_cast<int>(type);
  return 0;
}

struct Hostile {
  const char* what;
  SectionType section;
  size_t field;  // byte offset within the section
  uint32_t value;
  const char* message;
};

TEST(BoardImageFuzzTest, HostileCountsFailCleanlyWithoutAllocating) {
  std::vector<uint8_t> seed = Encode(testing::MakeSmallImage());
  // Groups record: count, length, id, core, layer length, ...
  // Tables record: count, length, id, kind(1), index, target, port(1),
  //   format(1), weight_exp(1), num_weight_bits(1), weights count at 25.
  const Hostile cases[] = {
      {"record count", SectionType::kGroups, 0, 0xFFFFFFFFu, "'record count' declares 4294967295"},
      {"record length", SectionType::kGroups, 4, 0x7FFFFFFFu, "truncated reading 'record'"},
      {"string length", SectionType::kGroups, 16, 0xFFFFFFF0u, "truncated reading 'layer'"},
      {"array count", SectionType::kTables, 25, 0x40000000u, "'weights' declares 1073741824"},
      {"meta count", SectionType::kMeta, 0, 2, "expected 1"},
  };
  for (const Hostile& h : cases) {
    std::vector<uint8_t> input = seed;
    PutU32(input, SectionOffset(seed, h.section) + h.field, h.value);
    testing::RecomputeChecksums(input);
    g_largest_allocation = 0;
    auto image = ReadBoardImage(input);
    size_t largest = g_largest_allocation;
    ASSERT_FALSE(image.ok()) << h.what;
    EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument) << h.what;
    EXPECT_THAT(std::string(image.status().message()), HasSubstr(h.message)) << h.what;
    EXPECT_LT(largest, 64 * input.size()) << h.what;
  }
}

TEST(BoardImageFuzzTest, HugeDeclaredSectionSizeFailsWithoutAllocating) {
  std::vector<uint8_t> seed = Encode(testing::MakeSmallImage());
  for (uint64_t size : {uint64_t{1} << 40, ~uint64_t{0}, uint64_t{seed.size()}}) {
    std::vector<uint8_t> input = seed;
    // Entry 2 (groups): type, crc, offset, size.
    PutU64(input, kBoardImageHeaderSize + 2 * kBoardImageSectionEntrySize + 16, size);
    testing::RecomputeChecksums(input);
    g_largest_allocation = 0;
    auto image = ReadBoardImage(input);
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument) << image.status();
    EXPECT_THAT(std::string(image.status().message()), HasSubstr("section 'groups'"));
    EXPECT_LT(g_largest_allocation, 64 * input.size());
  }
  // Without recomputed checksums the table's own checksum catches it first.
  std::vector<uint8_t> input = seed;
  PutU64(input, kBoardImageHeaderSize + 2 * kBoardImageSectionEntrySize + 16, uint64_t{1} << 40);
  auto image = ReadBoardImage(input);
  EXPECT_EQ(image.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("section table checksum"));
}

TEST(BoardImageFuzzTest, HugeSectionCountAndImageSizeFailCleanly) {
  std::vector<uint8_t> seed = Encode(testing::MakeSmallImage());
  std::vector<uint8_t> input = seed;
  PutU32(input, 20, 0xFFFFFFFFu);  // section count
  testing::RecomputeChecksums(input);
  auto image = ReadBoardImage(input);
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument) << image.status();
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("sections"));

  input = seed;
  PutU64(input, 24, uint64_t{1} << 50);  // image size
  testing::RecomputeChecksums(input);
  image = ReadBoardImage(input);
  EXPECT_EQ(image.status().code(), StatusCode::kDataLoss) << image.status();
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("truncated"));
}

}  // namespace
}  // namespace spk::hal::format

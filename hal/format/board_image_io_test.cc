#include "hal/format/board_image_io.h"

#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/crc32.h"
#include "hal/format/test_images.h"

namespace spk::hal::format {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Encode(const BoardImage& image) {
  auto bytes = WriteBoardImage(image);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

void PutU16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}
void PutU32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void AppendU32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void AppendU64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

struct RawSection {
  uint32_t type;
  std::vector<uint8_t> body;
};

// An independent framer written from docs/board-image.md, so the tests can
// build images the writer never would (other versions, extra sections,
// another order) and check the documented layout at the same time.
std::vector<uint8_t> Frame(uint16_t major, uint16_t minor, uint32_t flags,
                           const std::vector<RawSection>& sections) {
  std::vector<uint8_t> out(kBoardImageMagic, kBoardImageMagic + 8);
  out.push_back(static_cast<uint8_t>(major));
  out.push_back(static_cast<uint8_t>(major >> 8));
  out.push_back(static_cast<uint8_t>(minor));
  out.push_back(static_cast<uint8_t>(minor >> 8));
  AppendU32(out, flags);
  AppendU32(out, 40);
  AppendU32(out, static_cast<uint32_t>(sections.size()));
  size_t image_size_at = out.size();
  AppendU64(out, 0);
  AppendU32(out, 0);  // table CRC
  AppendU32(out, 0);  // header CRC
  uint64_t at = 40 + 24 * sections.size();
  std::vector<uint64_t> offsets;
  for (const RawSection& s : sections) {
    at = (at + 7) / 8 * 8;
    offsets.push_back(at);
    at += s.body.size();
  }
  for (size_t i = 0; i < sections.size(); ++i) {
    AppendU32(out, sections[i].type);
    AppendU32(out, Crc32(sections[i].body));
    AppendU64(out, offsets[i]);
    AppendU64(out, sections[i].body.size());
  }
  for (size_t i = 0; i < sections.size(); ++i) {
    out.resize(offsets[i], 0);
    out.insert(out.end(), sections[i].body.begin(), sections[i].body.end());
  }
  for (int i = 0; i < 8; ++i) out[image_size_at + i] = static_cast<uint8_t>(out.size() >> (8 * i));
  PutU32(out, 32, Crc32(std::span<const uint8_t>(out).subspan(40, 24 * sections.size())));
  PutU32(out, 36, Crc32(std::span<const uint8_t>(out).first(36)));
  return out;
}

// The sections of a written image, in table order.
std::vector<RawSection> Sections(const std::vector<uint8_t>& bytes) {
  auto layout = InspectBoardImage(bytes);
  EXPECT_TRUE(layout.ok()) << layout.status();
  std::vector<RawSection> out;
  for (const auto& s : layout->sections) {
    out.push_back(
        {s.type, std::vector<uint8_t>(bytes.begin() + static_cast<ptrdiff_t>(s.offset),
                                      bytes.begin() + static_cast<ptrdiff_t>(s.offset + s.size))});
  }
  return out;
}

TEST(BoardImageIoTest, RoundTripsTheRepresentativeImage) {
  BoardImage image = testing::MakeRepresentativeImage();
  std::vector<uint8_t> bytes = Encode(image);
  auto back = ReadBoardImage(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
  // Bits of floats survive, including the sign of zero.
  EXPECT_EQ(std::bit_cast<uint32_t>(back->host_segments[0].tensors[0].data[5]), 0x80000000u);
  EXPECT_EQ(back->host_segments[0].tensors[1].data[2], 1e-30f);
}

TEST(BoardImageIoTest, WritingIsDeterministic) {
  BoardImage image = testing::MakeRepresentativeImage();
  std::vector<uint8_t> a = Encode(image);
  std::vector<uint8_t> b = Encode(image);
  EXPECT_EQ(a, b);
  auto back = ReadBoardImage(a);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Encode(*back), a);
}

TEST(BoardImageIoTest, EmptyPartsRoundTrip) {
  BoardImage image;
  image.meta.chip_profile = "loihi3";
  image.meta.timesteps = 1;
  image.meta.run_steps = 1;
  std::vector<uint8_t> bytes = Encode(image);
  auto back = ReadBoardImage(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
}

TEST(BoardImageIoTest, HeaderAndSectionTableFollowTheDocumentedLayout) {
  std::vector<uint8_t> bytes = Encode(testing::MakeRepresentativeImage());
  ASSERT_GE(bytes.size(), 40u);
  EXPECT_EQ(std::memcmp(bytes.data(), "\x89SPKIMG\n", 8), 0);
  EXPECT_EQ(bytes[8], 1);  // major, little-endian
  EXPECT_EQ(bytes[9], 0);
  EXPECT_EQ(bytes[10], 1);   // minor
  EXPECT_EQ(bytes[16], 40);  // header size
  auto layout = InspectBoardImage(bytes);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->version_major, 1);
  EXPECT_EQ(layout->version_minor, 1);
  EXPECT_EQ(layout->flags, 0u);
  EXPECT_EQ(layout->header_size, 40u);
  EXPECT_EQ(layout->image_size, bytes.size());
  ASSERT_EQ(layout->sections.size(), 8u);
  const char* names[] = {"meta",   "cores",  "groups",  "tables",
                         "routes", "inputs", "outputs", "host_segments"};
  uint64_t previous_end = 40 + 8 * 24;
  for (size_t i = 0; i < 8; ++i) {
    const auto& s = layout->sections[i];
    EXPECT_EQ(s.type, i + 1);
    EXPECT_EQ(SectionTypeName(s.type), names[i]);
    EXPECT_EQ(s.offset % 8, 0u);
    EXPECT_GE(s.offset, previous_end);
    EXPECT_LT(s.offset - previous_end, 8u);
    previous_end = s.offset + s.size;
  }
  EXPECT_EQ(SectionTypeName(99), "unknown");
  // The framer written from the documentation produces the same bytes.
  EXPECT_EQ(Frame(1, 1, 0, Sections(bytes)), bytes);
}

TEST(BoardImageIoTest, TruncationAtEveryOffsetIsAClearError) {
  std::vector<uint8_t> bytes = Encode(testing::MakeSmallImage());
  ASSERT_LT(bytes.size(), 2000u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto image = ReadBoardImage(std::span<const uint8_t>(bytes).first(n));
    ASSERT_FALSE(image.ok()) << n;
    if (n == 0) {
      EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
    } else {
      EXPECT_EQ(image.status().code(), StatusCode::kDataLoss) << n << ": " << image.status();
      EXPECT_THAT(std::string(image.status().message()), HasSubstr("truncated")) << n;
    }
  }
}

TEST(BoardImageIoTest, FlippedBitInEachSectionIsDataLossNamingIt) {
  std::vector<uint8_t> bytes = Encode(testing::MakeRepresentativeImage());
  auto layout = InspectBoardImage(bytes);
  ASSERT_TRUE(layout.ok());
  for (const auto& s : layout->sections) {
    std::string name = std::string("section '") + std::string(SectionTypeName(s.type)) + "'";
    for (uint64_t at : {s.offset, s.offset + s.size / 2, s.offset + s.size - 1}) {
      for (int bit : {0, 7}) {
        std::vector<uint8_t> bad = bytes;
        bad[at] ^= static_cast<uint8_t>(1 << bit);
        auto image = ReadBoardImage(bad);
        ASSERT_FALSE(image.ok());
        EXPECT_EQ(image.status().code(), StatusCode::kDataLoss) << name;
        EXPECT_THAT(std::string(image.status().message()), HasSubstr(name + " (type"));
        EXPECT_THAT(std::string(image.status().message()), HasSubstr("checksum mismatch"));
      }
    }
  }
}

TEST(BoardImageIoTest, FlippedBitInHeaderOrTableIsCaught) {
  std::vector<uint8_t> bytes = Encode(testing::MakeSmallImage());
  for (size_t at = 12; at < 40 + 8 * 24; ++at) {
    std::vector<uint8_t> bad = bytes;
    bad[at] ^= 0x10;
    auto image = ReadBoardImage(bad);
    ASSERT_FALSE(image.ok()) << at;
    EXPECT_EQ(image.status().code(), StatusCode::kDataLoss) << at << ": " << image.status();
    if (at >= 40) {
      EXPECT_THAT(std::string(image.status().message()), HasSubstr("section table checksum"));
    }
  }
  std::vector<uint8_t> bad = bytes;
  bad[20] ^= 1;  // section count
  EXPECT_THAT(std::string(ReadBoardImage(bad).status().message()),
              HasSubstr("header checksum mismatch"));
}

TEST(BoardImageIoTest, NotABoardImage) {
  std::string text = "{\"model\": \"json\"}";
  std::vector<uint8_t> bytes(text.begin(), text.end());
  auto image = ReadBoardImage(bytes);
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("bad magic"));
  EXPECT_EQ(ReadBoardImage({}).status().code(), StatusCode::kInvalidArgument);
}

TEST(BoardImageIoTest, NewerMajorVersionIsRefusedNamingBothVersions) {
  std::vector<uint8_t> bytes = Frame(2, 3, 0, Sections(Encode(testing::MakeSmallImage())));
  auto image = ReadBoardImage(bytes);
  EXPECT_EQ(image.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("format version 2.3 is newer than this reader's 1.1"));
  // Even a newer header layout that this reader cannot parse is named.
  std::vector<uint8_t> short_header = {0x89, 'S', 'P', 'K', 'I', 'M', 'G', '\n', 7, 0, 0, 0};
  EXPECT_EQ(ReadBoardImage(short_header).status().code(), StatusCode::kFailedPrecondition);
  // And an older one.
  bytes = Encode(testing::MakeSmallImage());
  PutU16(bytes, 8, 0);
  image = ReadBoardImage(bytes);
  EXPECT_EQ(image.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("version 0.1 is older"));
}

TEST(BoardImageIoTest, NewerMinorVersionSkipsUnknownSectionsAndFields) {
  BoardImage small = testing::MakeSmallImage();
  std::vector<RawSection> sections = Sections(Encode(small));
  sections.push_back({42, {1, 2, 3, 4, 5}});
  // A field appended to the meta record by a later minor version.
  std::vector<uint8_t>& meta = sections[0].body;
  PutU32(meta, 4, static_cast<uint32_t>(meta.size() - 8 + 4));
  AppendU32(meta, 0xDEADBEEF);

  auto image = ReadBoardImage(Frame(1, 2, 0x00010000u, sections));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(*image, small);

  // The same bytes claiming to be 1.1 are inconsistent.
  image = ReadBoardImage(Frame(1, 1, 0, sections));
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("section 'meta' (type 1) record 0: 4 bytes follow its last field"));
  sections[0] = Sections(Encode(small))[0];
  image = ReadBoardImage(Frame(1, 1, 0, sections));
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("unknown section type 42 in a version 1.1 image"));
}

// Format 1.1 appended the source window, two u32s, to the table record.
TEST(BoardImageIoTest, SourceWindowsRoundTripAtTheEndOfTheTableRecord) {
  BoardImage image = testing::MakeSmallImage();
  image.tables[0].source_offset = 1;
  image.tables[0].source_count = 1;
  image.tables[0].weights = {2, -4};
  std::vector<uint8_t> bytes = Encode(image);
  auto back = ReadBoardImage(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
  EXPECT_EQ(back->tables[0].source_offset, 1u);
  EXPECT_EQ(back->tables[0].source_count, 1u);
  // The tables section: count, then the one record's length and fields,
  // ending in delay (u8), source_offset and source_count (u32 each), the
  // twelve conv tile fields (u32 each, 0 for a dense table) and weights_of
  // (u32, all ones for a table with weights of its own).
  const std::vector<uint8_t> tables = Sections(bytes)[3].body;
  ASSERT_EQ(tables.size(), 4 + 4 + size_t{tables[4]});
  const std::vector<uint8_t> tail(tables.end() - 61, tables.end() - 52);
  EXPECT_EQ(tail, (std::vector<uint8_t>{0, 1, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(std::vector<uint8_t>(tables.end() - 52, tables.end() - 4), std::vector<uint8_t>(48, 0));
  EXPECT_EQ(std::vector<uint8_t>(tables.end() - 4, tables.end()), std::vector<uint8_t>(4, 0xff));
}

// Format 1.1 also appended the conv tiles and their window, twelve u32s
// after source_count, in the order of Conv2dGeometry.
TEST(BoardImageIoTest, ConvTilesRoundTripAfterTheSourceWindow) {
  BoardImage image = testing::MakeRepresentativeImage();
  ASSERT_EQ(image.tables[9].format, SynapseFormat::kConv2d);
  // Distinct values, so that a swap of two fields shows.
  Conv2dGeometry& c = image.tables[9].conv;
  c.in_w = 16;
  c.out_w = 16;
  c.in_x_offset = 5;
  c.in_x_count = 4;
  c.out_x_offset = 6;
  c.out_x_count = 4;
  c.win_x_offset = 7;
  c.win_x_count = 2;
  std::vector<uint8_t> bytes = Encode(image);
  auto back = ReadBoardImage(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
  EXPECT_EQ(back->tables[9].conv, c);

  // The last record of the tables section ends in these fields.
  const std::vector<uint8_t> tables = Sections(bytes)[3].body;
  std::vector<uint32_t> tail;
  for (size_t at = tables.size() - 52; at < tables.size() - 4; at += 4) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{tables[at + i]} << (8 * i);
    tail.push_back(v);
  }
  EXPECT_EQ(tail, (std::vector<uint32_t>{0, 4, 5, 4, 2, 4, 6, 4, 1, 3, 7, 2}));
}

// Drops the last `bytes` bytes of every table record: 60 make 1.0 records
// (ending at delay), 52 records of 1.1 with source windows only.
std::vector<uint8_t> WithoutTrailingFields(const std::vector<uint8_t>& tables, uint32_t bytes) {
  auto load = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{tables[at + i]} << (8 * i);
    return v;
  };
  std::vector<uint8_t> out(tables.begin(), tables.begin() + 4);
  const uint32_t count = load(0);
  size_t at = 4;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t length = load(at);
    AppendU32(out, length - bytes);
    out.insert(out.end(), tables.begin() + static_cast<ptrdiff_t>(at + 4),
               tables.begin() + static_cast<ptrdiff_t>(at + 4 + length - bytes));
    at += 4 + length;
  }
  return out;
}
std::vector<uint8_t> WithoutSourceWindows(const std::vector<uint8_t>& tables) {
  return WithoutTrailingFields(tables, 60);
}

TEST(BoardImageIoTest, TablesOfA10ImageReadAsWholeSource) {
  BoardImage image = testing::MakeRepresentativeImage();
  // Version 1.0 had no windows: only whole-source tables.
  image.tables.resize(7);
  std::vector<RawSection> sections = Sections(Encode(image));
  ASSERT_EQ(sections[3].type, 4u);
  sections[3].body = WithoutSourceWindows(sections[3].body);
  auto back = ReadBoardImage(Frame(1, 0, 0, sections));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
  for (const SynapseTable& t : back->tables) {
    EXPECT_EQ(t.source_offset, 0u);
    EXPECT_EQ(t.source_count, 0u);
  }
  // The same records in a 1.1 image lack fields 1.1 has.
  auto short_records = ReadBoardImage(Frame(1, 1, 0, sections));
  EXPECT_EQ(short_records.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_records.status().message()),
              HasSubstr("section 'tables' (type 4) record 0: truncated reading 'source_offset'"));
  // And 1.1 records in a 1.0 image carry bytes 1.0 does not have.
  auto long_records = ReadBoardImage(Frame(1, 0, 0, Sections(Encode(image))));
  EXPECT_EQ(long_records.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(long_records.status().message()),
              HasSubstr("section 'tables' (type 4) record 0: 60 bytes follow its last field"));
  // A 1.1 record must carry the conv tile fields too, conv2d or not.
  sections = Sections(Encode(image));
  sections[3].body = WithoutTrailingFields(sections[3].body, 52);
  auto no_tiles = ReadBoardImage(Frame(1, 1, 0, sections));
  EXPECT_EQ(no_tiles.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(no_tiles.status().message()),
      HasSubstr("section 'tables' (type 4) record 0: truncated reading 'conv.in_y_offset'"));
}

TEST(BoardImageIoTest, SectionsMayComeInAnyOrder) {
  BoardImage image = testing::MakeRepresentativeImage();
  std::vector<RawSection> sections = Sections(Encode(image));
  std::reverse(sections.begin(), sections.end());
  auto back = ReadBoardImage(Frame(1, 1, 0, sections));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
}

TEST(BoardImageIoTest, MissingOrDuplicateSectionsAreRefused) {
  std::vector<RawSection> sections = Sections(Encode(testing::MakeSmallImage()));
  std::vector<RawSection> missing = sections;
  missing.erase(missing.begin() + 4);
  auto image = ReadBoardImage(Frame(1, 1, 0, missing));
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("missing section 'routes'"));

  std::vector<RawSection> twice = sections;
  twice.push_back(sections[2]);
  image = ReadBoardImage(Frame(1, 1, 0, twice));
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()),
              HasSubstr("section 'groups' (type 3) appears twice"));
}

TEST(BoardImageIoTest, UnknownRequiredFlagIsRefused) {
  std::vector<RawSection> sections = Sections(Encode(testing::MakeSmallImage()));
  auto image = ReadBoardImage(Frame(1, 1, 0x4, sections));
  EXPECT_EQ(image.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("flags 0x4"));
  EXPECT_TRUE(ReadBoardImage(Frame(1, 1, 0x80000000u, sections)).ok());
}

TEST(BoardImageIoTest, TrailingBytesAndDirtyPaddingAreRefused) {
  std::vector<uint8_t> bytes = Encode(testing::MakeSmallImage());
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  auto image = ReadBoardImage(longer);
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("1 bytes follow the declared end"));

  auto layout = InspectBoardImage(bytes);
  ASSERT_TRUE(layout.ok());
  // Find a padding byte between two sections.
  bool found = false;
  for (size_t i = 0; i + 1 < layout->sections.size() && !found; ++i) {
    uint64_t end = layout->sections[i].offset + layout->sections[i].size;
    if (end < layout->sections[i + 1].offset) {
      std::vector<uint8_t> dirty = bytes;
      dirty[end] = 0xAA;
      image = ReadBoardImage(dirty);
      EXPECT_EQ(image.status().code(), StatusCode::kDataLoss);
      EXPECT_THAT(std::string(image.status().message()), HasSubstr("non-zero padding byte"));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(BoardImageIoTest, OverlappingSectionsAreRefused) {
  std::vector<uint8_t> bytes = Encode(testing::MakeSmallImage());
  auto layout = InspectBoardImage(bytes);
  ASSERT_TRUE(layout.ok());
  // Point the routes entry at the groups section.
  size_t routes_entry = 40 + 4 * 24;
  for (int i = 0; i < 8; ++i) {
    bytes[routes_entry + 8 + i] = static_cast<uint8_t>(layout->sections[2].offset >> (8 * i));
  }
  testing::RecomputeChecksums(bytes);
  auto image = ReadBoardImage(bytes);
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr("overlaps"));
}

TEST(BoardImageIoTest, DecodedImageIsValidated) {
  std::vector<uint8_t> bytes = Encode(testing::MakeSmallImage());
  auto layout = InspectBoardImage(bytes);
  ASSERT_TRUE(layout.ok());
  // Groups record: count, length, id, core, layer ("lif"), model, output,
  // size, du at 29.
  size_t du = layout->sections[2].offset + 29;
  bytes[du] = 5000 & 0xFF;
  bytes[du + 1] = 5000 >> 8;
  testing::RecomputeChecksums(bytes);
  auto image = ReadBoardImage(bytes);
  EXPECT_EQ(image.status().ToString(),
            "INVALID_ARGUMENT: board image: group 1 (layer \"lif\"): du 5000 exceeds 4095");
}

TEST(BoardImageIoTest, WriterRefusesInvalidImages) {
  BoardImage image = testing::MakeSmallImage();
  image.tables[0].weights[0] = 3;
  auto bytes = WriteBoardImage(image);
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bytes.status().message()), HasSubstr("table 1 (to group 1"));
}

// Large images are checked on a second thread while they are encoded: the
// verdicts are the same, and a valid one still round-trips.
TEST(BoardImageIoTest, LargeImagesAreCheckedAsSmallOnes) {
  BoardImage image = testing::MakeSmallImage();
  const SynapseTable first = image.tables[0];
  for (uint32_t id = 2; id <= 12'000; ++id) {
    SynapseTable t = first;
    t.id = id;
    image.tables.push_back(t);
  }
  auto bytes = WriteBoardImage(image);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto back = ReadBoardImage(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
  image.tables[10'999].weights[0] = 3;
  bytes = WriteBoardImage(image);
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bytes.status().message()), HasSubstr("table 11000 (to group 1"));
}

class BoardImageFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spk_board_image_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(BoardImageFileTest, WritesAndReadsFiles) {
  BoardImage image = testing::MakeRepresentativeImage();
  std::string path = (dir_ / "model.spkimg").string();
  ASSERT_TRUE(WriteBoardImageFile(image, path).ok());
  auto back = ReadBoardImageFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, image);
  // Overwriting replaces the file whole; no temporary is left behind.
  ASSERT_TRUE(WriteBoardImageFile(testing::MakeSmallImage(), path).ok());
  EXPECT_EQ(*ReadBoardImageFile(path), testing::MakeSmallImage());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(BoardImageFileTest, FileErrorsNameThePath) {
  std::string missing = (dir_ / "missing.spkimg").string();
  auto image = ReadBoardImageFile(missing);
  EXPECT_EQ(image.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr(missing));

  EXPECT_EQ(ReadBoardImageFile(dir_.string()).status().code(), StatusCode::kInvalidArgument);

  Status s = WriteBoardImageFile(testing::MakeSmallImage(), (dir_ / "no/such/dir/x").string());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);

  std::string corrupt = (dir_ / "corrupt.spkimg").string();
  std::vector<uint8_t> bytes = Encode(testing::MakeSmallImage());
  bytes[bytes.size() - 1] ^= 1;
  std::ofstream(corrupt, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  image = ReadBoardImageFile(corrupt);
  EXPECT_EQ(image.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(image.status().message()), HasSubstr(corrupt + ": board image:"));
}

// Checking in place gives the verdicts reading gives, paths included.
TEST_F(BoardImageFileTest, CheckingAFileInPlaceAgreesWithReadingIt) {
  const std::string good = (dir_ / "good.spkimg").string();
  ASSERT_TRUE(WriteBoardImageFile(testing::MakeRepresentativeImage(), good).ok());
  EXPECT_TRUE(CheckBoardImageFile(good).ok());

  const std::string missing = (dir_ / "missing.spkimg").string();
  EXPECT_EQ(CheckBoardImageFile(missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(CheckBoardImageFile(dir_.string()).code(), StatusCode::kInvalidArgument);

  const std::vector<uint8_t> bytes = Encode(testing::MakeRepresentativeImage());
  auto write = [&](const std::string& name, std::span<const uint8_t> content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()),
               static_cast<std::streamsize>(content.size()));
    return path;
  };
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = write("cut.spkimg", std::span(bytes).first(cut));
    const Status checked = CheckBoardImageFile(path);
    EXPECT_EQ(checked.code(), ReadBoardImageFile(path).status().code()) << cut;
    EXPECT_FALSE(checked.ok()) << cut;
    EXPECT_THAT(std::string(checked.message()), HasSubstr(path)) << cut;
  }
  std::vector<uint8_t> flipped = bytes;
  flipped[flipped.size() - 5] ^= 0x10;
  const std::string path = write("flipped.spkimg", flipped);
  EXPECT_EQ(CheckBoardImageFile(path).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace spk::hal::format

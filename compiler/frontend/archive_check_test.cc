#include "compiler/frontend/archive_check.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/crc32.h"

namespace spk::compiler::frontend {
namespace {

using ::testing::HasSubstr;

struct FakeEntry {
  std::string name;
  std::string data;
  uint16_t method = 0;
  // When set, the sizes the directory declares instead of the real ones.
  int64_t declared_uncompressed = -1;
};

void Put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void Put32(std::vector<uint8_t>& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v));
  Put16(b, static_cast<uint16_t>(v >> 16));
}

uint32_t CrcOf(const FakeEntry& e) {
  if (e.method != 0) return 0;
  return spk::Crc32(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(e.data.data()), e.data.size()));
}

// A minimal zip writer: enough structure for the checker; stored entries
// carry their CRC-32 (the checker verifies it), deflated ones zero.
std::vector<uint8_t> MakeZip(const std::vector<FakeEntry>& entries) {
  std::vector<uint8_t> out;
  std::vector<uint32_t> offsets;
  for (const auto& e : entries) {
    offsets.push_back(static_cast<uint32_t>(out.size()));
    Put32(out, 0x04034b50);
    Put16(out, 20);
    Put16(out, 0);
    Put16(out, e.method);
    Put32(out, 0);
    Put32(out, CrcOf(e));
    Put32(out, static_cast<uint32_t>(e.data.size()));
    Put32(out, static_cast<uint32_t>(e.data.size()));
    Put16(out, static_cast<uint16_t>(e.name.size()));
    Put16(out, 0);
    out.insert(out.end(), e.name.begin(), e.name.end());
    out.insert(out.end(), e.data.begin(), e.data.end());
  }
  uint32_t cd_start = static_cast<uint32_t>(out.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    Put32(out, 0x02014b50);
    Put16(out, 20);
    Put16(out, 20);
    Put16(out, 0);
    Put16(out, e.method);
    Put32(out, 0);
    Put32(out, CrcOf(e));
    Put32(out, static_cast<uint32_t>(e.data.size()));
    Put32(out, static_cast<uint32_t>(e.declared_uncompressed >= 0 ? e.declared_uncompressed
                                                                  : e.data.size()));
    Put16(out, static_cast<uint16_t>(e.name.size()));
    Put16(out, 0);
    Put16(out, 0);
    Put16(out, 0);
    Put16(out, 0);
    Put32(out, 0);
    Put32(out, offsets[i]);
    out.insert(out.end(), e.name.begin(), e.name.end());
  }
  uint32_t cd_size = static_cast<uint32_t>(out.size()) - cd_start;
  Put32(out, 0x06054b50);
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, static_cast<uint16_t>(entries.size()));
  Put16(out, static_cast<uint16_t>(entries.size()));
  Put32(out, cd_size);
  Put32(out, cd_start);
  Put16(out, 0);
  return out;
}

std::vector<FakeEntry> ValidEntries() {
  return {{"model/data.pkl", "pickled"},
          {"model/code/__torch__/model.py", "def forward(self, x): return x"},
          {"model/constants.pkl", "c"},
          {"model/version", "4\n"},
          {"model/extra/spiked.json", "{\"input_shape\": [1, 1, 8, 8]}"}};
}

TEST(ArchiveCheckTest, AcceptsWellFormedArchive) {
  auto summary = CheckTorchScriptArchive(MakeZip(ValidEntries()), ArchiveLimits{});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->root, "model");
  EXPECT_EQ(summary->entries.size(), 5u);
  EXPECT_EQ(summary->format_version, 4);
  ASSERT_TRUE(summary->extra_json.has_value());
  EXPECT_THAT(*summary->extra_json, HasSubstr("input_shape"));
}

TEST(ArchiveCheckTest, RefusesDamagedStoredEntry) {
  // LibTorch does not check CRCs; a flipped bit in a debug pickle crashed it.
  auto zip = MakeZip(ValidEntries());
  const std::string marker = "input_shape";
  auto at = std::search(zip.begin(), zip.end(), marker.begin(), marker.end());
  ASSERT_NE(at, zip.end());
  *at ^= 0x04;
  auto s = CheckTorchScriptArchive(zip, ArchiveLimits{});
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("extra/spiked.json"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("CRC-32"));
}

TEST(ArchiveCheckTest, RefusesNonZip) {
  std::string text = "this is not a model, just some text that is long enough";
  auto s = CheckTorchScriptArchive(std::vector<uint8_t>(text.begin(), text.end()), ArchiveLimits{});
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("zip header"));
}

TEST(ArchiveCheckTest, RefusesEveryTruncation) {
  auto bytes = MakeZip(ValidEntries());
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<uint8_t> head(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    auto s = CheckTorchScriptArchive(head, ArchiveLimits{});
    ASSERT_FALSE(s.ok()) << "cut at " << cut;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << "cut at " << cut;
  }
}

TEST(ArchiveCheckTest, RefusesZipBomb) {
  auto entries = ValidEntries();
  entries.push_back({"model/data/0", std::string(2048, 'x'), 8, int64_t{1} << 31});
  ArchiveLimits limits;
  limits.max_entry_bytes = uint64_t{4} << 30;
  auto s = CheckTorchScriptArchive(MakeZip(entries), limits);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("zip bomb"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("model/data/0"));
}

TEST(ArchiveCheckTest, RefusesEntryOverLimit) {
  auto entries = ValidEntries();
  entries.push_back({"model/data/0", std::string(5000, 'w')});
  ArchiveLimits limits;
  limits.max_entry_bytes = 4096;
  auto s = CheckTorchScriptArchive(MakeZip(entries), limits);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("model/data/0' expands to 5000 bytes"));
}

TEST(ArchiveCheckTest, RefusesFileOverLimit) {
  ArchiveLimits limits;
  limits.max_file_bytes = 100;
  auto s = CheckTorchScriptArchive(MakeZip(ValidEntries()), limits);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("over the limit of 100 bytes"));
}

TEST(ArchiveCheckTest, RefusesUnknownCompression) {
  auto entries = ValidEntries();
  entries[0].method = 14;
  auto s = CheckTorchScriptArchive(MakeZip(entries), ArchiveLimits{});
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("compression method 14"));
}

TEST(ArchiveCheckTest, ExplainsEagerSaveFiles) {
  // torch.save of a state dict has data.pkl but no code.
  auto s = CheckTorchScriptArchive(MakeZip({{"archive/data.pkl", "p"}, {"archive/version", "3"}}),
                                   ArchiveLimits{});
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("torch.jit.save"));
}

TEST(ArchiveCheckTest, RefusesEntriesOutsideOneFolder) {
  auto entries = ValidEntries();
  entries.push_back({"../../etc/passwd", "x"});
  auto s = CheckTorchScriptArchive(MakeZip(entries), ArchiveLimits{});
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("one folder"));
}

TEST(ArchiveCheckTest, SurvivesRandomCorruption) {
  auto bytes = MakeZip(ValidEntries());
  uint32_t seed = 12345;
  for (int round = 0; round < 5000; ++round) {
    auto copy = bytes;
    for (int k = 0; k < 4; ++k) {
      seed = seed * 1664525u + 1013904223u;
      copy[seed % copy.size()] = static_cast<uint8_t>(seed >> 24);
    }
    auto s = CheckTorchScriptArchive(copy, ArchiveLimits{});
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace spk::compiler::frontend

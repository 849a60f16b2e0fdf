#include "compiler/cache/artifact_cache.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hal/format/board_image_io.h"
#include "hal/format/test_images.h"

namespace spk::compiler::cache {
namespace {

namespace fs = std::filesystem;

class ArtifactCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("spk_cache_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ArtifactCache> Open(uint64_t max_bytes = uint64_t{1} << 30) {
    auto c = ArtifactCache::Open({dir_.string(), max_bytes});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static std::string KeyOf(const std::string& model) {
    const std::vector<uint8_t> bytes(model.begin(), model.end());
    return ArtifactCache::Key(bytes, "-O2", "loihi2", "v1");
  }

  fs::path dir_;
};

TEST_F(ArtifactCacheTest, KeyDependsOnEveryPart) {
  const std::vector<uint8_t> m = {1, 2, 3};
  const std::string k = ArtifactCache::Key(m, "-O2", "chip", "v1");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, ArtifactCache::Key(m, "-O2", "chip", "v1"));
  EXPECT_NE(k, ArtifactCache::Key(m, "-O1", "chip", "v1"));
  EXPECT_NE(k, ArtifactCache::Key(m, "-O2", "chip2", "v1"));
  EXPECT_NE(k, ArtifactCache::Key(m, "-O2", "chip", "v2"));
  EXPECT_NE(k, ArtifactCache::Key({m.data(), 2}, "-O2", "chip", "v1"));
  // Moving bytes between parts changes the key.
  EXPECT_NE(ArtifactCache::Key(m, "ab", "c", "v"), ArtifactCache::Key(m, "a", "bc", "v"));
}

TEST_F(ArtifactCacheTest, MissCompilesThenHits) {
  auto cache = Open();
  const auto image = hal::format::testing::MakeSmallImage();
  int compiles = 0;
  auto compile = [&]() -> StatusOr<hal::format::BoardImage> {
    ++compiles;
    return image;
  };
  bool hit = true;
  auto a = cache->GetOrCompile(KeyOf("m"), compile, &hit);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(hit);
  auto b = cache->GetOrCompile(KeyOf("m"), compile, &hit);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(hit);
  EXPECT_EQ(*b, image);
  EXPECT_EQ(compiles, 1);
  EXPECT_EQ(cache->stats().hits, 1u);
}

TEST_F(ArtifactCacheTest, CorruptEntryIsDetectedAndRecompiled) {
  auto cache = Open();
  const auto image = hal::format::testing::MakeSmallImage();
  const std::string key = KeyOf("m");
  ASSERT_TRUE(cache->Insert(key, image).ok());
  {
    std::fstream f(cache->PathFor(key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  auto lookup = cache->Lookup(key);
  EXPECT_EQ(lookup.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cache->stats().corrupt, 1u);
  EXPECT_FALSE(fs::exists(cache->PathFor(key)));
  int compiles = 0;
  auto again = cache->GetOrCompile(key, [&]() -> StatusOr<hal::format::BoardImage> {
    ++compiles;
    return image;
  });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(compiles, 1);
  EXPECT_TRUE(cache->Lookup(key).ok());
}

// A hit's entry (placed as an output undecoded) is checked by its
// checksums in place: a damaged entry is dropped just as by Lookup.
TEST_F(ArtifactCacheTest, LookupFileChecksAndDropsDamage) {
  auto cache = Open();
  const auto image = hal::format::testing::MakeSmallImage();
  const std::string key = KeyOf("m");
  ASSERT_TRUE(cache->Insert(key, image).ok());
  auto path = cache->LookupFile(key);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, cache->PathFor(key));
  EXPECT_EQ(cache->stats().hits, 1u);
  {
    std::fstream f(cache->PathFor(key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  auto damaged = cache->LookupFile(key);
  EXPECT_EQ(damaged.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(damaged.status().message()), ::testing::HasSubstr("corrupt"));
  EXPECT_EQ(cache->stats().corrupt, 1u);
  EXPECT_FALSE(fs::exists(cache->PathFor(key)));
  EXPECT_EQ(cache->LookupFile(KeyOf("absent")).status().code(), StatusCode::kNotFound);
}

// Placing an entry as an output: again and again onto the same name (a
// rename between two names of one file leaves the source name unless it is
// removed), linked or copied, and never leaving a temporary file behind.
TEST_F(ArtifactCacheTest, PlacedEntriesAreWholeImagesAndLeaveNoTemporaries) {
  auto cache = Open();
  const auto image = hal::format::testing::MakeSmallImage();
  const std::string key = KeyOf("m");
  ASSERT_TRUE(cache->Insert(key, image).ok());
  const fs::path out_dir = dir_ / "out";
  fs::create_directories(out_dir);
  const std::string out = (out_dir / "model.spkimg").string();
  for (bool may_link : {true, true, false, true}) {
    auto entry = cache->LookupFile(key);
    ASSERT_TRUE(entry.ok()) << entry.status();
    ASSERT_TRUE(hal::format::PlaceBoardImageFile(*entry, out, may_link).ok()) << may_link;
    auto placed = hal::format::ReadBoardImageFile(out);
    ASSERT_TRUE(placed.ok()) << placed.status();
    EXPECT_EQ(*placed, image);
    EXPECT_EQ(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);
  }
  // A copy is a file of its own: writing into it leaves the entry whole.
  ASSERT_TRUE(hal::format::PlaceBoardImageFile(cache->PathFor(key), out, false).ok());
  {
    std::fstream f(out, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  EXPECT_TRUE(cache->LookupFile(key).ok());
  // Failures name the output and leave nothing behind.
  const Status no_dir =
      hal::format::PlaceBoardImageFile(cache->PathFor(key), (dir_ / "nowhere/x").string(), true);
  EXPECT_EQ(no_dir.code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_dir.message()), ::testing::HasSubstr("nowhere/x"));
}

TEST_F(ArtifactCacheTest, EvictsLeastRecentlyUsedBeyondBudget) {
  const auto image = hal::format::testing::MakeSmallImage();
  auto bytes = hal::format::WriteBoardImage(image);
  ASSERT_TRUE(bytes.ok());
  const uint64_t one = bytes->size();
  auto cache = Open(one * 2 + one / 2);  // room for two entries
  ASSERT_TRUE(cache->Insert(KeyOf("a"), image).ok());
  ASSERT_TRUE(cache->Insert(KeyOf("b"), image).ok());
  // Make "a" clearly older than "b", then use it: "b" becomes the LRU one.
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(cache->PathFor(KeyOf("a")), now - std::chrono::hours(2));
  fs::last_write_time(cache->PathFor(KeyOf("b")), now - std::chrono::hours(1));
  ASSERT_TRUE(cache->Lookup(KeyOf("a")).ok());
  ASSERT_TRUE(cache->Insert(KeyOf("c"), image).ok());
  EXPECT_TRUE(fs::exists(cache->PathFor(KeyOf("a"))));
  EXPECT_FALSE(fs::exists(cache->PathFor(KeyOf("b"))));
  EXPECT_TRUE(fs::exists(cache->PathFor(KeyOf("c"))));
  EXPECT_LE(cache->SizeBytes(), one * 2 + one / 2);
  EXPECT_EQ(cache->stats().evictions, 1u);
}

TEST_F(ArtifactCacheTest, RacingCompilesOfTheSameModelBothSucceed) {
  auto cache = Open();
  auto other = Open();  // a second handle, as a second process would have
  const auto image = hal::format::testing::MakeRepresentativeImage();
  const std::string key = KeyOf("race");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      ArtifactCache* c = t % 2 ? cache.get() : other.get();
      for (int i = 0; i < 20; ++i) {
        auto r = c->GetOrCompile(key, [&]() -> StatusOr<hal::format::BoardImage> { return image; });
        if (!r.ok() || !(*r == image)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // No temporary files are left behind.
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp.", 0), std::string::npos) << e.path();
  }
}

TEST_F(ArtifactCacheTest, AttachmentsRoundTripAndDetectDamage) {
  auto cache = Open();
  const std::string key = KeyOf("m");
  EXPECT_EQ(cache->LookupAttachment(key, "report").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(cache->InsertAttachment(key, "report", "line 1\nline 2\n").ok());
  auto text = cache->LookupAttachment(key, "report");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "line 1\nline 2\n");
  EXPECT_EQ(cache->InsertAttachment(key, "../x", "t").code(), StatusCode::kInvalidArgument);
  {
    std::fstream f(dir_ / (key + ".report"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('X');
  }
  EXPECT_EQ(cache->LookupAttachment(key, "report").status().code(), StatusCode::kDataLoss);
}

TEST_F(ArtifactCacheTest, AttachmentsGoWithTheirImage) {
  const auto image = hal::format::testing::MakeSmallImage();
  auto bytes = hal::format::WriteBoardImage(image);
  ASSERT_TRUE(bytes.ok());
  auto cache = Open(bytes->size() + bytes->size() / 2);  // room for one image
  ASSERT_TRUE(cache->InsertAttachment(KeyOf("a"), "report", "a").ok());
  ASSERT_TRUE(cache->Insert(KeyOf("a"), image).ok());
  fs::last_write_time(cache->PathFor(KeyOf("a")),
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(cache->InsertAttachment(KeyOf("b"), "report", "b").ok());
  ASSERT_TRUE(cache->Insert(KeyOf("b"), image).ok());
  // Evicting "a" took its report along.
  EXPECT_EQ(cache->LookupAttachment(KeyOf("a"), "report").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(cache->LookupAttachment(KeyOf("b"), "report").ok());
  // So does a damaged image, and Drop.
  {
    std::fstream f(cache->PathFor(KeyOf("b")), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  EXPECT_FALSE(cache->Lookup(KeyOf("b")).ok());
  EXPECT_EQ(cache->LookupAttachment(KeyOf("b"), "report").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(cache->InsertAttachment(KeyOf("c"), "report", "c").ok());
  ASSERT_TRUE(cache->Insert(KeyOf("c"), image).ok());
  cache->Drop(KeyOf("c"));
  EXPECT_FALSE(fs::exists(cache->PathFor(KeyOf("c"))));
  EXPECT_EQ(cache->LookupAttachment(KeyOf("c"), "report").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(ArtifactCacheTest, UnwritableDirectoryIsUnavailable) {
  auto c = ArtifactCache::Open({"/proc/no/such/dir", 1000});
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace spk::compiler::cache

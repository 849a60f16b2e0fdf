#include "hal/partition_allocator.h"

#include <algorithm>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::hal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<PartitionAllocator> Make(uint32_t chips, uint32_t cores_per_chip) {
  auto a = PartitionAllocator::Create(chips, cores_per_chip);
  EXPECT_TRUE(a.ok()) << a.status();
  return std::move(a).value();
}

Partition Cores(std::vector<uint32_t> cores) { return Partition{std::move(cores)}; }

TEST(PartitionAllocatorTest, CreateRefusesEmptyOrHugeBoards) {
  EXPECT_EQ(PartitionAllocator::Create(0, 120).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionAllocator::Create(8, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionAllocator::Create(1u << 20, 1u << 20).status().code(),
            StatusCode::kInvalidArgument);
  DeviceInfo info;
  info.chips = 8;
  info.cores_per_chip = 120;
  auto a = PartitionAllocator::Create(info);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->total_cores(), 960u);
  EXPECT_EQ((*a)->free_cores(), 960u);
}

TEST(PartitionAllocatorTest, ContiguousOnOneChipWithTightestFit) {
  auto a = Make(2, 8);
  EXPECT_THAT(a->Allocate(3)->cores, ElementsAre(0, 1, 2));
  // Chip 0's run of 5 fits exactly; chip 1's run of 8 stays whole.
  EXPECT_THAT(a->Allocate(5)->cores, ElementsAre(3, 4, 5, 6, 7));
  EXPECT_THAT(a->Allocate(8)->cores, ElementsAre(8, 9, 10, 11, 12, 13, 14, 15));
  EXPECT_EQ(a->free_cores(), 0u);
}

TEST(PartitionAllocatorTest, AllocateOnChipStaysOnThatChip) {
  auto a = Make(2, 8);
  ASSERT_TRUE(a->Restore(Cores({9, 11})).ok());
  // Chip 1 has 6 free cores; the tightest span of 3 is 12..14.
  EXPECT_THAT(a->AllocateOnChip(3, 1)->cores, ElementsAre(12, 13, 14));
  EXPECT_EQ(a->free_cores_on_chip(1), 3u);
  auto full = a->AllocateOnChip(4, 1);
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.status().message()), HasSubstr("only 3 of its 8"));
  EXPECT_EQ(a->AllocateOnChip(1, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->AllocateOnChip(0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->free_cores_on_chip(0), 8u);  // nothing taken by the refusals
}

TEST(PartitionAllocatorTest, PrefersTheShortestRunThatFits) {
  auto a = Make(1, 16);
  ASSERT_TRUE(a->Restore(Cores({4, 5, 12})).ok());
  // Free runs: [0,4) len 4, [6,12) len 6, [13,16) len 3.
  EXPECT_THAT(a->Allocate(3)->cores, ElementsAre(13, 14, 15));
  EXPECT_THAT(a->Allocate(4)->cores, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(a->Allocate(5)->cores, ElementsAre(6, 7, 8, 9, 10));
}

TEST(PartitionAllocatorTest, OneChipFragmentedBeatsTwoChipsContiguous) {
  auto a = Make(2, 8);
  ASSERT_TRUE(a->Restore(Cores({1, 3, 5, 8, 9})).ok());
  // Chip 0 has 5 free cores (0,2,4,6,7), none in a run of 4; chip 1 has a run
  // of 6 (10..15). A request of 5 fits chip 1 contiguously.
  EXPECT_THAT(a->Allocate(5)->cores, ElementsAre(10, 11, 12, 13, 14));
  // 4 more: no run of 4 anywhere; chip 0 holds them fragmented, with the
  // tightest span.
  EXPECT_THAT(a->Allocate(4)->cores, ElementsAre(2, 4, 6, 7));
  EXPECT_EQ(a->free_cores_on_chip(0), 1u);
  EXPECT_EQ(a->free_cores_on_chip(1), 1u);
}

TEST(PartitionAllocatorTest, SpansAsFewNeighbouringChipsAsPossible) {
  auto a = Make(4, 4);
  auto p = a->Allocate(6);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(p->cores, ElementsAre(0, 1, 2, 3, 4, 5));
  // Chips now free: 0:0, 1:2, 2:4, 3:4. Nine cores need three chips; the
  // tightest window of three neighbours is chips 1..3 (10 free).
  p = a->Allocate(9);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(p->cores, ElementsAre(6, 7, 8, 9, 10, 11, 12, 13, 14));
  EXPECT_EQ(a->free_cores(), 1u);
}

TEST(PartitionAllocatorTest, TakesTheEmptiestChipsWhenNeighboursCannot) {
  auto a = Make(4, 4);
  ASSERT_TRUE(a->Restore(Cores({4, 5, 6, 7, 12, 13, 14})).ok());
  // Free: chip 0: 4, chip 1: 0, chip 2: 4, chip 3: 1. Eight cores need two
  // chips; no two neighbours hold eight, so chips 0 and 2.
  auto p = a->Allocate(8);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(p->cores, ElementsAre(0, 1, 2, 3, 8, 9, 10, 11));
}

TEST(PartitionAllocatorTest, ExhaustionSaysHowManyAreFree) {
  auto a = Make(2, 8);
  ASSERT_TRUE(a->Allocate(10).ok());
  auto p = a->Allocate(7);
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("need 7 cores, but only 6 of the board's 16 are free"));
  EXPECT_EQ(a->Allocate(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(a->Allocate(6).ok());
  EXPECT_THAT(std::string(a->Allocate(1).status().message()), HasSubstr("only 0 of"));
}

TEST(PartitionAllocatorTest, FreeReturnsCoresAllOrNothing) {
  auto a = Make(1, 8);
  auto p = a->Allocate(4);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(a->Free(*p).ok());
  EXPECT_EQ(a->free_cores(), 8u);
  Status twice = a->Free(*p);
  EXPECT_EQ(twice.code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(twice.message()), HasSubstr("cores 0, 1, 2, 3 are not allocated"));

  p = a->Allocate(2);
  Status partly = a->Free(Cores({0, 1, 5}));
  EXPECT_EQ(partly.code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(partly.message()), HasSubstr("core 5 is not allocated"));
  EXPECT_TRUE(a->IsAllocated(0));  // nothing was freed
  EXPECT_EQ(a->Free(Cores({0, 9})).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->Free(Cores({0, 0})).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->Free(Cores({})).code(), StatusCode::kInvalidArgument);
}

TEST(PartitionAllocatorTest, RestoreMarksKnownPartitionsAndRefusesOverlap) {
  auto a = Make(2, 120);
  ASSERT_TRUE(a->Restore(Cores({118, 119, 120, 121})).ok());
  ASSERT_TRUE(a->Restore(Cores({0, 1})).ok());
  EXPECT_EQ(a->free_cores(), 234u);
  EXPECT_TRUE(a->IsAllocated(120));
  Status overlap = a->Restore(Cores({2, 119, 120, 3}));
  EXPECT_EQ(overlap.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(overlap.message()),
              HasSubstr("partition of 4 cores: cores 119, 120 are already allocated"));
  EXPECT_FALSE(a->IsAllocated(2));  // all or nothing
  Status outside = a->Restore(Cores({240}));
  EXPECT_EQ(outside.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outside.message()), HasSubstr("core 240: the board has 240 cores"));
  EXPECT_THAT(std::string(a->Restore(Cores({7, 7})).message()), HasSubstr("core 7 twice"));
  // New allocations avoid restored cores.
  auto p = a->Allocate(2);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(p->cores, ElementsAre(2, 3));  // the shorter run: 2..117 (116) vs 122..239 (118)
}

TEST(PartitionAllocatorTest, ConcurrentAllocationsNeverShareACore) {
  auto a = Make(8, 120);
  std::vector<std::vector<Partition>> held(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto p = a->Allocate(1 + static_cast<uint32_t>((i * 7 + t) % 50));
        if (p.ok()) held[t].push_back(*p);
        if (i % 3 == 0 && !held[t].empty()) {
          EXPECT_TRUE(a->Free(held[t].front()).ok());
          held[t].erase(held[t].begin());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint32_t> seen;
  uint32_t count = 0;
  for (const auto& list : held) {
    for (const Partition& p : list) {
      for (uint32_t core : p.cores) {
        EXPECT_TRUE(seen.insert(core).second) << "core " << core << " handed out twice";
        EXPECT_TRUE(a->IsAllocated(core));
        ++count;
      }
    }
  }
  EXPECT_EQ(a->free_cores(), a->total_cores() - count);
}

}  // namespace
}  // namespace spk::hal

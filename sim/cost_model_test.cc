#include "sim/cost_model.h"

#include <gtest/gtest.h>

#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using testing::TestBoard;
using testing::TestChip;

TEST(BoardMeshTest, XyRoutingWithinAChip) {
  auto mesh = BoardMesh::Create(TestChip(), TestBoard(1));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(mesh->total_cores(), 16u);
  // 4 x 4 mesh: core 0 at (0,0), core 5 at (1,1), core 15 at (3,3).
  RouteMetrics r = mesh->Route(0, 15);
  EXPECT_EQ(r.hops_ew, 3u);
  EXPECT_EQ(r.hops_ns, 3u);
  EXPECT_EQ(r.chip_crossings, 0u);
  r = mesh->Route(6, 5);
  EXPECT_EQ(r.hops_ew, 1u);
  EXPECT_EQ(r.hops_ns, 0u);
  r = mesh->Route(7, 7);
  EXPECT_EQ(r.hops_ew + r.hops_ns + r.chip_crossings, 0u);
}

TEST(BoardMeshTest, CrossingChipsOnA2x2Board) {
  auto mesh = BoardMesh::Create(TestChip(), TestBoard(4, 2, 2));
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  // Chip 0 core 3 sits at global (3,0); chip 1 core 0 at (4,0): one hop, one crossing.
  RouteMetrics r = mesh->Route(3, 16);
  EXPECT_EQ(r.hops_ew, 1u);
  EXPECT_EQ(r.hops_ns, 0u);
  EXPECT_EQ(r.chip_crossings, 1u);
  // Chip 0 core 0 (0,0) to chip 3 core 15 (7,7): 7 + 7 hops, two chip boundaries.
  r = mesh->Route(0, 63);
  EXPECT_EQ(r.hops_ew, 7u);
  EXPECT_EQ(r.hops_ns, 7u);
  EXPECT_EQ(r.chip_crossings, 2u);
  EXPECT_DOUBLE_EQ(RouteLatencyNs(TestChip().timing, r), 7 * 7 + 7 * 11 + 2 * 100);
}

TEST(BoardMeshTest, RejectsUnusableProfiles) {
  auto chip = TestChip();
  chip.mesh_width = 3;  // 3 x 4 < 16 cores
  EXPECT_EQ(BoardMesh::Create(chip, TestBoard(1)).status().code(), StatusCode::kInvalidArgument);
  auto board = TestBoard(4, 3, 1);
  EXPECT_EQ(BoardMesh::Create(TestChip(), board).status().code(), StatusCode::kInvalidArgument);
  board = TestBoard(1);
  board.chip = "loihi2";
  EXPECT_EQ(BoardMesh::Create(TestChip(), board).status().code(), StatusCode::kInvalidArgument);
  chip = TestChip();
  chip.cores_per_chip = 0;
  EXPECT_EQ(BoardMesh::Create(chip, TestBoard(1)).status().code(), StatusCode::kInvalidArgument);
}

TEST(CostModelTest, WorkTimeAndEnergy) {
  WorkCounters w;
  w.synaptic_ops = 10;
  w.updates_active = 2;
  w.updates_inactive = 3;
  w.deliveries = 4;
  w.hops_ew = 5;
  w.hops_ns = 6;
  w.chip_crossings = 1;
  const auto chip = TestChip();
  EXPECT_DOUBLE_EQ(CoreWorkTimeNs(chip.timing, w), 10 * 2 + 5 * 3 + 4 * 5);
  EXPECT_DOUBLE_EQ(WorkEnergyPj(chip.energy, w),
                   10 * 20 + 2 * 80 + 3 * 50 + 4 * 2 + 5 * 3 + 6 * 4 + 1 * 1000);
}

TEST(CostModelTest, RailsSplitByShare) {
  const auto rails = SplitByRail(TestChip().energy, 4.0, 2.0);
  ASSERT_EQ(rails.size(), 2u);
  EXPECT_EQ(rails[0].rail, "vdd");
  EXPECT_DOUBLE_EQ(rails[0].dynamic_j, 3.0);
  EXPECT_DOUBLE_EQ(rails[0].static_j, 1.0);
  EXPECT_EQ(rails[1].rail, "vddm");
  EXPECT_DOUBLE_EQ(rails[1].dynamic_j, 1.0);
  EXPECT_DOUBLE_EQ(rails[1].static_j, 1.0);
  hal::format::EnergyModel none;
  const auto total = SplitByRail(none, 4.0, 2.0);
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0].rail, "total");
}

}  // namespace
}  // namespace spk::sim

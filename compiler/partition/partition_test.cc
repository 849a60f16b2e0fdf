#include "compiler/partition/partition.h"

#include <set>
#include <utility>

#include <gtest/gtest.h>

#include "hal/format/core_usage.h"

namespace spk::compiler::partition {
namespace {

hal::format::ChipProfile Chip() {
  hal::format::ChipProfile chip;
  chip.name = "t";
  chip.cores_per_chip = 6;
  chip.mesh_width = 3;
  chip.mesh_height = 2;
  chip.core.neurons = 100;
  chip.core.synapse_memory_bits = 8000;
  chip.core.input_axons = 1000;
  chip.core.output_axons = 1000;
  return chip;
}

hal::format::BoardProfile Board(uint32_t chips) {
  hal::format::BoardProfile board;
  board.name = "b";
  board.chip = "t";
  board.chips = chips;
  board.chips_x = chips;
  board.chips_y = 1;
  return board;
}

TEST(PartitionTest, SnakePlacementKeepsNeighboursAdjacentAndSpills) {
  const auto chip = Chip();
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (uint32_t i = 0; i < 12; ++i) {
    const auto p = PlaceCore(i, chip);
    EXPECT_TRUE(seen.insert({p.chip, p.core}).second);
    EXPECT_EQ(p.chip, i / 6);
  }
  // Row 1 runs backwards: core 3 sits above core 2.
  EXPECT_EQ(PlaceCore(3, chip).core, 5u);
  EXPECT_EQ(PlaceCore(5, chip).core, 3u);
}

TEST(PartitionTest, SplitsByUnitsAndPacksSmallLayers) {
  std::vector<LayerDemand> layers(3);
  layers[0] = {"conv", 250, 25, {{-1, 10, 8 * 9, true}}};  // 10 channels of 5x5
  layers[1] = {"small", 10, 1, {{0, 250, 8 * 250, false}}};
  layers[2] = {"tiny", 5, 1, {{1, 10, 8 * 10, false}}};
  const Plan plan = MakePlan(layers, Chip(), Board(1));
  ASSERT_TRUE(plan.violations.empty()) << plan.violations[0].ToString();
  // conv: 100 neurons per core -> 4 channels per group at most, 3 groups.
  int conv_groups = 0;
  for (const auto& g : plan.groups) {
    if (g.layer == 0) {
      ++conv_groups;
      EXPECT_EQ(g.offset % 25, 0u);
      EXPECT_EQ(g.count % 25, 0u);
      EXPECT_LE(g.count, 100u);
    }
  }
  EXPECT_EQ(conv_groups, 3);
  // small needs 10 x 2000 bits: 4 per core -> 3 groups; tiny packs after it.
  EXPECT_EQ(plan.groups.back().core, plan.groups[plan.groups.size() - 2].core);
  EXPECT_EQ(plan.placement.size(), plan.num_cores);
}

TEST(PartitionTest, ReportsEveryViolation) {
  std::vector<LayerDemand> layers(2);
  layers[0] = {"huge_fanin", 10, 1, {{-1, 5000, 8 * 5000, false}}};
  layers[1] = {"wide", 300, 300, {}};
  const Plan plan = MakePlan(layers, Chip(), Board(1));
  ASSERT_EQ(plan.violations.size(), 3u);
  EXPECT_EQ(plan.violations[0].ToString(),
            "layer 'huge_fanin': synapse memory bits: needs 40000, available 8000");
  EXPECT_EQ(plan.violations[1].resource, "input axons");
  EXPECT_EQ(plan.violations[2].ToString(), "layer 'wide': neurons: needs 300, available 100");
}

// A split table's two halves read the same source: its spikes reach the
// core once, so its axons count once (600 of 1000, not 1200).
TEST(PartitionTest, TwoTablesFromOneSourceCountItsAxonsOnce) {
  std::vector<LayerDemand> layers(2);
  layers[0] = {"src", 600, 1, {}};
  layers[1] = {"split", 10, 1, {{0, 600, 8, false}, {0, 600, 8, false}}};
  const Plan plan = MakePlan(layers, Chip(), Board(4));
  EXPECT_TRUE(plan.violations.empty()) << plan.violations[0].ToString();
  // Two different sources of 600 still need 1200.
  layers.insert(layers.begin() + 1, LayerDemand{"other", 600, 1, {}});
  layers[2].inputs[1].source_layer = 1;
  const Plan two = MakePlan(layers, Chip(), Board(4));
  ASSERT_EQ(two.violations.size(), 1u);
  EXPECT_EQ(two.violations[0].ToString(), "layer 'split': input axons: needs 1200, available 1000");
}

TEST(PartitionTest, MaxCoresBoundsThePartition) {
  std::vector<LayerDemand> layers = {{"a", 150, 1, {}}, {"b", 150, 1, {}}};
  PlanOptions options;
  options.max_cores = 2;
  const Plan plan = MakePlan(layers, Chip(), Board(1), options);
  ASSERT_EQ(plan.num_cores, 4u);
  ASSERT_EQ(plan.violations.size(), 1u);
  EXPECT_EQ(plan.violations[0].ToString(), "layer 'b', core 2: cores: needs 4, available 2");
}

TEST(PartitionTest, MeasuresImagesLikeTheEmulator) {
  hal::format::BoardImage image;
  image.cores = {{0, 0}, {0, 1}};
  image.inputs.push_back({"x", {4}, hal::format::SpikeKind::kBinary, 1.0f});
  hal::format::NeuronGroup a, b;
  a.id = 0, a.core = 0, a.size = 3, a.layer = "a";
  b.id = 1, b.core = 1, b.size = 2, b.layer = "b";
  image.groups = {a, b};
  hal::format::SynapseTable t0, t1;
  t0.id = 0, t0.source = {hal::format::SourceKind::kInputPort, 0}, t0.target_group = 0;
  t0.weights.assign(12, 2);
  t1.id = 1, t1.source = {hal::format::SourceKind::kGroup, 0}, t1.target_group = 1;
  t1.format = hal::format::SynapseFormat::kSparse;
  t1.row_ptr = {0, 1, 1, 2};
  t1.col = {0, 1};
  t1.weights = {2, 2};
  image.tables = {t0, t1};
  hal::format::CoreLimits limits = Chip().core;
  limits.synapse_bits_dense = 8;
  limits.synapse_bits_sparse = 24;
  const auto usage = hal::format::MeasureCoreUsage(image, limits);
  EXPECT_EQ(usage[0].neurons, 3u);
  EXPECT_EQ(usage[0].synapse_bits, 96u);
  EXPECT_EQ(usage[0].input_axons, 4u);
  EXPECT_EQ(usage[0].output_axons, 3u);
  EXPECT_EQ(usage[1].synapse_bits, 48u);
  EXPECT_EQ(usage[1].input_axons, 3u);
  limits.synapse_memory_bits = 50;
  limits.input_axons = 3;
  const auto v = CheckCoreLimits(image, limits);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].ToString(), "layer 'a', core 0: synapse memory bits: needs 96, available 50");
  EXPECT_EQ(v[1].ToString(), "layer 'a', core 0: input axons: needs 4, available 3");

  // Reading elements [1, 3) of x only, core 0 needs two input axons.
  image.tables[0].source_offset = 1;
  image.tables[0].source_count = 2;
  image.tables[0].weights.assign(6, 2);
  EXPECT_EQ(hal::format::MeasureCoreUsage(image, limits)[0].input_axons, 2u);
  const auto windowed = CheckCoreLimits(image, limits);
  EXPECT_TRUE(windowed.empty());
}

// A per-token layer: 40 tokens of 50 features read token by token. The
// whole source (2000 neurons) is more than a core's 1000 input axons, but a
// target neuron reads only its token's 50: the source is split finer and the
// target's groups each read only the source groups of their tokens.
TEST(PartitionTest, FootprintsSplitRowLocalLayersUnderTheAxonLimit) {
  auto chip = Chip();
  chip.core.neurons = 2000;           // the source fits one core's neurons
  chip.core.synapse_memory_bits = 0;  // (not modelled here)
  chip.core.output_axons = 0;
  std::vector<LayerDemand> layers(2);
  layers[0] = {"tokens", 2000, 1, {{-1, 10, 0, false}}};
  InputDemand per_token{0, 2000, 0, false};
  for (uint32_t t = 0; t < 2000; ++t) {
    per_token.footprint_lo.push_back(t / 50 * 50);
    per_token.footprint_hi.push_back(t / 50 * 50 + 50);
  }
  layers[1] = {"mlp", 2000, 1, {per_token}};
  const Plan plan = MakePlan(layers, chip, Board(4));
  EXPECT_TRUE(plan.violations.empty()) << plan.violations.front().ToString();
  // The source stays whole: each mlp group's tables read a window of it.
  size_t source_groups = 0;
  for (const GroupSlice& g : plan.groups) source_groups += g.layer == 0;
  EXPECT_EQ(source_groups, 1u);

  // Without footprints the same layer cannot map, and the error says why.
  layers[1].inputs[0].footprint_lo.clear();
  layers[1].inputs[0].footprint_hi.clear();
  const Plan whole = MakePlan(layers, chip, Board(4));
  ASSERT_FALSE(whole.violations.empty());
  EXPECT_EQ(whole.violations.front().ToString(),
            "layer 'mlp': input axons: needs 2000, available 1000");
}

// Ports are read through windows too: two per-token layers reading rows of
// two different ports each need only their rows' axons.
TEST(PartitionTest, PortFootprintsCountOnlyTheRowsRead) {
  auto chip = Chip();
  chip.core.synapse_memory_bits = 0;
  chip.core.output_axons = 0;
  InputDemand a{-1, 2000, 0, false}, b{-1, 2000, 0, false};
  b.source_port = 1;
  for (uint32_t t = 0; t < 100; ++t) {
    for (InputDemand* in : {&a, &b}) {
      in->footprint_lo.push_back(t / 10 * 200);
      in->footprint_hi.push_back(t / 10 * 200 + 200);
    }
  }
  std::vector<LayerDemand> layers = {{"tokens", 100, 10, {a, b}}};
  const Plan plan = MakePlan(layers, chip, Board(4));
  EXPECT_TRUE(plan.violations.empty()) << plan.violations.front().ToString();
  // Two tokens per core: 400 axons from each port, 800 of 1000.
  EXPECT_EQ(plan.num_cores, 5u);
}

// Sparse tables need not spread their synapses evenly: ten targets that
// hold most of a layer's synapses must not land in one group because the
// layer's average per target fits.
TEST(PartitionTest, UnevenSparseSynapsesSplitWhereTheyAre) {
  const auto chip = Chip();  // 8000 synapse bits, 100 neurons per core
  InputDemand in{-1, 10, 109, false};
  in.bits_prefix.push_back(0);
  for (uint32_t t = 0; t < 100; ++t)
    in.bits_prefix.push_back(in.bits_prefix.back() + (t < 10 ? 1000 : 10));
  std::vector<LayerDemand> layers = {{"uneven", 100, 1, {in}}};
  const Plan plan = MakePlan(layers, chip, Board(4));
  EXPECT_TRUE(plan.violations.empty()) << plan.violations.front().ToString();
  std::vector<uint64_t> bits(plan.num_cores, 0);
  for (const GroupSlice& g : plan.groups) {
    bits[g.core] += in.bits_prefix[g.offset + g.count] - in.bits_prefix[g.offset];
  }
  for (uint64_t b : bits) EXPECT_LE(b, 8000u);
}

}  // namespace
}  // namespace spk::compiler::partition

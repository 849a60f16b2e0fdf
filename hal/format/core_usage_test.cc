#include "hal/format/core_usage.h"

#include <vector>

#include <gtest/gtest.h>

#include "hal/format/board_image_validate.h"
#include "hal/format/test_images.h"

namespace spk::hal::format {
namespace {

CoreLimits Limits() {
  CoreLimits limits;
  limits.synapse_bits_dense = 8;
  limits.synapse_bits_sparse = 24;
  return limits;
}

SynapseTable Dense(uint32_t id, SynapseSource source, uint32_t target, size_t weights,
                   uint32_t offset = 0, uint32_t count = 0) {
  SynapseTable t{.id = id, .source = source, .target_group = target};
  t.weights.assign(weights, 2);
  t.source_offset = offset;
  t.source_count = count;
  return t;
}

TEST(CoreUsageTest, WholeSources) {
  BoardImage image;
  image.cores = {{0, 0}, {0, 1}};
  image.inputs.push_back({"x", {4}, SpikeKind::kBinary, 1.0f});
  image.groups = {{.id = 0, .core = 0, .layer = "a", .size = 3},
                  {.id = 1, .core = 1, .layer = "b", .size = 2}};
  SynapseTable sparse{.id = 1, .source = {SourceKind::kGroup, 0}, .target_group = 1};
  sparse.format = SynapseFormat::kSparse;
  sparse.row_ptr = {0, 1, 1, 2};
  sparse.col = {0, 1};
  sparse.weights = {2, 2};
  image.tables = {Dense(0, {SourceKind::kInputPort, 0}, 0, 12), sparse};
  const std::vector<CoreUsage> usage = MeasureCoreUsage(image, Limits());
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0],
            (CoreUsage{.neurons = 3, .synapse_bits = 96, .input_axons = 4, .output_axons = 3}));
  EXPECT_EQ(usage[1],
            (CoreUsage{.neurons = 2, .synapse_bits = 48, .input_axons = 3, .output_axons = 0}));
}

// Input axons count the union of the windows per source and core; output
// axons the union per sending group and receiving core.
TEST(CoreUsageTest, WindowsCountTheNeuronsTheyCoverOnce) {
  BoardImage image;
  image.cores = {{0, 0}, {0, 1}};
  image.inputs.push_back({"x", {10}, SpikeKind::kBinary, 1.0f});
  image.groups = {{.id = 0, .core = 0, .layer = "a", .size = 2},
                  {.id = 1, .core = 0, .layer = "b", .size = 2},
                  {.id = 2, .core = 1, .layer = "c", .size = 1},
                  {.id = 3, .core = 0, .layer = "src", .size = 10}};
  const SynapseSource x{SourceKind::kInputPort, 0};
  const SynapseSource src{SourceKind::kGroup, 3};
  image.tables = {
      // Port x into core 0: [0, 4) and [2, 6) overlap, 6 neurons.
      Dense(1, x, 0, 4 * 2, 0, 4),
      Dense(2, x, 1, 4 * 2, 2, 4),
      // Port x into core 1: [8, 10).
      Dense(3, x, 2, 2 * 1, 8, 2),
      // Group src into core 1: [1, 3), [2, 4) and [5, 7): 5 neurons.
      Dense(4, src, 2, 2, 1, 2),
      Dense(5, src, 2, 2, 2, 2),
      Dense(6, src, 2, 2, 5, 2),
      // Group src into its own core, whole: 10 neurons.
      Dense(7, src, 0, 10 * 2),
  };
  image.routes = {{.source_group = 3, .target_core = 0}, {.source_group = 3, .target_core = 1}};
  image.meta = {.chip_profile = "test", .timesteps = 1, .run_steps = 1};
  ASSERT_TRUE(ValidateBoardImage(image).ok()) << ValidateBoardImage(image);

  const std::vector<CoreUsage> usage = MeasureCoreUsage(image, Limits());
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].neurons, 14u);
  EXPECT_EQ(usage[0].synapse_bits, (8u + 8u + 20u) * 8u);
  EXPECT_EQ(usage[0].input_axons, 6u + 10u);
  EXPECT_EQ(usage[0].output_axons, 5u + 10u);
  EXPECT_EQ(usage[1].neurons, 1u);
  EXPECT_EQ(usage[1].synapse_bits, (2u + 2u + 2u + 2u) * 8u);
  EXPECT_EQ(usage[1].input_axons, 2u + 5u);
  EXPECT_EQ(usage[1].output_axons, 0u);

  // The same tables reading their whole sources count whole sources.
  for (SynapseTable& t : image.tables) t.source_offset = t.source_count = 0;
  const std::vector<CoreUsage> whole = MeasureCoreUsage(image, Limits());
  EXPECT_EQ(whole[0].input_axons, 10u + 10u);
  EXPECT_EQ(whole[0].output_axons, 10u + 10u);
  EXPECT_EQ(whole[1].input_axons, 10u + 10u);
}

TEST(CoreUsageTest, ToleratesImagesThatDoNotResolve) {
  BoardImage image = testing::MakeRepresentativeImage();
  image.groups[1].core = 7;           // no such core
  image.tables[0].target_group = 99;  // no such group
  image.tables[2].source.index = 9;   // no such port
  image.tables[7].source_offset = 5;  // window [5, 8) of a source of 6
  const std::vector<CoreUsage> usage = MeasureCoreUsage(image, Limits());
  EXPECT_EQ(usage.size(), image.cores.size());
}

TEST(CoreUsageTest, WindowsAndRanges) {
  SynapseTable t;
  EXPECT_EQ(TableWindow(t, 6), (NeuronRange{0, 6}));
  t.source_offset = 2;
  t.source_count = 3;
  EXPECT_EQ(TableWindow(t, 6), (NeuronRange{2, 5}));
  EXPECT_EQ(TableWindow(t, 4), (NeuronRange{2, 4}));
  EXPECT_EQ(TableWindow(t, 1), (NeuronRange{1, 1}));
  t.source_offset = 0xFFFFFFFFu;
  EXPECT_EQ(TableWindow(t, 6), (NeuronRange{6, 6}));

  EXPECT_EQ(MergeRanges({}), std::vector<NeuronRange>{});
  EXPECT_EQ(MergeRanges({{5, 7}, {0, 2}, {2, 3}, {6, 9}, {4, 4}, {1, 2}}),
            (std::vector<NeuronRange>{{0, 3}, {5, 9}}));
}

}  // namespace
}  // namespace spk::hal::format

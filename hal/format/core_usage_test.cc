#include "hal/format/core_usage.h"

#include <algorithm>
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

// A 2x8x8 map in 2x2 tiles of 2x4x4, into the 1x8x8 output of a 3x3 pad 1
// conv in 2x2 tiles of 1x4x4: the table from source tile (sy, sx) to target
// tile (ty, tx), reading the source tile's part of the target's receptive
// field, as the compiler lays them out.
SynapseTable TileConv(uint32_t id, uint32_t sy, uint32_t sx, uint32_t ty, uint32_t tx) {
  SynapseTable t{
      .id = id, .source = {SourceKind::kGroup, 10 + sy * 2 + sx}, .target_group = 20 + ty * 2 + tx};
  t.format = SynapseFormat::kConv2d;
  t.conv = {.in_channels = 2,
            .in_h = 8,
            .in_w = 8,
            .out_channels = 1,
            .out_h = 8,
            .out_w = 8,
            .kernel_h = 3,
            .kernel_w = 3,
            .pad_h = 1,
            .pad_w = 1,
            .in_c_count = 2,
            .out_c_count = 1,
            .in_y_offset = 4 * sy,
            .in_y_count = 4,
            .in_x_offset = 4 * sx,
            .in_x_count = 4,
            .out_y_offset = 4 * ty,
            .out_y_count = 4,
            .out_x_offset = 4 * tx,
            .out_x_count = 4};
  // Receptive field of the target tile, inside the source tile.
  auto window = [](uint32_t s, uint32_t o, uint32_t& offset, uint32_t& count) {
    const int lo = std::max<int>(4 * static_cast<int>(o) - 1, 4 * static_cast<int>(s));
    const int hi = std::min<int>(4 * static_cast<int>(o) + 5, 4 * static_cast<int>(s) + 4);
    if (lo == 4 * static_cast<int>(s) && hi == lo + 4) return;  // the whole tile
    offset = static_cast<uint32_t>(lo);
    count = static_cast<uint32_t>(hi - lo);
  };
  window(sy, ty, t.conv.win_y_offset, t.conv.win_y_count);
  window(sx, tx, t.conv.win_x_offset, t.conv.win_x_count);
  if (t.conv.win_y_count != 0 && t.conv.win_x_count == 0) {
    t.conv.win_x_offset = 4 * sx;
    t.conv.win_x_count = 4;
  }
  if (t.conv.win_x_count != 0 && t.conv.win_y_count == 0) {
    t.conv.win_y_offset = 4 * sy;
    t.conv.win_y_count = 4;
  }
  t.weights.assign(18, 4);
  return t;
}

BoardImage TiledConvImage() {
  BoardImage image;
  image.meta = {.chip_profile = "test", .timesteps = 1, .run_steps = 1};
  image.cores = {{0, 0}, {0, 1}, {0, 2}};
  // Source tiles: (0, 0) on core 0, the others on core 2. Target tiles:
  // (0, 0) on core 0, the others on core 1.
  for (uint32_t k = 0; k < 4; ++k) {
    image.groups.push_back({.id = 10 + k, .core = k == 0 ? 0u : 2u, .layer = "a", .size = 32});
  }
  for (uint32_t k = 0; k < 4; ++k) {
    image.groups.push_back({.id = 20 + k, .core = k == 0 ? 0u : 1u, .layer = "b", .size = 16});
  }
  uint32_t id = 0;
  for (uint32_t s = 0; s < 4; ++s) {
    for (uint32_t o = 0; o < 4; ++o) {
      image.tables.push_back(TileConv(id++, s / 2, s % 2, o / 2, o % 2));
    }
  }
  for (uint32_t s = 0; s < 4; ++s) {
    image.routes.push_back({.source_group = 10 + s, .target_core = 0});
    image.routes.push_back({.source_group = 10 + s, .target_core = 1});
  }
  return image;
}

TEST(CoreUsageTest, ConvWindowsCountTheNeuronsTheyRead) {
  // Source tile (0, 0) into target tile (0, 1): its column 3, all rows.
  SynapseTable right = TileConv(0, 0, 0, 0, 1);
  EXPECT_EQ(right.conv.win_y_count, 4u);
  EXPECT_EQ(right.conv.win_x_offset, 3u);
  EXPECT_EQ(right.conv.win_x_count, 1u);
  EXPECT_EQ(TableRanges(right, 32),
            (std::vector<NeuronRange>{
                {3, 4}, {7, 8}, {11, 12}, {15, 16}, {19, 20}, {23, 24}, {27, 28}, {31, 32}}));
  // Into target tile (1, 0): its row 3, all columns: one range per channel.
  EXPECT_EQ(TableRanges(TileConv(0, 0, 0, 1, 0), 32),
            (std::vector<NeuronRange>{{12, 16}, {28, 32}}));
  // Into target tile (1, 1): pixel (3, 3) of each channel.
  EXPECT_EQ(TableRanges(TileConv(0, 0, 0, 1, 1), 32),
            (std::vector<NeuronRange>{{15, 16}, {31, 32}}));
  // Into target tile (0, 0): the whole box.
  EXPECT_EQ(TableRanges(TileConv(0, 0, 0, 0, 0), 32), (std::vector<NeuronRange>{{0, 32}}));
  // Source tile (0, 1) into target tile (0, 0): its first column, map
  // column 4 (windows are in map coordinates), box-local column 0.
  SynapseTable cols = TileConv(0, 0, 1, 0, 0);
  EXPECT_EQ(cols.conv.win_x_offset, 4u);
  EXPECT_EQ(cols.conv.win_x_count, 1u);
  EXPECT_EQ(TableRanges(cols, 32).size(), 8u);
  EXPECT_EQ(TableRanges(cols, 32)[1], (NeuronRange{4, 5}));
  // Clipped to the source: a source smaller than its box reads what it has.
  EXPECT_EQ(TableRanges(right, 20),
            (std::vector<NeuronRange>{{3, 4}, {7, 8}, {11, 12}, {15, 16}, {19, 20}}));

  BoardImage image = TiledConvImage();
  ASSERT_TRUE(ValidateBoardImage(image).ok()) << ValidateBoardImage(image);
  const std::vector<CoreUsage> usage = MeasureCoreUsage(image, Limits());
  ASSERT_EQ(usage.size(), 3u);
  // Core 0 holds target tile (0, 0): the whole of source tile (0, 0), the
  // first column of (0, 1), the first row of (1, 0), the first pixel of
  // (1, 1), each of both channels.
  EXPECT_EQ(usage[0].input_axons, 32u + 8u + 8u + 2u);
  // Core 1 holds the other three targets: of source tile (0, 0) they read
  // the union of its column 3, row 3 and pixel (3, 3), 7 pixels of 2
  // channels; of each other source tile, the tile whole (its own target).
  uint64_t core1 = 0;
  for (uint32_t s = 0; s < 4; ++s) {
    std::vector<NeuronRange> ranges;
    for (uint32_t o = 1; o < 4; ++o) {
      for (const NeuronRange& r : TableRanges(TileConv(0, s / 2, s % 2, o / 2, o % 2), 32)) {
        ranges.push_back(r);
      }
    }
    for (const NeuronRange& r : MergeRanges(ranges)) core1 += r.end - r.begin;
  }
  EXPECT_EQ(core1, 14u + 32u + 32u + 32u);
  EXPECT_EQ(usage[1].input_axons, core1);
  // Output axons: source tile (0, 0) on core 0 sends 32 neurons to core 0
  // and 14 to core 1; the others, on core 2, 8 + 8 + 2 to core 0 and 96 to
  // core 1.
  EXPECT_EQ(usage[0].output_axons, 32u + 14u);
  EXPECT_EQ(usage[2].output_axons, 8u + 8u + 2u + 96u);
  EXPECT_EQ(usage[1].output_axons, 0u);
}

// Conv tables into one core that carry the same kernel store it once.
TEST(CoreUsageTest, IdenticalConvKernelsAreStoredOncePerCore) {
  BoardImage image = TiledConvImage();
  std::vector<CoreUsage> usage = MeasureCoreUsage(image, Limits());
  // 16 tables of 18 weights, 4 into core 0 and 12 into core 1: one copy each.
  EXPECT_EQ(usage[0].synapse_bits, 18u * 8u);
  EXPECT_EQ(usage[1].synapse_bits, 18u * 8u);
  EXPECT_EQ(usage[2].synapse_bits, 0u);

  // Another kernel into core 1 is stored beside it; a second table with it
  // shares that one.
  image.tables[1].weights[5] = 8;
  image.tables[2].weights[5] = 8;
  usage = MeasureCoreUsage(image, Limits());
  EXPECT_EQ(usage[1].synapse_bits, 2u * 18u * 8u);
  // The same values at another weight width are another kernel.
  image.tables[3].num_weight_bits = 7;
  usage = MeasureCoreUsage(image, Limits());
  EXPECT_EQ(usage[1].synapse_bits, 3u * 18u * 8u);
  // So are the same values in another shape: a 1x9 kernel.
  image.tables[5].conv.kernel_h = 1;
  image.tables[5].conv.kernel_w = 9;
  usage = MeasureCoreUsage(image, Limits());
  EXPECT_EQ(usage[1].synapse_bits, 4u * 18u * 8u);
  EXPECT_EQ(usage[0].synapse_bits, 18u * 8u);

  // Dense and sparse tables keep one copy each, identical or not.
  BoardImage dense;
  dense.cores = {{0, 0}};
  dense.inputs.push_back({"x", {4}, SpikeKind::kBinary, 1.0f});
  dense.groups = {{.id = 0, .core = 0, .layer = "a", .size = 3},
                  {.id = 1, .core = 0, .layer = "b", .size = 3}};
  dense.tables = {Dense(0, {SourceKind::kInputPort, 0}, 0, 12),
                  Dense(1, {SourceKind::kInputPort, 0}, 1, 12)};
  EXPECT_EQ(MeasureCoreUsage(dense, Limits())[0].synapse_bits, 2u * 12u * 8u);
}

// Tables applying another table's weights (weights_of): a core stores each
// set once, however many of its tables apply it; another core its own copy.
TEST(CoreUsageTest, SharedWeightsAreStoredOncePerCore) {
  BoardImage image;
  image.cores = {{0, 0}, {0, 1}};
  image.inputs.push_back({"x", {8}, SpikeKind::kBinary, 1.0f});
  image.groups = {{.id = 0, .core = 0, .layer = "a", .size = 3},
                  {.id = 1, .core = 0, .layer = "a", .size = 3},
                  {.id = 2, .core = 1, .layer = "a", .size = 3}};
  const SynapseSource x{SourceKind::kInputPort, 0};
  SynapseTable owner = Dense(0, x, 0, 4 * 3, 0, 4);
  SynapseTable same_core = Dense(1, x, 1, 0, 4, 4);
  same_core.weights_of = 0;
  SynapseTable other_core = Dense(2, x, 2, 0, 4, 4);
  other_core.weights_of = 0;
  image.tables = {owner, same_core, other_core};
  const std::vector<CoreUsage> usage = MeasureCoreUsage(image, Limits());
  EXPECT_EQ(usage[0].synapse_bits, 12u * 8);
  EXPECT_EQ(usage[1].synapse_bits, 12u * 8);
  EXPECT_EQ(usage[0].input_axons, 8u);  // both windows
  EXPECT_EQ(usage[1].input_axons, 4u);
}

TEST(CoreUsageTest, ToleratesImagesThatDoNotResolve) {
  BoardImage image = testing::MakeRepresentativeImage();
  image.groups[1].core = 7;           // no such core
  image.tables[0].target_group = 99;  // no such group
  image.tables[2].source.index = 9;   // no such port
  image.tables[7].source_offset = 5;  // window [5, 8) of a source of 6
  // A conv box of more channels than its source holds, and a window
  // partly outside its box.
  image.tables[9].conv.in_c_count = 0xFFFFFFFFu;
  image.tables[9].conv.win_x_offset = 2;
  image.tables[9].conv.win_x_count = 0xFFFFFFFFu;
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

#include "compiler/codegen/codegen.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "compiler/ir/parser.h"
#include "hal/format/board_image_io.h"
#include "hal/format/board_image_validate.h"
#include "sim/sim_device.h"
#include "sim/sim_test_util.h"

namespace spk::compiler::codegen {
namespace {

using hal::format::BoardImage;
using hal::format::SourceKind;
using hal::format::SynapseFormat;
using ::testing::HasSubstr;

CodegenOptions TestOptions() {
  CodegenOptions o;
  o.chip = sim::testing::TestChip();
  o.board = sim::testing::TestBoard();
  return o;
}

StatusOr<CodegenResult> Compile(const std::string& text, const CodegenOptions& options,
                                ir::DiagnosticEngine& diags) {
  auto module = ir::ParseModule(text, "test.spkir", diags);
  if (!module.ok()) return module.status();
  return GenerateBoardImage(**module, options, diags);
}

CodegenResult MustCompile(const std::string& text, const CodegenOptions& options = TestOptions()) {
  ir::DiagnosticEngine diags;
  auto r = Compile(text, options, diags);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\n" << diags.Render();
  return r.ok() ? std::move(*r) : CodegenResult{};
}

// Runs `image` on the emulator with random binary input on port 0 and returns
// every output port's recording.
std::vector<std::vector<int32_t>> RunOnSim(const BoardImage& image, const CodegenOptions& options,
                                           uint64_t seed) {
  auto device = sim::SimDevice::Create(options.chip, options.board);
  EXPECT_TRUE(device.ok());
  hal::Partition partition;
  for (uint32_t c = 0; c < image.cores.size(); ++c) partition.cores.push_back(c);
  auto program = (*device)->Load(image, partition);
  EXPECT_TRUE(program.ok()) << program.status().ToString();
  sim::testing::TestRng rng(seed);
  const uint64_t size = hal::format::ShapeElements(image.inputs[0].shape);
  std::vector<int32_t> in(image.meta.timesteps * size);
  for (auto& v : in) v = rng.Next() % 2;
  EXPECT_TRUE((*device)->WriteInputs(*program, 0, image.meta.timesteps, in).ok());
  EXPECT_TRUE((*device)->Run(*program, image.meta.run_steps).ok());
  std::vector<std::vector<int32_t>> out;
  for (uint32_t p = 0; p < image.outputs.size(); ++p) {
    auto values = (*device)->ReadOutputs(*program, p);
    EXPECT_TRUE(values.ok());
    out.push_back(values.ok() ? *values : std::vector<int32_t>{});
  }
  return out;
}

constexpr char kMlp[] = R"(
module @mlp attributes {timesteps = 4} {
  constant @w1 : i8[3,4] = [40, -20, 60, 0, 10, 30, -50, 70, 100, 2, 4, 6]
  constant @b1 : i16[3] = [0, 100, 0]
  constant @w2 : i8[2,3] = [30, -40, 20, 10, 50, -60]
  %0 = input() {name = "x"} : () -> spike[T,1,4]
  %1 = syn_dense(%0) {weight = @w1, weight_exp = 0} : spike[T,1,4] -> graded[T,1,3] loc("mlp.py":10:4 "fc1")
  %2 = cuba_lif(%1) {bias_mant = @b1, du = 4095, dv = 2048, vth = 1} : graded[T,1,3] -> spike[T,1,3] loc("mlp.py":11:4 "lif1")
  %3 = syn_dense(%2) {weight = @w2, weight_exp = 0} : spike[T,1,3] -> graded[T,1,2] loc("mlp.py":12:4 "fc2")
  %4 = accumulate(%3) : graded[T,1,2] -> state[T,1,2] loc("mlp.py":13:4 "acc")
  output(%4) {name = "y"} : state[T,1,2] -> ()
}
)";

TEST(CodegenTest, MlpBecomesGroupsDenseTablesAndPorts) {
  CodegenOptions options = TestOptions();
  options.model_sha256 = std::string(64, 'a');
  CodegenResult r = MustCompile(kMlp, options);
  const BoardImage& image = r.image;
  ASSERT_EQ(image.groups.size(), 2u);
  EXPECT_EQ(image.groups[0].layer, "lif1");
  EXPECT_EQ(image.groups[0].size, 3u);
  EXPECT_EQ(image.groups[0].bias_mant, (std::vector<int16_t>{0, 100, 0}));
  EXPECT_EQ(image.groups[1].model, hal::format::NeuronModel::kAccumulator);
  EXPECT_EQ(image.cores.size(), 1u);  // both layers packed onto one core
  ASSERT_EQ(image.tables.size(), 2u);
  const auto& t0 = image.tables[0];
  EXPECT_EQ(t0.source.kind, SourceKind::kInputPort);
  EXPECT_EQ(t0.format, SynapseFormat::kDense);
  // Fan-out order: weights[source][target] = W[target][source].
  EXPECT_EQ(t0.weights[0 * 3 + 1], 10);
  EXPECT_EQ(t0.weights[3 * 3 + 1], 70);
  ASSERT_EQ(image.inputs.size(), 1u);
  EXPECT_EQ(image.inputs[0].kind, hal::format::SpikeKind::kBinary);
  ASSERT_EQ(image.outputs.size(), 1u);
  EXPECT_EQ(image.outputs[0].source, hal::format::OutputSource::kVoltage);
  EXPECT_EQ(image.outputs[0].delay, 2u);
  EXPECT_EQ(image.meta.timesteps, 4u);
  EXPECT_EQ(image.meta.run_steps, 6u);
  EXPECT_EQ(image.meta.model_name, "mlp");
  EXPECT_EQ(image.meta.chip_profile, "test");
  EXPECT_EQ(image.routes.size(), 1u);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].synapses, 12u);
  EXPECT_TRUE(hal::format::ValidateBoardImage(image).ok());
}

TEST(CodegenTest, SameInputSameBytes) {
  auto a = hal::format::WriteBoardImage(MustCompile(kMlp).image);
  auto b = hal::format::WriteBoardImage(MustCompile(kMlp).image);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(CodegenTest, SplitLayerComputesTheSameAsWhole) {
  CodegenOptions split = TestOptions();
  split.chip.core.neurons = 2;
  CodegenResult whole = MustCompile(kMlp);
  CodegenResult parts = MustCompile(kMlp, split);
  EXPECT_EQ(parts.image.groups.size(), 3u);  // lif1 as 2 + 1, acc whole
  EXPECT_GT(parts.image.cores.size(), 1u);
  EXPECT_EQ(RunOnSim(whole.image, TestOptions(), 7), RunOnSim(parts.image, split, 7));
}

// A transposed feature map feeding a dense layer is a sparse table; it must
// compute what a dense layer with pre-permuted weights computes.
std::string LayoutModel(bool transposed) {
  std::string w2 = "[";
  const int base[4][6] = {{2, 4, 6, 8, 10, 12},
                          {-2, 20, -40, 60, 0, 14},
                          {30, 0, 0, 30, 0, 30},
                          {8, -8, 16, -16, 24, -24}};
  for (int o = 0; o < 4; ++o) {
    for (int j = 0; j < 6; ++j) {
      // Element j of the transposed map is lif element (j % 2) * 3 + j / 2.
      int v = base[o][j];
      if (!transposed) {
        const int a = j / 3, b = j % 3;
        v = base[o][b * 2 + a];
      }
      w2 += (o || j ? ", " : "") + std::to_string(v);
    }
  }
  w2 += "]";
  std::string text = R"(
module @layout attributes {timesteps = 5} {
  constant @w1 : i8[6,6] = [64, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0,
                            0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 64]
  constant @w2 : i8[4,6] = )" +
                     w2 + R"(
  %0 = input() {name = "x"} : () -> spike[T,1,6]
  %1 = syn_dense(%0) {weight = @w1, weight_exp = 0} : spike[T,1,6] -> graded[T,1,6] loc("l.py":1:1 "fc1")
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,6] -> spike[T,1,6] loc("l.py":2:1 "lif1")
)";
  if (transposed) {
    text += R"(  %3 = reshape(%2) {shape = [1, 2, 3]} : spike[T,1,6] -> spike[T,1,2,3]
  %4 = transpose(%3) {dim0 = 2, dim1 = 3} : spike[T,1,2,3] -> spike[T,1,3,2]
  %5 = reshape(%4) {shape = [1, 6]} : spike[T,1,3,2] -> spike[T,1,6]
  %6 = syn_dense(%5) {weight = @w2, weight_exp = 0} : spike[T,1,6] -> graded[T,1,4] loc("l.py":3:1 "fc2")
)";
  } else {
    text +=
        R"(  %6 = syn_dense(%2) {weight = @w2, weight_exp = 0} : spike[T,1,6] -> graded[T,1,4] loc("l.py":3:1 "fc2")
)";
  }
  text += R"(  %7 = accumulate(%6) : graded[T,1,4] -> state[T,1,4] loc("l.py":4:1 "acc")
  output(%7) {name = "y"} : state[T,1,4] -> ()
}
)";
  return text;
}

// A per-token layer (4 tokens of 3 features -> 2) gets one dense table per
// token, between groups of one token each, and computes what the same layer
// written as one block-diagonal dense layer computes.
std::string TokenModel(bool per_token) {
  const int w[2][3] = {{30, -10, 20}, {-20, 40, 10}};
  std::string w0 = "[";
  for (int i = 0; i < 12; ++i) {
    for (int j = 0; j < 12; ++j) w0 += std::string(i || j ? ", " : "") + (i == j ? "64" : "0");
  }
  w0 += "]";
  std::string w1 = "[";
  if (per_token) {
    for (int o = 0; o < 2; ++o) {
      for (int i = 0; i < 3; ++i) w1 += (o || i ? ", " : "") + std::to_string(w[o][i]);
    }
  } else {  // [8, 12]: output 2t + o reads input 3t + i
    for (int r = 0; r < 8; ++r) {
      for (int c = 0; c < 12; ++c) {
        const int v = r / 2 == c / 3 ? w[r % 2][c % 3] : 0;
        w1 += (r || c ? ", " : "") + std::to_string(v);
      }
    }
  }
  w1 += "]";
  std::string text = R"(
module @tokens attributes {timesteps = 6} {
  constant @w0 : i8[12,12] = )" +
                     w0 + R"(
  constant @w1 : i8[)" +
                     (per_token ? "2,3" : "8,12") + "] = " + w1 + R"(
  %0 = input() {name = "x"} : () -> spike[T,1,12]
  %1 = syn_dense(%0) {weight = @w0, weight_exp = 0} : spike[T,1,12] -> graded[T,1,12]
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,12] -> spike[T,1,12] loc("t.py":1:1 "tokens")
)";
  if (per_token) {
    text += R"(  %3 = reshape(%2) {shape = [4, 3]} : spike[T,1,12] -> spike[T,4,3]
  %4 = syn_dense(%3) {weight = @w1, weight_exp = 0} : spike[T,4,3] -> graded[T,4,2] loc("t.py":2:1 "fc")
  %5 = accumulate(%4) : graded[T,4,2] -> state[T,4,2] loc("t.py":3:1 "acc")
  output(%5) {name = "y"} : state[T,4,2] -> ()
}
)";
  } else {
    text +=
        R"(  %4 = syn_dense(%2) {weight = @w1, weight_exp = 0} : spike[T,1,12] -> graded[T,1,8] loc("t.py":2:1 "fc")
  %5 = accumulate(%4) : graded[T,1,8] -> state[T,1,8] loc("t.py":3:1 "acc")
  output(%5) {name = "y"} : state[T,1,8] -> ()
}
)";
  }
  return text;
}

TEST(CodegenTest, PerTokenLayersGetDenseTablesPerToken) {
  CodegenResult tokens = MustCompile(TokenModel(true));
  CodegenResult block = MustCompile(TokenModel(false));
  std::vector<uint32_t> windows;
  size_t shared = 0;
  for (const auto& t : tokens.image.tables) {
    EXPECT_EQ(t.format, hal::format::SynapseFormat::kDense);
    if (t.source_count != 3) continue;  // the token's row of the source group
    // [3 sources][2 targets], stored once: the other tokens share it.
    if (t.weights_of == hal::format::kOwnWeights) {
      EXPECT_EQ(t.weights.size(), 6u);
    } else {
      EXPECT_TRUE(t.weights.empty());
      ++shared;
    }
    windows.push_back(t.source_offset);
  }
  EXPECT_THAT(windows, ::testing::ElementsAre(0u, 3u, 6u, 9u));
  EXPECT_EQ(shared, 3u);
  EXPECT_EQ(tokens.image.groups.size(), 5u);  // the source, and one group per token
  EXPECT_EQ(RunOnSim(tokens.image, TestOptions(), 11), RunOnSim(block.image, TestOptions(), 11));
}

// A per-token layer reading a port: each token's group needs axons only for
// its row of the port, so it maps where the whole port would not fit a core.
TEST(CodegenTest, PerTokenLayerReadsItsRowOfAPortThroughAWindow) {
  constexpr char kPortTokens[] = R"(
module @tokens attributes {timesteps = 5} {
  constant @w : i8[2,3] = [30, -10, 20, -20, 40, 10]
  %0 = input() {name = "x"} : () -> spike[T,4,3]
  %1 = syn_dense(%0) {weight = @w, weight_exp = 0} : spike[T,4,3] -> graded[T,4,2] loc("t.py":2:1 "fc")
  %2 = accumulate(%1) : graded[T,4,2] -> state[T,4,2] loc("t.py":3:1 "acc")
  output(%2) {name = "y"} : state[T,4,2] -> ()
}
)";
  constexpr char kBlock[] = R"(
module @block attributes {timesteps = 5} {
  constant @w : i8[8,12] = [30, -10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    -20, 40, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 30, -10, 20, 0, 0, 0, 0, 0, 0,
    0, 0, 0, -20, 40, 10, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 30, -10, 20, 0, 0, 0,
    0, 0, 0, 0, 0, 0, -20, 40, 10, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 30, -10, 20,
    0, 0, 0, 0, 0, 0, 0, 0, 0, -20, 40, 10]
  %0 = input() {name = "x"} : () -> spike[T,1,12]
  %1 = syn_dense(%0) {weight = @w, weight_exp = 0} : spike[T,1,12] -> graded[T,1,8] loc("t.py":2:1 "fc")
  %2 = accumulate(%1) : graded[T,1,8] -> state[T,1,8] loc("t.py":3:1 "acc")
  output(%2) {name = "y"} : state[T,1,8] -> ()
}
)";
  CodegenOptions narrow = TestOptions();
  narrow.chip.core.input_axons = 3;
  CodegenResult tokens = MustCompile(kPortTokens, narrow);
  ASSERT_EQ(tokens.image.tables.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(tokens.image.tables[i].source.kind, SourceKind::kInputPort);
    EXPECT_EQ(tokens.image.tables[i].source_offset, 3 * i);
    EXPECT_EQ(tokens.image.tables[i].source_count, 3u);
  }
  for (const auto& u : hal::format::MeasureCoreUsage(tokens.image, narrow.chip.core)) {
    EXPECT_EQ(u.input_axons, 3u);
  }
  // The block-diagonal reference reads the whole port: it runs on the wide chip.
  EXPECT_EQ(RunOnSim(tokens.image, narrow, 7),
            RunOnSim(MustCompile(kBlock).image, TestOptions(), 7));
}

TEST(CodegenTest, LayoutOpsBecomeSparseIndexMaps) {
  CodegenResult permuted = MustCompile(LayoutModel(true));
  CodegenResult plain = MustCompile(LayoutModel(false));
  ASSERT_EQ(permuted.image.tables.size(), 2u);
  EXPECT_EQ(permuted.image.tables[1].format, SynapseFormat::kSparse);
  EXPECT_EQ(plain.image.tables[1].format, SynapseFormat::kDense);
  EXPECT_EQ(RunOnSim(permuted.image, TestOptions(), 3), RunOnSim(plain.image, TestOptions(), 3));
}

constexpr char kCnn[] = R"(
module @cnn attributes {timesteps = 6} {
  constant @k1 : i8[2,1,3,3] = [20, 40, 20, 0, 60, 0, -20, 40, -20, 10, 10, 10, 10, 10, 10, 10, 10, 10]
  constant @k2 : i8[3,2,3,3] = [
    2, 4, 6, 8, 10, 12, 14, 16, 18, -2, -4, -6, -8, -10, -12, -14, -16, -18,
    20, 0, 20, 0, 20, 0, 20, 0, 20, 0, 30, 0, 30, 0, 30, 0, 30, 0,
    40, 40, 40, 40, 40, 40, 40, 40, 40, -40, 0, 0, 0, 0, 0, 0, 0, 40]
  %0 = input() {name = "img"} : () -> spike[T,1,1,4,4]
  %1 = syn_conv2d(%0) {padding = [1, 1], weight = @k1, weight_exp = 0} : spike[T,1,1,4,4] -> graded[T,1,2,4,4] loc("c.py":1:1 "conv1")
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,2,4,4] -> spike[T,1,2,4,4] loc("c.py":2:1 "lif1")
  %3 = syn_conv2d(%2) {padding = [1, 1], stride = [2, 2], weight = @k2, weight_exp = 0} : spike[T,1,2,4,4] -> graded[T,1,3,2,2] loc("c.py":3:1 "conv2")
  %4 = accumulate(%3) : graded[T,1,3,2,2] -> state[T,1,3,2,2] loc("c.py":4:1 "acc")
  output(%4) {name = "y"} : state[T,1,3,2,2] -> ()
  output(%2) {name = "spikes"} : spike[T,1,2,4,4] -> ()
}
)";

TEST(CodegenTest, ConvLayersSplitByOutputChannels) {
  CodegenOptions split = TestOptions();
  split.chip.core.neurons = 16;  // one 4x4 channel per core
  CodegenResult whole = MustCompile(kCnn);
  CodegenResult parts = MustCompile(kCnn, split);
  for (const auto& t : parts.image.tables) EXPECT_EQ(t.format, SynapseFormat::kConv2d);
  ASSERT_EQ(parts.image.groups.size(), 3u);
  EXPECT_EQ(parts.image.groups[0].size, 16u);
  // conv2 reads both channel slices of lif1: two tables with their offsets.
  int conv2_tables = 0;
  for (const auto& t : parts.image.tables) {
    if (t.source.kind == SourceKind::kGroup) {
      EXPECT_EQ(t.conv.in_c_count, 1u);
      EXPECT_EQ(t.conv.in_c_offset, static_cast<uint32_t>(conv2_tables));
      ++conv2_tables;
    }
  }
  EXPECT_EQ(conv2_tables, 2);
  EXPECT_EQ(parts.image.outputs[1].segments.size(), 2u);  // spikes span two groups
  EXPECT_EQ(RunOnSim(whole.image, TestOptions(), 11), RunOnSim(parts.image, split, 11));
}

constexpr char kTiles[] = R"(
module @tiles attributes {timesteps = 6} {
  constant @k1 : i8[4,1,3,3] = [10, 40, 40, 10, 20, 40, 30, 0, 40, -20, 40, -20, 30, 20, 40, 10, 10, 0, 30, 40, 40, 30, 30, 0, 10, 10, 0, 10, 40, 30, 0, -20, 0, -20, 10, 40]
  constant @k2 : i8[2,2,3,3] = [-30, 40, -30, 40, 60, 0, 10, 60, 10, 60, 60, 10, 0, 60, 20, 40, -30, -30, 20, 60, 20, 40, 10, 60, 10, 40, 60, 0, 60, 0, 40, 0, 0, 60, 0, 20]
  %0 = input() {name = "img"} : () -> spike[T,1,1,8,8]
  %1 = syn_conv2d(%0) {padding = [1, 1], weight = @k1, weight_exp = 0} : spike[T,1,1,8,8] -> graded[T,1,4,8,8] loc("t.py":1:1 "conv1")
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,4,8,8] -> spike[T,1,4,8,8] loc("t.py":2:1 "lif1")
  %3 = syn_conv2d(%2) {groups = 2, padding = [1, 1], stride = [2, 2], weight = @k2, weight_exp = 0} : spike[T,1,4,8,8] -> graded[T,1,2,4,4] loc("t.py":3:1 "conv2")
  %4 = accumulate(%3) : graded[T,1,2,4,4] -> state[T,1,2,4,4] loc("t.py":4:1 "acc")
  output(%4) {name = "y"} : state[T,1,2,4,4] -> ()
  output(%2) {name = "spikes"} : spike[T,1,4,8,8] -> ()
}
)";

// Maps whose input does not fit a core's axons are laid out in tiles; each
// tile reads its receptive field from the tiles (or the port) it overlaps,
// with shared kernels, and the whole computes what the untiled model does.
TEST(CodegenTest, ConvMapsTooLargeForACoreAreTiled) {
  CodegenOptions narrow = TestOptions();
  narrow.chip.core.input_axons = 40;  // conv1 reads 64 port pixels, conv2 256 spikes
  narrow.board = sim::testing::TestBoard(4);
  ir::DiagnosticEngine diags;
  auto tiled = Compile(kTiles, narrow, diags);
  ASSERT_TRUE(tiled.ok()) << tiled.status().ToString() << "\n" << diags.Render();
  EXPECT_THAT(diags.Render(), HasSubstr("laid out in"));
  size_t windows = 0, shared = 0;
  for (const auto& t : tiled->image.tables) {
    EXPECT_EQ(t.format, SynapseFormat::kConv2d);
    windows += t.conv.win_y_count != 0 || t.conv.win_x_count != 0;
    shared += t.weights_of != hal::format::kOwnWeights;
  }
  EXPECT_GT(windows, 0u);
  EXPECT_GT(shared, 0u);
  for (const auto& u : hal::format::MeasureCoreUsage(tiled->image, narrow.chip.core)) {
    EXPECT_LE(u.input_axons, 40u);
  }
  const CodegenResult whole = MustCompile(kTiles);
  for (const auto& t : whole.image.tables) EXPECT_EQ(t.conv.win_y_count, 0u);
  for (uint64_t seed : {5, 6, 7}) {
    EXPECT_EQ(RunOnSim(tiled->image, narrow, seed), RunOnSim(whole.image, TestOptions(), seed));
  }
}

// Maps too large for whole-channel groups are laid out in tiles; the conv
// tables between tiles read windows and compute what the whole conv does.
TEST(CodegenTest, ConvMapsInTilesComputeTheSameAsWhole) {
  CodegenOptions tiny = TestOptions();
  tiny.chip.core.neurons = 8;  // half a 4x4 channel
  CodegenResult whole = MustCompile(kCnn);
  CodegenResult tiles = MustCompile(kCnn, tiny);
  ASSERT_TRUE(hal::format::ValidateBoardImage(tiles.image).ok())
      << hal::format::ValidateBoardImage(tiles.image);
  bool boxed = false, windowed = false;
  for (const auto& t : tiles.image.tables) {
    EXPECT_EQ(t.format, SynapseFormat::kConv2d);
    boxed = boxed || t.conv.in_y_count != 0 || t.conv.out_y_count != 0 || t.conv.in_x_count != 0 ||
            t.conv.out_x_count != 0;
    windowed = windowed || t.conv.win_y_count != 0 || t.conv.win_x_count != 0;
  }
  EXPECT_TRUE(boxed);
  EXPECT_TRUE(windowed);
  EXPECT_GT(tiles.image.groups.size(), whole.image.groups.size());
  EXPECT_EQ(RunOnSim(whole.image, TestOptions(), 11), RunOnSim(tiles.image, tiny, 11));
}

TEST(CodegenTest, ConvFallsBackToSparseWhenSourceIsRearranged) {
  std::string text = kCnn;
  // Make conv2 read a transposed map: H and W swapped twice is the identity
  // in value but not in its index map, so the table must be expanded.
  text.replace(
      text.find("  %3 = syn_conv2d(%2)"), 0,
      "  %10 = transpose(%2) {dim0 = 3, dim1 = 4} : spike[T,1,2,4,4] -> spike[T,1,2,4,4]\n");
  text.replace(text.find("syn_conv2d(%2)"), 14, "syn_conv2d(%10)");
  CodegenResult r = MustCompile(text);
  bool sparse = false;
  for (const auto& t : r.image.tables) sparse = sparse || t.format == SynapseFormat::kSparse;
  EXPECT_TRUE(sparse);
}

TEST(CodegenTest, HostSegmentsReadChipOutputsAndFeedBack) {
  constexpr char kText[] = R"(
module @hybrid attributes {timesteps = 3} {
  constant @w1 : i8[2,4] = [40, 40, 40, 40, 60, 0, 60, 0]
  constant @hw : f32[2,2] = [1.0, 0.0, 0.0, 2.0]
  constant @w2 : i8[2,2] = [64, 0, 0, 64]
  %0 = input() {name = "x"} : () -> spike[T,1,4]
  %1 = syn_dense(%0) {weight = @w1, weight_exp = 0} : spike[T,1,4] -> graded[T,1,2] loc("h.py":1:1 "fc1")
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,2] -> spike[T,1,2] loc("h.py":2:1 "lif1")
  %3 = host(%2) {op = "linear", weight = @hw} : spike[T,1,2] -> f32[T,1,2] loc("h.py":3:1 "proj")
  %4 = syn_dense(%3) {weight = @w2, weight_exp = 0} : f32[T,1,2] -> graded[T,1,2] loc("h.py":4:1 "fc2")
  %5 = accumulate(%4) : graded[T,1,2] -> state[T,1,2] loc("h.py":5:1 "acc")
  %6 = host(%5) {keepdim = false, dims = [0], op = "mean"} : state[T,1,2] -> f32[1,2] loc("h.py":6:1 "readout")
  output(%6) {name = "scores"} : f32[1,2] -> ()
}
)";
  ir::DiagnosticEngine diags;
  auto r = Compile(kText, TestOptions(), diags);
  if (!r.ok() && r.status().message().find("events") != std::string::npos) {
    GTEST_SKIP() << "syn ops do not accept f32 host values in this IR: " << r.status().ToString();
  }
  ASSERT_TRUE(r.ok()) << r.status().ToString() << diags.Render();
  const BoardImage& image = r->image;
  ASSERT_EQ(image.host_segments.size(), 2u);
  EXPECT_EQ(image.host_segments[0].op, "linear");
  EXPECT_EQ(image.host_segments[0].tensors[0].name, "weight");
  EXPECT_EQ(image.host_segments[1].attributes, R"({"dims":[0],"keepdim":false})");
  EXPECT_EQ(image.host_segments[1].outputs[0], "scores");
  // The projection's value returns as a graded input port of the same name.
  ASSERT_EQ(image.inputs.size(), 2u);
  EXPECT_EQ(image.inputs[1].name, image.host_segments[0].outputs[0]);
  EXPECT_EQ(image.inputs[1].kind, hal::format::SpikeKind::kGraded);
  // Depth: lif1 is 1 deep, the feedback port 2, acc 3.
  ASSERT_EQ(image.outputs.size(), 2u);
  EXPECT_EQ(image.outputs[0].delay, 1u);
  EXPECT_EQ(image.outputs[1].delay, 3u);
  EXPECT_EQ(image.meta.run_steps, 6u);
}

TEST(CodegenTest, And2PortsReadChipValuesThroughWeightOneTables) {
  constexpr char kText[] = R"(
module @and attributes {timesteps = 4} {
  constant @wa : i8[4,4] = [64, 0, 0, 0, 0, 64, 0, 0, 0, 0, 64, 0, 0, 0, 0, 64]
  constant @wb : i8[1,4] = [64, 64, 64, 64]
  %0 = input() {name = "x"} : () -> spike[T,1,4]
  %1 = syn_dense(%0) {weight = @wa, weight_exp = 0} : spike[T,1,4] -> graded[T,1,4]
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,4] -> spike[T,1,4] loc("a.py":1:1 "a")
  %3 = syn_dense(%0) {weight = @wb, weight_exp = 0} : spike[T,1,4] -> graded[T,1,1]
  %4 = cuba_lif(%3) {du = 4095, dv = 0, vth = 1} : graded[T,1,1] -> spike[T,1,1] loc("a.py":2:1 "b")
  %5 = and2(%2, %4) : (spike[T,1,4], spike[T,1,1]) -> spike[T,1,4] loc("a.py":3:1 "both")
  output(%5) {name = "y"} : spike[T,1,4] -> ()
}
)";
  CodegenResult r = MustCompile(kText);
  ASSERT_EQ(r.image.tables.size(), 4u);
  const auto& p0 = r.image.tables[2];
  const auto& p1 = r.image.tables[3];
  EXPECT_EQ(p0.target_port, 0);
  EXPECT_EQ(p1.target_port, 1);
  EXPECT_EQ(p0.weights, std::vector<int16_t>(4, 1));
  EXPECT_EQ(p1.row_ptr, (std::vector<uint32_t>{0, 4}));  // b's one neuron fans out to all 4
  EXPECT_EQ(r.image.outputs[0].delay, 2u);
  // and2 output equals (input spike i at step t) && (any input spike at t).
  const auto out = RunOnSim(r.image, TestOptions(), 5);
  EXPECT_EQ(out[0].size(), r.image.meta.run_steps * 4u);
}

// A second and2 layer (SSA on the chip) meets a port one step shallower:
// balance-delays' `delays` reach that port's table, and the layer's depth
// counts them.
TEST(CodegenTest, And2PortDelaysReachTheirTables) {
  constexpr char kText[] = R"(
module @and attributes {timesteps = 4} {
  %0 = input() {name = "a"} : () -> spike[T,1,2]
  %1 = input() {name = "b"} : () -> spike[T,1,2]
  %2 = and2(%0, %1) : (spike[T,1,2], spike[T,1,2]) -> spike[T,1,2] loc("a.py":1:1 "and1")
  %3 = and2(%2, %0) {delays = [0, 1]} : (spike[T,1,2], spike[T,1,2]) -> spike[T,1,2] loc("a.py":2:1 "and2")
  output(%3) {name = "y"} : spike[T,1,2] -> ()
}
)";
  CodegenResult r = MustCompile(kText);
  ASSERT_EQ(r.image.tables.size(), 4u);
  EXPECT_EQ(r.image.tables[2].delay, 0u);
  EXPECT_EQ(r.image.tables[3].delay, 1u);
  EXPECT_EQ(r.image.tables[3].target_port, 1);
  EXPECT_EQ(r.image.outputs[0].delay, 2u);
}

TEST(CodegenTest, MappingFailureListsEveryViolatedLimit) {
  CodegenOptions tiny = TestOptions();
  tiny.chip.core.synapse_memory_bits = 16;
  tiny.chip.core.input_axons = 3;
  ir::DiagnosticEngine diags;
  auto r = Compile(kMlp, tiny, diags);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string text = diags.Render();
  EXPECT_THAT(text, HasSubstr("mlp.py:11:4: error:"));
  EXPECT_THAT(text, HasSubstr("layer 'lif1': synapse memory bits: needs 32, available 16"));
  EXPECT_THAT(text, HasSubstr("layer 'lif1': input axons: needs 4, available 3"));
  EXPECT_THAT(text, HasSubstr("layer 'acc': synapse memory bits: needs 24, available 16"));
  EXPECT_EQ(diags.error_count(), 3u) << text;
}

TEST(CodegenTest, TooSmallPartitionNamesEveryLayerOutside) {
  CodegenOptions small = TestOptions();
  small.chip.core.neurons = 2;
  small.max_cores = 1;
  ir::DiagnosticEngine diags;
  auto r = Compile(kMlp, small, diags);
  ASSERT_FALSE(r.ok());
  const std::string text = diags.Render();
  EXPECT_THAT(text, HasSubstr("layer 'lif1', core 1: cores: needs 3, available 1"));
  EXPECT_THAT(text, HasSubstr("layer 'acc', core 2: cores: needs 3, available 1"));
}

TEST(CodegenTest, SynapseDelayAndPipelineFillReachTheImage) {
  std::string text = kMlp;
  text.replace(text.find("weight = @w2, weight_exp = 0"), 28,
               "delay = 2, weight = @w2, weight_exp = 0");
  ir::DiagnosticEngine diags;
  auto r = Compile(text, TestOptions(), diags);
  ASSERT_TRUE(r.ok()) << r.status() << diags.Render();
  bool delayed = false;
  for (const auto& t : r->image.tables) delayed |= t.delay == 2;
  EXPECT_TRUE(delayed);
  // Every group waits for its first input: the second layer sits 1 + 1 + 2 deep.
  uint32_t deepest = 0;
  for (const auto& g : r->image.groups) {
    EXPECT_GE(g.start_step, 1u);
    deepest = std::max(deepest, g.start_step);
  }
  EXPECT_EQ(deepest, 4u);
}

TEST(CodegenTest, FrontendOpsAreRejectedAtTheirLocation) {
  constexpr char kText[] = R"(
module attributes {timesteps = 2} {
  %0 = input() {name = "x"} : () -> f32[T,1,2]
  %1 = lif(%0) {tau = 2.0, v_threshold = 1.0} : f32[T,1,2] -> spike[T,1,2] loc("m.py":7:3 "lif")
  output(%1) {name = "y"} : spike[T,1,2] -> ()
}
)";
  ir::DiagnosticEngine diags;
  auto r = Compile(kText, TestOptions(), diags);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(diags.Render(), HasSubstr("m.py:7:3: error: 'lif' op is not a lowered op"));
}

}  // namespace
}  // namespace spk::compiler::codegen

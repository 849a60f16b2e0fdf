#include "sim/program.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "hal/format/board_image_validate.h"
#include "hal/format/core_usage.h"
#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using hal::format::BoardImage;
using hal::format::BoardProfile;
using hal::format::NeuronModel;
using hal::format::OutputSource;
using hal::format::SpikeKind;
using hal::format::SynapseFormat;
using hal::format::SynapseSource;
using hal::format::SynapseTable;
using testing::ConvTileTable;
using testing::Halves;
using ::testing::HasSubstr;
using testing::ImageBuilder;
using testing::Span;
using testing::TestBoard;
using testing::TestChip;
using testing::TestRng;

std::unique_ptr<Program> Make(const BoardImage& image, std::vector<uint32_t> partition = {},
                              const BoardProfile& board = TestBoard(1)) {
  if (partition.empty()) {
    partition.resize(image.cores.size());
    std::iota(partition.begin(), partition.end(), 0u);
  }
  auto mesh = BoardMesh::Create(TestChip(), board);
  EXPECT_TRUE(mesh.ok()) << mesh.status();
  auto program = Program::Create(image, TestChip(), *mesh, partition);
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? std::move(program).value() : nullptr;
}

void Write(Program* p, uint32_t port, uint32_t steps, const std::vector<int32_t>& values) {
  ASSERT_TRUE(p->WriteInputs(port, steps, values).ok());
}

std::vector<int32_t> Outputs(const Program& p, uint32_t port) {
  auto out = p.ReadOutputs(port);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<int32_t>{};
}

// A graded input port feeding one compartment through weight 1 gives a_in =
// payload exactly, one step later.
TEST(ProgramTest, LifGoldenTraceEndToEnd) {
  ImageBuilder b;
  b.AddInput("x", 1, SpikeKind::kGraded);
  auto& g = b.AddGroup(1, 0, 1);
  g.du = 410;
  g.dv = 205;
  g.vth = 10;
  b.AddDense(1, ImageBuilder::Input(0), 1, {1});
  b.AddOutput("v", 1, OutputSource::kVoltage);
  b.AddOutput("s", 1, OutputSource::kSpikes);
  auto p = Make(b.Build());
  Write(p.get(), 0, 5, {5, 0, 0, 3, 0});
  ASSERT_TRUE(p->Run(6, nullptr).ok());
  // a_in per step: 0, 5, 0, 0, 3, 0 (fixed_point_test has the arithmetic).
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 320, 590, 0, 424, 0}));
  EXPECT_EQ(Outputs(*p, 1), (std::vector<int32_t>{0, 0, 0, 1, 0, 1}));
}

TEST(ProgramTest, BiasExponentAndInitialState) {
  ImageBuilder b;
  auto& up = b.AddGroup(1, 0, 2);
  up.du = 4095;
  up.dv = 0;
  up.vth = 1;              // fires above 64
  up.bias_mant = {3, -5};  // << 2: 12 and -20 per step
  up.bias_exp = 2;
  auto& down = b.AddGroup(2, 0, 2);
  down.du = 0;
  down.dv = 0;
  down.vth = 131071;
  down.bias_mant = {7, -5};  // >> 1: 3 and -3 (floors)
  down.bias_exp = -1;
  down.u_init = {-1000, 0};  // decays toward zero: -999, -998, ...
  down.v_init = {100, 0};
  b.AddOutput("up", 1, OutputSource::kVoltage);
  b.AddOutput("down", 2, OutputSource::kVoltage);
  auto p = Make(b.Build());
  ASSERT_TRUE(p->Run(6, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0),
            (std::vector<int32_t>{12, -20, 24, -40, 36, -60, 48, -80, 60, -100, 0, -120}));
  // v = v + u + 3: 100 - 999 + 3 = -896; -896 - 998 + 3 = -1891; u: -997.8 -> -997 ...
  const auto down_v = Outputs(*p, 1);
  EXPECT_EQ(down_v[0], -896);
  EXPECT_EQ(down_v[2], -1891);
  EXPECT_EQ(down_v[4], -1891 - 997 + 3);
  EXPECT_EQ(down_v[1], -3);
  EXPECT_EQ(down_v[3], -6);
  // Nothing received input; the one spike (bias-driven, step 5) makes its neuron active.
  EXPECT_EQ(p->last_run().work.updates_active, 1u);
  EXPECT_EQ(p->last_run().work.updates_inactive, 4u * 6 - 1);
}

// Input -> A -> B: each synaptic layer delays by one step.
TEST(ProgramTest, OneStepDelayPerLayer) {
  ImageBuilder b;
  b.AddInput("x", 1);
  for (uint32_t id : {1u, 2u}) {
    auto& g = b.AddGroup(id, 0, 1);
    g.du = 4095;
    g.dv = 4095;
    g.vth = 0;
  }
  b.AddDense(1, ImageBuilder::Input(0), 1, {1});
  b.AddDense(2, ImageBuilder::Group(1), 2, {1});
  b.AddOutput("a", 1, OutputSource::kSpikes);
  b.AddOutput("b", 2, OutputSource::kSpikes);
  b.AddOutput("bv", 2, OutputSource::kVoltage);
  auto p = Make(b.Build());
  Write(p.get(), 0, 4, {1, 0, 0, 1});
  ASSERT_TRUE(p->Run(7, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 1, 0, 0, 1, 0, 0}));
  EXPECT_EQ(Outputs(*p, 1), (std::vector<int32_t>{0, 0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(Outputs(*p, 2), (std::vector<int32_t>(7, 0)));  // fired, so reset to 0
}

TEST(ProgramTest, InputIsSummedOverTablesThenSaturatedOnce) {
  ImageBuilder b;
  b.AddInput("x", 2, SpikeKind::kGraded);
  b.AddInput("y", 1, SpikeKind::kGraded);
  b.AddGroup(1, 0, 1, NeuronModel::kRelay);  // v shows a_in
  b.AddDense(1, ImageBuilder::Input(0), 1, {1, 1});
  b.AddDense(2, ImageBuilder::Input(1), 1, {1});
  b.AddOutput("v", 1, OutputSource::kVoltage);
  auto p = Make(b.Build());
  Write(p.get(), 0, 4, {20000, 20000, -20000, -20000, 20000, 20000, 0, 0});
  Write(p.get(), 1, 4, {0, 0, -20000, -30000});
  ASSERT_TRUE(p->Run(5, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{
                                0,
                                32767,   // 40000 saturates
                                -32768,  // -40000 saturates
                                20000,   // 40000 - 20000: summed before saturating
                                -30000,
                            }));
}

TEST(ProgramTest, AccumulatorLeaksTowardZero) {
  ImageBuilder b;
  b.AddInput("x", 1, SpikeKind::kGraded);
  auto& acc = b.AddGroup(1, 0, 1, NeuronModel::kAccumulator);
  acc.dv = 2048;  // halves v each step
  b.AddDense(1, ImageBuilder::Input(0), 1, {1});
  b.AddOutput("v", 1, OutputSource::kVoltage);
  b.AddOutput("s", 1, OutputSource::kSpikes);
  auto p = Make(b.Build());
  Write(p.get(), 0, 5, {100, 0, 0, -7, -60});
  ASSERT_TRUE(p->Run(7, nullptr).ok());
  // 100; 50; 25; 12 - 7 = 5; 2 - 60 = -58; -29; -14 (toward zero: -14.5 -> -14).
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 100, 50, 25, 5, -58, -29}));
  EXPECT_EQ(Outputs(*p, 1), (std::vector<int32_t>(7, 0)));  // never fires
}

TEST(ProgramTest, And2FiresOnCoincidenceOnly) {
  ImageBuilder b;
  b.AddInput("a", 1);
  b.AddInput("b", 1);
  b.AddGroup(1, 0, 1, NeuronModel::kAnd2);
  b.AddDense(1, ImageBuilder::Input(0), 1, {1}, 0, 0);
  b.AddDense(2, ImageBuilder::Input(1), 1, {1}, 0, 1);
  b.AddOutput("s", 1, OutputSource::kSpikes);
  auto p = Make(b.Build());
  Write(p.get(), 0, 4, {1, 1, 0, 1});
  Write(p.get(), 1, 4, {1, 0, 1, 1});
  ASSERT_TRUE(p->Run(5, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 1, 0, 0, 1}));
  EXPECT_EQ(p->last_run().work.updates_active, 4u);  // steps 1..4 each had an input
}

TEST(ProgramTest, RelaySendsItsInputAsPayload) {
  ImageBuilder b;
  b.AddInput("x", 1, SpikeKind::kGraded);
  auto& graded = b.AddGroup(1, 0, 1, NeuronModel::kRelay);
  graded.output = SpikeKind::kGraded;
  b.AddGroup(2, 0, 1, NeuronModel::kRelay);  // binary output
  auto& acc = b.AddGroup(3, 0, 1, NeuronModel::kAccumulator);
  acc.dv = 0;
  b.AddDense(1, ImageBuilder::Input(0), 1, {1});
  b.AddDense(2, ImageBuilder::Input(0), 2, {1});
  b.AddDense(3, ImageBuilder::Group(1), 3, {2});  // graded: payload x 2
  b.AddOutput("payload", 1, OutputSource::kPayload);
  b.AddOutput("binary", 2, OutputSource::kSpikes);
  b.AddOutput("acc", 3, OutputSource::kVoltage);
  b.AddOutput("relay_v", 1, OutputSource::kVoltage);
  auto p = Make(b.Build());
  Write(p.get(), 0, 3, {5, 0, -3});
  ASSERT_TRUE(p->Run(5, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 5, 0, -3, 0}));
  EXPECT_EQ(Outputs(*p, 1), (std::vector<int32_t>{0, 1, 0, 1, 0}));
  EXPECT_EQ(Outputs(*p, 2), (std::vector<int32_t>{0, 0, 10, 10, 4}));
  EXPECT_EQ(Outputs(*p, 3), (std::vector<int32_t>{0, 5, 0, -3, 0}));
}

TEST(ProgramTest, PendingInputCarriesAcrossRunsUntilResetState) {
  ImageBuilder b;
  b.AddInput("x", 1);
  auto& g = b.AddGroup(1, 0, 1);
  g.du = 4095;
  g.dv = 4095;
  g.vth = 0;
  b.AddDense(1, ImageBuilder::Input(0), 1, {1});
  b.AddOutput("s", 1, OutputSource::kSpikes);
  auto p = Make(b.Build());
  Write(p.get(), 0, 2, {0, 1});
  ASSERT_TRUE(p->Run(2, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 0}));
  ASSERT_TRUE(p->Run(1, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{1}));  // the step-1 input, one step later

  Write(p.get(), 0, 1, {1});
  ASSERT_TRUE(p->Run(1, nullptr).ok());
  p->ResetState();
  ASSERT_TRUE(p->Run(1, nullptr).ok());
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0}));  // dropped by ResetState
}

TEST(ProgramTest, BadInputsAndPortsAreRefused) {
  ImageBuilder b;
  b.AddInput("x", 3);
  b.AddGroup(1, 0, 3);
  b.AddDense(1, ImageBuilder::Input(0), 1, std::vector<int16_t>(9, 1));
  b.AddOutput("s", 1, OutputSource::kSpikes);
  auto p = Make(b.Build());
  EXPECT_EQ(p->WriteInputs(0, 2, std::vector<int32_t>(5, 0)).code(), StatusCode::kInvalidArgument);
  const Status binary = p->WriteInputs(0, 1, std::vector<int32_t>{0, 2, 0});
  EXPECT_EQ(binary.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(binary.message()), HasSubstr("binary"));
  EXPECT_EQ(p->WriteInputs(1, 1, std::vector<int32_t>{0, 0, 0}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(p->ReadOutputs(1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p->Run(Program::kMaxRunSteps + 1, nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ProgramTest, CreateRefusesImagesTheChipCannotHold) {
  auto mesh = BoardMesh::Create(TestChip(), TestBoard(1));
  ASSERT_TRUE(mesh.ok());
  auto chip = TestChip();
  chip.core.neurons = 100;
  chip.core.input_axons = 150;

  ImageBuilder b(2);
  b.AddInput("x", 200);
  b.AddGroup(1, 0, 120).layer = "big";
  b.AddGroup(2, 1, 60).layer = "left";
  b.AddGroup(3, 1, 60).layer = "right";
  b.AddDense(1, ImageBuilder::Input(0), 2, std::vector<int16_t>(200 * 60, 1));
  auto s = Program::Create(b.Build(), chip, *mesh, {0, 1}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  const std::string m(s.message());
  // Every violation, each naming core, group and layer.
  EXPECT_THAT(m, HasSubstr("3 per-core limit(s)"));
  EXPECT_THAT(m, HasSubstr("core 0: group 1 (layer 'big') has 120 neurons"));
  EXPECT_THAT(m, HasSubstr("core 1: group 2 (layer 'left'), group 3 (layer 'right') hold 120"));
  EXPECT_THAT(m, HasSubstr("200 input axons"));

  // Too small a partition, an image for another chip, an invalid image.
  ImageBuilder ok(2);
  ok.AddGroup(1, 1, 4);
  EXPECT_EQ(Program::Create(ok.Build(), TestChip(), *mesh, {0}).status().code(),
            StatusCode::kResourceExhausted);
  ImageBuilder other(1, "loihi2");
  other.AddGroup(1, 0, 4);
  EXPECT_EQ(Program::Create(other.Build(), TestChip(), *mesh, {0}).status().code(),
            StatusCode::kFailedPrecondition);
  auto bad = ok.Build();
  bad.groups[0].du = 5000;
  EXPECT_EQ(Program::Create(bad, TestChip(), *mesh, {0, 1}).status().code(),
            StatusCode::kInvalidArgument);
}

// What a source window means: the table of the whole source whose rows
// outside the window are zero (dense) or empty (sparse).
BoardImage WithoutWindows(BoardImage image) {
  for (SynapseTable& t : image.tables) {
    if (t.source_count == 0) continue;
    const uint64_t rows = hal::format::SourceSize(image, t.source);
    uint64_t targets = 0;
    for (const auto& g : image.groups) {
      if (g.id == t.target_group) targets = g.size;
    }
    const uint64_t lo = t.source_offset;
    if (t.format == SynapseFormat::kDense) {
      std::vector<int16_t> w(rows * targets, 0);
      std::copy(t.weights.begin(), t.weights.end(),
                w.begin() + static_cast<std::ptrdiff_t>(lo * targets));
      t.weights = std::move(w);
    } else {
      std::vector<uint32_t> row_ptr(lo, 0);
      row_ptr.insert(row_ptr.end(), t.row_ptr.begin(), t.row_ptr.end());
      row_ptr.resize(rows + 1, t.row_ptr.back());
      t.row_ptr = std::move(row_ptr);
    }
    t.source_offset = 0;
    t.source_count = 0;
  }
  return image;
}

// Windowed dense tables (int8 and int16 storage, binary and graded sources)
// and sparse ones (binary and graded) on three cores, next to whole ones.
BoardImage WindowedNetwork() {
  TestRng rng(11);
  ImageBuilder b(3);
  b.AddInput("x", 12);
  b.AddInput("g", 10, SpikeKind::kGraded);
  auto weights = [&](size_t n, int lo, int hi, int multiple) {
    std::vector<int16_t> w(n);
    for (auto& v : w) v = static_cast<int16_t>(multiple * rng.Uniform(lo, hi));
    return w;
  };
  auto dense = [&](uint32_t id, SynapseSource source, uint32_t target, uint32_t offset,
                   uint32_t count, std::vector<int16_t> w) {
    SynapseTable& t = b.AddDense(id, source, target, std::move(w));
    t.source_offset = offset;
    t.source_count = count;
  };
  auto sparse = [&](uint32_t id, SynapseSource source, uint32_t target, uint32_t offset,
                    uint32_t count, uint32_t targets) {
    SynapseTable t;
    t.id = id;
    t.source = source;
    t.target_group = target;
    t.format = SynapseFormat::kSparse;
    t.source_offset = offset;
    t.source_count = count;
    t.row_ptr.push_back(0);
    for (uint32_t r = 0; r < count; ++r) {
      for (uint32_t c = 0; c < targets; ++c) {
        if (!rng.Chance(0.5)) continue;
        t.col.push_back(c);
        t.weights.push_back(static_cast<int16_t>(2 * rng.Uniform(-100, 100)));
      }
      t.row_ptr.push_back(static_cast<uint32_t>(t.col.size()));
    }
    b.AddTable(std::move(t));
  };
  auto& src = b.AddGroup(1, 0, 16);  // fires on most steps
  src.du = 4095;
  src.dv = 4095;
  src.vth = 0;
  b.AddDense(1, ImageBuilder::Input(0), 1, weights(12 * 16, -20, 100, 2));
  // Accumulators keep every input: their voltages show each table's sum.
  for (uint32_t id : {10u, 11u, 12u, 13u, 14u}) {
    b.AddGroup(id, id < 12 ? 1 : 2, 5, NeuronModel::kAccumulator).dv = 0;
  }
  auto& lif = b.AddGroup(15, 1, 6);
  lif.du = 4095;
  lif.dv = 4095;
  lif.vth = 400;
  const SynapseSource x = ImageBuilder::Input(0), g = ImageBuilder::Input(1);
  const SynapseSource s = ImageBuilder::Group(1);
  dense(2, s, 10, 4, 7, weights(7 * 5, -127, 127, 2));   // int8 rows
  dense(3, x, 10, 0, 0, weights(12 * 5, -127, 127, 2));  // whole, beside it
  sparse(4, s, 11, 0, 5, 5);                             // binary sparse
  sparse(5, s, 11, 3, 6, 5);                             // overlapping window
  dense(6, g, 12, 3, 4, weights(4 * 5, -127, 127, 2));   // graded dense
  dense(7, x, 13, 9, 3, weights(3 * 5, 0, 255, 1));      // int16 rows: odd, > 127
  sparse(8, g, 14, 6, 4, 5);                             // graded sparse
  dense(9, s, 15, 10, 6, weights(6 * 6, 0, 60, 2));      // into a LIF that fires
  dense(10, s, 15, 0, 16, weights(16 * 6, -30, 30, 2));  // a window of the whole source
  for (uint32_t id : {10u, 11u, 12u, 13u, 14u}) {
    b.AddOutput("v" + std::to_string(id), id, OutputSource::kVoltage);
  }
  b.AddOutput("s15", 15, OutputSource::kSpikes);
  b.AddOutput("v15", 15, OutputSource::kVoltage);
  return b.Build();
}

TEST(ProgramTest, WindowedTablesActAsWholeTablesWithZeroRowsOutside) {
  const BoardImage windowed = WindowedNetwork();
  const BoardImage whole = WithoutWindows(windowed);
  ASSERT_TRUE(hal::format::ValidateBoardImage(windowed).ok())
      << hal::format::ValidateBoardImage(windowed);
  ASSERT_TRUE(hal::format::ValidateBoardImage(whole).ok())
      << hal::format::ValidateBoardImage(whole);
  TestRng rng(5);
  const uint32_t steps = 30;
  std::vector<int32_t> x(size_t{steps} * 12), g(size_t{steps} * 10);
  for (auto& v : x) v = rng.Chance(0.4) ? 1 : 0;
  for (auto& v : g) v = rng.Chance(0.5) ? static_cast<int32_t>(rng.Uniform(-300, 300)) : 0;

  std::vector<std::vector<int32_t>> outputs[2];
  RunReport reports[2];
  for (int k = 0; k < 2; ++k) {
    auto p = Make(k == 0 ? windowed : whole);
    ASSERT_NE(p, nullptr);
    Write(p.get(), 0, steps, x);
    Write(p.get(), 1, steps, g);
    ThreadPool pool(2);
    ASSERT_TRUE(p->Run(steps, k == 0 ? &pool : nullptr).ok());
    for (uint32_t port = 0; port < windowed.outputs.size(); ++port) {
      outputs[k].push_back(Outputs(*p, port));
    }
    reports[k] = p->last_run();
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  // Something happened everywhere: every accumulator moved, the LIF fired.
  for (size_t port = 0; port < outputs[0].size(); ++port) {
    const auto& out = outputs[0][port];
    EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](int32_t v) { return v != 0; }))
        << windowed.outputs[port].name;
  }
  // The window skips the zero rows a whole dense table applies.
  EXPECT_LT(reports[0].work.synaptic_ops, reports[1].work.synaptic_ops);
  EXPECT_EQ(reports[0].work.spikes_out, reports[1].work.spikes_out);
}

// Input axons: per source and core, the union of the windows read there;
// output axons: per sending group and receiving core, likewise.
TEST(ProgramTest, CoreLimitsCountOnlyTheNeuronsWindowsRead) {
  ImageBuilder b(2);
  b.AddInput("x", 100);
  b.AddInput("y", 8);
  b.AddGroup(1, 1, 50).layer = "src";
  b.AddGroup(2, 0, 4).layer = "left";
  b.AddGroup(3, 0, 4).layer = "right";
  b.AddDense(1, ImageBuilder::Input(1), 1, std::vector<int16_t>(8 * 50, 2));
  auto window = [&](uint32_t id, SynapseSource source, uint32_t target, uint32_t offset,
                    uint32_t count) {
    SynapseTable& t = b.AddDense(id, source, target, std::vector<int16_t>(count * 4, 2));
    t.source_offset = offset;
    t.source_count = count;
  };
  window(2, ImageBuilder::Input(0), 2, 10, 20);  // x [10, 30)
  window(3, ImageBuilder::Input(0), 3, 20, 20);  // x [20, 40): 30 of x in all
  window(4, ImageBuilder::Group(1), 2, 0, 10);   // src [0, 10)
  window(5, ImageBuilder::Group(1), 3, 5, 10);   // src [5, 15): 15 of src in all
  const BoardImage image = b.Build();

  auto chip = TestChip();
  const auto usage = hal::format::MeasureCoreUsage(image, chip.core);
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].input_axons, 30u + 15u);
  EXPECT_EQ(usage[0].output_axons, 0u);
  EXPECT_EQ(usage[1].input_axons, 8u);
  EXPECT_EQ(usage[1].output_axons, 15u);

  auto mesh = BoardMesh::Create(TestChip(), TestBoard(1));
  ASSERT_TRUE(mesh.ok());
  chip.core.input_axons = 45;
  chip.core.output_axons = 15;
  EXPECT_TRUE(Program::Create(image, chip, *mesh, {0, 1}).ok());
  chip.core.input_axons = 44;
  chip.core.output_axons = 14;
  const Status s = Program::Create(image, chip, *mesh, {0, 1}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  const std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("2 per-core limit(s)"));
  EXPECT_THAT(m, HasSubstr("core 0: inputs to group 2 (layer 'left'), group 3 (layer 'right') "
                           "need 45 input axons, more than 44"));
  EXPECT_THAT(m, HasSubstr("core 1: outputs of group 1 (layer 'src') need 15 output axons, "
                           "more than 14"));
}

// A spike reaches a core only when a table there reads its neuron.
TEST(ProgramTest, SpikesOutsideEveryWindowOfACoreAreNotDelivered) {
  ImageBuilder b(2);
  b.AddInput("x", 100);
  b.AddGroup(1, 0, 2);
  b.AddGroup(2, 1, 2);
  SynapseTable& left = b.AddDense(1, ImageBuilder::Input(0), 1, std::vector<int16_t>(20 * 2, 2));
  left.source_offset = 10;
  left.source_count = 20;
  SynapseTable& right = b.AddDense(2, ImageBuilder::Input(0), 2, std::vector<int16_t>(5 * 2, 2));
  right.source_offset = 40;
  right.source_count = 5;
  auto p = Make(b.Build(), {0, 1});
  ASSERT_NE(p, nullptr);
  std::vector<int32_t> x(100, 0);
  for (uint32_t n : {0u, 15u, 29u, 30u, 44u, 50u}) x[n] = 1;
  Write(p.get(), 0, 1, x);
  ASSERT_TRUE(p->Run(1, nullptr).ok());
  const RunReport& r = p->last_run();
  EXPECT_EQ(r.input_spikes, 6u);
  EXPECT_EQ(r.cores[0].work.deliveries, 2u);  // 15 and 29
  EXPECT_EQ(r.cores[1].work.deliveries, 1u);  // 44
  EXPECT_EQ(r.cores[0].work.synaptic_ops, 2u * 2u);
  EXPECT_EQ(r.cores[1].work.synaptic_ops, 1u * 2u);
}

// A box of a [C, H, W] feature map.
struct Box {
  Span c, y, x;
  uint32_t Size() const { return c.n * y.n * x.n; }
};

// The boxes a map is laid out in: the whole map, or 2x2 spatial tiles (of
// two channel blocks when `channel_blocks`).
std::vector<Box> Layout(uint32_t c, uint32_t h, uint32_t w, bool tiled, bool channel_blocks) {
  if (!tiled) return {{{0, c}, {0, h}, {0, w}}};
  std::vector<Box> out;
  for (Span cs : channel_blocks ? Halves(c) : std::vector<Span>{{0, c}}) {
    for (Span ys : Halves(h)) {
      for (Span xs : Halves(w)) out.push_back({cs, ys, xs});
    }
  }
  return out;
}

// Values of a whole [c, h, w] map (CHW) as the box holds them (box-local CHW).
std::vector<int32_t> Crop(const std::vector<int32_t>& map, uint32_t h, uint32_t w, const Box& b) {
  std::vector<int32_t> out;
  for (uint32_t c = 0; c < b.c.n; ++c) {
    for (uint32_t y = 0; y < b.y.n; ++y) {
      for (uint32_t x = 0; x < b.x.n; ++x) {
        out.push_back(map[((b.c.lo + c) * h + b.y.lo + y) * w + b.x.lo + x]);
      }
    }
  }
  return out;
}

// An output port showing a whole [c, h, w] map held by the groups `ids` in
// `boxes`: a segment per channel and row of each box.
void AddMapOutput(BoardImage& image, const std::string& name, uint32_t c, uint32_t h, uint32_t w,
                  const std::vector<Box>& boxes, uint32_t first_id, OutputSource source) {
  hal::format::OutputPort port;
  port.name = name;
  port.shape = {c, h, w};
  port.source = source;
  for (size_t k = 0; k < boxes.size(); ++k) {
    const Box& b = boxes[k];
    for (uint32_t ch = 0; ch < b.c.n; ++ch) {
      for (uint32_t y = 0; y < b.y.n; ++y) {
        port.segments.push_back({.group = first_id + static_cast<uint32_t>(k),
                                 .group_offset = (ch * b.y.n + y) * b.x.n,
                                 .port_offset = ((b.c.lo + ch) * h + b.y.lo + y) * w + b.x.lo,
                                 .count = b.x.n});
      }
    }
  }
  image.outputs.push_back(std::move(port));
}

// Two conv layers over a 2x8x8 input map: conv1 3x3 pad 1 (2 -> 4 channels)
// into LIF neurons, conv2 3x3 stride 2 pad 1 grouped (2 groups, 4 -> 4) into
// LIF neurons. Whole: a port and a group per map on two cores. Tiled: the
// input in 2x2 tiles (a port each), both conv maps in 2 channel blocks x 2x2
// tiles (a group each) on four cores, and a table per pair of tiles that
// meet, reading the source tile's part of the target tile's receptive field.
// Ports: input tiles in Layout order; outputs s1, v2, s2 as whole maps.
BoardImage TwoConvs(bool tiled, uint64_t seed) {
  TestRng rng(seed);
  auto conv = [&](uint32_t in_c, uint32_t in_hw, uint32_t out_c, uint32_t stride, uint32_t groups,
                  int8_t weight_exp) {
    SynapseTable t;
    t.format = SynapseFormat::kConv2d;
    t.weight_exp = weight_exp;
    hal::format::Conv2dGeometry& g = t.conv;
    g.in_channels = in_c;
    g.in_h = g.in_w = in_hw;
    g.out_channels = out_c;
    g.kernel_h = g.kernel_w = 3;
    g.stride_h = g.stride_w = stride;
    g.pad_h = g.pad_w = 1;
    g.out_h = g.out_w = (in_hw + 2 - 3) / stride + 1;
    g.groups = groups;
    g.in_c_count = in_c;
    g.out_c_count = out_c;
    t.weights.resize(size_t{out_c} * (in_c / groups) * 9);
    for (auto& w : t.weights) w = static_cast<int16_t>(2 * rng.Uniform(-60, 100));
    return t;
  };
  const SynapseTable conv1 = conv(2, 8, 4, 1, 1, 0);
  const SynapseTable conv2 = conv(4, 8, 4, 2, 2, 1);
  const std::vector<Box> in = Layout(2, 8, 8, tiled, false);
  const std::vector<Box> map1 = Layout(4, 8, 8, tiled, true);
  const std::vector<Box> map2 = Layout(4, 4, 4, tiled, true);

  ImageBuilder b(tiled ? 4 : 2);
  for (size_t k = 0; k < in.size(); ++k) b.AddInput("x" + std::to_string(k), in[k].Size());
  auto lif = [&](uint32_t id, uint32_t core, uint32_t size) {
    auto& g = b.AddGroup(id, core, size);
    g.du = 2048;
    g.dv = 1024;
    g.vth = 20;
  };
  for (size_t k = 0; k < map1.size(); ++k) {
    lif(100 + static_cast<uint32_t>(k), tiled ? static_cast<uint32_t>(k % 2) : 0, map1[k].Size());
  }
  for (size_t k = 0; k < map2.size(); ++k) {
    lif(200 + static_cast<uint32_t>(k), tiled ? 2 + static_cast<uint32_t>(k % 2) : 1,
        map2[k].Size());
  }
  uint32_t next = 1;
  auto connect = [&](const SynapseTable& whole, const std::vector<Box>& sources,
                     const std::vector<Box>& targets, bool from_ports, uint32_t source_id,
                     uint32_t target_id) {
    const uint32_t in_per_group = whole.conv.in_channels / whole.conv.groups;
    const uint32_t out_per_group = whole.conv.out_channels / whole.conv.groups;
    for (size_t s = 0; s < sources.size(); ++s) {
      for (size_t t = 0; t < targets.size(); ++t) {
        const Box& sb = sources[s];
        const Box& tb = targets[t];
        // Channel groups that never meet get no table, as the compiler does.
        if (sb.c.lo / in_per_group > (tb.c.lo + tb.c.n - 1) / out_per_group ||
            tb.c.lo / out_per_group > (sb.c.lo + sb.c.n - 1) / in_per_group) {
          continue;
        }
        SynapseTable table;
        if (!ConvTileTable(whole, sb.c, sb.y, sb.x, tb.c, tb.y, tb.x, &table)) continue;
        table.id = next++;
        table.source = from_ports ? ImageBuilder::Input(static_cast<uint32_t>(s))
                                  : ImageBuilder::Group(source_id + static_cast<uint32_t>(s));
        table.target_group = target_id + static_cast<uint32_t>(t);
        b.AddTable(std::move(table));
      }
    }
  };
  connect(conv1, in, map1, true, 0, 100);
  connect(conv2, map1, map2, false, 100, 200);
  BoardImage image = b.Build();
  AddMapOutput(image, "s1", 4, 8, 8, map1, 100, OutputSource::kSpikes);
  AddMapOutput(image, "v2", 4, 4, 4, map2, 200, OutputSource::kVoltage);
  AddMapOutput(image, "s2", 4, 4, 4, map2, 200, OutputSource::kSpikes);
  return image;
}

TEST(ProgramTest, ConvTilesComputeWhatTheWholeConvComputes) {
  const BoardImage whole = TwoConvs(false, 3);
  const BoardImage tiled = TwoConvs(true, 3);
  ASSERT_TRUE(hal::format::ValidateBoardImage(whole).ok())
      << hal::format::ValidateBoardImage(whole);
  ASSERT_TRUE(hal::format::ValidateBoardImage(tiled).ok())
      << hal::format::ValidateBoardImage(tiled);
  EXPECT_EQ(whole.tables.size(), 2u);
  // conv1: each of 8 targets meets all 4 input tiles (3x3 reaches across);
  // conv2: each of 8 targets meets the 4 same-group source tiles that its
  // stride-2 field touches: 1, 2 or 4 of them.
  EXPECT_GT(tiled.tables.size(), 32u);
  bool windowed = false;
  for (const SynapseTable& t : tiled.tables) windowed = windowed || t.conv.win_y_count != 0;
  EXPECT_TRUE(windowed);

  TestRng rng(9);
  const uint32_t steps = 12;
  std::vector<int32_t> x(size_t{steps} * 2 * 8 * 8);
  for (auto& v : x) v = rng.Chance(0.3) ? 1 : 0;
  std::vector<std::vector<int32_t>> outputs[2];
  for (int k = 0; k < 2; ++k) {
    const bool is_tiled = k == 1;
    auto p = Make(is_tiled ? tiled : whole);
    ASSERT_NE(p, nullptr);
    const std::vector<Box> in = Layout(2, 8, 8, is_tiled, false);
    for (size_t port = 0; port < in.size(); ++port) {
      std::vector<int32_t> values;
      for (uint32_t step = 0; step < steps; ++step) {
        const std::vector<int32_t> map(x.begin() + step * 128, x.begin() + (step + 1) * 128);
        const std::vector<int32_t> tile = Crop(map, 8, 8, in[port]);
        values.insert(values.end(), tile.begin(), tile.end());
      }
      Write(p.get(), static_cast<uint32_t>(port), steps, values);
    }
    ThreadPool pool(2);
    ASSERT_TRUE(p->Run(steps, is_tiled ? &pool : nullptr).ok());
    for (uint32_t port = 0; port < 3; ++port) outputs[k].push_back(Outputs(*p, port));
  }
  ASSERT_EQ(outputs[0].size(), 3u);
  EXPECT_EQ(outputs[0][0], outputs[1][0]) << "conv1 spikes";
  EXPECT_EQ(outputs[0][1], outputs[1][1]) << "conv2 voltages";
  EXPECT_EQ(outputs[0][2], outputs[1][2]) << "conv2 spikes";
  // Both layers fired, and not everywhere.
  for (size_t port : {size_t{0}, size_t{2}}) {
    const auto& out = outputs[0][port];
    const auto fired = std::count(out.begin(), out.end(), 1);
    EXPECT_GT(fired, 0) << port;
    EXPECT_LT(fired, static_cast<std::ptrdiff_t>(out.size())) << port;
  }
}

// A conv table's spikes reach its core only from the neurons in its window.
TEST(ProgramTest, ConvWindowsRestrictDelivery) {
  // The port holds columns [0, 4) of a 1x4x8 map; core 0 holds columns
  // [0, 4) of the 3x3 pad 1 conv's output, core 1 columns [4, 8), which read
  // column 3 of the port's box only.
  SynapseTable whole;
  whole.format = SynapseFormat::kConv2d;
  whole.conv = {.in_channels = 1,
                .in_h = 4,
                .in_w = 8,
                .out_channels = 1,
                .out_h = 4,
                .out_w = 8,
                .kernel_h = 3,
                .kernel_w = 3,
                .pad_h = 1,
                .pad_w = 1,
                .in_c_count = 1,
                .out_c_count = 1};
  whole.weights.assign(9, 2);
  ImageBuilder b(2);
  b.AddInput("x", 16);
  b.AddGroup(1, 0, 16, NeuronModel::kAccumulator).dv = 0;
  b.AddGroup(2, 1, 16, NeuronModel::kAccumulator).dv = 0;
  SynapseTable left, right;
  ASSERT_TRUE(ConvTileTable(whole, {0, 1}, {0, 4}, {0, 4}, {0, 1}, {0, 4}, {0, 4}, &left));
  ASSERT_TRUE(ConvTileTable(whole, {0, 1}, {0, 4}, {0, 4}, {0, 1}, {0, 4}, {4, 4}, &right));
  EXPECT_EQ(left.conv.win_x_count, 0u);
  EXPECT_EQ(right.conv.win_x_offset, 3u);
  EXPECT_EQ(right.conv.win_x_count, 1u);
  left.id = 1;
  left.source = ImageBuilder::Input(0);
  left.target_group = 1;
  right.id = 2;
  right.source = ImageBuilder::Input(0);
  right.target_group = 2;
  b.AddTable(left);
  b.AddTable(right);
  b.AddOutput("v2", 2, OutputSource::kVoltage);
  const BoardImage image = b.Build();
  EXPECT_EQ(hal::format::MeasureCoreUsage(image, TestChip().core)[1].input_axons, 4u);

  auto p = Make(image);
  ASSERT_NE(p, nullptr);
  // Every neuron of the box fires, then (0, 3) and (1, 1) only.
  std::vector<int32_t> x(32, 0);
  std::fill(x.begin(), x.begin() + 16, 1);
  x[16 + 3] = 1;
  x[16 + 5] = 1;
  Write(p.get(), 0, 2, x);
  ASSERT_TRUE(p->Run(2, nullptr).ok());
  const RunReport& r = p->last_run();
  EXPECT_EQ(r.cores[0].work.deliveries, 16u + 2u);
  EXPECT_EQ(r.cores[1].work.deliveries, 4u + 1u);  // column 3 of 4 rows, then (0, 3)
  // Column 3 reaches output column 4 only (the target's first column),
  // through 3 kernel rows (2 at the map's edges): 2 + 3 + 3 + 2 taps; then
  // (0, 3) reaches (0, 4) and (1, 4).
  EXPECT_EQ(r.cores[1].work.synaptic_ops, 10u + 2u);
  const std::vector<int32_t> v = Outputs(*p, 0);
  ASSERT_EQ(v.size(), 32u);
  // Step 1: output (y, 4) sums 2 x the column-3 neighbours of row y.
  const std::vector<int32_t> want = {4, 0, 0, 0, 6, 0, 0, 0, 6, 0, 0, 0, 4, 0, 0, 0};
  EXPECT_EQ(std::vector<int32_t>(v.begin() + 16, v.end()), want);
}

// Two chips side by side; logical core 0 on chip 0 at (0,0), logical core 1
// on chip 1 core 3, globally at (7,0): 7 east-west hops and one chip crossing.
// Costs are TestChip's; every expected number is worked out in the comments.
TEST(ProgramTest, CountersTimeAndEnergyByHand) {
  ImageBuilder b(2);
  b.AddInput("in", 2);
  auto& a = b.AddGroup(1, 0, 3);  // fires on any input
  a.du = 4095;
  a.dv = 4095;
  a.vth = 0;
  a.layer = "A";
  auto& bg = b.AddGroup(2, 1, 2);  // never fires
  bg.du = 4095;
  bg.dv = 4095;
  bg.vth = 131071;
  bg.layer = "B";
  b.AddDense(1, ImageBuilder::Input(0), 1, std::vector<int16_t>(6, 64));
  b.AddDense(2, ImageBuilder::Group(1), 2, std::vector<int16_t>(6, 1));
  b.AddOutput("bv", 2, OutputSource::kVoltage);
  auto p = Make(b.Build(), {0, 19}, TestBoard(2, 2, 1));
  Write(p.get(), 0, 3, {1, 0, 0, 0, 0, 0});
  auto stats = p->Run(3, nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(Outputs(*p, 0), (std::vector<int32_t>{0, 0, 0, 0, 192, 192}));

  // Step 0: 1 input spike delivered to core 0, fanned out to 3 synapses;
  //   core 0: 3 ops * 2 + 3 updates * 3 + 1 delivery * 5 = 20 ns; core 1: 2 * 3 = 6.
  //   step = 20 + 0 (host input uses no mesh) + 200 barrier = 220 ns.
  // Step 1: A fires 3 (active); they cross to core 1: 3 deliveries, 6 ops there;
  //   core 0: 9 ns; core 1: 6 * 2 + 2 * 3 + 3 * 5 = 33 ns; route 7 * 7 + 100 = 149 ns.
  //   step = 33 + 149 + 200 = 382 ns.
  // Step 2: B gets a_in = 3 (2 active); core 0: 9 ns, core 1: 6 ns; step = 209 ns.
  const RunReport& r = p->last_run();
  EXPECT_EQ(r.step_time_s.size(), 3u);
  EXPECT_NEAR(r.step_time_s[0], 220e-9, 1e-15);
  EXPECT_NEAR(r.step_time_s[1], 382e-9, 1e-15);
  EXPECT_NEAR(r.step_time_s[2], 209e-9, 1e-15);
  EXPECT_NEAR(stats->chip_time_s, 811e-9, 1e-15);
  EXPECT_NEAR(r.routing_time_s, 149e-9, 1e-15);
  EXPECT_NEAR(r.barrier_time_s, 600e-9, 1e-15);

  EXPECT_EQ(stats->steps, 3u);
  EXPECT_EQ(stats->synaptic_ops, 9u);
  EXPECT_EQ(stats->neuron_updates, 15u);
  EXPECT_EQ(r.work.updates_active, 5u);
  EXPECT_EQ(stats->spikes, 3u);
  EXPECT_EQ(stats->hops, 21u);
  EXPECT_EQ(r.work.chip_crossings, 3u);
  EXPECT_EQ(r.work.deliveries, 4u);
  EXPECT_EQ(r.input_spikes, 1u);

  // Core 0: 3 ops * 20 + 3 active * 80 + 6 inactive * 50 + 1 delivery * 2
  //         + 21 hops * 3 + 3 crossings * 1000 = 3665 pJ.
  // Core 1: 6 * 20 + 2 * 80 + 4 * 50 + 3 * 2 = 486 pJ.
  // Barrier: 10 pJ per powered chip (2) and step (3) = 60 pJ.
  ASSERT_EQ(r.cores.size(), 2u);
  EXPECT_EQ(r.cores[1].physical_core, 19u);
  EXPECT_NEAR(r.cores[0].dynamic_energy_j, 3665e-12, 1e-18);
  EXPECT_NEAR(r.cores[1].dynamic_energy_j, 486e-12, 1e-18);
  EXPECT_NEAR(r.cores[0].busy_time_s, 38e-9, 1e-15);  // 20 + 9 + 9
  EXPECT_NEAR(r.cores[1].busy_time_s, 45e-9, 1e-15);  // 6 + 33 + 6
  EXPECT_EQ(stats->core_dynamic_energy_j.size(), 2u);
  EXPECT_NEAR(stats->core_time_s[1], 45e-9, 1e-15);
  EXPECT_NEAR(r.barrier_energy_j, 60e-12, 1e-18);

  // Host link: 3 steps of a 2-spike bitmap (1 byte) in, 3 steps of two 4-byte
  // voltages out = 27 bytes; 27 ns at 1 GB/s plus 2 transfers * 1000 ns.
  EXPECT_EQ(stats->host_bytes, 27u);
  EXPECT_NEAR(stats->host_link_time_s, 2027e-9, 1e-15);
  EXPECT_NEAR(r.host_link_energy_j, 2700e-12, 1e-18);
  EXPECT_NEAR(stats->dynamic_energy_j, (3665 + 486 + 60 + 2700) * 1e-12, 1e-18);
  // Static: both chips powered, 0.5 W each, for 811 ns; a core's share is 1/16 of its chip.
  EXPECT_EQ(r.chips_powered, 2u);
  EXPECT_NEAR(stats->static_energy_j, 2 * 0.5 * 811e-9, 1e-18);
  EXPECT_NEAR(r.cores[0].static_energy_j, 0.5 / 16 * 811e-9, 1e-18);

  // Layers: A = its ops, updates, and the delivery of its spikes
  //   3 * 20 + 3 * 80 + 6 * 50 + 3 * 2 + 21 * 3 + 3 * 1000 = 3669 pJ;
  // B = 6 * 20 + 2 * 80 + 4 * 50 = 480 pJ; the input port: 1 delivery = 2 pJ.
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[0].layer, "A");
  EXPECT_NEAR(r.layers[0].dynamic_energy_j, 3669e-12, 1e-18);
  EXPECT_EQ(r.layers[1].layer, "B");
  EXPECT_NEAR(r.layers[1].dynamic_energy_j, 480e-12, 1e-18);
  EXPECT_EQ(r.layers[2].layer, "input:in");
  EXPECT_NEAR(r.layers[2].dynamic_energy_j, 2e-12, 1e-18);
  EXPECT_NEAR(r.layers[0].static_energy_j, r.cores[0].static_energy_j, 1e-18);

  // Rails: vdd takes 3/4 of dynamic and 1/2 of static.
  ASSERT_EQ(r.rails.size(), 2u);
  EXPECT_EQ(r.rails[0].rail, "vdd");
  EXPECT_NEAR(r.rails[0].dynamic_j, 0.75 * stats->dynamic_energy_j, 1e-18);
  EXPECT_NEAR(r.rails[0].static_j, 0.5 * stats->static_energy_j, 1e-18);
}

// A random multi-core network with every table format and neuron model.
BoardImage RandomNetwork(uint64_t seed) {
  TestRng rng(seed);
  const uint32_t cores = 8;
  ImageBuilder b(cores);
  b.AddInput("x", 64);
  b.AddInput("g", 16, SpikeKind::kGraded);
  uint32_t next_table = 1;
  std::vector<std::pair<uint32_t, uint32_t>> groups;  // id, size
  auto random_weights = [&](size_t n, double density) {
    std::vector<int16_t> w(n);
    // Even: mixed-sign 8-bit weights keep their low bit zero.
    for (auto& x : w)
      x = rng.Chance(density) ? static_cast<int16_t>(2 * rng.Uniform(-127, 127)) : 0;
    return w;
  };
  for (uint32_t id = 1; id <= 20; ++id) {
    const uint32_t size = static_cast<uint32_t>(rng.Uniform(5, 80));
    const uint32_t core = static_cast<uint32_t>(rng.Uniform(0, cores - 1));
    const NeuronModel model = id % 7 == 0   ? NeuronModel::kRelay
                              : id % 5 == 0 ? NeuronModel::kAccumulator
                              : id % 6 == 0 ? NeuronModel::kAnd2
                                            : NeuronModel::kCubaLif;
    auto& g = b.AddGroup(id, core, size, model);
    g.du = static_cast<uint16_t>(rng.Uniform(0, 4095));
    g.dv = static_cast<uint16_t>(rng.Uniform(0, 4095));
    g.vth = static_cast<uint32_t>(rng.Uniform(0, 40));
    g.bias_exp = static_cast<int8_t>(rng.Uniform(-3, 3));
    g.bias_mant.resize(size);
    for (auto& m : g.bias_mant) m = static_cast<int16_t>(rng.Uniform(-20, 40));
    if (model == NeuronModel::kRelay) g.output = SpikeKind::kGraded;
    // Fed by an input port (per port for AND2) and by up to two earlier groups.
    const uint32_t ports = model == NeuronModel::kAnd2 ? 2 : 1;
    for (uint8_t port = 0; port < ports; ++port) {
      const bool graded = rng.Chance(0.3);
      const uint32_t in_size = graded ? 16 : 64;
      b.AddDense(next_table++, ImageBuilder::Input(graded ? 1 : 0), id,
                 random_weights(size_t{in_size} * size, 0.5),
                 static_cast<int8_t>(rng.Uniform(-3, 2)), port);
    }
    for (int k = 0; k < 2 && !groups.empty(); ++k) {
      const auto [src, src_size] = groups[static_cast<size_t>(rng.Uniform(0, groups.size() - 1))];
      SynapseTable t;
      t.id = next_table++;
      t.source = ImageBuilder::Group(src);
      t.target_group = id;
      t.weight_exp = static_cast<int8_t>(rng.Uniform(-2, 2));
      if (rng.Chance(0.5)) {
        t.format = SynapseFormat::kSparse;
        t.row_ptr.push_back(0);
        for (uint32_t r = 0; r < src_size; ++r) {
          for (uint32_t c = 0; c < size; ++c) {
            if (!rng.Chance(0.2)) continue;
            t.col.push_back(c);
            t.weights.push_back(static_cast<int16_t>(2 * rng.Uniform(-127, 127)));
          }
          t.row_ptr.push_back(static_cast<uint32_t>(t.col.size()));
        }
      } else {
        t.weights = random_weights(size_t{src_size} * size, 0.6);
      }
      b.AddTable(std::move(t));
    }
    groups.emplace_back(id, size);
  }
  // A conv layer reading the binary input as a 1 x 8 x 8 map, 2 x 8 x 8 out.
  const uint32_t conv_id = 21;
  auto& conv = b.AddGroup(conv_id, 3, 2 * 8 * 8);
  conv.vth = 2;
  conv.dv = 100;
  SynapseTable t;
  t.id = next_table++;
  t.source = ImageBuilder::Input(0);
  t.target_group = conv_id;
  t.format = SynapseFormat::kConv2d;
  t.conv.in_channels = 1;
  t.conv.in_h = t.conv.in_w = 8;
  t.conv.out_channels = 2;
  t.conv.out_h = t.conv.out_w = 8;
  t.conv.kernel_h = t.conv.kernel_w = 3;
  t.conv.pad_h = t.conv.pad_w = 1;
  t.conv.in_c_count = 1;
  t.conv.out_c_count = 2;
  t.weights = random_weights(2 * 9, 1.0);
  b.AddTable(std::move(t));
  b.AddDense(next_table++, ImageBuilder::Group(conv_id), 1,
             random_weights(128 * groups[0].second, 0.3));
  for (const auto& [id, size] : groups)
    b.AddOutput("v" + std::to_string(id), id, OutputSource::kVoltage);
  b.AddOutput("conv", conv_id, OutputSource::kSpikes);
  return b.Build();
}

TEST(ProgramTest, BitIdenticalForAnyThreadCount) {
  const BoardImage image = RandomNetwork(42);
  TestRng rng(7);
  const uint32_t steps = 40;
  std::vector<int32_t> x(size_t{steps} * 64), g(size_t{steps} * 16);
  for (auto& v : x) v = rng.Chance(0.2) ? 1 : 0;
  for (auto& v : g) v = static_cast<int32_t>(rng.Uniform(-300, 300));

  std::vector<std::vector<int32_t>> reference;
  RunReport reference_report;
  for (int threads : {1, 2, 4, 7}) {
    ThreadPool pool(threads);
    auto p = Make(image);
    ASSERT_NE(p, nullptr);
    Write(p.get(), 0, steps, x);
    Write(p.get(), 1, steps, g);
    // Two runs, so the pending input between them is covered too.
    ASSERT_TRUE(p->Run(steps / 2, &pool).ok());
    ASSERT_TRUE(p->Run(steps / 2, &pool).ok());
    std::vector<std::vector<int32_t>> outputs;
    for (uint32_t k = 0; k < image.outputs.size(); ++k) outputs.push_back(Outputs(*p, k));
    const RunReport& r = p->last_run();
    if (threads == 1) {
      reference = outputs;
      reference_report = r;
      // The network must actually do something for the comparison to matter.
      EXPECT_GT(r.work.spikes_out, 100u);
      EXPECT_GT(r.work.synaptic_ops, 1000u);
      continue;
    }
    EXPECT_EQ(outputs, reference) << threads << " threads";
    EXPECT_EQ(r.work, reference_report.work) << threads << " threads";
    EXPECT_EQ(r.step_time_s, reference_report.step_time_s);
    EXPECT_EQ(r.stats.dynamic_energy_j, reference_report.stats.dynamic_energy_j);
    EXPECT_EQ(r.stats.static_energy_j, reference_report.stats.static_energy_j);
    EXPECT_EQ(r.stats.core_dynamic_energy_j, reference_report.stats.core_dynamic_energy_j);
    ASSERT_EQ(r.layers.size(), reference_report.layers.size());
    for (size_t l = 0; l < r.layers.size(); ++l) {
      EXPECT_EQ(r.layers[l].work, reference_report.layers[l].work);
    }
  }
}

}  // namespace
}  // namespace spk::sim

#include "sim/sim_device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using hal::Partition;
using hal::ProgramId;
using hal::format::BoardImage;
using hal::format::NeuronModel;
using hal::format::OutputSource;
using hal::format::SpikeKind;
using ::testing::HasSubstr;
using testing::ImageBuilder;
using testing::TestBoard;
using testing::TestChip;

std::unique_ptr<SimDevice> MakeDevice(uint32_t chips = 1, SimDeviceOptions options = {}) {
  auto device = SimDevice::Create(TestChip(), TestBoard(chips), std::move(options));
  EXPECT_TRUE(device.ok()) << device.status();
  return device.ok() ? std::move(device).value() : nullptr;
}

// in (n) -> relay group of n on `cores` logical cores' first core; the relay
// echoes its input one step later. Graded, so the payload shows the value.
BoardImage Echo(uint32_t n, uint32_t cores = 1) {
  ImageBuilder b(cores);
  b.AddInput("in", n, SpikeKind::kGraded);
  b.AddGroup(1, cores - 1, n, NeuronModel::kRelay).output = SpikeKind::kGraded;
  std::vector<int16_t> identity(size_t{n} * n, 0);
  for (uint32_t i = 0; i < n; ++i) identity[i * n + i] = 1;
  b.AddDense(1, ImageBuilder::Input(0), 1, identity);
  b.AddOutput("out", 1, OutputSource::kPayload);
  return b.Build();
}

std::vector<int32_t> RunEcho(SimDevice* d, ProgramId p, const std::vector<int32_t>& in,
                             uint32_t n) {
  const uint32_t steps = static_cast<uint32_t>(in.size() / n);
  EXPECT_TRUE(d->WriteInputs(p, 0, steps, in).ok());
  auto stats = d->Run(p, steps + 1);
  EXPECT_TRUE(stats.ok()) << stats.status();
  auto out = d->ReadOutputs(p, 0);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<int32_t>{};
}

TEST(SimDeviceTest, Identifies) {
  auto d = MakeDevice(4, {.id = "sim3"});
  const hal::DeviceInfo& info = d->info();
  EXPECT_EQ(info.id, "sim3");
  EXPECT_EQ(info.driver, "sim");
  EXPECT_EQ(info.serial, "SIM-sim3");
  EXPECT_EQ(info.chip_profile, "test");
  EXPECT_EQ(info.board_profile, "test-board-4");
  EXPECT_EQ(info.chips, 4u);
  EXPECT_EQ(info.total_cores(), 64u);
  EXPECT_EQ(d->CheckHealth().state, hal::HealthState::kOk);
}

TEST(SimDeviceTest, LoadsIntoAPartitionAndRuns) {
  auto d = MakeDevice();
  auto p = d->Load(Echo(3, 2), Partition{{9, 4}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(RunEcho(d.get(), *p, {1, 2, 3, 0, -4, 0}, 3),
            (std::vector<int32_t>{0, 0, 0, 1, 2, 3, 0, -4, 0}));
  auto report = d->LastRunReport(*p);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->cores.size(), 2u);
  EXPECT_EQ(report->cores[0].physical_core, 9u);
  EXPECT_EQ(report->cores[1].physical_core, 4u);
  // 4 non-zero inputs, each a dense row of 3 synapses (zeros are stored synapses too).
  EXPECT_EQ(report->stats.synaptic_ops, 4u * 3);
}

TEST(SimDeviceTest, TwoProgramsShareABoard) {
  auto d = MakeDevice();
  auto a = d->Load(Echo(2), Partition{{0, 1}});
  auto b = d->Load(Echo(4), Partition{{2}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(RunEcho(d.get(), *a, {7, 8}, 2), (std::vector<int32_t>{0, 0, 7, 8}));
  EXPECT_EQ(RunEcho(d.get(), *b, {1, 2, 3, 4}, 4), (std::vector<int32_t>{0, 0, 0, 0, 1, 2, 3, 4}));
  // Concurrently, from two threads: each program keeps its own state.
  std::vector<int32_t> out_a, out_b;
  std::thread ta([&] { out_a = RunEcho(d.get(), *a, {5, 6, 0, 1}, 2); });
  std::thread tb([&] { out_b = RunEcho(d.get(), *b, {9, 9, 9, 9}, 4); });
  ta.join();
  tb.join();
  EXPECT_EQ(out_a, (std::vector<int32_t>{0, 0, 5, 6, 0, 1}));
  EXPECT_EQ(out_b, (std::vector<int32_t>{0, 0, 0, 0, 9, 9, 9, 9}));
}

TEST(SimDeviceTest, PartitionsMustBeFreeValidAndLargeEnough) {
  auto d = MakeDevice();
  auto a = d->Load(Echo(2), Partition{{3, 4}});
  ASSERT_TRUE(a.ok());
  auto overlap = d->Load(Echo(2), Partition{{5, 4}});
  EXPECT_EQ(overlap.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(overlap.status().message()),
              HasSubstr("core 4 is taken by program " + std::to_string(*a)));
  auto small = d->Load(Echo(2, 3), Partition{{6, 7}});
  EXPECT_EQ(small.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(d->Load(Echo(2), Partition{{16}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Load(Echo(2), Partition{{6, 6}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Load(Echo(2), Partition{}).status().code(), StatusCode::kInvalidArgument);
  // Unloading frees the cores.
  ASSERT_TRUE(d->Unload(*a).ok());
  EXPECT_TRUE(d->Load(Echo(2), Partition{{5, 4}}).ok());
}

TEST(SimDeviceTest, UnknownProgramIsNotFound) {
  auto d = MakeDevice();
  const ProgramId missing = 999;
  EXPECT_EQ(d->Run(missing, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(d->WriteInputs(missing, 0, 0, {}).code(), StatusCode::kNotFound);
  EXPECT_EQ(d->ReadOutputs(missing, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(d->ResetState(missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(d->Unload(missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(d->LastRunReport(missing).status().code(), StatusCode::kNotFound);
}

TEST(SimDeviceTest, WrongInputSizeIsInvalidArgument) {
  auto d = MakeDevice();
  auto p = d->Load(Echo(3), Partition{{0}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(d->WriteInputs(*p, 0, 2, std::vector<int32_t>(5)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->WriteInputs(*p, 1, 1, std::vector<int32_t>(3)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->ReadOutputs(*p, 4).status().code(), StatusCode::kInvalidArgument);
}

TEST(SimDeviceTest, RefusesImagesThatFailValidationOrLimits) {
  auto chip = TestChip();
  chip.core.neurons = 64;
  auto d = SimDevice::Create(chip, TestBoard(1));
  ASSERT_TRUE(d.ok());
  ImageBuilder big(2);
  big.AddGroup(1, 1, 100).layer = "encoder.fc";
  auto s = (*d)->Load(big.Build(), Partition{{0, 1}}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("core 1: group 1 (layer 'encoder.fc') has 100 neurons, more than the "
                        "core's limit of 64"));

  // A table from a group with no route to its target's core fails the
  // format's validator; the message is the validator's.
  ImageBuilder routed(2);
  routed.AddGroup(1, 0, 2);
  routed.AddGroup(2, 1, 2);
  routed.AddDense(1, ImageBuilder::Group(1), 2, {1, 1, 1, 1});
  BoardImage image = routed.Build();
  image.routes.clear();
  s = (*d)->Load(image, Partition{{0, 1}}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("no route carries group 1"));

  ImageBuilder other(1, "loihi2");
  other.AddGroup(1, 0, 1);
  EXPECT_EQ((*d)->Load(other.Build(), Partition{{0}}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(SimDeviceTest, BoardsAreIndependent) {
  auto d0 = MakeDevice(1, {.id = "sim0"});
  auto d1 = MakeDevice(1, {.id = "sim1"});
  auto p0 = d0->Load(Echo(2), Partition{{0}});
  auto p1 = d1->Load(Echo(2), Partition{{0}});  // same core number, other board
  ASSERT_TRUE(p0.ok() && p1.ok());
  EXPECT_EQ(RunEcho(d0.get(), *p0, {1, 1}, 2), (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(RunEcho(d1.get(), *p1, {4, 5, 6, 7}, 2), (std::vector<int32_t>{0, 0, 4, 5, 6, 7}));
  EXPECT_EQ(d0->ReadTelemetry()->steps_total, 2u);
  EXPECT_EQ(d1->ReadTelemetry()->steps_total, 3u);
  ASSERT_TRUE(d0->Reset().ok());
  EXPECT_EQ(d0->Run(*p0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(d1->Run(*p1, 1).ok());
}

TEST(SimDeviceTest, ResetUnloadsEverythingAndFreesCores) {
  auto d = MakeDevice();
  auto p = d->Load(Echo(2), Partition{{0}});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(d->Reset().ok());
  EXPECT_EQ(d->ReadOutputs(*p, 0).status().code(), StatusCode::kNotFound);
  auto again = d->Load(Echo(2), Partition{{0}});
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *p);  // ids are never reused
}

TEST(SimDeviceTest, TelemetryFollowsTheEnergyAndThermalModels) {
  double now = 100.0;
  auto d = MakeDevice(2, {.clock = [&now] { return now; }});
  // TestChip: 0.5 W static per chip, rails vdd/vddm share static 1:1, dynamic 3:1;
  // R = 10 C/W, tau = 2 s, ambient 25 C.
  auto t = d->ReadTelemetry();
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->power_w["vdd"].value, 0.5);
  EXPECT_DOUBLE_EQ(t->power_w["vddm"].value, 0.5);
  EXPECT_DOUBLE_EQ(t->temperature_c.value, 25.0);
  EXPECT_DOUBLE_EQ(t->energy_total_j.value, 0.0);

  // Idle for 2 s = tau: T = 35 + (25 - 35) / e with P = 1 W static.
  now += 2.0;
  t = d->ReadTelemetry();
  EXPECT_NEAR(t->temperature_c.value, 35.0 - 10.0 / std::exp(1.0), 1e-9);
  EXPECT_DOUBLE_EQ(t->energy_total_j.value, 2.0);

  auto p = d->Load(Echo(4), Partition{{0}});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(d->WriteInputs(*p, 0, 1, std::vector<int32_t>{1, 2, 3, 4}).ok());
  auto stats = d->Run(*p, 2);
  ASSERT_TRUE(stats.ok());
  const double e = stats->dynamic_energy_j;
  EXPECT_GT(e, 0);
  now += 0.5;
  t = d->ReadTelemetry();
  // The run finished 0.5 s ago, inside the 1 s window: e spread over 1 s.
  EXPECT_NEAR(t->power_w["vdd"].value, 0.5 + 0.75 * e, 1e-15);
  EXPECT_NEAR(t->power_w["vddm"].value, 0.5 + 0.25 * e, 1e-15);
  EXPECT_NEAR(t->energy_total_j.value, 2.5 + e, 1e-12);
  EXPECT_EQ(t->steps_total, 2u);
  now += 1.0;
  t = d->ReadTelemetry();
  EXPECT_DOUBLE_EQ(t->power_w["vdd"].value, 0.5);  // out of the window
}

TEST(SimDeviceTest, InjectedFaults) {
  auto d = MakeDevice();
  auto p = d->Load(Echo(2), Partition{{0}});
  ASSERT_TRUE(p.ok());
  d->InjectFault(SimFault::kStepFault, 3);
  auto run = d->Run(*p, 10);
  EXPECT_EQ(run.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("at step 3"));
  EXPECT_EQ(d->CheckHealth().state, hal::HealthState::kDegraded);
  EXPECT_EQ(d->ReadTelemetry()->errors_total, 1u);
  EXPECT_TRUE(d->Run(*p, 1).ok());  // one-shot

  d->InjectFault(SimFault::kUnplugged);
  EXPECT_EQ(d->CheckHealth().state, hal::HealthState::kGone);
  EXPECT_EQ(d->Run(*p, 1).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(d->ReadTelemetry().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(d->Reset().code(), StatusCode::kUnavailable);
  d->InjectFault(SimFault::kNone);
  EXPECT_EQ(d->CheckHealth().state, hal::HealthState::kOk);
  EXPECT_TRUE(d->Run(*p, 1).ok());
}

}  // namespace
}  // namespace spk::sim

namespace spk::sim {
namespace {

TEST(SimDeviceTest, TableDelayPostponesDelivery) {
  auto d = MakeDevice();
  BoardImage image = Echo(2);
  image.tables[0].delay = 2;  // inherent step + 2 extra
  image.meta.run_steps = 8;
  auto p = d->Load(image, Partition{{0}});
  ASSERT_TRUE(p.ok()) << p.status();
  // A payload sent at step 0 reaches the relay at step 3 instead of 1.
  std::vector<int32_t> in = {5, 0, 0, 7};
  std::vector<int32_t> out = RunEcho(d.get(), *p, in, 2);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_THAT(out, ::testing::ElementsAre(0, 0, 0, 0, 0, 0));
  ASSERT_TRUE(d->Run(*p, 2).ok());
  auto later = d->ReadOutputs(*p, 0);
  ASSERT_TRUE(later.ok());
  // Steps 3 and 4 since the first write: input step 0 then step 1.
  EXPECT_THAT(*later, ::testing::ElementsAre(5, 0, 0, 7));
}

TEST(SimDeviceTest, DelayedInputDoesNotSurviveResetState) {
  auto d = MakeDevice();
  BoardImage image = Echo(1);
  image.tables[0].delay = 3;
  auto p = d->Load(image, Partition{{0}});
  ASSERT_TRUE(p.ok());
  std::vector<int32_t> in = {9};
  RunEcho(d.get(), *p, in, 1);
  ASSERT_TRUE(d->ResetState(*p).ok());
  ASSERT_TRUE(d->Run(*p, 6).ok());
  auto out = d->ReadOutputs(*p, 0);
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(*out, ::testing::Each(0));
}

TEST(SimDeviceTest, StartStepHoldsAGroupDuringPipelineFill) {
  auto d = MakeDevice();
  ImageBuilder b(1);
  b.AddInput("in", 1);
  auto& g = b.AddGroup(1, 0, 1);
  g.du = 4095;
  g.dv = 4095;
  g.vth = 0;
  g.bias_mant = {100};  // fires every step on its own once enabled
  g.start_step = 3;
  b.AddDense(1, ImageBuilder::Input(0), 1, {2});
  b.AddOutput("out", 1, OutputSource::kSpikes);
  BoardImage image = b.Build();
  image.meta.run_steps = 5;
  auto p = d->Load(image, Partition{{0}});
  ASSERT_TRUE(p.ok()) << p.status();
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(d->ResetState(*p).ok());
    ASSERT_TRUE(d->Run(*p, 5).ok());
    auto out = d->ReadOutputs(*p, 0);
    ASSERT_TRUE(out.ok());
    EXPECT_THAT(*out, ::testing::ElementsAre(0, 0, 0, 1, 1)) << "round " << round;
  }
}

}  // namespace
}  // namespace spk::sim

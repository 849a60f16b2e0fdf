#include "hal/cts/hal_cts.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "hal/cts/echo_image.h"

namespace spk::hal::cts {
namespace {

constexpr uint32_t kSteps = 16;

// Ids a device never issued: the largest one, which no counter reaches.
constexpr ProgramId kNeverIssued = std::numeric_limits<ProgramId>::max();

#define SPK_CTS_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  SPK_CTS_ASSERT_OK_AND_ASSIGN_IMPL_(SPK_STATUS_CONCAT_(spk_cts_or_, __LINE__), lhs, rexpr)
#define SPK_CTS_ASSERT_OK_AND_ASSIGN_IMPL_(var, lhs, rexpr) \
  auto var = (rexpr);                                       \
  ASSERT_TRUE(var.ok()) << #rexpr << ": " << var.status();  \
  lhs = std::move(var).value()

#define SPK_CTS_EXPECT_CODE(expr, expected_code)                                  \
  do {                                                                            \
    const ::spk::Status spk_cts_status_ = ::spk::internal_status::AsStatus(expr); \
    EXPECT_EQ(spk_cts_status_.code(), (expected_code))                            \
        << #expr << " returned " << spk_cts_status_;                              \
  } while (false)

uint64_t CountSpikes(std::span<const int32_t> values) {
  return static_cast<uint64_t>(std::count(values.begin(), values.end(), 1));
}

bool FiniteNonNegative(double x) { return std::isfinite(x) && x >= 0; }

// The counters an echo run must report: exact where the image makes them
// exact, plausible where they depend on the chip's cost model.
void ExpectEchoStats(const RunStats& stats, uint32_t cores, uint32_t steps, uint64_t input_spikes,
                     uint64_t output_spikes) {
  EXPECT_EQ(stats.steps, steps);
  // Every input spike is applied to a whole dense row in each core's table.
  EXPECT_EQ(stats.synaptic_ops, input_spikes * kEchoWidth * cores);
  // Every neuron is on the output port, so each spike it fires is seen.
  EXPECT_EQ(stats.spikes, output_spikes);
  EXPECT_GT(stats.chip_time_s, 0);
  EXPECT_TRUE(std::isfinite(stats.chip_time_s));
  EXPECT_PRED1(FiniteNonNegative, stats.host_link_time_s);
  EXPECT_PRED1(FiniteNonNegative, stats.dynamic_energy_j);
  EXPECT_PRED1(FiniteNonNegative, stats.static_energy_j);
  // Per logical core, when reported at all.
  for (const auto* per_core : {&stats.core_dynamic_energy_j, &stats.core_time_s}) {
    if (per_core->empty()) continue;
    EXPECT_EQ(per_core->size(), cores);
    for (double x : *per_core) EXPECT_PRED1(FiniteNonNegative, x);
  }
}

}  // namespace

std::string DriverUnderTestName(const ::testing::TestParamInfo<DriverUnderTest>& info) {
  return info.param.name;
}

void PrintTo(const DriverUnderTest& driver, std::ostream* os) { *os << driver.name; }

void HalConformanceTest::SetUp() {
  const DriverUnderTest& param = GetParam();
  ASSERT_TRUE(param.factory) << param.name << ": no factory";
  // Absent hardware is a skip, never a failure, unless the driver is one that
  // cannot be absent.
  auto absent = [&](const Status& status) {
    return status.code() == StatusCode::kUnavailable && !param.always_present;
  };

  auto driver = param.factory();
  if (!driver.ok() && absent(driver.status())) {
    GTEST_SKIP() << param.name << ": driver unavailable: " << driver.status();
  }
  ASSERT_TRUE(driver.ok()) << param.name << ": " << driver.status();
  driver_ = std::move(driver).value();
  ASSERT_NE(driver_, nullptr);

  auto devices = driver_->Enumerate();
  if (!devices.ok() && absent(devices.status())) {
    GTEST_SKIP() << param.name << ": cannot enumerate: " << devices.status();
  }
  ASSERT_TRUE(devices.ok()) << param.name << ": Enumerate: " << devices.status();
  enumerated_ = std::move(devices).value();
  if (enumerated_.empty() && !param.always_present) {
    GTEST_SKIP() << param.name << ": no board present";
  }
  ASSERT_FALSE(enumerated_.empty()) << param.name << ": Enumerate found no board";
  descriptor_ = enumerated_.front();

  auto device = driver_->Open(descriptor_.id);
  if (!device.ok() && absent(device.status())) {
    GTEST_SKIP() << param.name << ": board " << descriptor_.id << " busy: " << device.status();
  }
  ASSERT_TRUE(device.ok()) << param.name << ": Open(" << descriptor_.id << "): " << device.status();
  device_ = std::move(device).value();
  ASSERT_NE(device_, nullptr);
  // A board another process used may still hold its programs.
  const Status reset = device_->Reset();
  ASSERT_TRUE(reset.ok()) << param.name << ": Reset: " << reset;
}

void HalConformanceTest::TearDown() {
  // A device may not outlive its driver (hal/driver.h).
  device_.reset();
  driver_.reset();
}

bool HalConformanceTest::HasCores(uint32_t cores) const {
  return device_->info().total_cores() >= cores;
}

StatusOr<ProgramId> HalConformanceTest::LoadEcho(uint32_t cores, std::vector<uint32_t> partition) {
  return device_->Load(MakeEchoImage(device_->info().chip_profile, cores),
                       Partition{std::move(partition)});
}

StatusOr<std::vector<int32_t>> HalConformanceTest::RunEcho(ProgramId program, uint32_t steps,
                                                           std::span<const int32_t> input,
                                                           RunStats* stats) {
  SPK_RETURN_IF_ERROR(device_->WriteInputs(program, 0, steps, input));
  SPK_ASSIGN_OR_RETURN(RunStats run, device_->Run(program, steps));
  if (stats != nullptr) *stats = std::move(run);
  return device_->ReadOutputs(program, 0);
}

void HalConformanceTest::ExpectEchoRun(ProgramId program, uint32_t cores, uint32_t steps,
                                       const std::vector<int32_t>& input,
                                       std::span<const int32_t> carry) {
  RunStats stats;
  SPK_CTS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out, RunEcho(program, steps, input, &stats));
  const std::vector<int32_t> expected = ExpectedEchoOutput(input, steps, cores, carry);
  EXPECT_EQ(out, expected) << "program " << program << " echoed wrongly";
  ExpectEchoStats(stats, cores, steps, CountSpikes(input), CountSpikes(expected));
}

// --- Driver ---------------------------------------------------------------

TEST_P(HalConformanceTest, EnumerateListsTheOpenedBoard) {
  std::set<std::string> ids;
  for (const DeviceDescriptor& d : enumerated_) {
    EXPECT_FALSE(d.id.empty());
    EXPECT_TRUE(ids.insert(d.id).second) << "id " << d.id << " listed twice";
  }
  EXPECT_EQ(device_->info().id, descriptor_.id);
  // Enumerating again while a board is open still lists it.
  SPK_CTS_ASSERT_OK_AND_ASSIGN(auto again, driver_->Enumerate());
  EXPECT_TRUE(std::any_of(again.begin(), again.end(),
                          [&](const DeviceDescriptor& d) { return d.id == descriptor_.id; }));
}

TEST_P(HalConformanceTest, OpenOfAnUnknownIdIsNotFound) {
  SPK_CTS_EXPECT_CODE(driver_->Open("no-such-board").status(), StatusCode::kNotFound);
  SPK_CTS_EXPECT_CODE(driver_->Open("").status(), StatusCode::kNotFound);
}

TEST_P(HalConformanceTest, ClosedBoardOpensAgain) {
  device_.reset();
  SPK_CTS_ASSERT_OK_AND_ASSIGN(device_, driver_->Open(descriptor_.id));
  EXPECT_EQ(device_->info().id, descriptor_.id);
  ASSERT_TRUE(device_->Reset().ok());
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(1, {0}));
  ExpectEchoRun(p, 1, kSteps, MakeEchoInput(1, kSteps));
}

// --- Device info, health, telemetry -----------------------------------------

TEST_P(HalConformanceTest, InfoIsComplete) {
  const DeviceInfo& info = device_->info();
  EXPECT_EQ(info.id, descriptor_.id);
  EXPECT_EQ(info.driver, driver_->name());
  EXPECT_FALSE(info.serial.empty());
  EXPECT_FALSE(info.firmware_version.empty());
  EXPECT_FALSE(info.board_profile.empty());
  EXPECT_FALSE(info.chip_profile.empty());
  EXPECT_GT(info.chips, 0u);
  EXPECT_GT(info.cores_per_chip, 0u);
  EXPECT_EQ(info.total_cores(), info.chips * info.cores_per_chip);
  // What enumeration could tell must agree with what the open board says.
  if (!descriptor_.serial.empty()) {
    EXPECT_EQ(descriptor_.serial, info.serial);
  }
  if (!descriptor_.board_profile.empty()) {
    EXPECT_EQ(descriptor_.board_profile, info.board_profile);
  }
  if (!descriptor_.chip_profile.empty()) {
    EXPECT_EQ(descriptor_.chip_profile, info.chip_profile);
  }
}

TEST_P(HalConformanceTest, HealthyBoardIsOk) {
  Health health = device_->CheckHealth();
  EXPECT_EQ(health.state, HealthState::kOk) << health.detail;
  EXPECT_TRUE(health.detail.empty()) << health.detail;
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(1, {0}));
  ExpectEchoRun(p, 1, kSteps, MakeEchoInput(2, kSteps));
  health = device_->CheckHealth();
  EXPECT_EQ(health.state, HealthState::kOk) << health.detail;
}

TEST_P(HalConformanceTest, TelemetryIsReportedOrMarkedUnsupported) {
  auto check = [](const Telemetry& t) {
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_LT(std::abs(t.timestamp_s - now), 3600) << "timestamp is not CLOCK_REALTIME";
    for (const auto& [rail, power] : t.power_w) {
      EXPECT_FALSE(rail.empty());
      if (power.supported) {
        EXPECT_PRED1(FiniteNonNegative, power.value) << rail;
      }
    }
    if (t.temperature_c.supported) {
      EXPECT_TRUE(t.temperature_c.value > -50 && t.temperature_c.value < 150)
          << t.temperature_c.value;
    }
    if (t.energy_total_j.supported) {
      EXPECT_PRED1(FiniteNonNegative, t.energy_total_j.value);
    }
  };
  SPK_CTS_ASSERT_OK_AND_ASSIGN(Telemetry before, device_->ReadTelemetry());
  check(before);
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(1, {0}));
  ExpectEchoRun(p, 1, kSteps, MakeEchoInput(3, kSteps));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(Telemetry after, device_->ReadTelemetry());
  check(after);
  EXPECT_GE(after.steps_total, before.steps_total + kSteps);
  if (before.energy_total_j.supported && after.energy_total_j.supported) {
    EXPECT_GE(after.energy_total_j.value, before.energy_total_j.value);
  }
}

// --- Loading and running ----------------------------------------------------

TEST_P(HalConformanceTest, EchoRunGivesExactSpikesAndCounters) {
  if (!HasCores(2)) GTEST_SKIP() << "needs 2 cores";
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId one, LoadEcho(1, {0}));
  ExpectEchoRun(one, 1, kSteps, MakeEchoInput(4, kSteps));
  // Two logical cores, mapped in the order the partition lists them.
  const uint32_t last = device_->info().total_cores() - 1;
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId two, LoadEcho(2, {last, 1}));
  EXPECT_NE(one, two);
  ExpectEchoRun(two, 2, kSteps, MakeEchoInput(5, kSteps));
  // A single step.
  ASSERT_TRUE(device_->ResetState(one).ok());
  ExpectEchoRun(one, 1, 1, MakeEchoInput(6, 1));
  // A run longer than the input queued: the missing steps inject nothing.
  ASSERT_TRUE(device_->ResetState(one).ok());
  std::vector<int32_t> input = MakeEchoInput(23, 2);
  ASSERT_TRUE(device_->WriteInputs(one, 0, 2, input).ok());
  SPK_CTS_ASSERT_OK_AND_ASSIGN(RunStats stats, device_->Run(one, kSteps));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out, device_->ReadOutputs(one, 0));
  const uint64_t input_spikes = CountSpikes(input);
  input.resize(kSteps * kEchoWidth, 0);
  EXPECT_EQ(out, ExpectedEchoOutput(input, kSteps, 1));
  ExpectEchoStats(stats, 1, kSteps, input_spikes, CountSpikes(out));
}

TEST_P(HalConformanceTest, StateCarriesOverUntilResetState) {
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(1, {0}));
  const std::vector<int32_t> input = MakeEchoInput(7, kSteps);
  const std::span<const int32_t> last_step =
      std::span<const int32_t>(input).subspan((kSteps - 1) * kEchoWidth, kEchoWidth);
  ExpectEchoRun(p, 1, kSteps, input);
  // Streaming: the last step's input is in flight and comes out first.
  ExpectEchoRun(p, 1, kSteps, input, last_step);
  // Independent inferences: the same input gives the same output.
  ASSERT_TRUE(device_->ResetState(p).ok());
  ExpectEchoRun(p, 1, kSteps, input);
  ASSERT_TRUE(device_->ResetState(p).ok());
  ExpectEchoRun(p, 1, kSteps, input);
  // Steps with no queued input inject nothing.
  ASSERT_TRUE(device_->ResetState(p).ok());
  RunStats stats;
  SPK_CTS_ASSERT_OK_AND_ASSIGN(stats, device_->Run(p, kSteps));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out, device_->ReadOutputs(p, 0));
  EXPECT_EQ(out, std::vector<int32_t>(kSteps * kEchoWidth, 0));
  ExpectEchoStats(stats, 1, kSteps, 0, 0);
}

TEST_P(HalConformanceTest, ResetUnloadsEveryProgram) {
  if (!HasCores(3)) GTEST_SKIP() << "needs 3 cores";
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId a, LoadEcho(1, {0}));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId b, LoadEcho(2, {1, 2}));
  ASSERT_TRUE(device_->Reset().ok());
  for (ProgramId p : {a, b}) {
    SPK_CTS_EXPECT_CODE(device_->Run(p, 1).status(), StatusCode::kNotFound);
    SPK_CTS_EXPECT_CODE(device_->Unload(p), StatusCode::kNotFound);
  }
  // Their cores are free again.
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId c, LoadEcho(2, {0, 1}));
  ExpectEchoRun(c, 2, kSteps, MakeEchoInput(8, kSteps));
  ASSERT_TRUE(device_->Reset().ok());  // twice in a row is fine
  ASSERT_TRUE(device_->Reset().ok());
}

TEST_P(HalConformanceTest, ProgramsOnDisjointPartitionsRunIndependently) {
  if (!HasCores(3)) GTEST_SKIP() << "needs 3 cores";
  const uint32_t last = device_->info().total_cores() - 1;
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId a, LoadEcho(2, {0, 1}));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId b, LoadEcho(1, {last}));
  const std::vector<int32_t> in_a = MakeEchoInput(9, kSteps);
  const std::vector<int32_t> in_b = MakeEchoInput(10, kSteps);
  // Input queued for one program is not consumed by the other's run.
  ASSERT_TRUE(device_->WriteInputs(a, 0, kSteps, in_a).ok());
  ASSERT_TRUE(device_->WriteInputs(b, 0, kSteps, in_b).ok());
  SPK_CTS_ASSERT_OK_AND_ASSIGN(RunStats stats_b, device_->Run(b, kSteps));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(RunStats stats_a, device_->Run(a, kSteps));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out_a, device_->ReadOutputs(a, 0));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out_b, device_->ReadOutputs(b, 0));
  EXPECT_EQ(out_a, ExpectedEchoOutput(in_a, kSteps, 2));
  EXPECT_EQ(out_b, ExpectedEchoOutput(in_b, kSteps, 1));
  ExpectEchoStats(stats_a, 2, kSteps, CountSpikes(in_a), CountSpikes(out_a));
  ExpectEchoStats(stats_b, 1, kSteps, CountSpikes(in_b), CountSpikes(out_b));
  // Resetting or unloading one leaves the other's state alone.
  ASSERT_TRUE(device_->ResetState(a).ok());
  ExpectEchoRun(b, 1, kSteps, in_b, std::span<const int32_t>(in_b).last(kEchoWidth));
  ASSERT_TRUE(device_->Unload(a).ok());
  ExpectEchoRun(b, 1, kSteps, in_a, std::span<const int32_t>(in_b).last(kEchoWidth));
}

// --- Partitions -------------------------------------------------------------

TEST_P(HalConformanceTest, TakenCoresAreResourceExhausted) {
  if (!HasCores(4)) GTEST_SKIP() << "needs 4 cores";
  // A partition owns all its cores, including ones the image does not use.
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId a, LoadEcho(1, {0, 1}));
  SPK_CTS_EXPECT_CODE(LoadEcho(1, {0}), StatusCode::kResourceExhausted);
  SPK_CTS_EXPECT_CODE(LoadEcho(1, {1}), StatusCode::kResourceExhausted);
  SPK_CTS_EXPECT_CODE(LoadEcho(2, {2, 1}), StatusCode::kResourceExhausted);
  // The refused loads took nothing: core 2 is still free, `a` still runs.
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId b, LoadEcho(2, {2, 3}));
  ExpectEchoRun(a, 1, kSteps, MakeEchoInput(11, kSteps));
  ExpectEchoRun(b, 2, kSteps, MakeEchoInput(12, kSteps));
}

TEST_P(HalConformanceTest, PartitionWithTooFewCoresIsResourceExhausted) {
  if (!HasCores(3)) GTEST_SKIP() << "needs 3 cores";
  // device.h: RESOURCE_EXHAUSTED when the partition's cores are too few.
  SPK_CTS_EXPECT_CODE(LoadEcho(3, {0, 1}), StatusCode::kResourceExhausted);
  SPK_CTS_EXPECT_CODE(LoadEcho(2, {0}), StatusCode::kResourceExhausted);
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(3, {0, 1, 2}));
  ExpectEchoRun(p, 3, kSteps, MakeEchoInput(13, kSteps));
}

TEST_P(HalConformanceTest, BadPartitionIsInvalidArgument) {
  if (!HasCores(2)) GTEST_SKIP() << "needs 2 cores";
  const uint32_t total = device_->info().total_cores();
  SPK_CTS_EXPECT_CODE(LoadEcho(1, {total}), StatusCode::kInvalidArgument);
  SPK_CTS_EXPECT_CODE(LoadEcho(2, {0, total + 7}), StatusCode::kInvalidArgument);
  SPK_CTS_EXPECT_CODE(LoadEcho(1, {std::numeric_limits<uint32_t>::max()}),
                      StatusCode::kInvalidArgument);
  SPK_CTS_EXPECT_CODE(LoadEcho(2, {1, 1}), StatusCode::kInvalidArgument);
  // Nothing was taken by the refused loads.
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(2, {0, 1}));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId q, LoadEcho(1, {total - 1}));
  ExpectEchoRun(p, 2, kSteps, MakeEchoInput(14, kSteps));
  ExpectEchoRun(q, 1, kSteps, MakeEchoInput(15, kSteps));
}

TEST_P(HalConformanceTest, UnloadFreesTheCores) {
  if (!HasCores(2)) GTEST_SKIP() << "needs 2 cores";
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId a, LoadEcho(2, {0, 1}));
  ASSERT_TRUE(device_->Unload(a).ok());
  SPK_CTS_EXPECT_CODE(device_->Unload(a), StatusCode::kNotFound);
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId b, LoadEcho(2, {1, 0}));
  EXPECT_NE(a, b) << "a program id was reused";
  ExpectEchoRun(b, 2, kSteps, MakeEchoInput(16, kSteps));
}

// --- Errors -----------------------------------------------------------------

TEST_P(HalConformanceTest, UnknownProgramIsNotFoundOnEveryCall) {
  if (!HasCores(2)) GTEST_SKIP() << "needs 2 cores";
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId live, LoadEcho(1, {0}));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId stale, LoadEcho(1, {1}));
  ASSERT_TRUE(device_->Unload(stale).ok());
  const std::vector<int32_t> input = MakeEchoInput(17, 1);
  for (ProgramId p : {stale, kNeverIssued}) {
    SCOPED_TRACE("program " + std::to_string(p));
    SPK_CTS_EXPECT_CODE(device_->Unload(p), StatusCode::kNotFound);
    SPK_CTS_EXPECT_CODE(device_->ResetState(p), StatusCode::kNotFound);
    SPK_CTS_EXPECT_CODE(device_->WriteInputs(p, 0, 1, input), StatusCode::kNotFound);
    SPK_CTS_EXPECT_CODE(device_->Run(p, 1), StatusCode::kNotFound);
    SPK_CTS_EXPECT_CODE(device_->ReadOutputs(p, 0), StatusCode::kNotFound);
  }
  ExpectEchoRun(live, 1, kSteps, MakeEchoInput(18, kSteps));
}

TEST_P(HalConformanceTest, BadInputsAreInvalidArgumentAndChangeNothing) {
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(1, {0}));
  const std::vector<int32_t> input = MakeEchoInput(19, kSteps);
  const std::span<const int32_t> all(input);
  SPK_CTS_EXPECT_CODE(device_->WriteInputs(p, 0, kSteps, all.first(all.size() - 1)),
                      StatusCode::kInvalidArgument);
  std::vector<int32_t> longer = input;
  longer.push_back(0);
  SPK_CTS_EXPECT_CODE(device_->WriteInputs(p, 0, kSteps, longer), StatusCode::kInvalidArgument);
  SPK_CTS_EXPECT_CODE(device_->WriteInputs(p, 0, kSteps - 1, all), StatusCode::kInvalidArgument);
  SPK_CTS_EXPECT_CODE(device_->WriteInputs(p, 1, kSteps, all), StatusCode::kInvalidArgument);
  // The port is binary: a spike is 0 or 1.
  std::vector<int32_t> graded = input;
  graded[kEchoWidth + 2] = 2;
  SPK_CTS_EXPECT_CODE(device_->WriteInputs(p, 0, kSteps, graded), StatusCode::kInvalidArgument);
  SPK_CTS_EXPECT_CODE(device_->ReadOutputs(p, 1), StatusCode::kInvalidArgument);
  // None of the refused writes queued anything.
  ExpectEchoRun(p, 1, kSteps, input);
}

TEST_P(HalConformanceTest, InvalidImageIsRefusedAndDisturbsNothing) {
  if (!HasCores(2)) GTEST_SKIP() << "needs 2 cores";
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(1, {0}));
  const std::vector<int32_t> input = MakeEchoInput(20, kSteps);
  ASSERT_TRUE(device_->WriteInputs(p, 0, kSteps, input).ok());

  const std::string chip = device_->info().chip_profile;
  format::BoardImage dangling = MakeEchoImage(chip, 1);
  dangling.tables[0].target_group = 99;  // no such group
  SPK_CTS_EXPECT_CODE(device_->Load(dangling, Partition{{1}}), StatusCode::kInvalidArgument);
  format::BoardImage too_big = MakeEchoImage(chip, 1);
  too_big.groups[0].du = 5000;  // a 12-bit field
  SPK_CTS_EXPECT_CODE(device_->Load(too_big, Partition{{1}}), StatusCode::kInvalidArgument);
  format::BoardImage no_cover = MakeEchoImage(chip, 1);
  no_cover.outputs[0].segments.clear();
  SPK_CTS_EXPECT_CODE(device_->Load(no_cover, Partition{{1}}), StatusCode::kInvalidArgument);
  // An image compiled for another chip is a profile mismatch.
  SPK_CTS_EXPECT_CODE(device_->Load(MakeEchoImage(chip + "-other", 1), Partition{{1}}),
                      StatusCode::kFailedPrecondition);

  // The loaded program kept its queued input, and core 1 is still free.
  SPK_CTS_ASSERT_OK_AND_ASSIGN(RunStats stats, device_->Run(p, kSteps));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> out, device_->ReadOutputs(p, 0));
  EXPECT_EQ(out, ExpectedEchoOutput(input, kSteps, 1));
  ExpectEchoStats(stats, 1, kSteps, CountSpikes(input), CountSpikes(out));
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId q, LoadEcho(1, {1}));
  ExpectEchoRun(q, 1, kSteps, MakeEchoInput(21, kSteps));
}

// --- Threads ----------------------------------------------------------------

// Several threads each load, drive and unload their own program at once,
// while another reads telemetry and health: every call must succeed and every
// output be exact. No sleeps: the threads simply race.
TEST_P(HalConformanceTest, ProgramsOnSeveralThreadsAreSafeAndExact) {
  constexpr uint32_t kCoresEach = 2;
  constexpr int kRounds = 8;
  const uint32_t workers = std::min<uint32_t>(4, device_->info().total_cores() / kCoresEach);
  if (workers < 2) GTEST_SKIP() << "needs " << 2 * kCoresEach << " cores";

  std::vector<std::string> errors(workers + 1);
  auto work = [&](uint32_t w) {
    std::string& error = errors[w];
    auto loaded = LoadEcho(kCoresEach, {w * kCoresEach + 1, w * kCoresEach});
    if (!loaded.ok()) {
      error = "Load: " + loaded.status().ToString();
      return;
    }
    const ProgramId p = *loaded;
    for (int round = 0; round < kRounds && error.empty(); ++round) {
      const std::vector<int32_t> input = MakeEchoInput(100 * w + round, kSteps);
      RunStats stats;
      auto out = RunEcho(p, kSteps, input, &stats);
      if (!out.ok()) {
        error = "round " + std::to_string(round) + ": " + out.status().ToString();
      } else if (*out != ExpectedEchoOutput(input, kSteps, kCoresEach)) {
        error = "round " + std::to_string(round) + ": wrong output";
      } else if (stats.synaptic_ops != CountSpikes(input) * kEchoWidth * kCoresEach) {
        error = "round " + std::to_string(round) + ": wrong synaptic_ops";
      } else if (Status s = device_->ResetState(p); !s.ok()) {
        error = "ResetState: " + s.ToString();
      }
    }
    if (Status s = device_->Unload(p); !s.ok() && error.empty()) error = "Unload: " + s.ToString();
  };
  auto observe = [&] {
    for (int i = 0; i < kRounds * 4; ++i) {
      if (auto t = device_->ReadTelemetry(); !t.ok()) {
        errors[workers] = "ReadTelemetry: " + t.status().ToString();
        return;
      }
      if (Health h = device_->CheckHealth(); h.state != HealthState::kOk) {
        errors[workers] = "CheckHealth: " + h.detail;
        return;
      }
    }
  };

  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < workers; ++w) threads.emplace_back(work, w);
  threads.emplace_back(observe);
  for (auto& t : threads) t.join();
  for (uint32_t i = 0; i <= workers; ++i) EXPECT_EQ(errors[i], "") << "thread " << i;

  // Every program unloaded: all the cores are free again.
  std::vector<uint32_t> all;
  for (uint32_t c = 0; c < workers * kCoresEach; ++c) all.push_back(c);
  SPK_CTS_ASSERT_OK_AND_ASSIGN(ProgramId p, LoadEcho(workers * kCoresEach, all));
  ExpectEchoRun(p, workers * kCoresEach, kSteps, MakeEchoInput(22, kSteps));
}

}  // namespace spk::hal::cts

#include "sim/sim_driver.h"

#include <gtest/gtest.h>

#include <memory>

#include "hal/driver_registry.h"
#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using hal::format::NeuronModel;
using hal::format::OutputSource;
using testing::ImageBuilder;
using testing::TestBoard;
using testing::TestChip;

TEST(SimDriverTest, EnumeratesItsBoards) {
  auto driver = SimDriver::Create(TestChip(), TestBoard(2), {.boards = 3});
  ASSERT_TRUE(driver.ok()) << driver.status();
  EXPECT_EQ((*driver)->name(), "sim");
  auto devices = (*driver)->Enumerate();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 3u);
  EXPECT_EQ((*devices)[2].id, "sim2");
  EXPECT_EQ((*devices)[2].board_profile, "test-board-2");
  EXPECT_EQ((*devices)[2].chip_profile, "test");
  EXPECT_EQ(SimDriver::Create(TestChip(), TestBoard(1), {.boards = 0}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SimDriverTest, OpenIsExclusiveUntilTheDeviceIsDestroyed) {
  auto driver = SimDriver::Create(TestChip(), TestBoard(2), {.boards = 2});
  ASSERT_TRUE(driver.ok());
  auto a = (*driver)->Open("sim1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->info().id, "sim1");
  EXPECT_EQ((*a)->info().total_cores(), 32u);
  EXPECT_EQ((*driver)->Open("sim1").status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE((*driver)->Open("sim0").ok());  // opened and closed again at once
  EXPECT_EQ((*driver)->Open("sim2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*driver)->Open("bogus").status().code(), StatusCode::kNotFound);
  a->reset();
  EXPECT_TRUE((*driver)->Open("sim1").ok());
}

// With the real profiles from hal/profiles, through the registry.
TEST(SimDriverTest, RegistersAndRunsOnTheLoihi2Profile) {
  hal::DriverRegistry registry;
  ASSERT_TRUE(RegisterSimDriver(registry).ok());
  EXPECT_EQ(RegisterSimDriver(registry).code(), StatusCode::kAlreadyExists);
  auto device = registry.OpenUri("sim:sim0");
  ASSERT_TRUE(device.ok()) << device.status();
  const hal::DeviceInfo& info = (*device)->info();
  EXPECT_EQ(info.board_profile, "kapoho-point-8");
  EXPECT_EQ(info.chip_profile, "loihi2");
  EXPECT_EQ(info.total_cores(), 960u);

  ImageBuilder b(1, "loihi2");
  b.AddInput("x", 2);
  auto& g = b.AddGroup(1, 0, 2);
  g.du = 4095;
  g.dv = 4095;
  b.AddDense(1, ImageBuilder::Input(0), 1, {1, 0, 0, 1});
  b.AddOutput("s", 1, OutputSource::kSpikes);
  auto program = (*device)->Load(b.Build(), hal::Partition{{959}});
  ASSERT_TRUE(program.ok()) << program.status();
  ASSERT_TRUE((*device)->WriteInputs(*program, 0, 1, std::vector<int32_t>{0, 1}).ok());
  auto stats = (*device)->Run(*program, 2);
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->chip_time_s, 0);
  EXPECT_GT(stats->static_energy_j, 0);
  EXPECT_EQ(*(*device)->ReadOutputs(*program, 0), (std::vector<int32_t>{0, 0, 0, 1}));
  auto telemetry = (*device)->ReadTelemetry();
  ASSERT_TRUE(telemetry.ok());
  EXPECT_EQ(telemetry->power_w.size(), 3u);  // vdd, vddm, vddio
}

}  // namespace
}  // namespace spk::sim

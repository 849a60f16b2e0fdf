// The HAL conformance suite: the contracts of hal/driver.h and hal/device.h
// as GoogleTest cases, written once and run against every driver.
//
// A driver's tests instantiate it with a factory that makes the driver:
//
//   using spk::hal::cts::HalConformanceTest;
//   INSTANTIATE_TEST_SUITE_P(Sim, HalConformanceTest,
//                            ::testing::Values(DriverUnderTest{"sim", MakeSimDriver, true}),
//                            spk::hal::cts::DriverUnderTestName);
//
// Each test makes a fresh driver, opens the first board it enumerates, resets
// it, and loads small "echo" images (hal/cts/echo_image.h) whose outputs are
// known exactly. A driver whose hardware is absent (the factory or Enumerate
// says UNAVAILABLE, nothing is enumerated, or the board is busy) has every
// test skipped with that reason, unless it is marked always present.
//
// The cases are compiled into the spk::hal::cts object library, so a test
// binary that links it gets all of them without naming any.
//
// Thread safety: GoogleTest fixtures; one test at a time. The concurrency case
// calls the device from several threads.
#ifndef SPK_HAL_CTS_HAL_CTS_H_
#define SPK_HAL_CTS_HAL_CTS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "hal/device.h"
#include "hal/driver.h"

namespace spk::hal::cts {

using DriverFactory = std::function<StatusOr<std::unique_ptr<Driver>>()>;

struct DriverUnderTest {
  // Suffix of the test names: letters, digits and '_' only.
  std::string name;
  DriverFactory factory;
  // The emulator is always there, so for it a missing board is a failure
  // rather than a reason to skip.
  bool always_present = false;
};

// For INSTANTIATE_TEST_SUITE_P's name generator.
std::string DriverUnderTestName(const ::testing::TestParamInfo<DriverUnderTest>& info);
// Keeps GoogleTest from printing the factory's bytes.
void PrintTo(const DriverUnderTest& driver, std::ostream* os);

class HalConformanceTest : public ::testing::TestWithParam<DriverUnderTest> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Whether the board has at least `cores` cores; tests needing more skip.
  bool HasCores(uint32_t cores) const;

  // Loads an echo image of `cores` logical cores onto `partition`.
  StatusOr<ProgramId> LoadEcho(uint32_t cores, std::vector<uint32_t> partition);

  // Writes `input` (steps x kEchoWidth) to port 0, runs `steps` and reads port 0.
  StatusOr<std::vector<int32_t>> RunEcho(ProgramId program, uint32_t steps,
                                         std::span<const int32_t> input, RunStats* stats = nullptr);

  // Echo `cores` wide, fed `input` for `steps` steps, checked exactly against
  // what the device returned; `carry` is the previous run's last input step
  // (empty: none, the program was just loaded or reset).
  void ExpectEchoRun(ProgramId program, uint32_t cores, uint32_t steps,
                     const std::vector<int32_t>& input, std::span<const int32_t> carry = {});

  std::unique_ptr<Driver> driver_;
  std::unique_ptr<Device> device_;  // opened from driver_, destroyed first
  DeviceDescriptor descriptor_;     // of the board under test
  std::vector<DeviceDescriptor> enumerated_;
};

}  // namespace spk::hal::cts

#endif  // SPK_HAL_CTS_HAL_CTS_H_

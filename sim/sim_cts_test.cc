// The HAL conformance suite (hal/cts) run against the emulator: on the real
// Loihi 2 board profiles, one with a multi-threaded device, and on the small
// test chip. The emulator is always present, so none of these may skip.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "hal/cts/hal_cts.h"
#include "sim/sim_driver.h"
#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using hal::cts::DriverUnderTest;
using hal::cts::HalConformanceTest;

DriverUnderTest FromProfiles(std::string name, std::string board, SimDriverOptions options) {
  return {std::move(name),
          [board, options]() -> StatusOr<std::unique_ptr<hal::Driver>> {
            SPK_ASSIGN_OR_RETURN(auto driver, SimDriver::CreateFromProfiles(board, options));
            return std::unique_ptr<hal::Driver>(std::move(driver));
          },
          /*always_present=*/true};
}

DriverUnderTest OnTestChip() {
  return {"test_chip_2x16",
          []() -> StatusOr<std::unique_ptr<hal::Driver>> {
            SPK_ASSIGN_OR_RETURN(
                auto driver,
                SimDriver::Create(testing::TestChip(), testing::TestBoard(2), {.boards = 2}));
            return std::unique_ptr<hal::Driver>(std::move(driver));
          },
          /*always_present=*/true};
}

INSTANTIATE_TEST_SUITE_P(Sim, HalConformanceTest,
                         ::testing::Values(FromProfiles("kapoho_point_8", "kapoho-point-8", {}),
                                           FromProfiles("oheo_gulch_1_threads4", "oheo-gulch-1",
                                                        {.boards = 1, .threads_per_board = 4}),
                                           OnTestChip()),
                         hal::cts::DriverUnderTestName);

}  // namespace
}  // namespace spk::sim

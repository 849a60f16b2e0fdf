// The HAL conformance suite (hal/cts) against the loihi3 driver, end to end:
// the real driver and the real libusb talk to the virtual board served by
// umockdev. Expected results are the emulator's (sim/sim_cts_test.cc), on
// the same board profiles; the testbed is always there, so nothing may skip
// for want of a board.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "drivers/loihi3/testing/usb_testbed.h"
#include "drivers/loihi3/usb_driver.h"
#include "hal/cts/hal_cts.h"

namespace spk::loihi3 {
namespace {

using hal::cts::DriverUnderTest;
using hal::cts::HalConformanceTest;

// The USB driver with its own testbed; the driver goes first, as libusb must
// be gone before the testbed is.
class TestbedDriver final : public hal::Driver {
 public:
  TestbedDriver(std::unique_ptr<testing::UsbTestbed> testbed, std::unique_ptr<UsbDriver> driver)
      : testbed_(std::move(testbed)), driver_(std::move(driver)) {}
  ~TestbedDriver() override { driver_.reset(); }
  std::string_view name() const override { return driver_->name(); }
  StatusOr<std::vector<hal::DeviceDescriptor>> Enumerate() override { return driver_->Enumerate(); }
  StatusOr<std::unique_ptr<hal::Device>> Open(std::string_view id) override {
    return driver_->Open(id);
  }

 private:
  std::unique_ptr<testing::UsbTestbed> testbed_;
  std::unique_ptr<UsbDriver> driver_;
};

DriverUnderTest OnVirtualBoard(std::string name, std::string board_profile, bool hotplug) {
  return {std::move(name),
          [board_profile, hotplug]() -> StatusOr<std::unique_ptr<hal::Driver>> {
            SPK_ASSIGN_OR_RETURN(auto board, VirtualBoard::CreateFromProfiles(board_profile));
            SPK_ASSIGN_OR_RETURN(auto testbed, testing::UsbTestbed::Create(std::move(board)));
            UsbDriverOptions options;
            // With hotplug, libusb's events are also handled on the driver's
            // thread, as in the daemon.
            options.hotplug = hotplug;
            SPK_ASSIGN_OR_RETURN(auto driver, UsbDriver::Create(options));
            return std::unique_ptr<hal::Driver>(
                new TestbedDriver(std::move(testbed), std::move(driver)));
          },
          /*always_present=*/true};
}

INSTANTIATE_TEST_SUITE_P(
    Loihi3, HalConformanceTest,
    ::testing::Values(OnVirtualBoard("kapoho_point_8", "kapoho-point-8", false),
                      OnVirtualBoard("oheo_gulch_1", "oheo-gulch-1", false),
                      OnVirtualBoard("kapoho_point_8_hotplug", "kapoho-point-8", true)),
    hal::cts::DriverUnderTestName);

}  // namespace
}  // namespace spk::loihi3

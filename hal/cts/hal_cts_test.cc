// The suite's own promise to drivers of absent hardware: every test is
// skipped, none fails. (The passing path is covered by each driver's
// instantiation, e.g. sim/sim_cts_test.cc.)
#include <gtest/gtest.h>

#include <memory>
#include <string_view>
#include <vector>

#include "hal/cts/hal_cts.h"

namespace spk::hal::cts {
namespace {

// A driver for a bus it cannot scan, or one with nothing plugged in.
class AbsentDriver final : public Driver {
 public:
  explicit AbsentDriver(bool bus_available) : bus_available_(bus_available) {}
  std::string_view name() const override { return "absent"; }
  StatusOr<std::vector<DeviceDescriptor>> Enumerate() override {
    if (!bus_available_) return UnavailableError("no USB access");
    return std::vector<DeviceDescriptor>{};
  }
  StatusOr<std::unique_ptr<Device>> Open(std::string_view) override {
    return NotFoundError("nothing is plugged in");
  }

 private:
  const bool bus_available_;
};

DriverUnderTest Absent(const char* name, bool factory_ok, bool bus_available) {
  return {name, [=]() -> StatusOr<std::unique_ptr<Driver>> {
            if (!factory_ok) return UnavailableError("libusb could not be initialised");
            return std::unique_ptr<Driver>(new AbsentDriver(bus_available));
          }};
}

INSTANTIATE_TEST_SUITE_P(Absent, HalConformanceTest,
                         ::testing::Values(Absent("no_driver", false, false),
                                           Absent("no_bus", true, false),
                                           Absent("no_board", true, true)),
                         DriverUnderTestName);

}  // namespace
}  // namespace spk::hal::cts

// The set of drivers a process knows, and the way to find and open boards
// across all of them.
//
// Drivers are added with Register, explicitly, from one place at start-up;
// they are never removed, so a Driver* returned by Find stays valid as long as
// the registry lives. Devices are addressed as (driver name, device id), or
// in text as "driver:id" (e.g. "sim:sim0", "loihi3:usb-1-4").
//
// Thread safety: all methods may be called from several threads at once; the
// driver table is guarded by a mutex, and calls into drivers (Enumerate,
// Open) are made outside it, so one slow bus does not block lookups.
#ifndef SPK_HAL_DRIVER_REGISTRY_H_
#define SPK_HAL_DRIVER_REGISTRY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hal/device.h"
#include "hal/driver.h"

namespace spk::hal {

// What EnumerateAll found: the devices of every driver that answered, and
// one error per driver that did not (each prefixed with the driver's name).
struct Enumeration {
  std::vector<DeviceDescriptor> devices;  // ordered by driver name, then driver order
  std::vector<Status> errors;
};

class DriverRegistry {
 public:
  DriverRegistry() = default;
  DriverRegistry(const DriverRegistry&) = delete;
  DriverRegistry& operator=(const DriverRegistry&) = delete;

  // Takes ownership. ALREADY_EXISTS when a driver of that name is registered
  // (the new one is dropped), INVALID_ARGUMENT for null or an empty name.
  Status Register(std::unique_ptr<Driver> driver);

  // The driver named `name`, or NOT_FOUND listing the registered names.
  StatusOr<Driver*> Find(std::string_view name) const;

  // Registered driver names, sorted.
  std::vector<std::string> DriverNames() const;

  // Enumerates every driver. A driver that fails does not hide the others.
  Enumeration EnumerateAll() const;

  // Opens `id` with the driver named `driver`; NOT_FOUND for an unknown
  // driver, otherwise whatever the driver's Open returns.
  StatusOr<std::unique_ptr<Device>> Open(std::string_view driver, std::string_view id) const;

  // Opens "driver:id". INVALID_ARGUMENT when there is no ':'.
  StatusOr<std::unique_ptr<Device>> OpenUri(std::string_view uri) const;

  // Sets `listener` on every registered driver (see Driver::SetHotplugListener);
  // an empty one stops the calls. Drivers registered later do not get it.
  void SetHotplugListener(const HotplugListener& listener) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Driver>, std::less<>> drivers_;  // guarded by mu_
};

}  // namespace spk::hal

#endif  // SPK_HAL_DRIVER_REGISTRY_H_

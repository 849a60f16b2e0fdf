// A driver: the code that finds boards of one kind and opens them as Devices
// (the emulator, USB-attached boards, a virtual board in tests).
//
// Drivers are registered with a DriverRegistry by one explicit call made at
// start-up (a RegisterAllDrivers(registry) in the daemon's wiring), never by
// static initialisers, which static linking silently drops. The HAL names no
// driver; drivers depend on the HAL.
//
// Ownership: the registry owns its drivers; a Device returned by Open is owned
// by the caller and may outlive neither the driver nor the registry.
//
// Thread safety: implementations must allow Enumerate and Open to be called
// from several threads at once (the daemon's hotplug and request threads).
//
// Hotplug: a driver whose bus reports arrivals and removals tells the
// listener set with SetHotplugListener. The listener runs on the driver's own
// thread and must not call back into the driver; a board's removal is
// reported after its open Device has turned gone. Drivers of boards that
// cannot come and go (the emulator) keep the default, which never calls it.
#ifndef SPK_HAL_DRIVER_H_
#define SPK_HAL_DRIVER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hal/device.h"

namespace spk::hal {

// What enumeration can tell about a board without opening it. Fields a bus
// cannot report before opening (firmware version, profiles) may be empty;
// Device::info() has them all once open.
struct DeviceDescriptor {
  std::string id;           // unique within its driver, stable in this process: "sim0", "usb-1-4"
  std::string driver;       // the driver's name; the registry fills it in
  std::string description;  // for humans: "emulated kapoho-point-8"
  std::string serial;
  std::string board_profile;
  std::string chip_profile;

  friend bool operator==(const DeviceDescriptor&, const DeviceDescriptor&) = default;
};

enum class HotplugEvent { kArrived, kLeft };

// Told about a board of the driver coming or going (through a registry,
// with descriptor.driver set to the driver's name).
using HotplugListener = std::function<void(const DeviceDescriptor& board, HotplugEvent event)>;

class Driver {
 public:
  virtual ~Driver() = default;

  // Short lower-case name, unique in a registry: "sim", "loihi3".
  virtual std::string_view name() const = 0;

  // The boards this driver can open now. UNAVAILABLE when the bus itself
  // cannot be scanned (no USB access); an empty list when nothing is plugged.
  virtual StatusOr<std::vector<DeviceDescriptor>> Enumerate() = 0;

  // Opens a board by its descriptor id. NOT_FOUND for an id this driver does
  // not know (or no longer sees), UNAVAILABLE when it is busy or gone,
  // FAILED_PRECONDITION for a firmware or protocol mismatch.
  virtual StatusOr<std::unique_ptr<Device>> Open(std::string_view id) = 0;

  // Replaces the listener told about arrivals and removals; an empty one
  // stops the calls. When it returns, the previous listener is not running.
  virtual void SetHotplugListener(HotplugListener listener) { (void)listener; }
};

}  // namespace spk::hal

#endif  // SPK_HAL_DRIVER_H_

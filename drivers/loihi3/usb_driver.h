// The "loihi3" HAL driver: boards on USB that speak the spiked board protocol
// (docs/board-protocol.md), through libusb-1.0.
//
// Boards are found by vendor and product id (configurable: usb.vendor_id,
// usb.product_id) and named by where they are plugged, "usb-<bus>-<port
// path>" (e.g. "usb-1-4.2"), which stays stable while the board stays in
// that port. Open claims the board's interface, identifies it and checks that
// its firmware and protocol versions are ones this driver can drive
// (FAILED_PRECONDITION naming the versions needed otherwise). A board is open
// at most once per driver (UNAVAILABLE when it is open already).
//
// Hotplug: when libusb supports it, the driver follows arrivals and removals
// on an event thread; a removed board's open device turns gone at once
// (UNAVAILABLE on every call, health kGone), and an optional listener is told
// about both.
//
// Ownership: the driver owns its libusb context and event thread; devices it
// opens borrow the context and must not outlive the driver (hal/driver.h).
//
// Thread safety: Enumerate and Open may be called from several threads; the
// table of open boards is guarded by a mutex. The hotplug listener is called
// on the driver's event thread and must not call back into the driver.
#ifndef SPK_DRIVERS_LOIHI3_USB_DRIVER_H_
#define SPK_DRIVERS_LOIHI3_USB_DRIVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "drivers/loihi3/usb_device.h"
#include "hal/driver.h"
#include "hal/driver_registry.h"

struct libusb_context;
struct libusb_device;

namespace spk::loihi3 {

// pid.codes test ids; systemd/70-spiked.rules grants the same pair.
inline constexpr uint16_t kDefaultVendorId = 0x1209;
inline constexpr uint16_t kDefaultProductId = 0x0001;

struct UsbDriverOptions {
  uint16_t vendor_id = kDefaultVendorId;
  uint16_t product_id = kDefaultProductId;
  UsbLinkOptions link;
  bool hotplug = true;  // follow arrivals and removals (when libusb can)
};

class UsbDriver final : public hal::Driver {
 public:
  // UNAVAILABLE when libusb cannot be initialised (no USB access at all).
  static StatusOr<std::unique_ptr<UsbDriver>> Create(UsbDriverOptions options = {});
  ~UsbDriver() override;

  std::string_view name() const override { return "loihi3"; }
  // UNAVAILABLE when the bus cannot be listed.
  StatusOr<std::vector<hal::DeviceDescriptor>> Enumerate() override;
  // NOT_FOUND for an id not plugged in now, UNAVAILABLE when open already or
  // when it cannot be opened or does not answer, FAILED_PRECONDITION for an
  // incompatible board.
  StatusOr<std::unique_ptr<hal::Device>> Open(std::string_view id) override;

  // Replaces the listener told about arrivals and removals; waits for a
  // call of the previous one in progress.
  void SetHotplugListener(hal::HotplugListener listener) override;
  // Whether hotplug events are being followed.
  bool hotplug_active() const { return hotplug_handle_ != 0; }

 private:
  // The open boards, shared with their devices' close callbacks.
  struct OpenBoards {
    std::mutex mu;
    std::map<std::string, UsbDevice*> devices;  // guarded by mu; borrowed, removed on close
  };

  UsbDriver(UsbDriverOptions options, libusb_context* context);
  static int HotplugCallback(libusb_context* context, libusb_device* device, int event, void* self);
  void OnHotplug(libusb_device* device, bool arrived);
  hal::DeviceDescriptor Describe(libusb_device* device) const;

  const UsbDriverOptions options_;
  libusb_context* const context_;  // owned
  const std::shared_ptr<OpenBoards> open_;
  int hotplug_handle_ = 0;  // 0: not registered
  std::atomic<bool> stop_{false};
  std::thread events_;  // runs libusb's event loop while hotplug is on

  std::mutex listener_mu_;
  hal::HotplugListener listener_;  // guarded by listener_mu_
};

// Registers the "loihi3" driver. Errors of Create and of Register pass through.
Status RegisterLoihi3Driver(hal::DriverRegistry& registry, UsbDriverOptions options = {});

}  // namespace spk::loihi3

#endif  // SPK_DRIVERS_LOIHI3_USB_DRIVER_H_

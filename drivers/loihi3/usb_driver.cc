#include "drivers/loihi3/usb_driver.h"

#include <libusb.h>

#include <cstdio>
#include <utility>

namespace spk::loihi3 {
namespace {

// "usb-<bus>-<port>.<port>...": where the board is plugged.
std::string BoardId(libusb_device* device) {
  std::string id = "usb-" + std::to_string(libusb_get_bus_number(device));
  uint8_t ports[8];
  const int n = libusb_get_port_numbers(device, ports, sizeof(ports));
  if (n <= 0) return id + "-a" + std::to_string(libusb_get_device_address(device));
  for (int i = 0; i < n; ++i) id += (i == 0 ? "-" : ".") + std::to_string(ports[i]);
  return id;
}

}  // namespace

StatusOr<std::unique_ptr<UsbDriver>> UsbDriver::Create(UsbDriverOptions options) {
  libusb_context* context = nullptr;
  const int rc = libusb_init(&context);
  if (rc != 0) {
    return UnavailableError(std::string("cannot initialise libusb: ") + libusb_error_name(rc));
  }
  std::unique_ptr<UsbDriver> driver(new UsbDriver(std::move(options), context));
  if (driver->options_.hotplug && libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) != 0) {
    libusb_hotplug_callback_handle handle = 0;
    const int hrc = libusb_hotplug_register_callback(
        context,
        static_cast<libusb_hotplug_event>(LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
                                          LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT),
        LIBUSB_HOTPLUG_NO_FLAGS, driver->options_.vendor_id, driver->options_.product_id,
        LIBUSB_HOTPLUG_MATCH_ANY,
        [](libusb_context* ctx, libusb_device* dev, libusb_hotplug_event event, void* self) {
          return HotplugCallback(ctx, dev, static_cast<int>(event), self);
        },
        driver.get(), &handle);
    if (hrc == 0) {
      driver->hotplug_handle_ = handle;
      UsbDriver* self = driver.get();
      driver->events_ = std::thread([self] {
        while (!self->stop_.load()) {
          timeval tv{0, 200000};
          libusb_handle_events_timeout_completed(self->context_, &tv, nullptr);
        }
      });
    }
  }
  return driver;
}

UsbDriver::UsbDriver(UsbDriverOptions options, libusb_context* context)
    : options_(std::move(options)), context_(context), open_(std::make_shared<OpenBoards>()) {}

UsbDriver::~UsbDriver() {
  if (hotplug_handle_ != 0) libusb_hotplug_deregister_callback(context_, hotplug_handle_);
  stop_.store(true);
  libusb_interrupt_event_handler(context_);
  if (events_.joinable()) events_.join();
  libusb_exit(context_);
}

int UsbDriver::HotplugCallback(libusb_context*, libusb_device* device, int event, void* self) {
  static_cast<UsbDriver*>(self)->OnHotplug(device, event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED);
  return 0;  // stay registered
}

void UsbDriver::OnHotplug(libusb_device* device, bool arrived) {
  const hal::DeviceDescriptor board = Describe(device);
  if (!arrived) {
    std::lock_guard<std::mutex> lock(open_->mu);
    auto it = open_->devices.find(board.id);
    if (it != open_->devices.end() && it->second != nullptr) it->second->MarkGone();
  }
  std::lock_guard<std::mutex> lock(listener_mu_);
  if (listener_) listener_(board, arrived ? hal::HotplugEvent::kArrived : hal::HotplugEvent::kLeft);
}

void UsbDriver::SetHotplugListener(hal::HotplugListener listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(listener);
}

hal::DeviceDescriptor UsbDriver::Describe(libusb_device* device) const {
  hal::DeviceDescriptor d;
  d.id = BoardId(device);
  d.driver = "loihi3";
  char ids[32];
  std::snprintf(ids, sizeof(ids), "%04x:%04x", options_.vendor_id, options_.product_id);
  d.description = "USB board " + std::string(ids) + " at bus " +
                  std::to_string(libusb_get_bus_number(device)) + " address " +
                  std::to_string(libusb_get_device_address(device));
  return d;
}

StatusOr<std::vector<hal::DeviceDescriptor>> UsbDriver::Enumerate() {
  libusb_device** list = nullptr;
  const ssize_t n = libusb_get_device_list(context_, &list);
  if (n < 0) {
    return UnavailableError(std::string("cannot list USB devices: ") +
                            libusb_error_name(static_cast<int>(n)));
  }
  std::vector<hal::DeviceDescriptor> out;
  for (ssize_t i = 0; i < n; ++i) {
    libusb_device_descriptor desc;
    if (libusb_get_device_descriptor(list[i], &desc) != 0) continue;
    if (desc.idVendor != options_.vendor_id || desc.idProduct != options_.product_id) continue;
    out.push_back(Describe(list[i]));
  }
  libusb_free_device_list(list, 1);
  return out;
}

StatusOr<std::unique_ptr<hal::Device>> UsbDriver::Open(std::string_view id) {
  const std::string key(id);
  libusb_device** list = nullptr;
  const ssize_t n = libusb_get_device_list(context_, &list);
  if (n < 0) {
    return UnavailableError(std::string("cannot list USB devices: ") +
                            libusb_error_name(static_cast<int>(n)));
  }
  libusb_device* found = nullptr;
  for (ssize_t i = 0; i < n && found == nullptr; ++i) {
    libusb_device_descriptor desc;
    if (libusb_get_device_descriptor(list[i], &desc) != 0) continue;
    if (desc.idVendor == options_.vendor_id && desc.idProduct == options_.product_id &&
        BoardId(list[i]) == key) {
      found = libusb_ref_device(list[i]);
    }
  }
  libusb_free_device_list(list, 1);
  if (found == nullptr) {
    return NotFoundError("no USB board '" + key + "' is plugged in");
  }
  {
    std::lock_guard<std::mutex> lock(open_->mu);
    if (!open_->devices.emplace(key, nullptr).second) {
      libusb_unref_device(found);
      return UnavailableError("board " + key + " is open already");
    }
  }
  auto release = [open = open_, key] {
    std::lock_guard<std::mutex> lock(open->mu);
    open->devices.erase(key);
  };
  auto transport = UsbTransport::Open(context_, found, key);
  libusb_unref_device(found);
  if (!transport.ok()) {
    release();
    return transport.status();
  }
  auto device = UsbDevice::Create(std::move(transport).value(), key, options_.link, release);
  // A failed Create already ran `release` from the device's destructor.
  SPK_RETURN_IF_ERROR(device.status());
  {
    std::lock_guard<std::mutex> lock(open_->mu);
    open_->devices[key] = device->get();
  }
  return std::unique_ptr<hal::Device>(std::move(device).value());
}

Status RegisterLoihi3Driver(hal::DriverRegistry& registry, UsbDriverOptions options) {
  SPK_ASSIGN_OR_RETURN(auto driver, UsbDriver::Create(std::move(options)));
  return registry.Register(std::move(driver));
}

}  // namespace spk::loihi3

// UsbTransport: one opened USB board's bulk endpoints, through libusb.
//
// Every transfer is asynchronous underneath (libusb_submit_transfer) and
// bounded: it either completes, fails, or is cancelled by libusb when its
// timeout fires, and the caller is told which (TransferResult). The transport
// knows nothing of the board protocol; usb_device.cc frames messages on it.
//
// Ownership: the transport owns its libusb_device_handle and borrows the
// libusb context of the driver that opened it (which outlives it).
//
// Thread safety: Write, Read, ClearHalt and ResetPort must be called by one
// thread at a time (the device serialises its calls); MarkGone and gone may be
// called from any thread (the hotplug callback).
#ifndef SPK_DRIVERS_LOIHI3_USB_TRANSPORT_H_
#define SPK_DRIVERS_LOIHI3_USB_TRANSPORT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

struct libusb_context;
struct libusb_device;
struct libusb_device_handle;

namespace spk::loihi3 {

enum class TransferOutcome {
  kOk,
  kTimedOut,  // the timeout fired before the board took or gave the data
  kStalled,   // the endpoint halted (EPIPE): clear the halt and retry
  kGone,      // the board was unplugged (ENODEV)
  kError,     // anything else libusb reports
};

struct TransferResult {
  TransferOutcome outcome = TransferOutcome::kOk;
  std::vector<uint8_t> data;  // what a read received
  std::string detail;         // libusb's name for a failure
};

class UsbTransport {
 public:
  // Opens `device`, claims interface 0 and finds its first bulk IN and bulk
  // OUT endpoints. UNAVAILABLE when the device cannot be opened (permissions,
  // busy, gone), FAILED_PRECONDITION when it has no bulk endpoint pair.
  static StatusOr<std::unique_ptr<UsbTransport>> Open(libusb_context* context,
                                                      libusb_device* device, std::string name);
  ~UsbTransport();
  UsbTransport(const UsbTransport&) = delete;
  UsbTransport& operator=(const UsbTransport&) = delete;

  TransferResult Write(std::span<const uint8_t> data, std::chrono::milliseconds timeout);
  // Reads at most `max` bytes in one transfer.
  TransferResult Read(size_t max, std::chrono::milliseconds timeout);
  // Clears a halt on the IN or OUT endpoint.
  TransferResult ClearHalt(bool in);
  // A USB port reset: the board re-enumerates and the handle is kept.
  TransferResult ResetPort();

  void MarkGone() { gone_.store(true); }
  bool gone() const { return gone_.load(); }
  const std::string& name() const { return name_; }

 private:
  UsbTransport(libusb_context* context, libusb_device_handle* handle, std::string name,
               uint8_t in_endpoint, uint8_t out_endpoint);
  TransferResult Transfer(uint8_t endpoint, uint8_t* buffer, size_t size,
                          std::chrono::milliseconds timeout);
  TransferResult FromLibusbError(int error) const;

  libusb_context* const context_;  // borrowed from the driver
  libusb_device_handle* const handle_;
  const std::string name_;
  const uint8_t in_endpoint_;
  const uint8_t out_endpoint_;
  std::atomic<bool> gone_{false};
};

}  // namespace spk::loihi3

#endif  // SPK_DRIVERS_LOIHI3_USB_TRANSPORT_H_

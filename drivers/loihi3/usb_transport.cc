#include "drivers/loihi3/usb_transport.h"

#include <libusb.h>

#include <utility>

namespace spk::loihi3 {
namespace {

void LIBUSB_CALL OnTransferDone(libusb_transfer* transfer) {
  *static_cast<int*>(transfer->user_data) = 1;
}

}  // namespace

StatusOr<std::unique_ptr<UsbTransport>> UsbTransport::Open(libusb_context* context,
                                                           libusb_device* device,
                                                           std::string name) {
  libusb_config_descriptor* config = nullptr;
  int rc = libusb_get_active_config_descriptor(device, &config);
  if (rc != 0) rc = libusb_get_config_descriptor(device, 0, &config);
  if (rc != 0) {
    return UnavailableError("board " + name +
                            ": cannot read its configuration descriptor: " + libusb_error_name(rc));
  }
  uint8_t in = 0, out = 0;
  if (config->bNumInterfaces > 0 && config->interface[0].num_altsetting > 0) {
    const libusb_interface_descriptor& alt = config->interface[0].altsetting[0];
    for (int i = 0; i < alt.bNumEndpoints; ++i) {
      const libusb_endpoint_descriptor& ep = alt.endpoint[i];
      if ((ep.bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) != LIBUSB_TRANSFER_TYPE_BULK) continue;
      if ((ep.bEndpointAddress & LIBUSB_ENDPOINT_IN) != 0) {
        if (in == 0) in = ep.bEndpointAddress;
      } else if (out == 0) {
        out = ep.bEndpointAddress;
      }
    }
  }
  libusb_free_config_descriptor(config);
  if (in == 0 || out == 0) {
    return FailedPreconditionError("board " + name +
                                   ": interface 0 has no bulk IN and OUT endpoint pair");
  }
  libusb_device_handle* handle = nullptr;
  rc = libusb_open(device, &handle);
  if (rc != 0) {
    return UnavailableError("board " + name + ": cannot open: " + libusb_error_name(rc) +
                            (rc == LIBUSB_ERROR_ACCESS
                                 ? " (is the udev rule installed and the user in group spiked?)"
                                 : ""));
  }
  rc = libusb_claim_interface(handle, 0);
  if (rc != 0) {
    libusb_close(handle);
    return UnavailableError("board " + name +
                            ": cannot claim interface 0: " + libusb_error_name(rc));
  }
  return std::unique_ptr<UsbTransport>(new UsbTransport(context, handle, std::move(name), in, out));
}

UsbTransport::UsbTransport(libusb_context* context, libusb_device_handle* handle, std::string name,
                           uint8_t in_endpoint, uint8_t out_endpoint)
    : context_(context),
      handle_(handle),
      name_(std::move(name)),
      in_endpoint_(in_endpoint),
      out_endpoint_(out_endpoint) {}

UsbTransport::~UsbTransport() {
  if (!gone()) libusb_release_interface(handle_, 0);
  libusb_close(handle_);
}

TransferResult UsbTransport::FromLibusbError(int error) const {
  TransferResult r;
  r.detail = libusb_error_name(error);
  switch (error) {
    case LIBUSB_SUCCESS:
      r.outcome = TransferOutcome::kOk;
      break;
    case LIBUSB_ERROR_TIMEOUT:
      r.outcome = TransferOutcome::kTimedOut;
      break;
    case LIBUSB_ERROR_PIPE:
      r.outcome = TransferOutcome::kStalled;
      break;
    case LIBUSB_ERROR_NO_DEVICE:
    case LIBUSB_ERROR_NOT_FOUND:
      r.outcome = TransferOutcome::kGone;
      break;
    default:
      r.outcome = TransferOutcome::kError;
      break;
  }
  return r;
}

TransferResult UsbTransport::Transfer(uint8_t endpoint, uint8_t* buffer, size_t size,
                                      std::chrono::milliseconds timeout) {
  if (gone()) return FromLibusbError(LIBUSB_ERROR_NO_DEVICE);
  libusb_transfer* transfer = libusb_alloc_transfer(0);
  if (transfer == nullptr) return FromLibusbError(LIBUSB_ERROR_NO_MEM);
  int done = 0;
  libusb_fill_bulk_transfer(transfer, handle_, endpoint, buffer, static_cast<int>(size),
                            OnTransferDone, &done, static_cast<unsigned>(timeout.count()));
  int rc = libusb_submit_transfer(transfer);
  if (rc != 0) {
    libusb_free_transfer(transfer);
    TransferResult r = FromLibusbError(rc);
    if (r.outcome == TransferOutcome::kGone) MarkGone();
    return r;
  }
  // libusb cancels the transfer when its timeout fires, so this loop ends;
  // the cancel below only guards against an event loop that stops turning.
  const auto give_up = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(5);
  bool cancelled = false;
  while (done == 0) {
    timeval tv{0, 100000};
    rc = libusb_handle_events_timeout_completed(context_, &tv, &done);
    if ((rc != 0 && rc != LIBUSB_ERROR_INTERRUPTED) ||
        (!cancelled && std::chrono::steady_clock::now() > give_up)) {
      if (!cancelled) libusb_cancel_transfer(transfer);
      cancelled = true;
    }
  }
  TransferResult r;
  switch (transfer->status) {
    case LIBUSB_TRANSFER_COMPLETED:
      r.outcome = TransferOutcome::kOk;
      r.data.assign(buffer, buffer + transfer->actual_length);
      break;
    case LIBUSB_TRANSFER_TIMED_OUT:
      r = FromLibusbError(LIBUSB_ERROR_TIMEOUT);
      break;
    case LIBUSB_TRANSFER_CANCELLED:
      r = FromLibusbError(cancelled ? LIBUSB_ERROR_TIMEOUT : LIBUSB_ERROR_IO);
      break;
    case LIBUSB_TRANSFER_STALL:
      r = FromLibusbError(LIBUSB_ERROR_PIPE);
      break;
    case LIBUSB_TRANSFER_NO_DEVICE:
      r = FromLibusbError(LIBUSB_ERROR_NO_DEVICE);
      MarkGone();
      break;
    case LIBUSB_TRANSFER_OVERFLOW:
      r = FromLibusbError(LIBUSB_ERROR_OVERFLOW);
      break;
    default:
      r = FromLibusbError(LIBUSB_ERROR_IO);
      break;
  }
  libusb_free_transfer(transfer);
  return r;
}

TransferResult UsbTransport::Write(std::span<const uint8_t> data,
                                   std::chrono::milliseconds timeout) {
  // libusb's buffer is not const; the OUT transfer only reads it.
  std::vector<uint8_t> copy(data.begin(), data.end());
  TransferResult r = Transfer(out_endpoint_, copy.data(), copy.size(), timeout);
  r.data.clear();
  return r;
}

TransferResult UsbTransport::Read(size_t max, std::chrono::milliseconds timeout) {
  std::vector<uint8_t> buffer(max);
  return Transfer(in_endpoint_, buffer.data(), buffer.size(), timeout);
}

TransferResult UsbTransport::ClearHalt(bool in) {
  if (gone()) return FromLibusbError(LIBUSB_ERROR_NO_DEVICE);
  TransferResult r = FromLibusbError(libusb_clear_halt(handle_, in ? in_endpoint_ : out_endpoint_));
  if (r.outcome == TransferOutcome::kGone) MarkGone();
  return r;
}

TransferResult UsbTransport::ResetPort() {
  if (gone()) return FromLibusbError(LIBUSB_ERROR_NO_DEVICE);
  TransferResult r = FromLibusbError(libusb_reset_device(handle_));
  if (r.outcome == TransferOutcome::kGone) MarkGone();
  return r;
}

}  // namespace spk::loihi3

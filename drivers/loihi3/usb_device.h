// UsbDevice: a board on USB behind the HAL Device interface, speaking the
// board protocol (docs/board-protocol.md) over a UsbTransport.
//
// Each HAL call becomes one or more request/answer exchanges. An exchange is
// bounded: every transfer has the configured timeout, and a failed exchange is
// retried at most `retries` times when retrying is safe: after a stalled
// endpoint (the halt is cleared first) or an answer that fails its CRC (the
// request is sent again with the RETRY flag, and the board replays its answer
// rather than executing twice). A timeout is not retried: a board that does
// not answer is reported at once as DEADLINE_EXCEEDED, naming the board and
// the step of the call; CheckHealth asks the board (READ_HEALTH) and reports
// kDegraded with the error while it does not answer. An unplugged board makes
// every call UNAVAILABLE and health kGone.
//
// Reset is checked: RESET request, USB port reset (the board re-enumerates),
// IDENTIFY until it answers (same serial, compatible versions), SELF_TEST;
// only then is it reported done. Any failing step fails the reset
// (UNAVAILABLE, or FAILED_PRECONDITION for a version change), and health
// stays kFailed until a reset succeeds.
//
// info().protocol_version is the board's protocol as major << 8 | minor.
//
// Ownership: owns its transport; borrows nothing else. Must not outlive the
// driver that opened it (hal/driver.h).
//
// Thread safety: all methods may be called from any thread; exchanges are
// serialised by one mutex (a board has one pair of bulk endpoints).
#ifndef SPK_DRIVERS_LOIHI3_USB_DEVICE_H_
#define SPK_DRIVERS_LOIHI3_USB_DEVICE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "drivers/loihi3/usb_transport.h"
#include "drivers/loihi3/wire/wire.h"
#include "hal/device.h"

namespace spk::loihi3 {

struct UsbLinkOptions {
  std::chrono::milliseconds timeout{2000};        // per transfer
  std::chrono::milliseconds reset_timeout{5000};  // for the board to come back after RESET
  int retries = 3;
  std::string min_firmware = "1.0.0";  // oldest board firmware accepted
  uint8_t min_protocol_minor = 0;      // oldest board protocol minor accepted (major must match)
};

// What the host needs of a board, as text for errors.
std::string RequiredVersions(const UsbLinkOptions& options);

// FAILED_PRECONDITION naming the board's versions and the needed ones when
// `identity` is not compatible with this driver.
Status CheckCompatible(const std::string& board, const wire::IdentifyResponse& identity,
                       const UsbLinkOptions& options);

class UsbDevice final : public hal::Device {
 public:
  // Identifies the board and checks compatibility. Errors of the exchange
  // pass through; FAILED_PRECONDITION for an incompatible board.
  static StatusOr<std::unique_ptr<UsbDevice>> Create(std::unique_ptr<UsbTransport> transport,
                                                     std::string id, UsbLinkOptions options,
                                                     std::function<void()> on_close = {});
  ~UsbDevice() override;

  const hal::DeviceInfo& info() const override { return info_; }
  Status Reset() override;
  StatusOr<hal::ProgramId> Load(const hal::format::BoardImage& image,
                                const hal::Partition& partition) override;
  Status Unload(hal::ProgramId program) override;
  Status ResetState(hal::ProgramId program) override;
  Status WriteInputs(hal::ProgramId program, uint32_t port, uint32_t steps,
                     std::span<const int32_t> values) override;
  StatusOr<hal::RunStats> Run(hal::ProgramId program, uint32_t steps) override;
  StatusOr<std::vector<int32_t>> ReadOutputs(hal::ProgramId program, uint32_t port) override;
  StatusOr<hal::Telemetry> ReadTelemetry() override;
  hal::Health CheckHealth() override;

  // The board was unplugged (the driver's hotplug callback says so).
  void MarkGone() { transport_->MarkGone(); }

  // Exchanges retried so far (stalls cleared, corrupt answers asked again).
  uint64_t retries() const;

 private:
  UsbDevice(std::unique_ptr<UsbTransport> transport, std::string id, UsbLinkOptions options,
            std::function<void()> on_close);

  // One request/answer exchange, retried as the header comment says. `step`
  // names the call for errors ("RUN program 3, 16 steps").
  StatusOr<std::vector<uint8_t>> Call(wire::Opcode opcode, std::span<const uint8_t> body,
                                      const std::string& step);
  // Requires mu_.
  StatusOr<std::vector<uint8_t>> CallLocked(wire::Opcode opcode, std::span<const uint8_t> body,
                                            const std::string& step);
  // Requires mu_: reads one whole answer frame.
  Status ReadFrame(wire::FrameHeader* header, std::vector<uint8_t>* payload,
                   const std::string& step, TransferOutcome* outcome);
  Status TransferError(const TransferResult& r, const std::string& step, bool reading);
  StatusOr<wire::IdentifyResponse> Identify();  // requires mu_
  std::string Name() const;                     // "board usb-1-4 (serial X)"

  const std::unique_ptr<UsbTransport> transport_;
  const UsbLinkOptions options_;
  const std::function<void()> on_close_;
  hal::DeviceInfo info_;  // set by Create, then constant

  mutable std::mutex mu_;
  // Guarded by mu_:
  uint32_t next_sequence_ = 1;
  uint64_t retries_ = 0;
  std::string failed_;  // why the last reset failed; empty when it did not
};

}  // namespace spk::loihi3

#endif  // SPK_DRIVERS_LOIHI3_USB_DEVICE_H_

// VirtualBoard: the board firmware's side of the board protocol
// (docs/board-protocol.md), with the emulator (sim::SimDevice) as the chip.
//
// It is transport-agnostic: the bytes of each host->board transfer go in by
// Receive, and the board's answers come out by Send, one header or one
// payload at a time, so a test harness can serve it over any link (the
// umockdev testbed in drivers/loihi3/testing serves it as a USB device to the
// real libusb). Fault knobs make it misbehave the way boards do: hang, corrupt
// a CRC, fail its self-test, speak another protocol or firmware version.
//
// Ownership: the board owns its SimDevice.
//
// Thread safety: all methods may be called from any thread; one mutex guards
// the board's state, so requests are executed one at a time, as firmware does.
#ifndef SPK_DRIVERS_LOIHI3_VIRTUAL_VIRTUAL_BOARD_H_
#define SPK_DRIVERS_LOIHI3_VIRTUAL_VIRTUAL_BOARD_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "drivers/loihi3/wire/wire.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"
#include "sim/sim_device.h"

namespace spk::loihi3 {

struct VirtualBoardOptions {
  std::string serial = "VB-0001";
  std::string firmware_version = "1.0.0";
  uint8_t protocol_major = wire::kProtocolMajor;
  uint8_t protocol_minor = wire::kProtocolMinor;
  uint8_t min_host_minor = 0;
  int sim_threads = 1;
};

struct VirtualBoardFaults {
  // Accept requests and never answer them (a hung firmware).
  bool hang = false;
  // Corrupt the payload CRC of this many next answers.
  int corrupt_responses = 0;
  // SELF_TEST fails (and so does every reset).
  bool fail_self_test = false;
  // Non-empty: IDENTIFY answers this serial, as another board plugged into
  // the same port would.
  std::string identify_serial;
};

class VirtualBoard {
 public:
  // INVALID_ARGUMENT when the profiles do not describe a usable board.
  static StatusOr<std::unique_ptr<VirtualBoard>> Create(hal::format::ChipProfile chip,
                                                        hal::format::BoardProfile board,
                                                        VirtualBoardOptions options = {});
  // Loads the profiles by board profile name (hal/format/chip_profile.h).
  static StatusOr<std::unique_ptr<VirtualBoard>> CreateFromProfiles(
      std::string_view board_profile, VirtualBoardOptions options = {});

  // The data of one host->board transfer. Requests complete within it are
  // executed at once and their answers queued for Send.
  void Receive(std::span<const uint8_t> bytes);
  // Up to `max` bytes of the next queued answer segment (a frame header or a
  // payload, never both); empty when nothing is queued.
  std::vector<uint8_t> Send(size_t max);
  bool HasOutput() const;

  void SetFaults(const VirtualBoardFaults& faults);
  VirtualBoardFaults faults() const;

  // Counters for tests: requests executed, retried requests answered from
  // the replay cache, frames dropped as corrupt, resets done.
  struct Counters {
    uint64_t executed = 0;
    uint64_t replayed = 0;
    uint64_t corrupt_requests = 0;
    uint64_t resets = 0;
  };
  Counters counters() const;

  const hal::DeviceInfo& info() const { return sim_->info(); }

 private:
  struct Staged {
    uint32_t size = 0;
    uint32_t crc = 0;
    std::vector<uint8_t> bytes;
    std::optional<hal::format::BoardImage> image;  // set by LOAD_END
  };

  VirtualBoard(VirtualBoardOptions options, std::unique_ptr<sim::SimDevice> sim);

  // All require mu_.
  // Answers a whole frame of another protocol major at the front of in_
  // with FAILED_PRECONDITION and drops it; false when it is not complete yet
  // or declares an absurd length (then it is dropped as corrupt). Requires mu_.
  bool AnswerOtherMajor();
  void HandleFrame(const wire::FrameHeader& header, std::span<const uint8_t> payload);
  StatusOr<std::vector<uint8_t>> Execute(const wire::FrameHeader& header,
                                         std::span<const uint8_t> payload);
  void Answer(const wire::FrameHeader& request, const Status& status, std::span<const uint8_t> body,
              bool cache);
  void Queue(std::vector<uint8_t> frame);

  const VirtualBoardOptions options_;
  const std::unique_ptr<sim::SimDevice> sim_;  // thread-safe itself

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::vector<uint8_t> in_;               // received bytes not yet a whole frame
  std::deque<std::vector<uint8_t>> out_;  // answer segments to send
  std::map<uint32_t, Staged> staged_;     // by load handle
  uint32_t next_handle_ = 1;
  std::optional<uint32_t> last_sequence_;  // of the last executed request
  std::vector<uint8_t> last_answer_;       // its whole answer frame, uncorrupted
  VirtualBoardFaults faults_;
  Counters counters_;
};

}  // namespace spk::loihi3

#endif  // SPK_DRIVERS_LOIHI3_VIRTUAL_VIRTUAL_BOARD_H_

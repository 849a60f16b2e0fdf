// The "sim" HAL driver: a fixed set of emulated boards, "sim0" .. "simN-1",
// all of one board profile.
//
// Open gives the caller a fresh SimDevice for the board (an emulated board
// keeps nothing between opens, like one that was power-cycled) and holds the
// board until that device is destroyed: a second Open of the same id is
// UNAVAILABLE, as for a board another process holds.
//
// Ownership: the driver owns its configuration; devices it opens are owned by
// the caller and must not outlive the driver (hal/driver.h).
//
// Thread safety: Enumerate and Open may be called from several threads; the
// set of open boards is guarded by a mutex.
#ifndef SPK_SIM_SIM_DRIVER_H_
#define SPK_SIM_SIM_DRIVER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hal/driver.h"
#include "hal/driver_registry.h"
#include "hal/format/chip_profile.h"

namespace spk::sim {

struct SimDriverOptions {
  uint32_t boards = 1;
  int threads_per_board = 1;  // SimDeviceOptions::threads of each device
};

class SimDriver final : public hal::Driver {
 public:
  // INVALID_ARGUMENT for profiles that do not describe a usable board or for
  // zero boards.
  static StatusOr<std::unique_ptr<SimDriver>> Create(hal::format::ChipProfile chip,
                                                     hal::format::BoardProfile board,
                                                     SimDriverOptions options = {});
  // Loads the board profile and its chip profile by name
  // (hal/format/chip_profile.h search path); their errors pass through.
  static StatusOr<std::unique_ptr<SimDriver>> CreateFromProfiles(std::string_view board_profile,
                                                                 SimDriverOptions options = {});

  std::string_view name() const override { return "sim"; }
  StatusOr<std::vector<hal::DeviceDescriptor>> Enumerate() override;
  // NOT_FOUND for an id that is not one of this driver's boards, UNAVAILABLE
  // when the board is open already.
  StatusOr<std::unique_ptr<hal::Device>> Open(std::string_view id) override;

 private:
  // Which boards are open; shared with the devices so each can release its
  // board when destroyed.
  struct OpenBoards {
    std::mutex mu;
    std::set<std::string> ids;  // guarded by mu
  };

  SimDriver(hal::format::ChipProfile chip, hal::format::BoardProfile board,
            SimDriverOptions options);

  const hal::format::ChipProfile chip_;
  const hal::format::BoardProfile board_;
  const SimDriverOptions options_;
  std::shared_ptr<OpenBoards> open_;
};

inline constexpr std::string_view kDefaultSimBoardProfile = "kapoho-point-8";

// Registers the "sim" driver with `options.boards` boards of `board_profile`.
// Errors of CreateFromProfiles and of DriverRegistry::Register pass through.
Status RegisterSimDriver(hal::DriverRegistry& registry,
                         std::string_view board_profile = kDefaultSimBoardProfile,
                         SimDriverOptions options = {});

}  // namespace spk::sim

#endif  // SPK_SIM_SIM_DRIVER_H_

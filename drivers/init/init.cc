#include "drivers/init/init.h"

#include <spdlog/spdlog.h>

#include "sim/sim_driver.h"

namespace spk::drivers {

Status RegisterAllDrivers(hal::DriverRegistry& registry, const daemon::DaemonConfig& config) {
  if (config.boards.emulated > 0) {
    sim::SimDriverOptions options;
    options.boards = config.boards.emulated;
    const std::string profile = config.boards.emulated_profile.empty()
                                    ? std::string(sim::kDefaultSimBoardProfile)
                                    : config.boards.emulated_profile;
    SPK_RETURN_IF_ERROR(sim::RegisterSimDriver(registry, profile, options)
                            .WithContext("boards.emulated_profile '" + profile + "'"));
  }
  if (config.usb.enabled) {
    // drivers/loihi3 is not part of this build yet; its registration goes here.
    spdlog::debug("usb.enabled is set but this build has no USB board driver");
  }
  return Status::Ok();
}

}  // namespace spk::drivers

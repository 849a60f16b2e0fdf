#include "drivers/init/init.h"

#include <spdlog/spdlog.h>

#include "sim/sim_driver.h"
#ifdef SPK_HAVE_LOIHI3
#include "drivers/loihi3/usb_driver.h"
#endif

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
#ifdef SPK_HAVE_LOIHI3
    loihi3::UsbDriverOptions options;
    options.vendor_id = config.usb.vendor_id;
    options.product_id = config.usb.product_id;
    // A board's answer to a call is bounded by the same limit as any call.
    if (config.boards.call_timeout.count() > 0) options.link.timeout = config.boards.call_timeout;
    Status usb = loihi3::RegisterLoihi3Driver(registry, options);
    if (usb.code() == StatusCode::kUnavailable) {
      // No USB on this machine (no usbfs, a container): serve the emulated
      // boards rather than refuse to start.
      spdlog::warn("usb.enabled is set but USB is not usable here: {}", usb.ToString());
    } else {
      SPK_RETURN_IF_ERROR(usb.WithContext("usb"));
    }
#else
    spdlog::debug("usb.enabled is set but this build has no USB board driver");
#endif
  }
  return Status::Ok();
}

}  // namespace spk::drivers

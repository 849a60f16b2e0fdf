// RegisterAllDrivers: the explicit, single place where the daemon's drivers
// are registered (never static initialisers, which static linking drops).
//
// Today that is the emulator ("sim", boards.emulated boards of
// boards.emulated_profile). The USB driver (drivers/loihi3) registers here
// once it exists, when usb.enabled is set.
//
// Thread safety: call once at start-up, before the registry is shared.
#ifndef SPK_DRIVERS_INIT_INIT_H_
#define SPK_DRIVERS_INIT_INIT_H_

#include "base/status.h"
#include "daemon/config/config.h"
#include "hal/driver_registry.h"

namespace spk::drivers {

// Errors of the drivers' own registration pass through (NOT_FOUND for an
// unknown board profile, INVALID_ARGUMENT for an unusable one).
Status RegisterAllDrivers(hal::DriverRegistry& registry, const daemon::DaemonConfig& config);

}  // namespace spk::drivers

#endif  // SPK_DRIVERS_INIT_INIT_H_

// RegisterAllDrivers: the explicit, single place where the daemon's drivers
// are registered (never static initialisers, which static linking drops).
//
// The emulator ("sim", boards.emulated boards of boards.emulated_profile),
// and, in builds with SPK_WITH_USB and when usb.enabled is set, the USB
// board driver ("loihi3", boards of usb.vendor_id:usb.product_id, each call
// bounded by boards.call_timeout). A machine without usable USB only logs a
// warning: the daemon still serves its emulated boards.
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

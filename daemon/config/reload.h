// Reloading the configuration on SIGHUP: which changes take effect at once
// and which wait for a restart.
//
// Live keys (KeyInfo::live: log level, limits, telemetry period, timeouts)
// change what the daemon does from the next use on. The others (socket,
// state directory, metrics endpoint, boards, USB, watchdog, log format) are
// wired in at start; a changed value is reported and keeps its running value
// until spiked restarts. A configuration that does not load leaves the
// running one untouched.
//
// Thread safety: pure functions; the caller swaps the returned config in
// under its own lock.
#ifndef SPK_DAEMON_CONFIG_RELOAD_H_
#define SPK_DAEMON_CONFIG_RELOAD_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "daemon/config/config.h"

namespace spk::daemon {

struct KeyChange {
  std::string key;
  std::string from;  // canonical text of the running value
  std::string to;    // canonical text of the value read now
  friend bool operator==(const KeyChange&, const KeyChange&) = default;
};

struct ReloadPlan {
  // What to run with now: new values of live keys, running values of the rest.
  DaemonConfig config;
  std::vector<KeyChange> applied;        // live keys that changed
  std::vector<KeyChange> needs_restart;  // changed keys kept until restart

  bool changed() const { return !applied.empty() || !needs_restart.empty(); }
};

// Compares the running configuration with one read again.
ReloadPlan PlanReload(const DaemonConfig& running, const DaemonConfig& reread);

// Loads the configuration again with the command line and environment of
// the start (`host`, `command_line`) and plans the change. Errors are
// LoadConfig's; on error nothing changes.
StatusOr<ReloadPlan> ReloadConfig(const DaemonConfig& running, const HostContext& host,
                                  const CommandLine& command_line);

// One line for the log: "reload: applied log.level info -> debug; restart
// needed for metrics.port 9477 -> 9478" or "reload: nothing changed".
std::string DescribeReload(const ReloadPlan& plan);

}  // namespace spk::daemon

#endif  // SPK_DAEMON_CONFIG_RELOAD_H_

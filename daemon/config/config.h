// spiked's configuration: every key, its default, and how a value is chosen
// (docs/configuration.md).
//
// A key's value comes from, highest first: a command-line flag
// (--section.key=value or a shorthand such as --socket), the environment
// (SPIKED_<SECTION>_<KEY>), the configuration file, the default. Defaults that
// depend on the host (socket, state directory, config file) are computed
// from a HostContext, which tests fill in by hand: nothing here reads the real
// environment except HostContext::Current().
//
// Every error names where the value came from and the key:
//   /etc/spiked/spiked.conf:12: metrics.port: must be 1..65535, got 70000
//   environment SPIKED_LOG_LEVEL: log.level: must be one of trace, ...
//   --metrics-port: metrics.port: must be 1..65535, got 0
// and all of them are reported at once, one per line.
//
// Thread safety: plain values and pure functions, except
// HostContext::Current() which reads process state.
#ifndef SPK_DAEMON_CONFIG_CONFIG_H_
#define SPK_DAEMON_CONFIG_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/logging.h"
#include "base/status.h"
#include "daemon/config/config_file.h"
#include "daemon/protocol/socket_path.h"

namespace spk::daemon {

using protocol::EnvironmentMap;

// The process's identity and environment, captured once.
struct HostContext {
  EnvironmentMap env;
  uint32_t uid = 0;
  std::string home;  // $HOME, else the passwd entry's home; may be empty

  // Reads environ, getuid() and the passwd entry.
  static HostContext Current();
  // The value of `name`, or "" when unset.
  std::string Get(std::string_view name) const;
};

struct DaemonConfig {
  struct Server {
    std::string socket;
    uint32_t socket_mode = 0660;
    std::string socket_group;      // empty: the daemon's primary group
    std::string authorised_group;  // empty: only root and the daemon's user may write
    uint32_t max_connections = 0;
    uint32_t max_requests_in_flight = 0;  // per connection
    uint64_t max_frame_size = 0;
    uint64_t max_message_size = 0;
    std::chrono::milliseconds session_idle_timeout{0};  // 0: never
  } server;
  struct State {
    std::string dir;
    std::chrono::milliseconds history_retention{0};  // audit log and past deployments
  } state;
  struct Log {
    std::string level;  // trace, debug, info, warn, error, critical, off
    LogFormat format = LogFormat::kText;
  } log;
  struct Metrics {
    bool enabled = false;
    std::string bind;
    uint16_t port = 0;
  } metrics;
  struct Compile {
    std::string command;  // empty: spk-compile next to the spiked binary
    uint64_t memory_limit = 0;
    std::chrono::milliseconds cpu_limit{0};
    uint64_t output_limit = 0;
    std::chrono::milliseconds timeout{0};
    uint32_t jobs = 0;
  } compile;
  struct Cache {
    uint64_t max_size = 0;  // 0: no cache
  } cache;
  struct Telemetry {
    std::chrono::milliseconds period{0};
    std::chrono::milliseconds retention{0};
  } telemetry;
  struct Boards {
    uint32_t emulated = 0;
    std::string emulated_profile;
    std::chrono::milliseconds call_timeout{0};
  } boards;
  struct Usb {
    bool enabled = false;
    uint16_t vendor_id = 0;
    uint16_t product_id = 0;
  } usb;
  struct Watchdog {
    bool enabled = false;
    std::chrono::milliseconds interval{0};  // 0: half of $WATCHDOG_USEC
  } watchdog;

  // Where each key's value came from: "default", "/etc/spiked/spiked.conf:12",
  // "environment SPIKED_METRICS_PORT" or the flag ("--metrics-port").
  std::map<std::string, std::string> origins;
  std::string config_file;  // the file read; empty when none
};

// A key's description, for --help, docs and reload decisions.
struct KeyInfo {
  std::string_view name;     // "metrics.port"
  std::string_view type;     // "port", "size", "duration", ...
  bool live;                 // applied on SIGHUP without a restart
  std::string_view summary;  // one line
};

std::span<const KeyInfo> ConfigKeys();
const KeyInfo* FindKey(std::string_view name);
// "SPIKED_METRICS_PORT" for "metrics.port".
std::string EnvVarName(std::string_view key);
// The default value's text on this host.
std::string DefaultValue(std::string_view key, const HostContext& host);
// The value's canonical text in `config` ("16MiB", "5min", "0660").
std::string ValueText(const DaemonConfig& config, std::string_view key);
// Parses `text` as `key`'s value into `config`; INVALID_ARGUMENT says what
// was wrong with the text ("must be 1..65535, got 0"). `key` must exist.
// Checks between keys are BuildConfig's, not made here.
Status SetValue(DaemonConfig& config, std::string_view key, std::string_view text);

// The environment variable that names the configuration file.
inline constexpr char kConfigEnvVar[] = "SPIKED_CONFIG";

// One value given on the command line.
struct FlagValue {
  std::string key;     // "metrics.port"
  std::string value;   // as given
  std::string origin;  // the flag as written: "--metrics-port"
};

struct CommandLine {
  std::string config_path;  // --config; empty: $SPIKED_CONFIG or the default place
  std::vector<FlagValue> values;
  bool help = false;
  bool version = false;
  bool print_config = false;  // print the effective configuration and exit
  bool check_config = false;  // validate and exit
};

// Parses spiked's arguments (without argv[0]). INVALID_ARGUMENT for an
// unknown flag (with a suggestion when one is close), a flag without its
// value or a stray argument; values themselves are checked by LoadConfig.
StatusOr<CommandLine> ParseCommandLine(std::span<const std::string> args);
// Usage text for --help.
std::string CommandLineHelp();

// The configuration file used when neither --config nor $SPIKED_CONFIG names
// one: $CONFIGURATION_DIRECTORY/spiked.conf under systemd, else
// /etc/spiked/spiked.conf for root and system services, else
// $XDG_CONFIG_HOME/spiked/spiked.conf or ~/.config/spiked/spiked.conf.
// A default file that does not exist is simply skipped.
std::string DefaultConfigPath(const HostContext& host);

// Reads the file (the named one must exist: NOT_FOUND otherwise;
// PERMISSION_DENIED when unreadable), applies environment and flags and
// validates. INVALID_ARGUMENT lists every bad value.
StatusOr<DaemonConfig> LoadConfig(const HostContext& host, const CommandLine& command_line);

// LoadConfig's second half, for callers (and tests) that have the file's
// entries already: `file_name` is what messages call the file.
StatusOr<DaemonConfig> BuildConfig(const HostContext& host,
                                   const std::vector<ConfigEntry>& file_entries,
                                   std::string_view file_name, const std::vector<FlagValue>& flags);

// The effective configuration as a file, each value with its origin in a
// comment; reading it back gives the same values.
std::string FormatConfig(const DaemonConfig& config);

}  // namespace spk::daemon

#endif  // SPK_DAEMON_CONFIG_CONFIG_H_

// What every spikectl verb shares: the parsed command line, the connection,
// exit codes and error reporting (human on stderr with a hint about what to
// do next; with --json also a JSON error object on stdout).
//
// Exit codes (docs/cli.md, "Exit codes"):
//   0  success
//   1  the operation failed (the daemon refused it, a compile failed)
//   2  usage: unknown verb or flag, bad value, unreadable input file
//   3  spiked is unreachable: no socket, connection refused or lost
//   4  not found: the deployment, board or model does not exist
//   5  permission denied: not in the authorised group, or a file
//   6  not ready: health says not ready, doctor found a failing check, or
//      the system is in the wrong state (FAILED_PRECONDITION)
//   7  timeout: --timeout or a daemon-side deadline passed
//
// Thread safety: used by the one thread of spikectl.
#ifndef SPK_CLI_SPIKECTL_COMMON_H_
#define SPK_CLI_SPIKECTL_COMMON_H_

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "cli/client/client.h"

namespace spk::spikectl {

inline constexpr char kVersion[] = "0.1.0";

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitUnreachable = 3,
  kExitNotFound = 4,
  kExitPermission = 5,
  kExitNotReady = 6,
  kExitTimeout = 7,
};

// A verb's arguments: positionals in order, --name=value / --name value
// options, and --switches.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::set<std::string> switches;

  bool Has(const std::string& name) const { return switches.count(name) > 0; }
  std::optional<std::string> Value(const std::string& name) const;
  // INVALID_ARGUMENT naming the flag when the value is not a number in range.
  StatusOr<std::optional<uint64_t>> Uint(const std::string& name, uint64_t min, uint64_t max) const;
  StatusOr<std::optional<double>> Seconds(const std::string& name) const;
};

// Splits `argv` by the verb's flag names (without "--"). Unknown flags and
// missing values are INVALID_ARGUMENT.
StatusOr<Args> ParseArgs(const std::vector<std::string>& argv,
                         const std::set<std::string>& value_flags,
                         const std::set<std::string>& switch_flags);

struct Context {
  std::string socket;  // --socket; empty: discovery
  bool json = false;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
  bool tty = false;  // stderr is a terminal: progress may be shown

  // Connects to the daemon; errors are reported by Fail as usual.
  StatusOr<std::unique_ptr<client::Client>> Connect(const std::string& client_name = "") const;
};

int ExitCodeFor(const Status& status);
// What to do next about an error, or "" when nothing useful can be said.
std::string HintFor(const Status& status, const std::string& verb);

// Reports `status` (human: "spikectl VERB: error: ..." and a hint on stderr;
// --json: {"error": {...}} on stdout as well) and returns its exit code.
// `exit_code` overrides ExitCodeFor (local input errors are usage errors).
int Fail(const Context& ctx, const std::string& verb, const Status& status,
         const nlohmann::json& details = nullptr, int exit_code = -1);
int UsageError(const Context& ctx, const std::string& verb, const std::string& message);

}  // namespace spk::spikectl

#endif  // SPK_CLI_SPIKECTL_COMMON_H_

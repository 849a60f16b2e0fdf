// The rows of the daemon's state as C++ values, and the deployment state
// machine (docs/state.md draws it).
//
//   pending --> compiling --> loading --> ready --> undeploying --> undeployed
//      |            |            |          |
//      +------------+------------+----------+-----> failed
//   pending --> loading (the artifact was already in the cache)
//
// A deployment holds a partition of cores from BeginDeploy until it reaches
// failed or undeployed (the "active" states); those two are terminal.
//
// Timestamps are integer milliseconds since the Unix epoch (UTC).
// Thread safety: plain values and pure functions.
#ifndef SPK_DAEMON_STATE_RECORDS_H_
#define SPK_DAEMON_STATE_RECORDS_H_

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace spk::daemon::state {

enum class DeploymentState {
  kPending,      // recorded, cores booked, nothing done yet
  kCompiling,    // the compiler process is producing the artifact
  kLoading,      // the artifact is being loaded onto the partition
  kReady,        // serving
  kFailed,       // terminal: see the deployment's error
  kUndeploying,  // being unloaded; cores still booked until unloaded
  kUndeployed,   // terminal: removed on request
};

// "pending", "compiling", ...: the names stored in SQLite and shown to users.
std::string_view DeploymentStateName(DeploymentState state);
std::optional<DeploymentState> DeploymentStateFromName(std::string_view name);

// True while the deployment owns its cores (every state but failed and
// undeployed).
bool IsActive(DeploymentState state);
// The states a deployment in `from` may move to.
std::span<const DeploymentState> NextStates(DeploymentState from);
bool IsLegalTransition(DeploymentState from, DeploymentState to);

// What to do when the deployment's board goes away.
enum class FailoverPolicy {
  kNone,      // sessions get UNAVAILABLE
  kEmulator,  // the deployment moves to the emulator
};
std::string_view FailoverPolicyName(FailoverPolicy policy);  // "none", "emulator"
std::optional<FailoverPolicy> FailoverPolicyFromName(std::string_view name);

// Last known board state; a board not seen since the daemon started stays at
// its previous value until the service updates it.
enum class BoardState { kOnline, kDegraded, kFailed, kOffline };
std::string_view BoardStateName(BoardState state);  // "online", "degraded", ...
std::optional<BoardState> BoardStateFromName(std::string_view name);

// A model file, identified by the SHA-256 of its bytes.
struct ModelRecord {
  std::string sha256;  // 64 lowercase hex digits
  std::string name;    // as the user called it, e.g. the file name
  std::string path;    // where it was last deployed from
  int64_t size_bytes = 0;
  int64_t first_seen_ms = 0;  // set by the store
};

// A compiled board image in the artifact cache.
struct ArtifactRecord {
  std::string cache_key;  // hash of model, options, chip profile, compiler version
  std::string model_sha256;
  std::string compile_options;  // canonical JSON
  std::string chip_profile;
  std::string compiler_version;
  std::string path;
  int64_t size_bytes = 0;
  std::string checksum;      // of the file at `path`, as the cache computes it
  int64_t created_ms = 0;    // set by the store
  int64_t last_used_ms = 0;  // set by the store
};

struct BoardRecord {
  std::string id;  // stable across restarts: deployments name it
  std::string driver;
  std::string serial;
  std::string board_profile;
  std::string chip_profile;
  uint32_t total_cores = 0;
  int64_t first_seen_ms = 0;  // set by the store
  int64_t last_seen_ms = 0;   // set by the store
  BoardState state = BoardState::kOnline;
};

struct Deployment {
  std::string id;    // "d-7f3a": generated, never reused
  std::string name;  // optional label, unique among active deployments
  std::string model_sha256;
  std::string artifact_key;  // empty until known
  std::string board_id;
  std::vector<uint32_t> cores;  // ascending; empty once inactive
  DeploymentState state = DeploymentState::kPending;
  FailoverPolicy failover = FailoverPolicy::kNone;
  // The board it was deployed on while it runs elsewhere after a failover;
  // empty when it runs on its own board.
  std::string home_board_id;
  std::string options_json = "{}";
  std::string error;  // why it failed, or what a restart did to it
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct DeployRequest {
  std::string name;  // optional; [A-Za-z0-9][A-Za-z0-9._-]{0,63}, not "d-<hex>"
  std::string model_sha256;
  std::string board_id;
  std::vector<uint32_t> cores;  // chosen by the partition allocator
  FailoverPolicy failover = FailoverPolicy::kNone;
  std::string options_json = "{}";
  std::string artifact_key;  // set when the artifact cache already has it
};

struct DeploymentFilter {
  bool include_inactive = false;  // failed and undeployed ones too
  std::string board_id;           // empty: every board
};

// What Recover() found after a restart.
struct RecoveryReport {
  // Deployments that were ready, with their board and cores: load them again.
  std::vector<Deployment> restore;
  // Deployments interrupted half-way, now failed or undeployed, cores freed.
  std::vector<Deployment> rolled_back;
};

// One telemetry reading of a board. Fields a device does not support are
// absent, never zero: "temperature_c", "power_w.vdd", "energy_total_j", ...
struct TelemetrySample {
  int64_t id = 0;  // set by the store
  std::string board_id;
  int64_t timestamp_ms = 0;
  std::map<std::string, double> fields;
};

struct TelemetryQuery {
  std::string board_id;                                    // empty: every board
  int64_t since_ms = std::numeric_limits<int64_t>::min();  // inclusive
  int64_t until_ms = std::numeric_limits<int64_t>::max();  // exclusive
  int64_t limit = 1000;  // the newest `limit` samples in the range
};

// Bounded retention: samples older than max_age_ms, and beyond the newest
// max_samples_per_board of each board, are deleted by PruneTelemetry().
struct TelemetryRetention {
  int64_t max_age_ms = 24 * 3600 * 1000;
  int64_t max_samples_per_board = 100000;
};

// One mutating request, as the server saw it.
struct AuditEntry {
  int64_t id = 0;       // set by the store
  int64_t time_ms = 0;  // set by the store
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  std::string user_name;
  std::string operation;  // "deploy", "undeploy", ...
  std::string target;     // "model.pt", "d-7f3a", ...
  StatusCode result = StatusCode::kOk;
  std::string message;
};

struct AuditQuery {
  int64_t since_ms = std::numeric_limits<int64_t>::min();  // inclusive
  int64_t until_ms = std::numeric_limits<int64_t>::max();  // exclusive
  std::optional<uint32_t> uid;
  std::string operation;  // empty: any
  std::string target;     // empty: any
  int64_t limit = 1000;   // the newest `limit` entries that match
};

}  // namespace spk::daemon::state

#endif  // SPK_DAEMON_STATE_RECORDS_H_

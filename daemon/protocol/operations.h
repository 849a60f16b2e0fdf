// The operations spiked serves (docs/protocol.md, "Operations"): each one's
// name, who may call it, and its request as a struct with a parser that
// names every bad field and a serializer for clients. The server dispatches
// on ParseRequest's operation and then parses the typed request; clients
// build the struct and send MakeRequestFrame(...).
//
// Responses are JSON objects documented in docs/protocol.md; a new minor
// protocol version may add response fields, so readers ignore unknown ones.
// Requests are strict: an unknown field is INVALID_ARGUMENT, which catches a
// client's typo instead of silently ignoring an option.
//
// Thread safety: plain values and pure functions.
#ifndef SPK_DAEMON_PROTOCOL_OPERATIONS_H_
#define SPK_DAEMON_PROTOCOL_OPERATIONS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/json_message.h"

namespace spk::protocol {

// kRead: anyone allowed to connect. kWrite: members of the authorised group
// (and root): operations that change deployments or drive a board.
enum class Access { kRead, kWrite };

struct OperationInfo {
  std::string_view name;  // "deploy", "deployments.list", ...
  Access access;
  std::string_view summary;
};

std::span<const OperationInfo> Operations();
// nullptr for a name this protocol version does not define.
const OperationInfo* FindOperation(std::string_view name);

// A REQUEST payload before its operation-specific fields are read.
struct RequestEnvelope {
  const OperationInfo* operation = nullptr;  // into Operations(); never null
  nlohmann::json body;                       // the whole object, "op" included
};

// INVALID_ARGUMENT for bad JSON or a missing or non-string "op";
// UNIMPLEMENTED for an operation this side does not know.
StatusOr<RequestEnvelope> ParseRequest(std::span<const uint8_t> payload);

// Deployment names: [A-Za-z0-9][A-Za-z0-9._-]*, at most 64 characters.
inline constexpr size_t kMaxDeploymentNameLength = 64;
bool IsValidDeploymentName(std::string_view name);

// Fields every request may carry.
struct RequestBase {
  uint64_t timeout_ms = 0;  // 0: the server's default for the operation
};

struct VersionRequest : RequestBase {
  static constexpr std::string_view kOp = "version";
};

struct HealthRequest : RequestBase {
  static constexpr std::string_view kOp = "health";
  std::string deployment;  // empty: every deployment
};

struct BoardsRequest : RequestBase {
  static constexpr std::string_view kOp = "boards";
};

enum class FailoverPolicy { kNone, kEmulator };
std::string_view FailoverPolicyName(FailoverPolicy policy);

// Exactly one of path and attachment.
struct ModelSource {
  std::string path;                    // absolute; the caller must be able to read it
  std::optional<uint32_t> attachment;  // index of a BLOB attachment holding the bytes
  std::string filename;                // shown in reports when sent as bytes
};

struct PartitionHints {
  uint32_t cores = 0;            // 0: as many as the compiled model needs
  std::optional<uint32_t> chip;  // keep the partition on this chip of the board
  bool exclusive = false;        // no other deployment may share the board
};

struct DeployRequest : RequestBase {
  static constexpr std::string_view kOp = "deploy";
  std::string name;  // empty: derived from the model's file name
  ModelSource model;
  std::string chip_profile;  // empty: the chosen board's chip
  std::string board;         // empty: any board with room
  PartitionHints partition;
  FailoverPolicy failover = FailoverPolicy::kNone;
  uint32_t opt_level = 2;    // compiler optimisation level 0..3
  std::string ssa = "auto";  // spike matmuls: auto, host or chip (spk-compile --ssa)
  uint32_t timesteps = 0;    // 0: the model's default
  bool replace = false;      // replace a deployment of the same name
  bool progress = false;     // send PROGRESS frames while compiling
};

struct UndeployRequest : RequestBase {
  static constexpr std::string_view kOp = "undeploy";
  std::string deployment;
  bool force = false;  // close its open sessions instead of refusing
};

struct ListDeploymentsRequest : RequestBase {
  static constexpr std::string_view kOp = "deployments.list";
};

struct DescribeDeploymentRequest : RequestBase {
  static constexpr std::string_view kOp = "deployments.describe";
  std::string deployment;
};

enum class OutputSelection { kScores, kSpikes, kAll };
std::string_view OutputSelectionName(OutputSelection selection);
enum class ReportLevel { kSummary, kDetailed };
std::string_view ReportLevelName(ReportLevel level);

// Binds an attachment (TENSOR or SPIKES) to an input port.
struct InputBinding {
  std::string port;  // empty: the deployment's only input port
  uint32_t attachment = 0;
};

struct InferRequest : RequestBase {
  static constexpr std::string_view kOp = "infer";
  std::string deployment;
  std::vector<InputBinding> inputs;  // one per input port
  uint32_t timesteps = 0;            // 0: the deployment's default
  OutputSelection outputs = OutputSelection::kScores;
  ReportLevel report = ReportLevel::kSummary;  // kDetailed: per layer and core
};

struct SessionOpenRequest : RequestBase {
  static constexpr std::string_view kOp = "session.open";
  std::string deployment;
  uint32_t input_window = 0;    // STREAM_INPUT frames in flight; 0: server's choice
  uint32_t output_window = 16;  // STREAM_OUTPUT frames the client can buffer
  OutputSelection outputs = OutputSelection::kScores;
};

// Sent on the session's request id (the id of its session.open).
struct SessionCloseRequest : RequestBase {
  static constexpr std::string_view kOp = "session.close";
  bool drain = true;  // run queued input and send its output before closing
};

struct TelemetryLatestRequest : RequestBase {
  static constexpr std::string_view kOp = "telemetry.latest";
  std::string board;  // empty: every board
};

struct TelemetryHistoryRequest : RequestBase {
  static constexpr std::string_view kOp = "telemetry.history";
  std::string board;            // empty: every board
  std::optional<double> since;  // Unix seconds; absent: the oldest kept
  std::optional<double> until;  // Unix seconds; absent: now
  uint32_t max_samples = 1000;  // per board; evenly thinned when more
};

// Parsers take a body accepted by ParseRequest for the matching operation.
// INVALID_ARGUMENT names the operation and field.
StatusOr<VersionRequest> ParseVersionRequest(const nlohmann::json& body);
StatusOr<HealthRequest> ParseHealthRequest(const nlohmann::json& body);
StatusOr<BoardsRequest> ParseBoardsRequest(const nlohmann::json& body);
StatusOr<DeployRequest> ParseDeployRequest(const nlohmann::json& body);
StatusOr<UndeployRequest> ParseUndeployRequest(const nlohmann::json& body);
StatusOr<ListDeploymentsRequest> ParseListDeploymentsRequest(const nlohmann::json& body);
StatusOr<DescribeDeploymentRequest> ParseDescribeDeploymentRequest(const nlohmann::json& body);
StatusOr<InferRequest> ParseInferRequest(const nlohmann::json& body);
StatusOr<SessionOpenRequest> ParseSessionOpenRequest(const nlohmann::json& body);
StatusOr<SessionCloseRequest> ParseSessionCloseRequest(const nlohmann::json& body);
StatusOr<TelemetryLatestRequest> ParseTelemetryLatestRequest(const nlohmann::json& body);
StatusOr<TelemetryHistoryRequest> ParseTelemetryHistoryRequest(const nlohmann::json& body);

// Request bodies with "op" set; fields at their defaults are left out.
nlohmann::json ToJson(const VersionRequest& request);
nlohmann::json ToJson(const HealthRequest& request);
nlohmann::json ToJson(const BoardsRequest& request);
nlohmann::json ToJson(const DeployRequest& request);
nlohmann::json ToJson(const UndeployRequest& request);
nlohmann::json ToJson(const ListDeploymentsRequest& request);
nlohmann::json ToJson(const DescribeDeploymentRequest& request);
nlohmann::json ToJson(const InferRequest& request);
nlohmann::json ToJson(const SessionOpenRequest& request);
nlohmann::json ToJson(const SessionCloseRequest& request);
nlohmann::json ToJson(const TelemetryLatestRequest& request);
nlohmann::json ToJson(const TelemetryHistoryRequest& request);

// The attachment indices a request refers to, in the order it names them.
std::vector<uint32_t> AttachmentRefs(const DeployRequest& request);
std::vector<uint32_t> AttachmentRefs(const InferRequest& request);

// Every reference below `attached` and every attachment referred to exactly
// once; INVALID_ARGUMENT naming the operation and index otherwise.
Status CheckAttachmentRefs(std::string_view op, std::span<const uint32_t> refs, size_t attached);

// A REQUEST frame for a typed request; pass kFlagMore when attachments follow.
template <typename Request>
Frame MakeRequestFrame(uint64_t request_id, const Request& request, uint16_t flags = 0) {
  return MakeJsonFrame(FrameType::kRequest, request_id, ToJson(request), flags);
}

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_OPERATIONS_H_

#include "daemon/protocol/operations.h"

#include <array>
#include <limits>
#include <set>

#include "base/check.h"

namespace spk::protocol {
namespace {

constexpr std::array<OperationInfo, 12> kOperations = {{
    {"version", Access::kRead, "server and protocol versions"},
    {"health", Access::kRead, "liveness, readiness and per-deployment readiness"},
    {"boards", Access::kRead, "boards the daemon owns, with capacity and health"},
    {"deployments.list", Access::kRead, "every deployment, one line each"},
    {"deployments.describe", Access::kRead, "one deployment: ports, placement, compile report"},
    {"telemetry.latest", Access::kRead, "the newest telemetry sample per board"},
    {"telemetry.history", Access::kRead, "kept telemetry samples over a time range"},
    {"deploy", Access::kWrite, "compile (or take from the cache) and load a model"},
    {"undeploy", Access::kWrite, "unload a deployment and free its cores"},
    {"infer", Access::kWrite, "run one inference and return outputs and costs"},
    {"session.open", Access::kWrite, "open a streaming session on a deployment"},
    {"session.close", Access::kWrite, "close a streaming session (on its request id)"},
}};

constexpr uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;
constexpr uint64_t kMaxTimesteps = 1'000'000;
constexpr size_t kMaxNameLength = 256;  // boards, ports, profiles, file names
constexpr size_t kMaxInputs = 64;

// Reads the fields every request shares; the op-specific parse goes on from
// the returned reader.
StatusOr<FieldReader> StartRequest(const nlohmann::json& body, std::string_view op,
                                   RequestBase* base) {
  if (!body.is_object()) return InvalidArgumentError(std::string(op) + ": body must be an object");
  FieldReader reader(body, std::string(op));
  reader.Allow("op");
  SPK_ASSIGN_OR_RETURN(auto timeout, reader.OptionalUint("timeout_ms", 0, kMaxTimeoutMs));
  base->timeout_ms = timeout.value_or(0);
  return reader;
}

StatusOr<std::string> ReadName(FieldReader& reader, std::string_view field, bool required) {
  SPK_ASSIGN_OR_RETURN(auto value, reader.OptionalString(field));
  if (!value) {
    if (required) {
      return InvalidArgumentError(reader.context() + ": missing required field '" +
                                  reader.Path(field) + "'");
    }
    return std::string();
  }
  if (value->empty() || value->size() > kMaxNameLength) {
    return InvalidArgumentError(reader.context() + ": field '" + reader.Path(field) +
                                "' must be 1.." + std::to_string(kMaxNameLength) +
                                " characters, got " + std::to_string(value->size()));
  }
  return *std::move(value);
}

StatusOr<std::string> ReadDeploymentName(FieldReader& reader, std::string_view field,
                                         bool required) {
  SPK_ASSIGN_OR_RETURN(auto value, reader.OptionalString(field));
  if (!value) {
    if (required) {
      return InvalidArgumentError(reader.context() + ": missing required field '" +
                                  reader.Path(field) + "'");
    }
    return std::string();
  }
  if (!IsValidDeploymentName(*value)) {
    return InvalidArgumentError(reader.context() + ": field '" + reader.Path(field) +
                                "' must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most " +
                                std::to_string(kMaxDeploymentNameLength) + " characters, got '" +
                                *value + "'");
  }
  return *std::move(value);
}

StatusOr<uint32_t> ReadU32(FieldReader& reader, std::string_view field, uint32_t min, uint32_t max,
                           uint32_t fallback) {
  SPK_ASSIGN_OR_RETURN(auto value, reader.OptionalUint(field, min, max));
  return value ? static_cast<uint32_t>(*value) : fallback;
}

StatusOr<bool> ReadBool(FieldReader& reader, std::string_view field, bool fallback) {
  SPK_ASSIGN_OR_RETURN(auto value, reader.OptionalBool(field));
  return value.value_or(fallback);
}

StatusOr<OutputSelection> ReadOutputs(FieldReader& reader) {
  SPK_ASSIGN_OR_RETURN(std::string name,
                       reader.Choice("outputs", {"scores", "spikes", "all"}, "scores"));
  if (name == "spikes") return OutputSelection::kSpikes;
  if (name == "all") return OutputSelection::kAll;
  return OutputSelection::kScores;
}

template <typename Request>
StatusOr<Request> ParseEmpty(const nlohmann::json& body) {
  Request request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, Request::kOp, &request));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

nlohmann::json Start(std::string_view op, const RequestBase& base) {
  nlohmann::json body = {{"op", op}};
  if (base.timeout_ms != 0) body["timeout_ms"] = base.timeout_ms;
  return body;
}

}  // namespace

std::span<const OperationInfo> Operations() { return kOperations; }

const OperationInfo* FindOperation(std::string_view name) {
  for (const OperationInfo& info : kOperations) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

StatusOr<RequestEnvelope> ParseRequest(std::span<const uint8_t> payload) {
  SPK_ASSIGN_OR_RETURN(nlohmann::json body, ParseJsonObject(payload, "request"));
  auto op = body.find("op");
  if (op == body.end() || op->is_null()) {
    return InvalidArgumentError("request: missing required field 'op'");
  }
  if (!op->is_string()) {
    return InvalidArgumentError("request: field 'op' must be a string, got " +
                                std::string(JsonTypeName(*op)));
  }
  const std::string name = op->get<std::string>();
  RequestEnvelope envelope;
  envelope.operation = FindOperation(name);
  if (envelope.operation == nullptr) {
    return UnimplementedError("request: unknown operation '" + name +
                              "'; the version operation lists what this server speaks");
  }
  envelope.body = std::move(body);
  return envelope;
}

bool IsValidDeploymentName(std::string_view name) {
  if (name.empty() || name.size() > kMaxDeploymentNameLength) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

std::string_view FailoverPolicyName(FailoverPolicy policy) {
  return policy == FailoverPolicy::kEmulator ? "emulator" : "none";
}

std::string_view OutputSelectionName(OutputSelection selection) {
  switch (selection) {
    case OutputSelection::kScores:
      return "scores";
    case OutputSelection::kSpikes:
      return "spikes";
    case OutputSelection::kAll:
      return "all";
  }
  return "scores";
}

std::string_view ReportLevelName(ReportLevel level) {
  return level == ReportLevel::kDetailed ? "detailed" : "summary";
}

StatusOr<VersionRequest> ParseVersionRequest(const nlohmann::json& body) {
  return ParseEmpty<VersionRequest>(body);
}

StatusOr<BoardsRequest> ParseBoardsRequest(const nlohmann::json& body) {
  return ParseEmpty<BoardsRequest>(body);
}

StatusOr<ListDeploymentsRequest> ParseListDeploymentsRequest(const nlohmann::json& body) {
  return ParseEmpty<ListDeploymentsRequest>(body);
}

StatusOr<HealthRequest> ParseHealthRequest(const nlohmann::json& body) {
  HealthRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, HealthRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.deployment, ReadDeploymentName(reader, "deployment", false));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<DeployRequest> ParseDeployRequest(const nlohmann::json& body) {
  DeployRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, DeployRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.name, ReadDeploymentName(reader, "name", false));

  SPK_ASSIGN_OR_RETURN(const nlohmann::json* model, reader.Object("model"));
  FieldReader model_reader(*model, "deploy", "model.");
  SPK_ASSIGN_OR_RETURN(request.model.path, ReadName(model_reader, "path", false));
  SPK_ASSIGN_OR_RETURN(auto attachment, model_reader.OptionalUint("attachment", 0, kMaxInputs));
  if (attachment) request.model.attachment = static_cast<uint32_t>(*attachment);
  SPK_ASSIGN_OR_RETURN(request.model.filename, ReadName(model_reader, "filename", false));
  SPK_RETURN_IF_ERROR(model_reader.CheckNoUnknownFields());
  if (request.model.path.empty() == !request.model.attachment.has_value()) {
    return InvalidArgumentError(
        "deploy: field 'model' must have exactly one of 'path' and 'attachment'");
  }
  if (!request.model.path.empty() && request.model.path.front() != '/') {
    return InvalidArgumentError("deploy: field 'model.path' must be an absolute path, got '" +
                                request.model.path +
                                "' (the daemon does not share the client's directory)");
  }
  if (!request.model.path.empty() && !request.model.filename.empty()) {
    return InvalidArgumentError(
        "deploy: field 'model.filename' is only for models sent as an attachment");
  }

  SPK_ASSIGN_OR_RETURN(request.chip_profile, ReadName(reader, "chip_profile", false));
  SPK_ASSIGN_OR_RETURN(request.board, ReadName(reader, "board", false));

  SPK_ASSIGN_OR_RETURN(const nlohmann::json* partition, reader.OptionalObject("partition"));
  if (partition != nullptr) {
    FieldReader hints(*partition, "deploy", "partition.");
    SPK_ASSIGN_OR_RETURN(request.partition.cores, ReadU32(hints, "cores", 0, 1 << 20, 0));
    SPK_ASSIGN_OR_RETURN(auto chip, hints.OptionalUint("chip", 0, 4095));
    if (chip) request.partition.chip = static_cast<uint32_t>(*chip);
    SPK_ASSIGN_OR_RETURN(request.partition.exclusive, ReadBool(hints, "exclusive", false));
    SPK_RETURN_IF_ERROR(hints.CheckNoUnknownFields());
  }

  SPK_ASSIGN_OR_RETURN(std::string failover,
                       reader.Choice("failover", {"none", "emulator"}, "none"));
  request.failover = failover == "emulator" ? FailoverPolicy::kEmulator : FailoverPolicy::kNone;
  SPK_ASSIGN_OR_RETURN(request.opt_level, ReadU32(reader, "opt_level", 0, 3, 2));
  SPK_ASSIGN_OR_RETURN(request.ssa, reader.Choice("ssa", {"auto", "host", "chip"}, "auto"));
  SPK_ASSIGN_OR_RETURN(request.timesteps, ReadU32(reader, "timesteps", 0, kMaxTimesteps, 0));
  SPK_ASSIGN_OR_RETURN(request.replace, ReadBool(reader, "replace", false));
  SPK_ASSIGN_OR_RETURN(request.progress, ReadBool(reader, "progress", false));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<UndeployRequest> ParseUndeployRequest(const nlohmann::json& body) {
  UndeployRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, UndeployRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.deployment, ReadDeploymentName(reader, "deployment", true));
  SPK_ASSIGN_OR_RETURN(request.force, ReadBool(reader, "force", false));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<DescribeDeploymentRequest> ParseDescribeDeploymentRequest(const nlohmann::json& body) {
  DescribeDeploymentRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader,
                       StartRequest(body, DescribeDeploymentRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.deployment, ReadDeploymentName(reader, "deployment", true));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<InferRequest> ParseInferRequest(const nlohmann::json& body) {
  InferRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, InferRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.deployment, ReadDeploymentName(reader, "deployment", true));

  SPK_ASSIGN_OR_RETURN(const nlohmann::json* inputs, reader.OptionalArray("inputs"));
  if (inputs == nullptr || inputs->empty() || inputs->size() > kMaxInputs) {
    return InvalidArgumentError("infer: field 'inputs' must be an array of 1.." +
                                std::to_string(kMaxInputs) + " input bindings");
  }
  std::set<std::string> ports;
  for (size_t i = 0; i < inputs->size(); ++i) {
    const nlohmann::json& item = (*inputs)[i];
    const std::string path = "inputs[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      return InvalidArgumentError("infer: field '" + path + "' must be an object, got " +
                                  std::string(JsonTypeName(item)));
    }
    FieldReader input(item, "infer", path + ".");
    InputBinding binding;
    SPK_ASSIGN_OR_RETURN(binding.port, ReadName(input, "port", false));
    SPK_ASSIGN_OR_RETURN(auto attachment, input.Uint("attachment", 0, kMaxInputs - 1));
    binding.attachment = static_cast<uint32_t>(attachment);
    SPK_RETURN_IF_ERROR(input.CheckNoUnknownFields());
    request.inputs.push_back(std::move(binding));
  }
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const std::string& port = request.inputs[i].port;
    if (port.empty() && request.inputs.size() > 1) {
      return InvalidArgumentError("infer: field 'inputs[" + std::to_string(i) +
                                  "].port' is required when there are several inputs");
    }
    if (!ports.insert(port).second) {
      return InvalidArgumentError("infer: port '" + port + "' is bound twice");
    }
  }
  SPK_ASSIGN_OR_RETURN(request.timesteps, ReadU32(reader, "timesteps", 0, kMaxTimesteps, 0));
  SPK_ASSIGN_OR_RETURN(request.outputs, ReadOutputs(reader));
  SPK_ASSIGN_OR_RETURN(std::string report,
                       reader.Choice("report", {"summary", "detailed"}, "summary"));
  request.report = report == "detailed" ? ReportLevel::kDetailed : ReportLevel::kSummary;
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<SessionOpenRequest> ParseSessionOpenRequest(const nlohmann::json& body) {
  SessionOpenRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, SessionOpenRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.deployment, ReadDeploymentName(reader, "deployment", true));
  SPK_ASSIGN_OR_RETURN(request.input_window, ReadU32(reader, "input_window", 0, 1024, 0));
  SPK_ASSIGN_OR_RETURN(request.output_window, ReadU32(reader, "output_window", 1, 1024, 16));
  SPK_ASSIGN_OR_RETURN(request.outputs, ReadOutputs(reader));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<SessionCloseRequest> ParseSessionCloseRequest(const nlohmann::json& body) {
  SessionCloseRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader, StartRequest(body, SessionCloseRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.drain, ReadBool(reader, "drain", true));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<TelemetryLatestRequest> ParseTelemetryLatestRequest(const nlohmann::json& body) {
  TelemetryLatestRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader,
                       StartRequest(body, TelemetryLatestRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.board, ReadName(reader, "board", false));
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

StatusOr<TelemetryHistoryRequest> ParseTelemetryHistoryRequest(const nlohmann::json& body) {
  TelemetryHistoryRequest request;
  SPK_ASSIGN_OR_RETURN(FieldReader reader,
                       StartRequest(body, TelemetryHistoryRequest::kOp, &request));
  SPK_ASSIGN_OR_RETURN(request.board, ReadName(reader, "board", false));
  SPK_ASSIGN_OR_RETURN(request.since, reader.OptionalNumber("since"));
  SPK_ASSIGN_OR_RETURN(request.until, reader.OptionalNumber("until"));
  SPK_ASSIGN_OR_RETURN(request.max_samples, ReadU32(reader, "max_samples", 1, 100'000, 1000));
  if (request.since && request.until && *request.since > *request.until) {
    return InvalidArgumentError("telemetry.history: field 'since' is after field 'until'");
  }
  SPK_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  return request;
}

nlohmann::json ToJson(const VersionRequest& request) { return Start(request.kOp, request); }
nlohmann::json ToJson(const BoardsRequest& request) { return Start(request.kOp, request); }
nlohmann::json ToJson(const ListDeploymentsRequest& request) { return Start(request.kOp, request); }

nlohmann::json ToJson(const HealthRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  if (!request.deployment.empty()) body["deployment"] = request.deployment;
  return body;
}

nlohmann::json ToJson(const DeployRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  if (!request.name.empty()) body["name"] = request.name;
  nlohmann::json model = nlohmann::json::object();
  if (!request.model.path.empty()) model["path"] = request.model.path;
  if (request.model.attachment) model["attachment"] = *request.model.attachment;
  if (!request.model.filename.empty()) model["filename"] = request.model.filename;
  body["model"] = std::move(model);
  if (!request.chip_profile.empty()) body["chip_profile"] = request.chip_profile;
  if (!request.board.empty()) body["board"] = request.board;
  nlohmann::json partition = nlohmann::json::object();
  if (request.partition.cores != 0) partition["cores"] = request.partition.cores;
  if (request.partition.chip) partition["chip"] = *request.partition.chip;
  if (request.partition.exclusive) partition["exclusive"] = true;
  if (!partition.empty()) body["partition"] = std::move(partition);
  if (request.failover != FailoverPolicy::kNone) {
    body["failover"] = FailoverPolicyName(request.failover);
  }
  if (request.opt_level != 2) body["opt_level"] = request.opt_level;
  if (request.ssa != "auto") body["ssa"] = request.ssa;
  if (request.timesteps != 0) body["timesteps"] = request.timesteps;
  if (request.replace) body["replace"] = true;
  if (request.progress) body["progress"] = true;
  return body;
}

nlohmann::json ToJson(const UndeployRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  body["deployment"] = request.deployment;
  if (request.force) body["force"] = true;
  return body;
}

nlohmann::json ToJson(const DescribeDeploymentRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  body["deployment"] = request.deployment;
  return body;
}

nlohmann::json ToJson(const InferRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  body["deployment"] = request.deployment;
  nlohmann::json inputs = nlohmann::json::array();
  for (const InputBinding& binding : request.inputs) {
    nlohmann::json input = {{"attachment", binding.attachment}};
    if (!binding.port.empty()) input["port"] = binding.port;
    inputs.push_back(std::move(input));
  }
  body["inputs"] = std::move(inputs);
  if (request.timesteps != 0) body["timesteps"] = request.timesteps;
  if (request.outputs != OutputSelection::kScores) {
    body["outputs"] = OutputSelectionName(request.outputs);
  }
  if (request.report != ReportLevel::kSummary) body["report"] = ReportLevelName(request.report);
  return body;
}

nlohmann::json ToJson(const SessionOpenRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  body["deployment"] = request.deployment;
  if (request.input_window != 0) body["input_window"] = request.input_window;
  if (request.output_window != 16) body["output_window"] = request.output_window;
  if (request.outputs != OutputSelection::kScores) {
    body["outputs"] = OutputSelectionName(request.outputs);
  }
  return body;
}

nlohmann::json ToJson(const SessionCloseRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  if (!request.drain) body["drain"] = false;
  return body;
}

nlohmann::json ToJson(const TelemetryLatestRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  if (!request.board.empty()) body["board"] = request.board;
  return body;
}

nlohmann::json ToJson(const TelemetryHistoryRequest& request) {
  nlohmann::json body = Start(request.kOp, request);
  if (!request.board.empty()) body["board"] = request.board;
  if (request.since) body["since"] = *request.since;
  if (request.until) body["until"] = *request.until;
  if (request.max_samples != 1000) body["max_samples"] = request.max_samples;
  return body;
}

std::vector<uint32_t> AttachmentRefs(const DeployRequest& request) {
  if (request.model.attachment) return {*request.model.attachment};
  return {};
}

std::vector<uint32_t> AttachmentRefs(const InferRequest& request) {
  std::vector<uint32_t> refs;
  for (const InputBinding& binding : request.inputs) refs.push_back(binding.attachment);
  return refs;
}

Status CheckAttachmentRefs(std::string_view op, std::span<const uint32_t> refs, size_t attached) {
  std::vector<int> uses(attached, 0);
  for (uint32_t ref : refs) {
    if (ref >= attached) {
      return InvalidArgumentError(std::string(op) + ": attachment " + std::to_string(ref) +
                                  " is named but only " + std::to_string(attached) +
                                  " attachment(s) followed the request");
    }
    if (++uses[ref] > 1) {
      return InvalidArgumentError(std::string(op) + ": attachment " + std::to_string(ref) +
                                  " is named twice");
    }
  }
  for (size_t i = 0; i < attached; ++i) {
    if (uses[i] == 0) {
      return InvalidArgumentError(std::string(op) + ": attachment " + std::to_string(i) +
                                  " followed the request but no field names it");
    }
  }
  return Status::Ok();
}

}  // namespace spk::protocol

#include "daemon/protocol/operations.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

std::vector<uint8_t> Text(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

// Serialises a typed request, parses it back through the envelope and the
// typed parser, and checks nothing changed on the way.
template <typename Request, typename Parse>
void ExpectRoundTrip(const Request& request, Parse parse) {
  const Frame frame = MakeRequestFrame(11, request);
  EXPECT_EQ(frame.header.type, FrameType::kRequest);
  auto envelope = ParseRequest(frame.payload);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->operation->name, Request::kOp);
  auto parsed = parse(envelope->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(ToJson(*parsed), ToJson(request));
}

StatusOr<nlohmann::json> Body(std::string_view text) {
  SPK_ASSIGN_OR_RETURN(RequestEnvelope envelope, ParseRequest(Text(text)));
  return envelope.body;
}

TEST(OperationsTest, TableIsCompleteAndClassified) {
  const char* read_ops[] = {
      "version",          "health",           "boards", "deployments.list", "deployments.describe",
      "telemetry.latest", "telemetry.history"};
  const char* write_ops[] = {"deploy", "undeploy", "infer", "session.open", "session.close"};
  for (const char* op : read_ops) {
    ASSERT_NE(FindOperation(op), nullptr) << op;
    EXPECT_EQ(FindOperation(op)->access, Access::kRead) << op;
  }
  for (const char* op : write_ops) {
    ASSERT_NE(FindOperation(op), nullptr) << op;
    EXPECT_EQ(FindOperation(op)->access, Access::kWrite) << op;
  }
  EXPECT_EQ(Operations().size(), std::size(read_ops) + std::size(write_ops));
  EXPECT_EQ(FindOperation("hello"), nullptr);
}

TEST(ParseRequestTest, EnvelopeErrors) {
  EXPECT_EQ(ParseRequest(Text(R"({"deployment": "x"})")).status().message(),
            "request: missing required field 'op'");
  EXPECT_EQ(ParseRequest(Text(R"({"op": 3})")).status().message(),
            "request: field 'op' must be a string, got number");
  auto unknown = ParseRequest(Text(R"({"op": "infr"})"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(unknown.status().message(),
            "request: unknown operation 'infr'; the version operation lists what this server "
            "speaks");
  EXPECT_EQ(ParseRequest(Text("{")).status().code(), StatusCode::kInvalidArgument);
}

TEST(RequestsTest, EveryRequestRoundTrips) {
  ExpectRoundTrip(VersionRequest(), ParseVersionRequest);
  BoardsRequest boards;
  boards.timeout_ms = 500;
  ExpectRoundTrip(boards, ParseBoardsRequest);
  ExpectRoundTrip(ListDeploymentsRequest(), ParseListDeploymentsRequest);
  HealthRequest health;
  health.deployment = "mnist-1";
  ExpectRoundTrip(health, ParseHealthRequest);

  DeployRequest deploy;
  deploy.name = "spikformer_4.384";
  deploy.model.path = "/models/spikformer.pt";
  deploy.chip_profile = "loihi3";
  deploy.board = "usb-1-4";
  deploy.partition = {64, 1, true};
  deploy.failover = FailoverPolicy::kEmulator;
  deploy.opt_level = 3;
  deploy.ssa = "chip";
  deploy.timesteps = 4;
  deploy.replace = true;
  deploy.progress = true;
  deploy.timeout_ms = 60000;
  ExpectRoundTrip(deploy, ParseDeployRequest);
  DeployRequest bytes;
  bytes.model.attachment = 0;
  bytes.model.filename = "mlp.pt";
  ExpectRoundTrip(bytes, ParseDeployRequest);

  UndeployRequest undeploy;
  undeploy.deployment = "mnist";
  undeploy.force = true;
  ExpectRoundTrip(undeploy, ParseUndeployRequest);
  DescribeDeploymentRequest describe;
  describe.deployment = "mnist";
  ExpectRoundTrip(describe, ParseDescribeDeploymentRequest);

  InferRequest infer;
  infer.deployment = "mnist";
  infer.inputs = {{"image", 1}, {"mask", 0}};
  infer.timesteps = 8;
  infer.outputs = OutputSelection::kAll;
  infer.report = ReportLevel::kDetailed;
  ExpectRoundTrip(infer, ParseInferRequest);
  InferRequest single;
  single.deployment = "mnist";
  single.inputs = {{"", 0}};
  ExpectRoundTrip(single, ParseInferRequest);

  SessionOpenRequest open;
  open.deployment = "kws";
  open.input_window = 4;
  open.output_window = 32;
  open.outputs = OutputSelection::kSpikes;
  ExpectRoundTrip(open, ParseSessionOpenRequest);
  SessionCloseRequest close;
  close.drain = false;
  ExpectRoundTrip(close, ParseSessionCloseRequest);

  TelemetryLatestRequest latest;
  latest.board = "sim0";
  ExpectRoundTrip(latest, ParseTelemetryLatestRequest);
  TelemetryHistoryRequest history;
  history.board = "sim0";
  history.since = 1700000000.25;
  history.until = 1700003600.5;
  history.max_samples = 50;
  ExpectRoundTrip(history, ParseTelemetryHistoryRequest);
}

TEST(RequestsTest, DefaultsWhenFieldsAreLeftOut) {
  auto body = Body(R"({"op": "deploy", "model": {"path": "/m.pt"}})");
  ASSERT_TRUE(body.ok());
  auto deploy = ParseDeployRequest(*body);
  ASSERT_TRUE(deploy.ok()) << deploy.status();
  EXPECT_EQ(deploy->opt_level, 2u);
  EXPECT_EQ(deploy->ssa, "auto");
  EXPECT_EQ(deploy->failover, FailoverPolicy::kNone);
  EXPECT_EQ(deploy->partition.cores, 0u);
  EXPECT_FALSE(deploy->partition.chip.has_value());
  EXPECT_EQ(deploy->timeout_ms, 0u);

  auto open = ParseSessionOpenRequest(*Body(R"({"op": "session.open", "deployment": "a"})"));
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->output_window, 16u);
  EXPECT_EQ(open->input_window, 0u);
}

struct BadRequest {
  const char* json;
  const char* message;
};

// Each request is accepted by the envelope and refused by its typed parser.
void ExpectRefused(const std::vector<BadRequest>& cases) {
  for (const BadRequest& c : cases) {
    auto envelope = ParseRequest(Text(c.json));
    ASSERT_TRUE(envelope.ok()) << c.json << ": " << envelope.status();
    const std::string_view op = envelope->operation->name;
    Status status;
    if (op == "deploy") status = ParseDeployRequest(envelope->body).status();
    if (op == "undeploy") status = ParseUndeployRequest(envelope->body).status();
    if (op == "infer") status = ParseInferRequest(envelope->body).status();
    if (op == "session.open") status = ParseSessionOpenRequest(envelope->body).status();
    if (op == "session.close") status = ParseSessionCloseRequest(envelope->body).status();
    if (op == "health") status = ParseHealthRequest(envelope->body).status();
    if (op == "version") status = ParseVersionRequest(envelope->body).status();
    if (op == "telemetry.history") status = ParseTelemetryHistoryRequest(envelope->body).status();
    if (op == "telemetry.latest") status = ParseTelemetryLatestRequest(envelope->body).status();
    if (op == "deployments.describe") {
      status = ParseDescribeDeploymentRequest(envelope->body).status();
    }
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_EQ(status.message(), c.message) << c.json;
  }
}

TEST(RequestsTest, InferErrorsNameTheField) {
  ExpectRefused({
      {R"({"op": "infer", "inputs": [{"attachment": 0}]})",
       "infer: missing required field 'deployment'"},
      {R"({"op": "infer", "deployment": 5, "inputs": [{"attachment": 0}]})",
       "infer: field 'deployment' must be a string, got number 5"},
      {R"({"op": "infer", "deployment": "a b", "inputs": [{"attachment": 0}]})",
       "infer: field 'deployment' must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 64 "
       "characters, got 'a b'"},
      {R"({"op": "infer", "deployment": "m"})",
       "infer: field 'inputs' must be an array of 1..64 input bindings"},
      {R"({"op": "infer", "deployment": "m", "inputs": []})",
       "infer: field 'inputs' must be an array of 1..64 input bindings"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"attachment": 0}, 7]})",
       "infer: field 'inputs[1]' must be an object, got number"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"port": "a"}]})",
       "infer: missing required field 'inputs[0].attachment'"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"attachment": 0, "shape": [1]}]})",
       "infer: unknown field 'inputs[0].shape'"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"attachment": 0}, {"attachment": 1}]})",
       "infer: field 'inputs[0].port' is required when there are several inputs"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"port": "a", "attachment": 0},
           {"port": "a", "attachment": 1}]})",
       "infer: port 'a' is bound twice"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"attachment": 0}], "timestep": 3})",
       "infer: unknown field 'timestep'"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"attachment": 0}], "outputs": "x"})",
       "infer: field 'outputs' must be one of 'scores', 'spikes', 'all', got 'x'"},
      {R"({"op": "infer", "deployment": "m", "inputs": [{"attachment": 0}],
           "timeout_ms": 999999999999})",
       "infer: field 'timeout_ms' must be an integer in 0..86400000, got number 999999999999"},
  });
}

TEST(RequestsTest, DeployErrorsNameTheField) {
  ExpectRefused({
      {R"({"op": "deploy"})", "deploy: missing required field 'model'"},
      {R"({"op": "deploy", "model": "/m.pt"})",
       "deploy: field 'model' must be an object, got string"},
      {R"({"op": "deploy", "model": {}})",
       "deploy: field 'model' must have exactly one of 'path' and 'attachment'"},
      {R"({"op": "deploy", "model": {"path": "/m.pt", "attachment": 0}})",
       "deploy: field 'model' must have exactly one of 'path' and 'attachment'"},
      {R"({"op": "deploy", "model": {"path": "m.pt"}})",
       "deploy: field 'model.path' must be an absolute path, got 'm.pt' (the daemon does not "
       "share the client's directory)"},
      {R"({"op": "deploy", "model": {"path": "/m.pt", "filename": "m.pt"}})",
       "deploy: field 'model.filename' is only for models sent as an attachment"},
      {R"({"op": "deploy", "model": {"path": "/m.pt", "sha": "1"}})",
       "deploy: unknown field 'model.sha'"},
      {R"({"op": "deploy", "model": {"path": "/m.pt"}, "partition": {"cores": -1}})",
       "deploy: field 'partition.cores' must be an integer in 0..1048576, got number -1"},
      {R"({"op": "deploy", "model": {"path": "/m.pt"}, "failover": "sometimes"})",
       "deploy: field 'failover' must be one of 'none', 'emulator', got 'sometimes'"},
      {R"({"op": "deploy", "model": {"path": "/m.pt"}, "opt_level": 4})",
       "deploy: field 'opt_level' must be an integer in 0..3, got number 4"},
      {R"({"op": "deploy", "model": {"path": "/m.pt"}, "ssa": "gpu"})",
       "deploy: field 'ssa' must be one of 'auto', 'host', 'chip', got 'gpu'"},
      {R"({"op": "deploy", "model": {"path": "/m.pt"}, "board": ""})",
       "deploy: field 'board' must be 1..256 characters, got 0"},
      {R"({"op": "deploy", "model": {"path": "/m.pt"}, "replace": "yes"})",
       "deploy: field 'replace' must be true or false, got string"},
  });
}

TEST(RequestsTest, OtherErrorsNameTheField) {
  ExpectRefused({
      {R"({"op": "undeploy"})", "undeploy: missing required field 'deployment'"},
      {R"({"op": "deployments.describe", "deployment": ""})",
       "deployments.describe: field 'deployment' must match [A-Za-z0-9][A-Za-z0-9._-]* and be "
       "at most 64 characters, got ''"},
      {R"({"op": "session.open", "deployment": "k", "output_window": 0})",
       "session.open: field 'output_window' must be an integer in 1..1024, got number 0"},
      {R"({"op": "session.close", "drain": 1})",
       "session.close: field 'drain' must be true or false, got number 1"},
      {R"({"op": "health", "deployment": 1})",
       "health: field 'deployment' must be a string, got number 1"},
      {R"({"op": "version", "verbose": true})", "version: unknown field 'verbose'"},
      {R"({"op": "telemetry.history", "since": 10, "until": 5})",
       "telemetry.history: field 'since' is after field 'until'"},
      {R"({"op": "telemetry.history", "since": "yesterday"})",
       "telemetry.history: field 'since' must be a number, got string"},
      {R"({"op": "telemetry.latest", "board": ["sim0"]})",
       "telemetry.latest: field 'board' must be a string, got array"},
  });
}

TEST(AttachmentRefsTest, EveryAttachmentNamedOnce) {
  InferRequest infer;
  infer.inputs = {{"a", 1}, {"b", 0}};
  EXPECT_TRUE(CheckAttachmentRefs("infer", AttachmentRefs(infer), 2).ok());
  EXPECT_EQ(CheckAttachmentRefs("infer", AttachmentRefs(infer), 1).message(),
            "infer: attachment 1 is named but only 1 attachment(s) followed the request");
  EXPECT_EQ(CheckAttachmentRefs("infer", AttachmentRefs(infer), 3).message(),
            "infer: attachment 2 followed the request but no field names it");
  const std::vector<uint32_t> twice = {0, 0};
  EXPECT_EQ(CheckAttachmentRefs("infer", twice, 1).message(), "infer: attachment 0 is named twice");
  DeployRequest deploy;
  deploy.model.path = "/m.pt";
  EXPECT_TRUE(CheckAttachmentRefs("deploy", AttachmentRefs(deploy), 0).ok());
  deploy.model = {"", 0, ""};
  EXPECT_EQ(CheckAttachmentRefs("deploy", AttachmentRefs(deploy), 0).code(),
            StatusCode::kInvalidArgument);
}

TEST(DeploymentNameTest, Rules) {
  EXPECT_TRUE(IsValidDeploymentName("a"));
  EXPECT_TRUE(IsValidDeploymentName("Spikformer-4_384.v2"));
  EXPECT_TRUE(IsValidDeploymentName(std::string(64, 'x')));
  EXPECT_FALSE(IsValidDeploymentName(std::string(65, 'x')));
  EXPECT_FALSE(IsValidDeploymentName(""));
  EXPECT_FALSE(IsValidDeploymentName("-a"));
  EXPECT_FALSE(IsValidDeploymentName(".hidden"));
  EXPECT_FALSE(IsValidDeploymentName("a/b"));
  EXPECT_FALSE(IsValidDeploymentName("a b"));
}

}  // namespace
}  // namespace spk::protocol

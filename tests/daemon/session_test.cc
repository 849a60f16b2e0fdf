// Streaming sessions and request cancellation against the real spiked
// (docs/protocol.md "Streaming sessions", "Requests, responses and
// cancellation"): windows and credit, idle timeout, CANCEL, close with
// drain, forced undeploy, CANCEL and timeout_ms of a deploy.
#include <signal.h>

#include <cerrno>
#include <filesystem>

#include "tests/daemon/daemon_fixture.h"

namespace spk::testing {
namespace {

using protocol::Frame;
using protocol::FrameType;
using protocol::Tensor;

class SessionTest : public DaemonFixture {
 protected:
  // Reads frames of `session` until `stop` says so; outputs go to `got` by
  // step, and `credits` counts CREDIT frames.
  struct Seen {
    std::map<int64_t, std::vector<float>> outputs;
    std::vector<int64_t> order;  // steps in arrival order
    int credits = 0;
    std::optional<Frame> last;  // the RESPONSE or ERROR that ended the read
  };
  void Read(Client& client, uint64_t session, Seen& seen,
            const std::function<bool(const Seen&)>& stop) {
    while (!stop(seen)) {
      auto frame = client.Next(std::chrono::seconds(20));
      ASSERT_TRUE(frame.ok()) << frame.status();
      ASSERT_EQ(frame->header.request_id, session) << frame->payload_text();
      switch (frame->header.type) {
        case FrameType::kCredit:
          ++seen.credits;
          break;
        case FrameType::kStreamOutput: {
          auto chunk = protocol::DecodeStreamChunk(frame->payload);
          ASSERT_TRUE(chunk.ok()) << chunk.status();
          const auto step = static_cast<int64_t>(chunk->first_step);
          seen.outputs[step] = std::get<Tensor>(chunk->body).ToFloat();
          seen.order.push_back(step);
          break;
        }
        default:
          seen.last = *frame;
          return;
      }
    }
  }

  // True when no frame arrives for a while. It can only pass wrongly on a
  // server slower than the wait, never fail on a correct one.
  static bool Quiet(Client& client) {
    auto frame = client.Next(std::chrono::milliseconds(400));
    return !frame.ok() && frame.status().code() == StatusCode::kDeadlineExceeded;
  }
};

TEST_F(SessionTest, CloseDrainsPushedInputAndReturnsTotals) {
  StartDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  nlohmann::json opened;
  const uint64_t session = OpenSession(client, {{"output_window", 1024}}, &opened);
  ASSERT_NE(session, 0u);
  EXPECT_EQ(opened["input_window"], 8);
  EXPECT_EQ(opened["output_window"], 1024);
  EXPECT_EQ(opened["idle_timeout_ms"], 300000);
  EXPECT_EQ(opened["inputs"][0]["neurons"], 2);
  EXPECT_EQ(opened["board"], "sim0");

  // Three chunks and the close, without waiting for anything.
  ASSERT_TRUE(Push(client, session, Chunk(0, 4)).ok());
  ASSERT_TRUE(Push(client, session, Chunk(4, 3)).ok());
  ASSERT_TRUE(Push(client, session, Chunk(7, 5)).ok());
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, session, {{"op", "session.close"}}).ok());
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  ASSERT_EQ(seen.last->header.type, FrameType::kResponse) << seen.last->payload_text();
  EXPECT_EQ(seen.credits, 3);
  const auto expected = ExpectedStream(12);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(seen.outputs, expected);
  EXPECT_TRUE(std::is_sorted(seen.order.begin(), seen.order.end()));

  auto totals = protocol::ParseJsonObject(seen.last->payload, "close");
  ASSERT_TRUE(totals.ok());
  EXPECT_EQ((*totals)["session"], "s-" + std::to_string(session));
  EXPECT_EQ((*totals)["steps"], 12);
  EXPECT_EQ((*totals)["chunks"], 3);
  EXPECT_GT((*totals)["chip_seconds"].get<double>(), 0.0);
  EXPECT_GT((*totals)["energy_joules"]["total"].get<double>(), 0.0);
  EXPECT_LE((*totals)["latency_seconds"]["p50"].get<double>(),
            (*totals)["latency_seconds"]["p99"].get<double>());

  // The id is free again, and so is the deployment.
  auto version = client.Call({{"op", "version"}});
  ASSERT_TRUE(version.ok());
  EXPECT_TRUE(version->status.ok());
  EXPECT_NE(OpenSession(client), 0u);
}

TEST_F(SessionTest, OutputWindowHoldsBackOutputAndInputUntilCredit) {
  StartDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client, {{"input_window", 4}, {"output_window", 1}});
  ASSERT_NE(session, 0u);

  ASSERT_TRUE(Push(client, session, Chunk(0, 16)).ok());
  Seen seen;
  Read(client, session, seen, [](const Seen& s) { return !s.order.empty(); });
  ASSERT_FALSE(seen.last.has_value());
  ASSERT_TRUE(Push(client, session, Chunk(16, 16)).ok());
  // One output frame was allowed; the rest, the chunk's CREDIT and the
  // second chunk's steps wait for the client.
  EXPECT_TRUE(Quiet(client));
  EXPECT_EQ(seen.credits, 0);

  ASSERT_TRUE(SendCredit(client, session, 1000).ok());
  Read(client, session, seen, [](const Seen& s) { return s.credits == 2; });
  ASSERT_FALSE(seen.last.has_value());
  const auto expected = ExpectedStream(32);
  // Outputs of steps up to 31 minus the model's latency came, in order.
  EXPECT_EQ(seen.outputs, expected);
  EXPECT_TRUE(std::is_sorted(seen.order.begin(), seen.order.end()));
}

TEST_F(SessionTest, ExceedingTheInputWindowEndsTheSession) {
  StartDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client, {{"input_window", 1}, {"output_window", 1}});
  ASSERT_NE(session, 0u);
  // The first chunk's CREDIT is held behind its outputs, which wait for
  // output credit: a second chunk is beyond the window.
  ASSERT_TRUE(Push(client, session, Chunk(0, 16)).ok());
  ASSERT_TRUE(Push(client, session, Chunk(16, 1)).ok());
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  ASSERT_EQ(seen.last->header.type, FrameType::kError) << seen.last->payload_text();
  const Status status = protocol::StatusFromErrorFrame(*seen.last);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("input window of 1 frames exceeded"), std::string::npos)
      << status;
  EXPECT_EQ(seen.credits, 0);
  // The session is gone; the connection and the deployment are not.
  EXPECT_NE(OpenSession(client), 0u);
}

TEST_F(SessionTest, OutOfOrderChunkIsRefusedNamingTheStep) {
  StartDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client);
  ASSERT_NE(session, 0u);
  ASSERT_TRUE(Push(client, session, Chunk(0, 2)).ok());
  ASSERT_TRUE(Push(client, session, Chunk(5, 2)).ok());
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  const Status status = protocol::StatusFromErrorFrame(*seen.last);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("starts at step 5, expected 2"), std::string::npos) << status;
}

TEST_F(SessionTest, SpikeEncodedInputMatchesDenseInput) {
  StartDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client, {{"output_window", 1024}});
  ASSERT_NE(session, 0u);
  protocol::SpikeEvents spikes;
  for (uint32_t t = 0; t < 10; ++t) {
    auto in = StepInput(t);
    for (uint32_t i = 0; i < in.size(); ++i) {
      if (in[i] != 0) spikes.events.push_back({.timestep = t, .index = i});
    }
  }
  ASSERT_TRUE(
      Push(client, session, {.first_step = 0, .steps = 10, .port = 0, .body = spikes}).ok());
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, session, {{"op", "session.close"}}).ok());
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  ASSERT_EQ(seen.last->header.type, FrameType::kResponse) << seen.last->payload_text();
  EXPECT_EQ(seen.outputs, ExpectedStream(10));
}

TEST_F(SessionTest, IdleSessionEndsWithDeadlineExceeded) {
  StartDaemon({"--server.session_idle_timeout=200ms"});
  Client client;
  Connect(client);
  EXPECT_EQ(client.hello()["limits"]["session_idle_timeout_ms"], 200);
  DeploySmall(client);
  nlohmann::json opened;
  const uint64_t session = OpenSession(client, {}, &opened);
  ASSERT_NE(session, 0u);
  EXPECT_EQ(opened["idle_timeout_ms"], 200);
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  ASSERT_EQ(seen.last->header.type, FrameType::kError);
  const Status status = protocol::StatusFromErrorFrame(*seen.last);
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("session_idle_timeout"), std::string::npos) << status;
  EXPECT_NE(OpenSession(client), 0u);
}

TEST_F(SessionTest, CancelEndsTheSessionAtOnce) {
  StartDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client, {{"output_window", 1}});
  ASSERT_NE(session, 0u);
  ASSERT_TRUE(Push(client, session, Chunk(0, 16)).ok());
  ASSERT_TRUE(SendCancel(client, session).ok());
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  const Status status = protocol::StatusFromErrorFrame(*seen.last);
  EXPECT_EQ(status.code(), StatusCode::kCancelled) << status;
  // A CANCEL of an id that is not in use is ignored.
  ASSERT_TRUE(SendCancel(client, 12345).ok());
  EXPECT_NE(OpenSession(client), 0u);
}

TEST_F(SessionTest, ForcedUndeployEndsTheSessionWithFailedPrecondition) {
  StartDaemon();
  Client client, admin;
  Connect(client);
  Connect(admin);
  DeploySmall(client, "kws");
  const uint64_t session = OpenSession(client, {}, nullptr, "kws");
  ASSERT_NE(session, 0u);
  auto refused = admin.Call({{"op", "undeploy"}, {"deployment", "kws"}});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status.code(), StatusCode::kFailedPrecondition) << refused->status;
  auto undeployed = admin.Call({{"op", "undeploy"}, {"deployment", "kws"}, {"force", true}});
  ASSERT_TRUE(undeployed.ok());
  ASSERT_TRUE(undeployed->status.ok()) << undeployed->status;
  EXPECT_EQ(undeployed->body["sessions_closed"], 1);
  Seen seen;
  Read(client, session, seen, [](const Seen&) { return false; });
  ASSERT_TRUE(seen.last.has_value());
  const Status status = protocol::StatusFromErrorFrame(*seen.last);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("deployment 'kws' was undeployed"), std::string::npos) << status;
}

// A compiler that records its pid and sleeps: a deploy that only ends when
// it is stopped.
std::string WriteSleepingCompiler(const std::string& dir) {
  const std::string path = dir + "/sleeping-compile";
  WriteText(path, "#!/bin/sh\necho $$ > " + dir + "/compiler.pid\nexec sleep 60\n", 0755);
  return path;
}

bool ProcessGone(const std::string& pid_file) {
  const std::string text = ReadText(pid_file);
  if (text.empty()) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(text));
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

TEST_F(SessionTest, CancelledDeployKillsTheCompiler) {
  StartDaemon({"--compile.command=" + WriteSleepingCompiler(dir_.path())});
  Client client;
  Connect(client);
  const std::string model = dir_.path() + "/m.pt";
  WriteText(model, "model");
  const uint64_t id = 77;
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, id,
                       {{"op", "deploy"}, {"name", "m"}, {"model", {{"path", model}}}})
                  .ok());
  const std::string pid_file = dir_.path() + "/compiler.pid";
  ASSERT_TRUE(WaitFor([&] { return !ReadText(pid_file).empty(); }));
  ASSERT_TRUE(SendCancel(client, id).ok());
  auto reply = client.Next(std::chrono::seconds(20));
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_EQ(reply->header.request_id, id);
  const Status status = protocol::StatusFromErrorFrame(*reply);
  EXPECT_EQ(status.code(), StatusCode::kCancelled) << status;
  EXPECT_TRUE(ProcessGone(pid_file));
  auto list = client.Call({{"op", "deployments.list"}});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->body["deployments"].empty()) << list->body.dump();
  auto boards = client.Call({{"op", "boards"}});
  EXPECT_EQ(boards->body["boards"][0]["cores_free"], boards->body["boards"][0]["cores_total"]);
}

TEST_F(SessionTest, DeployTimeoutMsKillsTheCompiler) {
  StartDaemon({"--compile.command=" + WriteSleepingCompiler(dir_.path())});
  Client client;
  Connect(client);
  const std::string model = dir_.path() + "/m.pt";
  WriteText(model, "model");
  auto r = client.Call(
      {{"op", "deploy"}, {"name", "m"}, {"model", {{"path", model}}}, {"timeout_ms", 300}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code(), StatusCode::kDeadlineExceeded) << r->status;
  EXPECT_NE(r->status.message().find("timeout_ms"), std::string::npos) << r->status;
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(dir_.path() + "/compiler.pid"); }));
  // The connection goes on, and a request within its timeout is answered.
  DeploySmall(client);
  auto infer =
      client.Call({{"op", "infer"},
                   {"deployment", "small"},
                   {"inputs", {{{"attachment", 0}}}},
                   {"timeout_ms", 60000}},
                  {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))});
  ASSERT_TRUE(infer.ok());
  EXPECT_TRUE(infer->status.ok()) << infer->status;
}

}  // namespace
}  // namespace spk::testing

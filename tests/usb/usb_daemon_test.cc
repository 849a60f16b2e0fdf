// The real spiked serving a board on USB, end to end: a virtual board is
// served to libusb by the umockdev testbed in this process, and spiked runs
// as a child under umockdev's preload with only that board
// (boards.emulated = 0). Its libusb's ioctls reach the testbed's handler
// here, so the board, and unplugging it, stay under the test's control.
//
// Checked: the board is listed with its identity; a trained fixture model
// deployed (compiled by spk-compile) onto it predicts exactly what it
// predicts on the emulated board; a streaming session gives the emulator's
// outputs; and unplugging the board fails that board's requests and
// sessions with UNAVAILABLE naming it while the daemon keeps serving.
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/client/client.h"
#include "drivers/loihi3/testing/usb_testbed.h"
#include "drivers/loihi3/virtual/virtual_board.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/support/digits.h"

namespace spk::testing {
namespace {

using protocol::Frame;
using protocol::FrameType;
using protocol::Tensor;

// The testbed's device is at bus 1, port 4.
constexpr char kBoardId[] = "usb-1-4";
constexpr char kModel[] = "spiking_mlp";
constexpr uint32_t kSamples = 12;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// The first `count` images of the digits test split; empty if unreadable.
std::vector<std::vector<float>> ReadDigits(uint32_t count) {
  auto digits = testing::ReadDigits(SPK_FIXTURE_DIR "/data/digits_test.bin");
  if (!digits.ok() || digits->count < count) return {};
  std::vector<std::vector<float>> images;
  for (uint32_t i = 0; i < count; ++i) images.push_back(digits->Image(i));
  return images;
}

// The class with the highest score, a timed output summed over time first.
int Predicted(const std::vector<float>& scores, size_t classes) {
  std::vector<double> sum(classes, 0);
  for (size_t k = 0; k < scores.size(); ++k) sum[k % classes] += scores[k];
  return static_cast<int>(std::max_element(sum.begin(), sum.end()) - sum.begin());
}

bool Mentions(const Status& status, const std::string& what) {
  return std::string(status.message()).find(what) != std::string::npos;
}

class UsbDaemonTest : public DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    if (HasFatalFailure()) return;
    // The profile the emulated board has, so the same image fits both.
    auto board = loihi3::VirtualBoard::CreateFromProfiles("kapoho-point-8");
    ASSERT_TRUE(board.ok()) << board.status();
    auto testbed = loihi3::testing::UsbTestbed::Create(std::move(board).value());
    ASSERT_TRUE(testbed.ok()) << testbed.status();
    testbed_ = std::move(testbed).value();
  }

  void TearDown() override {
    // The daemon goes before the testbed that serves its board.
    daemon_.Kill9();
    DaemonFixture::TearDown();
  }

  // spiked with the USB board and `emulated` emulated boards (sim0, ...).
  void StartUsbDaemon(int emulated = 0) {
    StartDaemon(
        {"--boards.emulated=" + std::to_string(emulated), "--usb.enabled=true",
         "--compile.command=" + std::string(SPK_COMPILE)},
        {{"LD_PRELOAD", "libumockdev-preload.so.0"}, {"UMOCKDEV_DIR", testbed_->root_dir()}});
  }

  // The small image on the USB board, failing over to the emulator.
  void DeployWithFailover(Client& client) {
    auto r = client.Call({{"op", "deploy"},
                          {"name", "small"},
                          {"board", kBoardId},
                          {"failover", "emulator"},
                          {"model", {{"path", image_path_}}}});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->status.ok()) << r->status;
    ASSERT_EQ(r->body["board"], kBoardId);
  }

  static nlohmann::json Describe(Client& client) {
    auto r = client.Call({{"op", "deployments.describe"}, {"deployment", "small"}});
    EXPECT_TRUE(r.ok() && r->status.ok());
    return r.ok() && r->status.ok() ? r->body : nlohmann::json();
  }

  // Reads `session`'s frames, keeping its outputs by step, up to the first
  // frame that is neither an output nor a CREDIT (returned), or with
  // `credits` > 0 up to that many CREDITs (returns the last).
  static StatusOr<Frame> ReadSession(Client& client, uint64_t session,
                                     std::map<int64_t, std::vector<float>>* outputs,
                                     int credits = 0) {
    for (;;) {
      SPK_ASSIGN_OR_RETURN(Frame frame, client.Next(std::chrono::seconds(30)));
      if (frame.header.request_id != session) {
        return InternalError("a frame on id " + std::to_string(frame.header.request_id));
      }
      if (frame.header.type == FrameType::kStreamOutput) {
        SPK_ASSIGN_OR_RETURN(protocol::StreamChunk chunk,
                             protocol::DecodeStreamChunk(frame.payload));
        (*outputs)[static_cast<int64_t>(chunk.first_step)] = std::get<Tensor>(chunk.body).ToFloat();
        continue;
      }
      if (frame.header.type == FrameType::kCredit) {
        if (credits > 0 && --credits == 0) return frame;
        continue;
      }
      return frame;
    }
  }

  // Deploys the trained fixture model; its deploy response.
  static nlohmann::json DeployModel(Client& client, const std::string& name) {
    auto r = client.Call(
        {{"op", "deploy"},
         {"name", name},
         {"model", {{"path", SPK_FIXTURE_DIR "/models/" + std::string(kModel) + ".pt"}}}});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    EXPECT_TRUE(r->status.ok()) << r->status;
    return r->status.ok() ? r->body : nlohmann::json();
  }

  static StatusOr<Response> Infer(Client& client, const std::string& deployment,
                                  const std::vector<uint32_t>& shape,
                                  const std::vector<float>& image) {
    return client.Call(
        {{"op", "infer"}, {"deployment", deployment}, {"inputs", {{{"attachment", 0}}}}},
        {TensorFrame(Tensor::FromValues<float>(shape, image))});
  }

  // The first output's scores of each of `images`; fails the test (and
  // stops) at the first error.
  static std::vector<std::vector<float>> Scores(Client& client, const std::string& deployment,
                                                const std::vector<uint32_t>& shape,
                                                const std::vector<std::vector<float>>& images) {
    std::vector<std::vector<float>> out;
    for (const auto& image : images) {
      auto r = Infer(client, deployment, shape, image);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) break;
      EXPECT_TRUE(r->status.ok()) << r->status;
      if (!r->status.ok() || r->attachments.empty()) break;
      auto tensor = protocol::DecodeTensor(r->attachments[0].payload);
      EXPECT_TRUE(tensor.ok()) << tensor.status();
      if (!tensor.ok()) break;
      out.push_back(tensor->ToFloat());
    }
    return out;
  }

  static std::vector<uint32_t> InputShape(const nlohmann::json& deployed) {
    std::vector<uint32_t> shape;
    if (!deployed.contains("inputs") || deployed["inputs"].empty()) return shape;
    for (const auto& d : deployed["inputs"][0]["shape"]) shape.push_back(d.get<uint32_t>());
    return shape;
  }

  // The scores the model gives on spiked's emulated board (no USB at all).
  std::vector<std::vector<float>> EmulatedScores(const std::vector<std::vector<float>>& images) {
    TempDir dir;
    DaemonOptions options;
    options.socket = dir.path() + "/spiked.sock";
    options.env = {{"HOME", dir.path()}, {"SPK_PROFILE_DIR", SPK_SOURCE_DIR "/hal/profiles"}};
    options.args = {"--socket=" + options.socket, "--state-dir=" + dir.path() + "/state",
                    "--metrics.enabled=false",    "--boards.emulated=1",
                    "--usb.enabled=false",        "--compile.command=" + std::string(SPK_COMPILE)};
    Daemon reference;
    const std::string log = dir.path() + "/spiked.log";
    Status started = reference.Start(options, log);
    EXPECT_TRUE(started.ok()) << started << ReadText(log);
    if (!started.ok()) return {};
    Client client;
    EXPECT_TRUE(client.Connect(options.socket).ok());
    const nlohmann::json deployed = DeployModel(client, "mlp");
    EXPECT_EQ(deployed.value("board", ""), "sim0");
    auto scores = Scores(client, "mlp", InputShape(deployed), images);
    reference.Stop();
    return scores;
  }

  // A frame on `id` other than CREDIT and STREAM_OUTPUT, skipping those.
  static StatusOr<Frame> EndOf(Client& client, uint64_t id, int seconds = 30) {
    for (;;) {
      SPK_ASSIGN_OR_RETURN(Frame frame, client.Next(std::chrono::seconds(seconds)));
      if (frame.header.request_id != id) {
        return InternalError("frame on id " + std::to_string(frame.header.request_id) +
                             " while waiting on " + std::to_string(id));
      }
      if (frame.header.type != FrameType::kCredit &&
          frame.header.type != FrameType::kStreamOutput) {
        return frame;
      }
    }
  }

  // The board's entry in `health`.
  static nlohmann::json BoardHealth(Client& client) {
    auto r = client.Call({{"op", "health"}});
    EXPECT_TRUE(r.ok() && r->status.ok());
    if (!r.ok() || !r->status.ok()) return {};
    EXPECT_EQ(r->body["live"], true);
    for (const auto& b : r->body["boards"]) {
      if (b["board"] == kBoardId) return b;
    }
    ADD_FAILURE() << "health does not list " << kBoardId << ": " << r->body.dump();
    return {};
  }

  std::unique_ptr<loihi3::testing::UsbTestbed> testbed_;
};

TEST_F(UsbDaemonTest, ListsTheUsbBoardAsItsOnlyBoard) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  auto r = client.Call({{"op", "boards"}});
  ASSERT_TRUE(r.ok() && r->status.ok());
  ASSERT_EQ(r->body["boards"].size(), 1u) << r->body.dump();
  const nlohmann::json& board = r->body["boards"][0];
  EXPECT_EQ(board["board"], kBoardId);
  EXPECT_EQ(board["driver"], "loihi3");
  EXPECT_EQ(board["emulated"], false);
  EXPECT_EQ(board["serial"], "VB-0001");
  EXPECT_EQ(board["firmware_version"], "1.0.0");
  EXPECT_EQ(board["board_profile"], "kapoho-point-8");
  EXPECT_EQ(board["chip_profile"], "loihi2");
  EXPECT_EQ(board["chips"], 8);
  EXPECT_EQ(board["cores_free"], board["cores_total"]);
  EXPECT_EQ(board["health"]["state"], "ok") << board.dump();

  auto health = client.Call({{"op", "health"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  EXPECT_EQ(health->body["ready"], true) << health->body.dump();
  // The board answered through the handler in this process.
  EXPECT_GT(testbed_->urbs_submitted(), 0u);
  EXPECT_GT(testbed_->board().counters().executed, 0u);
}

// docs/protocol.md: major << 8 | minor, so the virtual board's 1.0 is 256.
TEST_F(UsbDaemonTest, BoardsGivesTheProtocolVersionAsDocumented) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  auto r = client.Call({{"op", "boards"}});
  ASSERT_TRUE(r.ok() && r->status.ok());
  ASSERT_EQ(r->body["boards"].size(), 1u) << r->body.dump();
  EXPECT_EQ(r->body["boards"][0]["protocol_version"], 256);
}

TEST_F(UsbDaemonTest, FixtureModelPredictsAsOnTheEmulatedBoard) {
  const std::vector<std::vector<float>> images = ReadDigits(kSamples);
  ASSERT_EQ(images.size(), kSamples) << "cannot read the digits test split";
  const auto meta = nlohmann::json::parse(
      Slurp(SPK_FIXTURE_DIR "/models/" + std::string(kModel) + ".json"), nullptr, false);
  ASSERT_TRUE(meta.is_object());
  const auto emulated = EmulatedScores(images);
  ASSERT_EQ(emulated.size(), kSamples);

  StartUsbDaemon();
  Client client;
  Connect(client);
  const nlohmann::json deployed = DeployModel(client, "mlp");
  ASSERT_EQ(deployed.value("board", ""), kBoardId) << deployed.dump();
  EXPECT_EQ(deployed["cache"], "miss");
  const uint64_t executed = testbed_->board().counters().executed;
  const auto usb = Scores(client, "mlp", InputShape(deployed), images);
  ASSERT_EQ(usb.size(), kSamples);
  // The runs went to the board, not to some emulator in the daemon.
  EXPECT_GT(testbed_->board().counters().executed, executed + kSamples);

  const size_t classes = meta["num_classes"].get<size_t>();
  for (uint32_t i = 0; i < kSamples; ++i) {
    EXPECT_EQ(usb[i], emulated[i]) << "sample " << i;
    EXPECT_EQ(Predicted(usb[i], classes), meta["predictions"][i].get<int>()) << "sample " << i;
  }
  auto described = client.Call({{"op", "deployments.describe"}, {"deployment", "mlp"}});
  ASSERT_TRUE(described.ok() && described->status.ok());
  EXPECT_EQ(described->body["inferences"], kSamples);
  EXPECT_EQ(described->body["partition"]["board"], kBoardId);
}

TEST_F(UsbDaemonTest, StreamingSessionMatchesTheEmulator) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  nlohmann::json opened;
  const uint64_t session = OpenSession(client, {{"output_window", 1024}}, &opened);
  ASSERT_NE(session, 0u);
  EXPECT_EQ(opened["board"], kBoardId);
  ASSERT_TRUE(Push(client, session, Chunk(0, 5)).ok());
  ASSERT_TRUE(Push(client, session, Chunk(5, 7)).ok());
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, session, {{"op", "session.close"}}).ok());
  std::map<int64_t, std::vector<float>> outputs;
  for (;;) {
    auto frame = client.Next(std::chrono::seconds(30));
    ASSERT_TRUE(frame.ok()) << frame.status();
    ASSERT_EQ(frame->header.request_id, session);
    if (frame->header.type == FrameType::kCredit) continue;
    if (frame->header.type != FrameType::kStreamOutput) {
      ASSERT_EQ(frame->header.type, FrameType::kResponse) << frame->payload_text();
      break;
    }
    auto chunk = protocol::DecodeStreamChunk(frame->payload);
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    outputs[static_cast<int64_t>(chunk->first_step)] = std::get<Tensor>(chunk->body).ToFloat();
  }
  const auto expected = ExpectedStream(12);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(outputs, expected);
}

TEST_F(UsbDaemonTest, UnplugBetweenInferencesIsUnavailableAndTheDaemonServesOn) {
  const std::vector<std::vector<float>> images = ReadDigits(2);
  ASSERT_EQ(images.size(), 2u);
  StartUsbDaemon();
  Client client;
  Connect(client);
  const nlohmann::json deployed = DeployModel(client, "mlp");
  ASSERT_EQ(deployed.value("board", ""), kBoardId);
  const auto shape = InputShape(deployed);
  ASSERT_EQ(Scores(client, "mlp", shape, {images[0]}).size(), 1u);

  testbed_->Unplug();
  auto r = Infer(client, "mlp", shape, images[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code(), StatusCode::kUnavailable) << r->status;
  EXPECT_TRUE(Mentions(r->status, kBoardId)) << r->status;
  // Again, now that the board is known to be gone.
  r = Infer(client, "mlp", shape, images[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code(), StatusCode::kUnavailable) << r->status;
  EXPECT_TRUE(Mentions(r->status, kBoardId)) << r->status;

  // Still serving, on this connection and on a new one.
  auto version = client.Call({{"op", "version"}});
  ASSERT_TRUE(version.ok() && version->status.ok());
  Client other;
  Connect(other);
  EXPECT_EQ(BoardHealth(other)["state"], "gone");
  auto health = other.Call({{"op", "health"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  EXPECT_EQ(health->body["ready"], false) << health->body.dump();
  auto boards = other.Call({{"op", "boards"}});
  ASSERT_TRUE(boards.ok() && boards->status.ok());
  EXPECT_EQ(boards->body["boards"][0]["health"]["state"], "gone");
  // A new session on the deployment is refused the same way.
  auto open = other.Call({{"op", "session.open"}, {"deployment", "mlp"}});
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(open->status.code(), StatusCode::kUnavailable) << open->status;
  EXPECT_TRUE(Mentions(open->status, kBoardId)) << open->status;

  // And it stops cleanly: no crash on the way out.
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(UsbDaemonTest, DeploymentOnAnUnpluggedBoardIsNotReady) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  testbed_->Unplug();
  ASSERT_TRUE(WaitFor([&] { return BoardHealth(client)["state"] == "gone"; }));
  auto health = client.Call({{"op", "health"}, {"deployment", "small"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  ASSERT_EQ(health->body["deployments"].size(), 1u) << health->body.dump();
  EXPECT_EQ(health->body["deployments"][0]["ready"], false) << health->body.dump();
}

TEST_F(UsbDaemonTest, UnplugDuringAStepEndsTheSessionUnavailable) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client, {{"output_window", 1024}});
  ASSERT_NE(session, 0u);
  ASSERT_TRUE(Push(client, session, Chunk(0, 4)).ok());
  // Outputs and the chunk's credit: the session runs on the board.
  for (int credits = 0; credits < 1;) {
    auto frame = client.Next(std::chrono::seconds(30));
    ASSERT_TRUE(frame.ok()) << frame.status();
    ASSERT_NE(frame->header.type, FrameType::kError) << frame->payload_text();
    credits += frame->header.type == FrameType::kCredit;
  }
  // The board goes in the middle of the next chunk's transfers.
  testbed_->UnplugDuringNextRead();
  ASSERT_TRUE(Push(client, session, Chunk(4, 4)).ok());
  auto end = EndOf(client, session);
  ASSERT_TRUE(end.ok()) << end.status();
  ASSERT_EQ(end->header.type, FrameType::kError) << end->payload_text();
  const Status status = protocol::StatusFromErrorFrame(*end);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status;
  EXPECT_TRUE(Mentions(status, kBoardId)) << status;

  auto version = client.Call({{"op", "version"}});
  ASSERT_TRUE(version.ok() && version->status.ok());
  EXPECT_EQ(BoardHealth(client)["state"], "gone");
  const int wait_status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << wait_status;
}

TEST_F(UsbDaemonTest, UnplugEndsAnIdleSessionUnavailable) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  const uint64_t session = OpenSession(client, {{"output_window", 1024}});
  ASSERT_NE(session, 0u);
  testbed_->Unplug();
  // Nothing is pushed: the daemon must notice the board going by itself.
  auto end = EndOf(client, session);
  ASSERT_TRUE(end.ok()) << end.status();
  ASSERT_EQ(end->header.type, FrameType::kError) << end->payload_text();
  const Status status = protocol::StatusFromErrorFrame(*end);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status;
  EXPECT_TRUE(Mentions(status, kBoardId)) << status;
}

TEST_F(UsbDaemonTest, ReplugBringsTheBoardBack) {
  StartUsbDaemon();
  Client client;
  Connect(client);
  DeploySmall(client);
  testbed_->Unplug();
  ASSERT_TRUE(WaitFor([&] { return BoardHealth(client)["state"] == "gone"; }));
  testbed_->Replug();
  ASSERT_TRUE(WaitFor([&] { return BoardHealth(client)["state"] == "ok"; }, 30))
      << BoardHealth(client).dump();
  auto infer_small = [&] {
    return client.Call(
        {{"op", "infer"}, {"deployment", "small"}, {"inputs", {{{"attachment", 0}}}}},
        {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))});
  };
  // Its deployment was loaded again by the daemon itself: it serves, with
  // no new deploy, and the daemon is ready.
  auto health = client.Call({{"op", "health"}, {"deployment", "small"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  EXPECT_EQ(health->body["ready"], true) << health->body.dump();
  ASSERT_EQ(health->body["deployments"].size(), 1u) << health->body.dump();
  EXPECT_EQ(health->body["deployments"][0]["ready"], true) << health->body.dump();
  auto restored = infer_small();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->status.ok()) << restored->status;
  auto described = client.Call({{"op", "deployments.describe"}, {"deployment", "small"}});
  ASSERT_TRUE(described.ok() && described->status.ok());
  EXPECT_EQ(described->body["partition"]["board"], kBoardId);

  // The deployment's image is in the cache: loading it again serves.
  auto r = client.Call(
      {{"op", "deploy"}, {"name", "small"}, {"replace", true}, {"model", {{"path", image_path_}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->status.ok()) << r->status;
  EXPECT_EQ(r->body["board"], kBoardId);
  auto infer = infer_small();
  ASSERT_TRUE(infer.ok()) << infer.status();
  EXPECT_TRUE(infer->status.ok()) << infer->status;
}

// docs/protocol.md, "Endings": with failover "emulator", a session whose
// board goes continues on the emulator, told by a PROGRESS, with its state
// reset; when the board returns, the deployment goes home the same way.
TEST_F(UsbDaemonTest, FailoverMovesTheSessionToTheEmulatorAndBackHome) {
  StartUsbDaemon(/*emulated=*/1);
  Client client;
  Connect(client);
  DeployWithFailover(client);
  const uint64_t session = OpenSession(client, {{"output_window", 1024}});
  ASSERT_NE(session, 0u);
  std::map<int64_t, std::vector<float>> outputs;
  ASSERT_TRUE(Push(client, session, Chunk(0, 4)).ok());
  ASSERT_TRUE(ReadSession(client, session, &outputs, /*credits=*/1).ok());
  const uint64_t executed_before = testbed_->board().counters().executed;

  // Nothing is pushed: the daemon notices the board going by itself.
  const auto unplugged = std::chrono::steady_clock::now();
  testbed_->Unplug();
  auto notice = ReadSession(client, session, &outputs);
  ASSERT_TRUE(notice.ok()) << notice.status();
  std::printf(
      "failover notice %.1f ms after the unplug\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - unplugged)
          .count());
  ASSERT_EQ(notice->header.type, FrameType::kProgress) << notice->payload_text();
  const auto moved = nlohmann::json::parse(notice->payload_text());
  EXPECT_EQ(moved["stage"], "failover");
  EXPECT_EQ(moved["board"], "sim0");
  EXPECT_NE(moved["message"].get<std::string>().find(kBoardId), std::string::npos) << moved;

  nlohmann::json described = Describe(client);
  EXPECT_EQ(described["board"], "sim0") << described;
  EXPECT_EQ(described["home_board"], kBoardId) << described;
  EXPECT_EQ(described["failover"], "emulator") << described;
  auto health = client.Call({{"op", "health"}, {"deployment", "small"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  EXPECT_EQ(health->body["deployments"][0]["ready"], true) << health->body.dump();
  EXPECT_EQ(BoardHealth(client)["state"], "gone");

  // The session goes on, on the emulator, from a reset state.
  ASSERT_TRUE(Push(client, session, Chunk(4, 4)).ok());
  ASSERT_TRUE(ReadSession(client, session, &outputs, /*credits=*/1).ok());
  EXPECT_EQ(testbed_->board().counters().executed, executed_before);

  testbed_->Replug();
  auto back = ReadSession(client, session, &outputs);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->header.type, FrameType::kProgress) << back->payload_text();
  const auto home = nlohmann::json::parse(back->payload_text());
  EXPECT_EQ(home["stage"], "failback");
  EXPECT_EQ(home["board"], kBoardId);
  described = Describe(client);
  EXPECT_EQ(described["board"], kBoardId) << described;
  EXPECT_TRUE(described["home_board"].is_null()) << described;

  ASSERT_TRUE(Push(client, session, Chunk(8, 4)).ok());
  ASSERT_TRUE(ReadSession(client, session, &outputs, /*credits=*/1).ok());
  EXPECT_GT(testbed_->board().counters().executed, executed_before);
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, session, {{"op", "session.close"}}).ok());
  auto closed = ReadSession(client, session, &outputs);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->header.type, FrameType::kResponse) << closed->payload_text();

  // Each stretch gives what a fresh stream of its inputs gives: steps are
  // numbered on across the moves, only the state starts again.
  const auto first = ExpectedStream(4), second = ExpectedStream(4, 4), third = ExpectedStream(4, 8);
  ASSERT_TRUE(outputs.count(0) && outputs.count(4) && outputs.count(8)) << outputs.size();
  for (const auto& [step, values] : outputs) {
    const auto& expected = step < 4 ? first : step < 8 ? second : third;
    ASSERT_TRUE(expected.count(step)) << "step " << step;
    EXPECT_EQ(values, expected.at(step)) << "step " << step;
  }
}

// The board goes in the middle of a step: the step is run again on the
// emulator, and the client sees the notice, not an error.
TEST_F(UsbDaemonTest, FailoverInTheMiddleOfAStep) {
  StartUsbDaemon(/*emulated=*/1);
  Client client;
  Connect(client);
  DeployWithFailover(client);
  const uint64_t session = OpenSession(client, {{"output_window", 1024}});
  ASSERT_NE(session, 0u);
  std::map<int64_t, std::vector<float>> outputs;
  ASSERT_TRUE(Push(client, session, Chunk(0, 4)).ok());
  ASSERT_TRUE(ReadSession(client, session, &outputs, /*credits=*/1).ok());
  testbed_->UnplugDuringNextRead();
  ASSERT_TRUE(Push(client, session, Chunk(4, 4)).ok());
  auto notice = ReadSession(client, session, &outputs);
  ASSERT_TRUE(notice.ok()) << notice.status();
  ASSERT_EQ(notice->header.type, FrameType::kProgress) << notice->payload_text();
  EXPECT_EQ(nlohmann::json::parse(notice->payload_text())["stage"], "failover");
  ASSERT_TRUE(ReadSession(client, session, &outputs, /*credits=*/1).ok());
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, session, {{"op", "session.close"}}).ok());
  auto closed = ReadSession(client, session, &outputs);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->header.type, FrameType::kResponse) << closed->payload_text();
  EXPECT_EQ(nlohmann::json::parse(closed->payload_text())["steps"], 8);
  EXPECT_EQ(Describe(client)["board"], "sim0");
  // Steps 4.. ran on the emulator from a reset state.
  const auto after = ExpectedStream(4, 4);
  ASSERT_TRUE(outputs.count(4)) << outputs.size();
  for (const auto& [step, values] : outputs) {
    if (step >= 4) {
      EXPECT_EQ(values, after.at(step)) << "step " << step;
    }
  }
}

// The client library hands the failover notices to the application (what
// `spikectl stream` prints), and the session goes on through them.
TEST_F(UsbDaemonTest, ClientSessionGetsTheFailoverNotices) {
  StartUsbDaemon(/*emulated=*/1);
  {
    Client raw;
    Connect(raw);
    DeployWithFailover(raw);
  }
  auto client = spk::client::Client::Connect({.socket = socket_});
  ASSERT_TRUE(client.ok()) << client.status();
  protocol::SessionOpenRequest open;
  open.deployment = "small";
  open.output_window = 1024;
  auto session = (*client)->OpenSession(open);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->Push(0, 4, Chunk(0, 4).body).ok());
  ASSERT_TRUE((*session)->WaitConsumed().ok());
  EXPECT_TRUE((*session)->TakeNotices().empty());
  testbed_->UnplugDuringNextRead();
  ASSERT_TRUE((*session)->Push(0, 4, Chunk(4, 4).body).ok());
  ASSERT_TRUE((*session)->WaitConsumed().ok());
  const std::vector<nlohmann::json> notices = (*session)->TakeNotices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0]["stage"], "failover");
  EXPECT_EQ(notices[0]["board"], "sim0");
  auto totals = (*session)->Close();
  ASSERT_TRUE(totals.ok()) << totals.status();
  EXPECT_EQ((*totals)["steps"], 8);
}

// A board that dies without a hotplug event is found by the health checks.
TEST_F(UsbDaemonTest, FailoverWithoutAHotplugEvent) {
  StartUsbDaemon(/*emulated=*/1);
  Client client;
  Connect(client);
  DeployWithFailover(client);
  testbed_->Unplug(/*announce=*/false);
  ASSERT_TRUE(WaitFor([&] { return Describe(client)["board"] == "sim0"; }, 30))
      << Describe(client).dump();
  auto r =
      client.Call({{"op", "infer"}, {"deployment", "small"}, {"inputs", {{{"attachment", 0}}}}},
                  {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status.ok()) << r->status;
  EXPECT_EQ(r->body["board"], "sim0") << r->body.dump();
}

TEST_F(UsbDaemonTest, FailoverNeedsAnEmulatedBoard) {
  StartUsbDaemon(/*emulated=*/0);
  Client client;
  Connect(client);
  auto r = client.Call({{"op", "deploy"},
                        {"name", "small"},
                        {"failover", "emulator"},
                        {"model", {{"path", image_path_}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code(), StatusCode::kFailedPrecondition) << r->status;
  EXPECT_TRUE(Mentions(r->status, "boards.emulated")) << r->status;
}

// The move is in the state file: a daemon restarted while the deployment
// runs on the emulator brings it home when its board is there.
TEST_F(UsbDaemonTest, AFailedOverDeploymentGoesHomeAfterARestart) {
  StartUsbDaemon(/*emulated=*/1);
  {
    Client client;
    Connect(client);
    DeployWithFailover(client);
    testbed_->Unplug();
    ASSERT_TRUE(WaitFor([&] { return Describe(client)["board"] == "sim0"; }, 30));
  }
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  testbed_->Replug();
  StartUsbDaemon(/*emulated=*/1);
  Client client;
  Connect(client);
  const nlohmann::json described = Describe(client);
  EXPECT_EQ(described["board"], kBoardId) << described;
  EXPECT_TRUE(described["home_board"].is_null()) << described;
  EXPECT_EQ(described["failover"], "emulator") << described;
}

}  // namespace
}  // namespace spk::testing

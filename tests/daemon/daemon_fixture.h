// A gtest fixture over daemon_harness.h for the streaming and lifecycle
// tests: a temporary directory with the small test image, a spiked started
// on a socket in it, and helpers for raw session frames.
#ifndef SPK_TESTS_DAEMON_DAEMON_FIXTURE_H_
#define SPK_TESTS_DAEMON_DAEMON_FIXTURE_H_

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/executor/executor.h"
#include "daemon/protocol/fd_io.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/json_message.h"
#include "daemon/protocol/payload.h"
#include "hal/format/board_image_io.h"
#include "hal/format/chip_profile.h"
#include "hal/format/test_images.h"
#include "sim/sim_device.h"
#include "tests/daemon/daemon_harness.h"

namespace spk::testing {

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void WriteText(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// Waits (polling, up to `seconds`) until `done` holds.
template <typename F>
bool WaitFor(F done, int seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class DaemonFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    socket_ = dir_.path() + "/spiked.sock";
    state_ = dir_.path() + "/state";
    log_ = dir_.path() + "/spiked.log";
    image_path_ = dir_.path() + "/small.spkimg";
    image_ = hal::format::testing::MakeSmallImage();
    ASSERT_TRUE(hal::format::WriteBoardImageFile(image_, image_path_).ok());
    ::chmod(image_path_.c_str(), 0644);
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "--- spiked log ---\n" << ReadText(log_) << "\n";
  }

  DaemonOptions Options(std::vector<std::string> extra = {}) {
    DaemonOptions options;
    options.socket = socket_;
    options.env = {{"HOME", dir_.path()}, {"SPK_PROFILE_DIR", SPK_SOURCE_DIR "/hal/profiles"}};
    options.args = {"--socket=" + socket_, "--state-dir=" + state_, "--metrics.enabled=false",
                    "--log-level=debug"};
    options.args.insert(options.args.end(), extra.begin(), extra.end());
    return options;
  }

  void StartDaemon(std::vector<std::string> extra = {},
                   std::map<std::string, std::string> env = {}) {
    DaemonOptions options = Options(std::move(extra));
    for (auto& [k, v] : env) options.env[k] = v;
    ASSERT_TRUE(daemon_.Start(options, log_).ok()) << ReadText(log_);
  }

  void Connect(Client& client) { ASSERT_TRUE(client.Connect(socket_).ok()); }

  void DeploySmall(Client& client, const std::string& name = "small") {
    auto r = client.Call({{"op", "deploy"}, {"name", name}, {"model", {{"path", image_path_}}}});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->status.ok()) << r->status;
  }

  // Opens a session and returns its id (0 on failure, with a test failure).
  uint64_t OpenSession(Client& client, nlohmann::json extra = nlohmann::json::object(),
                       nlohmann::json* reply = nullptr, const std::string& name = "small") {
    nlohmann::json request = {{"op", "session.open"}, {"deployment", name}};
    if (extra.is_object()) request.update(extra);
    auto opened = client.Call(request);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) return 0;
    EXPECT_TRUE(opened->status.ok()) << opened->status;
    if (!opened->status.ok()) return 0;
    if (reply) *reply = opened->body;
    return client.last_id();
  }

  // The small model's input for step t of the tests' sequence.
  static std::vector<int32_t> StepInput(uint64_t t) {
    return {static_cast<int32_t>((t * 7 + 1) % 3 != 0), static_cast<int32_t>(t % 2)};
  }

  static protocol::StreamChunk Chunk(uint64_t first, uint32_t steps) {
    std::vector<int32_t> values;
    for (uint64_t t = first; t < first + steps; ++t) {
      auto in = StepInput(t);
      values.insert(values.end(), in.begin(), in.end());
    }
    return protocol::StreamChunk{.first_step = first,
                                 .steps = steps,
                                 .port = 0,
                                 .body = protocol::Tensor::FromValues<int32_t>({steps, 2}, values)};
  }

  static Status Push(Client& client, uint64_t session, const protocol::StreamChunk& chunk) {
    return protocol::WriteFrame(client.fd(),
                                protocol::MakeFrame(protocol::FrameType::kStreamInput, session,
                                                    protocol::EncodeStreamChunk(chunk)),
                                std::chrono::seconds(10));
  }

  static Status SendCredit(Client& client, uint64_t session, uint32_t n) {
    return protocol::WriteFrame(
        client.fd(),
        protocol::MakeFrame(protocol::FrameType::kCredit, session, protocol::EncodeCredit(n)),
        std::chrono::seconds(10));
  }

  static Status SendJson(Client& client, protocol::FrameType type, uint64_t id,
                         const nlohmann::json& body) {
    return protocol::WriteFrame(client.fd(), protocol::MakeJsonFrame(type, id, body),
                                std::chrono::seconds(10));
  }

  static Status SendCancel(Client& client, uint64_t id) {
    return protocol::WriteFrame(client.fd(),
                                protocol::MakeFrame(protocol::FrameType::kCancel, id, {}),
                                std::chrono::seconds(10));
  }

  // The outputs of steps first..first+steps-1 of StepInput, streamed
  // in-process from a reset state through the emulator and executor the
  // daemon runs: by step.
  std::map<int64_t, std::vector<float>> ExpectedStream(uint64_t steps, uint64_t first = 0) {
    std::map<int64_t, std::vector<float>> expected;
    auto chip = hal::format::LoadChipProfile("loihi2");
    auto board = hal::format::LoadBoardProfile("kapoho-point-8");
    EXPECT_TRUE(chip.ok() && board.ok());
    auto device = sim::SimDevice::Create(*chip, *board);
    EXPECT_TRUE(device.ok());
    if (!device.ok()) return expected;
    hal::Partition partition;
    for (uint32_t i = 0; i < image_.cores.size(); ++i) partition.cores.push_back(i);
    auto program = (*device)->Load(image_, partition);
    EXPECT_TRUE(program.ok()) << program.status();
    auto executor = executor::Executor::Create(image_, device->get(), *program);
    EXPECT_TRUE(executor.ok()) << executor.status();
    if (!executor.ok()) return expected;
    EXPECT_TRUE((*executor)->StreamReset().ok());
    for (uint64_t t = first; t < first + steps; ++t) {
      auto in = StepInput(t);
      executor::HostValue value;
      value.shape = {2};
      value.data.assign(in.begin(), in.end());
      auto out = (*executor)->StreamPush({{"in", value}});
      EXPECT_TRUE(out.ok()) << out.status();
      if (!out.ok()) break;
      for (const auto& step : *out) {
        expected[step.step + static_cast<int64_t>(first)] = step.outputs.at("out").data;
      }
    }
    return expected;
  }

  TempDir dir_;
  std::string socket_, state_, log_, image_path_;
  hal::format::BoardImage image_;
  Daemon daemon_;
};

}  // namespace spk::testing

#endif  // SPK_TESTS_DAEMON_DAEMON_FIXTURE_H_

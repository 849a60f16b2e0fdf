// Integration tests of the real spiked binary over its real Unix socket with
// a real SQLite state file (docs/daemon.md).
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "daemon/executor/executor.h"
#include "daemon/protocol/fd_io.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/json_message.h"
#include "daemon/state/state_store.h"
#include "hal/format/board_image_io.h"
#include "hal/format/chip_profile.h"
#include "hal/format/test_images.h"
#include "sim/sim_device.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/daemon/daemon_harness.h"

namespace spk::testing {
namespace {

using protocol::Frame;
using protocol::FrameType;
using protocol::Tensor;

// The small image's expected outputs, computed in-process by the emulator
// and executor that the daemon runs.
std::map<std::string, std::vector<float>> ExpectedOutputs(const hal::format::BoardImage& image,
                                                          const std::vector<int32_t>& input) {
  auto chip = hal::format::LoadChipProfile("loihi2");
  auto board = hal::format::LoadBoardProfile("kapoho-point-8");
  EXPECT_TRUE(chip.ok() && board.ok());
  auto device = sim::SimDevice::Create(*chip, *board);
  EXPECT_TRUE(device.ok()) << device.status();
  hal::Partition partition;
  for (uint32_t i = 0; i < image.cores.size(); ++i) partition.cores.push_back(i);
  auto program = (*device)->Load(image, partition);
  EXPECT_TRUE(program.ok()) << program.status();
  auto executor = executor::Executor::Create(image, device->get(), *program);
  EXPECT_TRUE(executor.ok()) << executor.status();
  executor::HostValue value;
  value.shape = {static_cast<int64_t>(input.size())};
  value.data.assign(input.begin(), input.end());
  auto result = (*executor)->Infer({{image.inputs[0].name, value}});
  EXPECT_TRUE(result.ok()) << result.status();
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, v] : result->outputs) out[name] = v.data;
  return out;
}

class DaemonTest : public DaemonFixture {
 protected:
  StatusOr<Response> Deploy(Client& client, const std::string& name, const std::string& path) {
    return client.Call({{"op", "deploy"}, {"name", name}, {"model", {{"path", path}}}});
  }

  // Deploys a "model" file holding `content` (the fake compilers act on it);
  // the deploy's status.
  Status DeployText(Client& client, const std::string& name, const std::string& content) {
    const std::string path = dir_.path() + "/" + name + ".pt";
    WriteText(path, content);
    auto r = Deploy(client, name, path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->status : r.status();
  }

  StatusOr<Response> Infer(Client& client, const std::string& name, const std::vector<int32_t>& in,
                           std::vector<uint32_t> shape = {2}) {
    return client.Call({{"op", "infer"}, {"deployment", name}, {"inputs", {{{"attachment", 0}}}}},
                       {TensorFrame(Tensor::FromValues<int32_t>(shape, in))});
  }

  // Checks a successful infer response against the in-process result.
  void ExpectCorrectInfer(const Response& r, const std::vector<int32_t>& in) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.type, FrameType::kResponse);
    auto expected = ExpectedOutputs(image_, in);
    ASSERT_EQ(r.body["outputs"].size(), expected.size()) << r.body.dump();
    for (const auto& out : r.body["outputs"]) {
      const std::string port = out["port"];
      const size_t index = out["attachment"];
      ASSERT_LT(index, r.attachments.size());
      auto tensor = protocol::DecodeTensor(r.attachments[index].payload);
      ASSERT_TRUE(tensor.ok()) << tensor.status();
      EXPECT_EQ(tensor->ToFloat(), expected[port]) << port;
    }
    EXPECT_GT(r.body["energy_joules"]["total"].get<double>(), 0);
    EXPECT_GE(r.body["latency_seconds"].get<double>(), 0);
    EXPECT_GT(r.body["steps"].get<uint64_t>(), 0u);
  }

  // Runs the daemon as `uid`. The build tree may sit where the other user
  // cannot read (a checkout under /root): it gets its own copies of the
  // binary and the profiles.
  void RunAsOtherUser(uint32_t uid, DaemonOptions& options) {
    namespace fs = std::filesystem;
    options.run_as_uid = uid;
    const std::string bin = dir_.path() + "/bin";
    if (!fs::exists(bin)) {
      fs::create_directories(bin);
      fs::copy_file(SPIKED_BINARY, bin + "/spiked");
      fs::copy(SPK_SOURCE_DIR "/hal/profiles", dir_.path() + "/profiles");
      for (const auto& p : {bin, bin + "/spiked", dir_.path() + "/profiles"}) {
        ::chmod(p.c_str(), 0755);
      }
      for (const auto& f : fs::directory_iterator(dir_.path() + "/profiles")) {
        ::chmod(f.path().c_str(), 0644);
      }
    }
    options.binary = bin + "/spiked";
    options.env["SPK_PROFILE_DIR"] = dir_.path() + "/profiles";
  }

  uint64_t FreeCores(Client& client) {
    auto boards = client.Call({{"op", "boards"}});
    EXPECT_TRUE(boards.ok() && boards->status.ok());
    return boards->body["boards"][0]["cores_free"].get<uint64_t>();
  }
};

// Priority 1: no configuration at all, as an ordinary user.
TEST_F(DaemonTest, StartsWithoutConfigurationAsOrdinaryUser) {
  const bool root = ::geteuid() == 0;
  const uint32_t uid = root ? 65534 : ::geteuid();
  const std::string runtime = dir_.path() + "/run";
  const std::string home = dir_.path() + "/home";
  std::filesystem::create_directories(runtime);
  std::filesystem::create_directories(home);
  ::chmod(runtime.c_str(), 0700);
  if (root) {
    ASSERT_EQ(::chown(runtime.c_str(), uid, uid), 0);
    ASSERT_EQ(::chown(home.c_str(), uid, uid), 0);
  }
  DaemonOptions options;
  // Nothing but where a user session keeps its files; no flags, no file.
  options.env = {{"HOME", home},
                 {"XDG_RUNTIME_DIR", runtime},
                 {"SPK_PROFILE_DIR", SPK_SOURCE_DIR "/hal/profiles"}};
  if (root) RunAsOtherUser(uid, options);
  options.socket = runtime + "/spiked/spiked.sock";
  socket_ = options.socket;
  ASSERT_TRUE(daemon_.Start(options, log_).ok()) << ReadText(log_);

  Client client;
  Connect(client);
  EXPECT_EQ(client.hello()["version"], "1.0");
  // Root, and the daemon's own user, may always write.
  EXPECT_TRUE(client.hello()["peer"]["authorised"].get<bool>());

  auto version = client.Call({{"op", "version"}});
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->body["server"], "0.1.0");
  EXPECT_EQ(version->body["protocol"], "1.0");
  // Whether this build has the USB board driver, not a constant.
  EXPECT_EQ(version->body["build"]["usb"], SPK_EXPECT_USB != 0) << version->body.dump();

  auto health = client.Call({{"op", "health"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  EXPECT_TRUE(health->body["live"].get<bool>());
  EXPECT_TRUE(health->body["ready"].get<bool>()) << health->body.dump();

  auto boards = client.Call({{"op", "boards"}});
  ASSERT_TRUE(boards.ok() && boards->status.ok());
  ASSERT_EQ(boards->body["boards"].size(), 1u);
  EXPECT_EQ(boards->body["boards"][0]["board"], "sim0");
  EXPECT_TRUE(boards->body["boards"][0]["emulated"].get<bool>());

  // The state went to the XDG default under HOME.
  EXPECT_TRUE(std::filesystem::exists(home + "/.local/state/spiked/spiked.db"));
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(socket_)) << "socket left behind";
}

TEST_F(DaemonTest, ConfigErrorExitsWithCode2) {
  DaemonOptions options = Options({"--metrics.port=0"});
  ASSERT_FALSE(daemon_.Start(options, log_).ok());
  const std::optional<int> status = daemon_.start_exit_status();
  ASSERT_TRUE(status.has_value()) << "spiked did not exit";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << *status;
  EXPECT_NE(ReadText(log_).find("metrics.port"), std::string::npos) << ReadText(log_);
}

// Two daemons on one state directory would both think they own every
// deployment and core; the second is refused before it touches anything.
TEST_F(DaemonTest, ASecondDaemonOnTheSameStateDirectoryIsRefused) {
  StartDaemon();
  Client client;
  Connect(client);
  ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());

  Daemon second;
  DaemonOptions options = Options();
  options.socket = dir_.path() + "/second.sock";
  options.args[0] = "--socket=" + options.socket;
  const std::string second_log = dir_.path() + "/second.log";
  ASSERT_FALSE(second.Start(options, second_log).ok()) << ReadText(second_log);
  const std::optional<int> status = second.start_exit_status();
  ASSERT_TRUE(status.has_value()) << "the second spiked did not exit";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << *status;
  EXPECT_NE(ReadText(second_log).find("state.dir " + state_ + " is in use by another spiked"),
            std::string::npos)
      << ReadText(second_log);

  // The first one goes on serving its deployment.
  auto r = Infer(client, "small", {1, 1});
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectCorrectInfer(*r, {1, 1});
  const int stopped = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
}

// A user without $XDG_RUNTIME_DIR or home falls back to /tmp/spiked-<uid>,
// a name anyone may take first: it is used only if it is the user's own.
TEST_F(DaemonTest, TheTmpFallbackDirectoryMustBelongToTheDaemonsUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the daemon as another uid";
  // A uid with no passwd entry (so no home) that no other test run uses.
  const uint32_t uid = 60000 + static_cast<uint32_t>(::getpid()) % 5000;
  const std::string private_dir = "/tmp/spiked-" + std::to_string(uid);
  std::filesystem::remove_all(private_dir);
  DaemonOptions options;
  options.env = {};
  RunAsOtherUser(uid, options);
  options.socket = private_dir + "/spiked.sock";
  options.args = {"--metrics.enabled=false"};
  auto start = [&](const std::string& log) {
    Daemon daemon;
    EXPECT_FALSE(daemon.Start(options, log).ok()) << ReadText(log);
    const std::optional<int> status = daemon.start_exit_status();
    EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << status.value_or(-1);
    return ReadText(log);
  };

  // Someone else's directory (root's here).
  ASSERT_EQ(::mkdir(private_dir.c_str(), 0700), 0);
  EXPECT_NE(start(dir_.path() + "/other-owner.log")
                .find(private_dir +
                      " is refused as spiked's private directory: it belongs to "
                      "uid 0, not to uid " +
                      std::to_string(uid)),
            std::string::npos)
      << ReadText(dir_.path() + "/other-owner.log");

  // The user's own, but open to everyone.
  ASSERT_EQ(::chown(private_dir.c_str(), uid, uid), 0);
  ASSERT_EQ(::chmod(private_dir.c_str(), 0777), 0);
  EXPECT_NE(start(dir_.path() + "/open.log").find("its mode is 0777, wider than 0700"),
            std::string::npos)
      << ReadText(dir_.path() + "/open.log");

  // Missing: created 0700 for the user, and served from.
  std::filesystem::remove_all(private_dir);
  socket_ = options.socket;
  ASSERT_TRUE(daemon_.Start(options, log_).ok()) << ReadText(log_);
  struct stat st {};
  ASSERT_EQ(::lstat(private_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  Client client;
  Connect(client);
  EXPECT_TRUE(client.Call({{"op", "version"}})->status.ok());
  const int stopped = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
  std::filesystem::remove_all(private_dir);
}

// Priority 2: deploy a board image, use it, undeploy it.
TEST_F(DaemonTest, DeployInferListDescribeUndeploy) {
  StartDaemon();
  Client client;
  Connect(client);
  const uint64_t free_before = FreeCores(client);

  auto deployed = Deploy(client, "small", image_path_);
  ASSERT_TRUE(deployed.ok()) << deployed.status();
  ASSERT_TRUE(deployed->status.ok()) << deployed->status;
  EXPECT_EQ(deployed->body["deployment"], "small");
  EXPECT_EQ(deployed->body["board"], "sim0");
  EXPECT_EQ(deployed->body["partition"]["cores"].size(), image_.cores.size());
  EXPECT_EQ(FreeCores(client), free_before - image_.cores.size());

  auto again = Deploy(client, "small", image_path_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status.code(), StatusCode::kAlreadyExists) << again->status;

  auto list = client.Call({{"op", "deployments.list"}});
  ASSERT_TRUE(list.ok() && list->status.ok());
  ASSERT_EQ(list->body["deployments"].size(), 1u);
  EXPECT_EQ(list->body["deployments"][0]["deployment"], "small");
  EXPECT_EQ(list->body["deployments"][0]["state"], "ready");

  auto describe = client.Call({{"op", "deployments.describe"}, {"deployment", "small"}});
  ASSERT_TRUE(describe.ok() && describe->status.ok()) << describe->status;
  EXPECT_EQ(describe->body["inputs"][0]["name"], "in");
  EXPECT_EQ(describe->body["outputs"][0]["name"], "out");
  // Ports as docs/protocol.md "port" has them, the same in deploy's answer.
  const nlohmann::json want_in = {{"name", "in"},  {"index", 0},   {"kind", "spikes"},
                                  {"dtype", "u8"}, {"shape", {2}}, {"neurons", 2}};
  const nlohmann::json want_out = {{"name", "out"},   {"index", 0},   {"kind", "spikes"},
                                   {"dtype", "f32"},  {"shape", {2}}, {"neurons", 2},
                                   {"per_step", true}};
  EXPECT_EQ(describe->body["inputs"][0], want_in);
  EXPECT_EQ(describe->body["outputs"][0], want_out);
  EXPECT_EQ(deployed->body["inputs"], describe->body["inputs"]);
  EXPECT_EQ(deployed->body["outputs"], describe->body["outputs"]);

  for (const std::vector<int32_t>& in : {std::vector<int32_t>{1, 1}, {1, 0}, {0, 1}, {0, 0}}) {
    auto r = Infer(client, "small", in);
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectCorrectInfer(*r, in);
  }
  auto health = client.Call({{"op", "health"}, {"deployment", "small"}});
  ASSERT_TRUE(health.ok() && health->status.ok());
  EXPECT_TRUE(health->body["deployments"][0]["ready"].get<bool>());

  // outputs "all" adds the chip's spikes; report "detailed" the per-layer
  // and per-core costs (`spikectl measure --per-layer`).
  auto all =
      client.Call({{"op", "infer"},
                   {"deployment", "small"},
                   {"inputs", {{{"attachment", 0}}}},
                   {"outputs", "all"},
                   {"report", "detailed"}},
                  {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))});
  ASSERT_TRUE(all.ok() && all->status.ok()) << (all.ok() ? all->status : all.status());
  ASSERT_EQ(all->body["outputs"].size(), 2u) << all->body.dump();
  EXPECT_EQ(all->body["outputs"][0]["kind"], "tensor");
  const auto& spike_out = all->body["outputs"][1];
  EXPECT_EQ(spike_out["kind"], "spikes");
  EXPECT_EQ(spike_out["port"], "out");
  ASSERT_EQ(all->attachments.size(), 2u);
  EXPECT_EQ(all->attachments[1].header.type, FrameType::kSpikes);
  auto events = protocol::DecodeSpikes(all->attachments[1].payload);
  ASSERT_TRUE(events.ok()) << events.status();
  // The same spikes as the scores tensor, as events.
  const auto expected = ExpectedOutputs(image_, {1, 1}).at("out");
  std::vector<float> dense(expected.size(), 0.0f);
  for (const auto& e : events->events) dense[e.timestep * 2 + e.index] = 1.0f;
  EXPECT_EQ(dense, expected);
  ASSERT_TRUE(all->body.contains("report")) << all->body.dump();
  const auto& report = all->body["report"];
  ASSERT_EQ(report["layers"].size(), 1u) << report.dump();
  EXPECT_EQ(report["layers"][0]["name"], "lif");
  EXPECT_GT(report["layers"][0]["energy_joules"].get<double>(), 0.0) << report.dump();
  ASSERT_EQ(report["cores"].size(), 1u);
  EXPECT_EQ(report["cores"][0]["core"], deployed->body["partition"]["cores"][0]);
  EXPECT_DOUBLE_EQ(report["cores"][0]["energy_joules"].get<double>(),
                   report["layers"][0]["energy_joules"].get<double>());

  auto spikes_only =
      client.Call({{"op", "infer"},
                   {"deployment", "small"},
                   {"inputs", {{{"attachment", 0}}}},
                   {"outputs", "spikes"}},
                  {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))});
  ASSERT_TRUE(spikes_only.ok() && spikes_only->status.ok());
  ASSERT_EQ(spikes_only->body["outputs"].size(), 1u);
  EXPECT_EQ(spikes_only->body["outputs"][0]["kind"], "spikes");
  EXPECT_FALSE(spikes_only->body.contains("report"));  // summary by default

  auto undeployed = client.Call({{"op", "undeploy"}, {"deployment", "small"}});
  ASSERT_TRUE(undeployed.ok() && undeployed->status.ok()) << undeployed->status;
  EXPECT_EQ(undeployed->body["cores_freed"], image_.cores.size());
  EXPECT_EQ(FreeCores(client), free_before);
  auto gone = Infer(client, "small", {1, 1});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status.code(), StatusCode::kNotFound) << gone->status;

  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(DaemonTest, BadRequestsGetClearErrorsAndTheConnectionGoesOn) {
  StartDaemon();
  Client client;
  Connect(client);
  ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());

  auto unknown = client.Call({{"op", "frobnicate"}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status.code(), StatusCode::kUnimplemented) << unknown->status;

  // Not JSON at all, on a request id.
  std::vector<uint8_t> junk = {'{', 'n', 'o', 't'};
  ASSERT_TRUE(protocol::WriteFrame(client.fd(), protocol::MakeFrame(FrameType::kRequest, 900, junk),
                                   std::chrono::seconds(5))
                  .ok());
  auto junk_reply = client.Next();
  ASSERT_TRUE(junk_reply.ok());
  EXPECT_EQ(junk_reply->header.type, FrameType::kError);
  EXPECT_EQ(junk_reply->header.request_id, 900u);
  EXPECT_EQ(protocol::StatusFromErrorFrame(*junk_reply).code(), StatusCode::kInvalidArgument);

  auto typo =
      client.Call({{"op", "infer"},
                   {"deployment", "small"},
                   {"inputs", {{{"attachment", 0}}}},
                   {"timestep", 3}},
                  {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))});
  ASSERT_TRUE(typo.ok());
  EXPECT_EQ(typo->status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(typo->status.message().find("timestep"), std::string::npos) << typo->status;

  auto shape = Infer(client, "small", {1, 1, 1}, {3});
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shape->status.message().find("input 'in' must be [2] or [T, 2]"), std::string::npos)
      << shape->status;

  auto missing = Deploy(client, "nothing", dir_.path() + "/does-not-exist.spkimg");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status.code(), StatusCode::kNotFound);
  EXPECT_NE(missing->status.message().find("does-not-exist.spkimg"), std::string::npos);

  // A board image with one byte flipped in a section.
  auto bytes = hal::format::WriteBoardImage(image_);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() - 3] ^= 0x5a;
  const std::string corrupt = dir_.path() + "/corrupt.spkimg";
  std::ofstream(corrupt, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes->data()),
             static_cast<std::streamsize>(bytes->size()));
  auto bad_image = Deploy(client, "corrupt", corrupt);
  ASSERT_TRUE(bad_image.ok());
  EXPECT_EQ(bad_image->status.code(), StatusCode::kDataLoss) << bad_image->status;

  auto not_ready = client.Call({{"op", "deployments.describe"}, {"deployment", "nope"}});
  ASSERT_TRUE(not_ready.ok());
  EXPECT_EQ(not_ready->status.code(), StatusCode::kNotFound);

  // Still fine after all that.
  auto r = Infer(client, "small", {1, 0});
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectCorrectInfer(*r, {1, 0});
}

TEST_F(DaemonTest, GarbageAndOversizedFramesCloseOnlyThatConnection) {
  StartDaemon({"--server.max_frame_size=64KiB"});
  Client other;
  Connect(other);

  {  // Not the protocol at all.
    Client garbage;
    ASSERT_TRUE(garbage.ConnectRaw(socket_).ok());
    const std::string text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(protocol::WriteAll(garbage.fd(),
                                   std::span<const uint8_t>(
                                       reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                                   std::chrono::seconds(5))
                    .ok());
    auto error = garbage.Next();
    ASSERT_TRUE(error.ok()) << error.status();
    ASSERT_EQ(error->header.type, FrameType::kError);
    Status status = protocol::StatusFromErrorFrame(*error);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("magic"), std::string::npos) << status;
    EXPECT_EQ(garbage.Next(std::chrono::seconds(5)).status().code(), StatusCode::kUnavailable);
  }
  {  // A frame over the limit, refused from its header alone.
    Client big;
    Connect(big);
    Frame frame = protocol::MakeFrame(FrameType::kBlob, 7, std::vector<uint8_t>(100, 0));
    frame.header.payload_length = 1u << 20;
    auto header = protocol::EncodeHeader(frame.header);
    ASSERT_TRUE(protocol::WriteAll(big.fd(), header, std::chrono::seconds(5)).ok());
    auto error = big.Next();
    ASSERT_TRUE(error.ok()) << error.status();
    Status status = protocol::StatusFromErrorFrame(*error);
    EXPECT_NE(status.message().find("exceeds the frame limit of 65536"), std::string::npos)
        << status;
  }
  {  // A request before the handshake.
    Client rude;
    ASSERT_TRUE(rude.ConnectRaw(socket_).ok());
    ASSERT_TRUE(protocol::WriteFrame(
                    rude.fd(), protocol::MakeJsonFrame(FrameType::kRequest, 1, {{"op", "version"}}),
                    std::chrono::seconds(5))
                    .ok());
    auto error = rude.Next();
    ASSERT_TRUE(error.ok());
    EXPECT_NE(protocol::StatusFromErrorFrame(*error).message().find("HELLO"), std::string::npos);
  }
  // The connection opened before, and a new one, are served.
  auto version = other.Call({{"op", "version"}});
  ASSERT_TRUE(version.ok() && version->status.ok());
  Client fresh;
  Connect(fresh);
  auto boards = fresh.Call({{"op", "boards"}});
  ASSERT_TRUE(boards.ok() && boards->status.ok());
}

// Priority 3: restart recovery.
TEST_F(DaemonTest, ReadyDeploymentComesBackAfterKill9) {
  StartDaemon();
  {
    Client client;
    Connect(client);
    ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());
  }
  daemon_.Kill9();
  // The user's file goes away: the daemon reloads its own copy.
  std::filesystem::remove(image_path_);
  StartDaemon();
  Client client;
  Connect(client);
  auto list = client.Call({{"op", "deployments.list"}});
  ASSERT_TRUE(list.ok() && list->status.ok());
  ASSERT_EQ(list->body["deployments"].size(), 1u) << list->body.dump();
  EXPECT_EQ(list->body["deployments"][0]["deployment"], "small");
  auto r = Infer(client, "small", {1, 1});
  ASSERT_TRUE(r.ok());
  ExpectCorrectInfer(*r, {1, 1});
  auto boards = client.Call({{"op", "boards"}});
  EXPECT_EQ(boards->body["boards"][0]["cores_free"].get<uint64_t>(),
            boards->body["boards"][0]["cores_total"].get<uint64_t>() - image_.cores.size());
}

TEST_F(DaemonTest, DeployKilledAfterCoresWereBookedIsRolledBack) {
  // The daemon kills itself inside the store's transaction that moves the
  // new deployment to loading: its row and cores are committed already.
  StartDaemon({}, {{"SPK_TEST_KILL_AT", "transition:before_commit"}});
  {
    Client client;
    Connect(client);
    auto r = Deploy(client, "small", image_path_);
    EXPECT_FALSE(r.ok()) << "the daemon should have died mid-deploy";
  }
  int status = 0;
  ASSERT_EQ(::waitpid(daemon_.pid(), &status, 0), daemon_.pid());
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  daemon_.Kill9();  // forget the pid

  StartDaemon();
  Client client;
  Connect(client);
  auto list = client.Call({{"op", "deployments.list"}});
  ASSERT_TRUE(list.ok() && list->status.ok());
  EXPECT_TRUE(list->body["deployments"].empty()) << list->body.dump();
  auto boards = client.Call({{"op", "boards"}});
  EXPECT_EQ(boards->body["boards"][0]["cores_free"], boards->body["boards"][0]["cores_total"]);
  // The same name can be deployed again.
  auto again = Deploy(client, "small", image_path_);
  ASSERT_TRUE(again.ok() && again->status.ok()) << again->status;
  ASSERT_EQ(daemon_.Stop(), 0);

  auto store = daemon::state::StateStore::Create(state_ + "/spiked.db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto all = (*store)->ListDeployments({.include_inactive = true});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].state, daemon::state::DeploymentState::kFailed);
  EXPECT_NE((*all)[0].error.find("restart"), std::string::npos) << (*all)[0].error;
  EXPECT_TRUE((*all)[0].cores.empty());
  EXPECT_TRUE((*store)->CheckConsistency().ok());
}

// A fake compiler whose behaviour is chosen by the model file's content.
std::string WriteFakeCompiler(const std::string& dir, const std::string& good_image) {
  const std::string path = dir + "/fake-compile";
  WriteText(path,
            "#!/bin/sh\n"
            "# fake-compile MODEL -o OUT --chip PROFILE -O2 --report-json R\n"
            "echo run >> " +
                dir +
                "/compiles\n"
                "case \"$(cat \"$1\")\" in\n"
                "  crash*) echo 'about to crash' >&2; kill -SEGV $$ ;;\n"
                "  memory*) exec /usr/bin/python3 -c 'x = bytearray(1 << 31)' ;;\n"
                "  sleep*) touch " +
                dir +
                "/compiling; sleep 30 ;;\n"
                "  garbage*) echo 'not an image' > \"$3\" ;;\n"
                "  refuse*) echo 'model.py:42: unsupported op aten::fft' >&2; exit 3 ;;\n"
                "  spin*) while :; do :; done ;;\n"
                "  huge*) exec head -c 4194304 /dev/zero > \"$3\" ;;\n"
                "  orphan*) sleep 300 & echo $! > " +
                dir + "/orphan.pid; cp " + good_image +
                " \"$3\" ;;\n"
                "  *) cp " +
                good_image +
                " \"$3\" ;;\n"
                "esac\n",
            0755);
  return path;
}

// A compiler that succeeds but leaves a process behind: the process goes
// with it (its whole process group is killed before the compiler is reaped,
// so the group id cannot have been reused by then).
TEST_F(DaemonTest, WhatACompilerLeavesRunningIsKilled) {
  const std::string compiler = WriteFakeCompiler(dir_.path(), image_path_);
  StartDaemon({"--compile.command=" + compiler});
  Client client;
  Connect(client);
  ASSERT_TRUE(DeployText(client, "orphan", "orphan").ok());
  const pid_t orphan = std::stoi(ReadText(dir_.path() + "/orphan.pid"));
  ASSERT_GT(orphan, 0);
  // Killed, and reaped by init once the compiler's shell is gone.
  EXPECT_TRUE(WaitFor([&] { return ::kill(orphan, 0) != 0 && errno == ESRCH; }, 30))
      << "process " << orphan << " the compiler started is still running";
}

TEST_F(DaemonTest, CompilerRunsAsALimitedSubprocess) {
  const std::string compiler = WriteFakeCompiler(dir_.path(), image_path_);
  StartDaemon(
      {"--compile.command=" + compiler, "--compile.timeout=2s", "--compile.memory_limit=256MiB"});
  Client client;
  Connect(client);
  Status crash = DeployText(client, "crash", "crash");
  EXPECT_EQ(crash.code(), StatusCode::kInternal) << crash;
  EXPECT_NE(crash.message().find("signal 11"), std::string::npos) << crash;
  EXPECT_NE(crash.message().find("about to crash"), std::string::npos) << crash;

  Status memory = DeployText(client, "memory", "memory");
  EXPECT_EQ(memory.code(), StatusCode::kResourceExhausted) << memory;
  EXPECT_NE(memory.message().find("MemoryError"), std::string::npos) << memory;

  Status slow = DeployText(client, "slow", "sleep");
  EXPECT_EQ(slow.code(), StatusCode::kDeadlineExceeded) << slow;
  EXPECT_NE(slow.message().find("compile.timeout"), std::string::npos) << slow;

  Status garbage = DeployText(client, "garbage", "garbage");
  EXPECT_EQ(garbage.code(), StatusCode::kInternal) << garbage;
  EXPECT_NE(garbage.message().find("not a valid board image"), std::string::npos) << garbage;

  Status refused = DeployText(client, "refuse", "refuse");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused;
  EXPECT_NE(refused.message().find("model.py:42"), std::string::npos) << refused;

  // Still serving, and every failed compile freed what it held.
  auto boards = client.Call({{"op", "boards"}});
  ASSERT_TRUE(boards.ok() && boards->status.ok());
  EXPECT_EQ(boards->body["boards"][0]["cores_free"], boards->body["boards"][0]["cores_total"]);

  // A good model compiles once; the second deploy is a cache hit.
  const int runs_before = static_cast<int>(std::count(
      std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(dir_.path() + "/compiles")),
      std::istreambuf_iterator<char>(), '\n'));
  const std::string model = dir_.path() + "/good.pt";
  WriteText(model, "good model");
  auto first = Deploy(client, "good1", model);
  ASSERT_TRUE(first.ok() && first->status.ok()) << first->status;
  EXPECT_EQ(first->body["cache"], "miss");
  auto second = Deploy(client, "good2", model);
  ASSERT_TRUE(second.ok() && second->status.ok()) << second->status;
  EXPECT_EQ(second->body["cache"], "hit");
  const std::string runs = ReadText(dir_.path() + "/compiles");
  EXPECT_EQ(std::count(runs.begin(), runs.end(), '\n'), runs_before + 1);
  auto r = Infer(client, "good2", {1, 1});
  ASSERT_TRUE(r.ok());
  ExpectCorrectInfer(*r, {1, 1});

  // spk-compile execs the spk-compile-torch beside it: a new one of those is
  // a new compiler, so the cached image no longer applies.
  WriteText(dir_.path() + "/spk-compile-torch", "#!/bin/sh\nexit 1\n", 0755);
  auto third = Deploy(client, "good3", model);
  ASSERT_TRUE(third.ok() && third->status.ok()) << third->status;
  EXPECT_EQ(third->body["cache"], "miss");
  WriteText(dir_.path() + "/spk-compile-torch", "#!/bin/sh\nexit 2\n", 0755);
  auto fourth = Deploy(client, "good4", model);
  ASSERT_TRUE(fourth.ok() && fourth->status.ok()) << fourth->status;
  EXPECT_EQ(fourth->body["cache"], "miss");

  // progress: PROGRESS frames on the deploy's id, one per stage, in order.
  auto quiet = Deploy(client, "good5", model);
  ASSERT_TRUE(quiet.ok() && quiet->status.ok());
  EXPECT_TRUE(quiet->progress.empty());
  auto shown = client.Call(
      {{"op", "deploy"}, {"name", "good6"}, {"model", {{"path", model}}}, {"progress", true}});
  ASSERT_TRUE(shown.ok() && shown->status.ok()) << (shown.ok() ? shown->status : shown.status());
  std::vector<std::string> stages;
  for (const auto& p : shown->progress) {
    stages.push_back(p["stage"]);
    EXPECT_GE(p["elapsed_seconds"].get<double>(), 0.0) << p.dump();
  }
  EXPECT_EQ(stages,
            (std::vector<std::string>{"queued", "load_model", "compile", "place", "load_image"}));
}

// CPU time and output size are limits of the compiler process itself
// (RLIMIT_CPU, RLIMIT_FSIZE); the wall-clock timeout is far away here.
TEST_F(DaemonTest, CompilerCpuTimeAndOutputSizeAreLimited) {
  const std::string compiler = WriteFakeCompiler(dir_.path(), image_path_);
  StartDaemon({"--compile.command=" + compiler, "--compile.timeout=10min", "--compile.cpu_limit=1s",
               "--compile.output_limit=1MiB"});
  Client client;
  Connect(client);
  Status spin = DeployText(client, "spin", "spin");
  EXPECT_EQ(spin.code(), StatusCode::kResourceExhausted) << spin;
  EXPECT_NE(spin.message().find("compile.cpu_limit"), std::string::npos) << spin;

  Status huge = DeployText(client, "huge", "huge");
  EXPECT_EQ(huge.code(), StatusCode::kResourceExhausted) << huge;
  EXPECT_NE(huge.message().find("compile.output_limit"), std::string::npos) << huge;

  // Nothing held, nothing left in the cache's work files.
  auto boards = client.Call({{"op", "boards"}});
  ASSERT_TRUE(boards.ok() && boards->status.ok());
  EXPECT_EQ(boards->body["boards"][0]["cores_free"], boards->body["boards"][0]["cores_total"]);
  for (const auto& entry : std::filesystem::directory_iterator(state_ + "/artifacts")) {
    EXPECT_NE(entry.path().filename().string().rfind("tmp-", 0), 0u) << entry.path();
  }
}

// cache.max_size bounds the compiled images kept: beyond it the least
// recently used one that no deployment needs is evicted, and deploying its
// model again compiles again.
TEST_F(DaemonTest, TheArtifactCacheStaysWithinItsBound) {
  const std::string compiler = WriteFakeCompiler(dir_.path(), image_path_);
  const auto image_size = std::filesystem::file_size(image_path_);
  // Room for one compiled image, not two.
  StartDaemon({"--compile.command=" + compiler,
               "--cache.max_size=" + std::to_string(image_size + image_size / 2)});
  Client client;
  Connect(client);
  auto deploy = [&](const std::string& name, const std::string& content) -> std::string {
    const std::string path = dir_.path() + "/" + name + ".pt";
    WriteText(path, content);
    auto r = Deploy(client, name, path);
    EXPECT_TRUE(r.ok() && r->status.ok()) << (r.ok() ? r->status : r.status());
    return r.ok() && r->status.ok() ? r->body["cache"].get<std::string>() : "";
  };
  auto undeploy = [&](const std::string& name) {
    auto r = client.Call({{"op", "undeploy"}, {"deployment", name}});
    EXPECT_TRUE(r.ok() && r->status.ok()) << name;
  };
  EXPECT_EQ(deploy("a", "model a"), "miss");
  undeploy("a");
  EXPECT_EQ(deploy("a", "model a"), "hit");
  undeploy("a");
  // b's image pushes a's out: a is in use by nothing.
  EXPECT_EQ(deploy("b", "model b"), "miss");
  EXPECT_EQ(deploy("a", "model a"), "miss");
  // b is deployed, so its image stays although the cache is over its bound.
  EXPECT_EQ(deploy("b2", "model b"), "hit");
  size_t images = 0;
  for (const auto& entry : std::filesystem::directory_iterator(state_ + "/artifacts")) {
    images += entry.path().extension() == ".spkimg";
  }
  EXPECT_EQ(images, 2u);
}

// Requests on one connection run side by side and are answered by id: a
// quick one is not held up by a slow one sent before it.
TEST_F(DaemonTest, RequestsInFlightOnOneConnectionAreAnsweredById) {
  const std::string compiler = dir_.path() + "/held-compile";
  WriteText(compiler,
            "#!/bin/sh\ntouch " + dir_.path() + "/compiling\nwhile [ ! -e " + dir_.path() +
                "/release ]; do sleep 0.05; done\ncp " + image_path_ + " \"$3\"\n",
            0755);
  StartDaemon({"--compile.command=" + compiler, "--server.max_requests_in_flight=2"});
  Client client;
  Connect(client);
  const std::string model = dir_.path() + "/held.pt";
  WriteText(model, "model");
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, 10,
                       {{"op", "deploy"}, {"name", "held"}, {"model", {{"path", model}}}})
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(dir_.path() + "/compiling"); }, 120));
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, 11, {{"op", "version"}}).ok());
  auto quick = client.Next(std::chrono::seconds(60));
  ASSERT_TRUE(quick.ok()) << quick.status();
  EXPECT_EQ(quick->header.type, FrameType::kResponse) << quick->payload_text();
  EXPECT_EQ(quick->header.request_id, 11u);

  // Two in flight (the deploy and this one) is the limit; a third is refused
  // on its own id and the connection goes on.
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, 12,
                       {{"op", "deploy"}, {"name", "held2"}, {"model", {{"path", model}}}})
                  .ok());
  ASSERT_TRUE(SendJson(client, FrameType::kRequest, 13, {{"op", "version"}}).ok());
  auto refused = client.Next(std::chrono::seconds(60));
  ASSERT_TRUE(refused.ok()) << refused.status();
  ASSERT_EQ(refused->header.type, FrameType::kError) << refused->payload_text();
  EXPECT_EQ(refused->header.request_id, 13u);
  const Status status = protocol::StatusFromErrorFrame(*refused);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("server.max_requests_in_flight (2)"), std::string::npos)
      << status;

  WriteText(dir_.path() + "/release", "");
  std::set<uint64_t> answered;
  for (int i = 0; i < 2; ++i) {
    auto frame = client.Next(std::chrono::seconds(120));
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->header.type, FrameType::kResponse) << frame->payload_text();
    answered.insert(frame->header.request_id);
  }
  EXPECT_EQ(answered, (std::set<uint64_t>{10, 12}));
}

// The audit log and past deployments are deleted after
// state.history_retention by the telemetry sampler, also after a reload.
TEST_F(DaemonTest, AuditLogAndDeploymentHistoryArePruned) {
  const std::string config = dir_.path() + "/spiked.conf";
  WriteText(config, "[state]\nhistory_retention = 1h\n[telemetry]\nperiod = 100ms\n");
  StartDaemon({"--config=" + config});
  Client client;
  Connect(client);
  ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());
  ASSERT_TRUE(client.Call({{"op", "undeploy"}, {"deployment", "small"}})->status.ok());
  ASSERT_TRUE(Deploy(client, "kept", image_path_)->status.ok());

  auto store = daemon::state::StateStore::Create(state_ + "/spiked.db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto audit_entries = [&] {
    auto audit = (*store)->QueryAudit({});
    return audit.ok() ? audit->size() : size_t{1000};
  };
  auto deployments = [&] {
    auto all = (*store)->ListDeployments({.include_inactive = true});
    return all.ok() ? all->size() : size_t{1000};
  };
  // deploy, undeploy, deploy; each is logged once answered.
  EXPECT_TRUE(WaitFor([&] { return audit_entries() == 3; }, 60)) << audit_entries();
  EXPECT_EQ(deployments(), 2u);

  WriteText(config, "[state]\nhistory_retention = 1s\n[telemetry]\nperiod = 100ms\n");
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return audit_entries() == 0 && deployments() == 1; }, 120))
      << audit_entries() << " audit entries, " << deployments() << " deployments\n"
      << ReadText(log_);
  // The active deployment is never history.
  auto kept = client.Call({{"op", "deployments.describe"}, {"deployment", "kept"}});
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->status.ok()) << kept->status;
}

// partition.chip keeps the cores on one chip; partition.exclusive keeps the
// board to one deployment, also across a restart.
TEST_F(DaemonTest, PartitionChipAndExclusivePlacement) {
  StartDaemon();
  Client client;
  Connect(client);
  auto deploy = [&](const std::string& name, const nlohmann::json& partition) {
    auto r = client.Call({{"op", "deploy"},
                          {"name", name},
                          {"model", {{"path", image_path_}}},
                          {"partition", partition}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->status : r.status();
  };
  auto undeploy = [&](const std::string& name) {
    auto r = client.Call({{"op", "undeploy"}, {"deployment", name}});
    ASSERT_TRUE(r.ok() && r->status.ok()) << (r.ok() ? r->status : r.status());
  };
  auto boards = client.Call({{"op", "boards"}});
  ASSERT_TRUE(boards.ok() && boards->status.ok());
  const auto per_chip = boards->body["boards"][0]["cores_per_chip"].get<uint32_t>();
  const auto chips = boards->body["boards"][0]["chips"].get<uint32_t>();
  ASSERT_GE(chips, 4u);

  ASSERT_TRUE(deploy("on_chip", {{"chip", 3}, {"cores", 2}}).ok());
  auto described = client.Call({{"op", "deployments.describe"}, {"deployment", "on_chip"}});
  ASSERT_TRUE(described.ok() && described->status.ok());
  for (const auto& core : described->body["partition"]["cores"]) {
    EXPECT_EQ(core.get<uint32_t>() / per_chip, 3u) << described->body.dump();
  }
  const Status no_chip = deploy("nowhere", {{"chip", chips}});
  EXPECT_EQ(no_chip.code(), StatusCode::kInvalidArgument) << no_chip;
  EXPECT_NE(no_chip.message().find("does not exist"), std::string::npos) << no_chip;

  // Exclusive needs the board to itself...
  const Status shared = deploy("alone", {{"exclusive", true}});
  EXPECT_EQ(shared.code(), StatusCode::kResourceExhausted) << shared;
  EXPECT_NE(shared.message().find("on_chip"), std::string::npos) << shared;
  undeploy("on_chip");
  ASSERT_TRUE(deploy("alone", {{"exclusive", true}}).ok());
  // ... and keeps it, across a restart too.
  const Status refused = deploy("other", nlohmann::json::object());
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("held exclusively by deployment 'alone'"), std::string::npos)
      << refused;
  daemon_.Stop();
  StartDaemon();
  Client again;
  Connect(again);
  auto r = again.Call({{"op", "deploy"}, {"name", "other"}, {"model", {{"path", image_path_}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status.code(), StatusCode::kResourceExhausted) << r->status;
  auto gone = again.Call({{"op", "undeploy"}, {"deployment", "alone"}});
  ASSERT_TRUE(gone.ok() && gone->status.ok());
  r = again.Call({{"op", "deploy"}, {"name", "other"}, {"model", {{"path", image_path_}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->status.ok()) << r->status;
}

TEST_F(DaemonTest, MissingCompilerIsAFailedPrecondition) {
  StartDaemon({"--compile.command=/nonexistent/spk-compile"});
  Client client;
  Connect(client);
  const std::string model = dir_.path() + "/m.pt";
  WriteText(model, "model");
  auto r = Deploy(client, "m", model);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r->status.message().find("/nonexistent/spk-compile"), std::string::npos) << r->status;
}

TEST_F(DaemonTest, KillDuringCompileLeavesNothingBehind) {
  const std::string compiler = WriteFakeCompiler(dir_.path(), image_path_);
  StartDaemon({"--compile.command=" + compiler});
  const std::string model = dir_.path() + "/slow.pt";
  WriteText(model, "sleep");
  std::thread deploying([&] {
    Client client;
    if (client.Connect(socket_).ok()) Deploy(client, "slow", model).status().IgnoreError();
  });
  for (int i = 0; i < 500 && !std::filesystem::exists(dir_.path() + "/compiling"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(std::filesystem::exists(dir_.path() + "/compiling"));
  daemon_.Kill9();
  deploying.join();

  StartDaemon({"--compile.command=" + compiler});
  Client client;
  Connect(client);
  auto list = client.Call({{"op", "deployments.list"}});
  EXPECT_TRUE(list->body["deployments"].empty()) << list->body.dump();
  auto boards = client.Call({{"op", "boards"}});
  EXPECT_EQ(boards->body["boards"][0]["cores_free"], boards->body["boards"][0]["cores_total"]);
  for (const auto& entry : std::filesystem::directory_iterator(state_ + "/artifacts")) {
    EXPECT_NE(entry.path().filename().string().rfind("tmp-", 0), 0u) << entry.path();
  }
}

// Priority 4: authorisation by peer credentials.
TEST_F(DaemonTest, NonMemberMayReadButNotMutate) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another uid";
  StartDaemon({"--server.socket_mode=0666", "--server.authorised_group=root"});
  {
    Client admin;
    Connect(admin);
    ASSERT_TRUE(Deploy(admin, "small", image_path_)->status.ok());
  }
  // The other user's client runs in a child that dropped to uid 65534 and
  // reports what it saw through a pipe.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string report;
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
      report = "setuid failed";
    } else {
      Client client;
      if (!client.Connect(socket_).ok()) {
        report = "connect failed";
      } else {
        nlohmann::json out;
        out["authorised"] = client.hello()["peer"]["authorised"];
        auto code = [](const StatusOr<Response>& r) {
          return r.ok() ? std::string(StatusCodeName(r->status.code())) : r.status().ToString();
        };
        out["version"] = code(client.Call({{"op", "version"}}));
        out["list"] = code(client.Call({{"op", "deployments.list"}}));
        auto deploy =
            client.Call({{"op", "deploy"}, {"name", "x"}, {"model", {{"path", image_path_}}}});
        out["deploy"] = code(deploy);
        out["deploy_message"] = deploy.ok() ? std::string(deploy->status.message()) : "";
        out["undeploy"] = code(client.Call({{"op", "undeploy"}, {"deployment", "small"}}));
        out["infer"] = code(client.Call(
            {{"op", "infer"}, {"deployment", "small"}, {"inputs", {{{"attachment", 0}}}}},
            {TensorFrame(Tensor::FromValues<int32_t>({2}, std::vector<int32_t>{1, 1}))}));
        report = out.dump();
      }
    }
    (void)!::write(pipe_fds[1], report.data(), report.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  ::close(pipe_fds[0]);
  ::waitpid(child, nullptr, 0);
  auto seen = nlohmann::json::parse(report, nullptr, false);
  ASSERT_FALSE(seen.is_discarded()) << report;
  EXPECT_EQ(seen["authorised"], false);
  EXPECT_EQ(seen["version"], "OK");
  EXPECT_EQ(seen["list"], "OK");
  EXPECT_EQ(seen["deploy"], "PERMISSION_DENIED");
  EXPECT_EQ(seen["undeploy"], "PERMISSION_DENIED");
  EXPECT_EQ(seen["infer"], "PERMISSION_DENIED");
  EXPECT_NE(seen["deploy_message"].get<std::string>().find("group 'root'"), std::string::npos)
      << seen.dump();

  // The deployment is untouched, and the audit log has both users.
  Client admin;
  Connect(admin);
  auto list = admin.Call({{"op", "deployments.list"}});
  EXPECT_EQ(list->body["deployments"].size(), 1u);
  ASSERT_EQ(daemon_.Stop(), 0);
  auto store = daemon::state::StateStore::Create(state_ + "/spiked.db");
  ASSERT_TRUE(store.ok());
  auto audit = (*store)->QueryAudit({});
  ASSERT_TRUE(audit.ok());
  bool root_ok = false, other_denied = false;
  for (const auto& entry : *audit) {
    if (entry.uid == 0 && entry.operation == "deploy" && entry.result == StatusCode::kOk) {
      root_ok = true;
    }
    if (entry.uid == 65534 && entry.operation == "deploy" &&
        entry.result == StatusCode::kPermissionDenied) {
      other_denied = true;
    }
  }
  EXPECT_TRUE(root_ok);
  EXPECT_TRUE(other_denied);
}

// Priority 6: metrics and many clients.
uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) response.append(buf, n);
  ::close(fd);
  return response;
}

TEST_F(DaemonTest, ServesPrometheusMetrics) {
  const uint16_t port = FreePort();
  DaemonOptions options =
      Options({"--metrics.enabled=true", "--metrics-port=" + std::to_string(port),
               "--telemetry.period=100ms"});
  ASSERT_TRUE(daemon_.Start(options, log_).ok()) << ReadText(log_);
  Client client;
  Connect(client);
  ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());
  ASSERT_TRUE(Infer(client, "small", {1, 1})->status.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string text = HttpGet(port, "/metrics");
  for (const char* name :
       {"spiked_up", "spiked_inference_requests_total", "spiked_inference_duration_seconds_bucket",
        "spiked_sessions_active", "spiked_board_power_watts", "spiked_board_temperature_celsius",
        "spiked_board_energy_joules_total", "spiked_board_up", "spiked_compile_duration_seconds",
        "spiked_cache_hits_total", "spiked_cache_misses_total"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name << " missing in:\n" << text;
  }
  EXPECT_NE(text.find("deployment=\"small\""), std::string::npos);

  auto latest = client.Call({{"op", "telemetry.latest"}});
  ASSERT_TRUE(latest.ok() && latest->status.ok());
  // The documented shape (docs/protocol.md "telemetry.latest").
  ASSERT_EQ(latest->body["boards"].size(), 1u) << latest->body.dump();
  const auto& sim0 = latest->body["boards"][0];
  EXPECT_EQ(sim0["board"], "sim0");
  for (const char* field : {"timestamp", "power_watts", "temperature_celsius",
                            "energy_joules_total", "steps_total", "errors_total"}) {
    EXPECT_TRUE(sim0.contains(field)) << field << " missing in " << sim0.dump();
  }
  EXPECT_TRUE(sim0["power_watts"].is_object());
  auto history = client.Call({{"op", "telemetry.history"}, {"board", "sim0"}});
  ASSERT_TRUE(history.ok() && history->status.ok()) << history->status;
  EXPECT_GE(history->body["samples"].size(), 1u);
}

TEST_F(DaemonTest, MetricsPortInUseIsNotFatal) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  StartDaemon({"--metrics.enabled=true", "--metrics-port=" + std::to_string(ntohs(addr.sin_port))});
  Client client;
  Connect(client);
  EXPECT_TRUE(client.Call({{"op", "version"}})->status.ok());
  ::close(fd);
}

TEST_F(DaemonTest, ManyConcurrentClients) {
  StartDaemon();
  {
    Client client;
    Connect(client);
    ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());
  }
  const auto expected = ExpectedOutputs(image_, {1, 1});
  constexpr int kClients = 32;
  constexpr int kRequests = 8;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&] {
      Client client;
      if (!client.Connect(socket_).ok()) return;
      for (int i = 0; i < kRequests; ++i) {
        auto r = Infer(client, "small", {1, 1});
        if (!r.ok() || !r->status.ok() || r->attachments.empty()) continue;
        auto tensor = protocol::DecodeTensor(r->attachments[0].payload);
        if (tensor.ok() && tensor->ToFloat() == expected.begin()->second) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kClients * kRequests);
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(DaemonTest, DeployFromAttachedBytes) {
  StartDaemon();
  Client client;
  Connect(client);
  auto bytes = hal::format::WriteBoardImage(image_);
  ASSERT_TRUE(bytes.ok());
  auto r =
      client.Call({{"op", "deploy"}, {"model", {{"attachment", 0}, {"filename", "sent.spkimg"}}}},
                  {protocol::MakeFrame(FrameType::kBlob, 1, *bytes)});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->status.ok()) << r->status;
  EXPECT_EQ(r->body["deployment"], "sent");
  auto out = Infer(client, "sent", {0, 1});
  ASSERT_TRUE(out.ok());
  ExpectCorrectInfer(*out, {0, 1});
}

TEST_F(DaemonTest, ConnectionsBeyondTheLimitAreRefusedClearly) {
  StartDaemon({"--server.max_connections=2"});
  Client a, b, c;
  Connect(a);
  Connect(b);
  ASSERT_TRUE(c.ConnectRaw(socket_).ok());
  auto error = c.Next();
  ASSERT_TRUE(error.ok()) << error.status();
  Status status = protocol::StatusFromErrorFrame(*error);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("server.max_connections"), std::string::npos) << status;
  EXPECT_TRUE(a.Call({{"op", "version"}})->status.ok());
}

TEST_F(DaemonTest, SighupReloadsAndKeepsServing) {
  const std::string config = dir_.path() + "/spiked.conf";
  WriteText(config, "[server]\nmax_connections = 8\n");
  StartDaemon({"--config=" + config});
  Client client;
  Connect(client);
  ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());

  // The new limit is in force once a second connection is turned away.
  WriteText(config, "[server]\nmax_connections = 1\n");
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  Status refused;
  EXPECT_TRUE(WaitFor(
      [&] {
        // An accepted connection waits for the hello: no frame comes.
        Client other;
        if (!other.ConnectRaw(socket_).ok()) return false;
        auto frame = other.Next(std::chrono::seconds(2));
        if (!frame.ok() || frame->header.type != FrameType::kError) return false;
        refused = protocol::StatusFromErrorFrame(*frame);
        return true;
      },
      120))
      << ReadText(log_);
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("server.max_connections (1)"), std::string::npos) << refused;

  // The connection that was there all along is still served.
  auto r = Infer(client, "small", {1, 1});
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectCorrectInfer(*r, {1, 1});
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(DaemonTest, StreamingSessionMatchesTheExecutor) {
  StartDaemon();
  Client client;
  Connect(client);
  ASSERT_TRUE(Deploy(client, "small", image_path_)->status.ok());
  auto opened = client.Call({{"op", "session.open"}, {"deployment", "small"}});
  ASSERT_TRUE(opened.ok() && opened->status.ok())
      << (opened.ok() ? opened->status : opened.status());
  const uint64_t session = client.last_id();
  EXPECT_EQ(opened->body["inputs"][0]["name"], "in");

  // A second session on the same deployment is refused while this one is open.
  Client other;
  Connect(other);
  auto second = other.Call({{"op", "session.open"}, {"deployment", "small"}});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->status.code(), StatusCode::kResourceExhausted) << second->status;
  auto busy = other.Call({{"op", "undeploy"}, {"deployment", "small"}});
  EXPECT_EQ(busy->status.code(), StatusCode::kFailedPrecondition) << busy->status;

  // The same steps through the executor in-process.
  const std::vector<std::vector<int32_t>> steps = {{1, 1}, {1, 0}, {0, 1}, {1, 1}, {0, 0}};
  auto chip = hal::format::LoadChipProfile("loihi2");
  auto board = hal::format::LoadBoardProfile("kapoho-point-8");
  auto device = sim::SimDevice::Create(*chip, *board);
  ASSERT_TRUE(device.ok());
  auto program = (*device)->Load(image_, {{0}});
  ASSERT_TRUE(program.ok());
  auto executor = executor::Executor::Create(image_, device->get(), *program);
  ASSERT_TRUE(executor.ok());
  ASSERT_TRUE((*executor)->StreamReset().ok());
  std::map<int64_t, std::vector<float>> expected;
  for (const auto& in : steps) {
    executor::HostValue value;
    value.shape = {2};
    value.data.assign(in.begin(), in.end());
    auto out = (*executor)->StreamPush({{"in", value}});
    ASSERT_TRUE(out.ok()) << out.status();
    for (const auto& step : *out) expected[step.step] = step.outputs.at("out").data;
  }

  // Two chunks: two steps, then three.
  auto send = [&](uint64_t first, size_t count) {
    std::vector<int32_t> values;
    for (size_t i = first; i < first + count; ++i)
      values.insert(values.end(), steps[i].begin(), steps[i].end());
    protocol::StreamChunk chunk{
        .first_step = first,
        .steps = static_cast<uint32_t>(count),
        .port = 0,
        .body = Tensor::FromValues<int32_t>({static_cast<uint32_t>(count), 2}, values)};
    return protocol::WriteFrame(
        client.fd(),
        protocol::MakeFrame(FrameType::kStreamInput, session, protocol::EncodeStreamChunk(chunk)),
        std::chrono::seconds(5));
  };
  ASSERT_TRUE(send(0, 2).ok());
  ASSERT_TRUE(send(2, 3).ok());
  std::map<int64_t, std::vector<float>> got;
  for (int credits = 0; credits < 2;) {
    auto frame = client.Next();
    ASSERT_TRUE(frame.ok()) << frame.status();
    ASSERT_EQ(frame->header.request_id, session);
    if (frame->header.type == FrameType::kCredit) {
      ++credits;
    } else {
      ASSERT_EQ(frame->header.type, FrameType::kStreamOutput) << frame->payload_text();
      auto chunk = protocol::DecodeStreamChunk(frame->payload);
      ASSERT_TRUE(chunk.ok()) << chunk.status();
      got[static_cast<int64_t>(chunk->first_step)] = std::get<Tensor>(chunk->body).ToFloat();
    }
  }
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(got, expected);

  ASSERT_TRUE(protocol::WriteFrame(
                  client.fd(),
                  protocol::MakeJsonFrame(FrameType::kRequest, session, {{"op", "session.close"}}),
                  std::chrono::seconds(5))
                  .ok());
  auto closed = client.Next();
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(closed->header.type, FrameType::kResponse) << closed->payload_text();
  // Closed: the deployment takes a new session, and can be undeployed.
  auto again = other.Call({{"op", "session.open"}, {"deployment", "small"}});
  EXPECT_TRUE(again->status.ok()) << again->status;
}

}  // namespace
}  // namespace spk::testing

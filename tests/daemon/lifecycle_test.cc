// The daemon's life cycle against the real binary: SIGTERM drains requests
// and sessions, SIGHUP reloads live keys, sd_notify messages reach
// $NOTIFY_SOCKET, and a listening socket passed by systemd (LISTEN_FDS) is
// served.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "tests/daemon/daemon_fixture.h"

namespace spk::testing {
namespace {

using protocol::Frame;
using protocol::FrameType;
using protocol::Tensor;

class LifecycleTest : public DaemonFixture {};

int BindUnix(int type, const std::string& path) {
  const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(LifecycleTest, SigtermDrainsRequestsAndEndsSessionsWithTheirOutput) {
  const std::string compiler = dir_.path() + "/slow-compile";
  WriteText(
      compiler,
      "#!/bin/sh\ntouch " + dir_.path() + "/compiling\nsleep 2\ncp " + image_path_ + " \"$3\"\n",
      0755);
  StartDaemon({"--compile.command=" + compiler});
  Client streaming, deploying;
  Connect(streaming);
  Connect(deploying);
  DeploySmall(streaming);
  const uint64_t session = OpenSession(streaming, {{"output_window", 1}});
  ASSERT_NE(session, 0u);
  ASSERT_TRUE(Push(streaming, session, Chunk(0, 16)).ok());
  std::map<int64_t, std::vector<float>> got;
  auto first = streaming.Next();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->header.type, FrameType::kStreamOutput);

  // A deploy whose compile is running when the signal comes.
  const std::string model = dir_.path() + "/slow.pt";
  WriteText(model, "model");
  ASSERT_TRUE(SendJson(deploying, FrameType::kRequest, 5,
                       {{"op", "deploy"}, {"name", "slow"}, {"model", {{"path", model}}}})
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(dir_.path() + "/compiling"); }));
  ASSERT_EQ(::kill(daemon_.pid(), SIGTERM), 0);

  // The session gets the output it was holding back, then UNAVAILABLE.
  auto chunk = protocol::DecodeStreamChunk(first->payload);
  ASSERT_TRUE(chunk.ok());
  got[static_cast<int64_t>(chunk->first_step)] = std::get<Tensor>(chunk->body).ToFloat();
  std::optional<Frame> end;
  while (!end) {
    auto frame = streaming.Next(std::chrono::seconds(30));
    ASSERT_TRUE(frame.ok()) << frame.status();
    ASSERT_EQ(frame->header.request_id, session);
    if (frame->header.type == FrameType::kStreamOutput) {
      auto c = protocol::DecodeStreamChunk(frame->payload);
      ASSERT_TRUE(c.ok());
      got[static_cast<int64_t>(c->first_step)] = std::get<Tensor>(c->body).ToFloat();
    } else if (frame->header.type != FrameType::kCredit) {
      end = *frame;
    }
  }
  EXPECT_EQ(got, ExpectedStream(16));
  const Status ended = protocol::StatusFromErrorFrame(*end);
  EXPECT_EQ(ended.code(), StatusCode::kUnavailable) << ended;
  EXPECT_NE(ended.message().find("daemon stopping"), std::string::npos) << ended;

  // The deploy in flight finished and was answered.
  auto reply = deploying.Next(std::chrono::seconds(30));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->header.type, FrameType::kResponse) << reply->payload_text();

  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(LifecycleTest, SighupAppliesLiveKeysAndKeepsThemOnABadFile) {
  const std::string config = dir_.path() + "/spiked.conf";
  WriteText(config, "[server]\nsession_idle_timeout = 300s\n");
  StartDaemon({"--config=" + config});
  Client before;
  Connect(before);
  EXPECT_EQ(before.hello()["limits"]["session_idle_timeout_ms"], 300000);

  WriteText(config, "[server]\nsession_idle_timeout = 250ms\n");
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] {
    Client probe;
    return probe.Connect(socket_).ok() && probe.hello()["limits"]["session_idle_timeout_ms"] == 250;
  }));
  DeploySmall(before);
  nlohmann::json opened;
  Client after;
  Connect(after);
  ASSERT_NE(OpenSession(after, {}, &opened), 0u);
  EXPECT_EQ(opened["idle_timeout_ms"], 250);

  // A file that does not parse changes nothing.
  WriteText(config, "[server]\nsession_idle_timeout = banana\n");
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor(
      [&] { return ReadText(log_).find("configuration not changed") != std::string::npos; }));
  Client last;
  Connect(last);
  EXPECT_EQ(last.hello()["limits"]["session_idle_timeout_ms"], 250);
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// telemetry.period is live: a sampler asleep for an hour-long period wakes
// and samples at the new, short one.
TEST_F(LifecycleTest, SighupAppliesANewTelemetryPeriodAtOnce) {
  const std::string config = dir_.path() + "/spiked.conf";
  WriteText(config, "[telemetry]\nperiod = 1h\n");
  StartDaemon({"--config=" + config});
  Client client;
  Connect(client);
  auto samples = [&]() -> size_t {
    auto history = client.Call({{"op", "telemetry.history"}, {"board", "sim0"}});
    if (!history.ok() || !history->status.ok()) return 0;
    return history->body["samples"].size();
  };
  // The sample taken at start, and no other for an hour.
  ASSERT_TRUE(WaitFor([&] { return samples() == 1; }, 60)) << samples();

  WriteText(config, "[telemetry]\nperiod = 100ms\n");
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return samples() >= 5; }, 120)) << samples() << "\n" << ReadText(log_);
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(LifecycleTest, NotifiesSystemdOfReadinessWatchdogAndStopping) {
  const std::string notify = dir_.path() + "/notify.sock";
  const int fd = BindUnix(SOCK_DGRAM, notify);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  StartDaemon({}, {{"NOTIFY_SOCKET", notify}, {"WATCHDOG_USEC", "100000"}});

  std::string seen;
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = seen.find(what); at != std::string::npos; at = seen.find(what, at + 1)) ++n;
    return n;
  };
  // Reads datagrams until `what` has come `times` times.
  auto receive = [&](const std::string& what, size_t times = 1) {
    while (count(what) < times) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 20000) <= 0) return false;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      seen.append(buf, static_cast<size_t>(n)).append("\n");
    }
    return true;
  };
  EXPECT_TRUE(receive("READY=1")) << seen;
  EXPECT_TRUE(receive("STATUS=serving on " + socket_)) << seen;
  // Keep-alives keep coming while it runs.
  EXPECT_TRUE(receive("WATCHDOG=1", 3)) << seen;
  ASSERT_EQ(::kill(daemon_.pid(), SIGTERM), 0);
  EXPECT_TRUE(receive("STOPPING=1")) << seen;
  const int status = daemon_.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(fd);
}

class SocketActivationTest : public DaemonFixture {
 protected:
  // Starts spiked as systemd would with `fd` as its only passed socket:
  // at fd 3, without close-on-exec, named by LISTEN_FDS and addressed to
  // that very process by LISTEN_PID.
  pid_t StartWithFd3(int fd) {
    DaemonOptions options = Options();
    std::vector<std::string> args = {SPIKED_BINARY};
    args.insert(args.end(), options.args.begin(), options.args.end());
    std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LISTEN_FDS=1"};
    for (auto& [k, v] : options.env) env.push_back(k + "=" + v);
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    const int log = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    if (fd == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else if (::dup2(fd, 3) < 0) {
      ::_exit(97);
    }
    env.push_back("LISTEN_PID=" + std::to_string(::getpid()));
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(98);
  }
};

TEST_F(SocketActivationTest, ServesTheListeningSocketSystemdPasses) {
  const std::string activated = dir_.path() + "/activated.sock";
  const int listener = BindUnix(SOCK_STREAM, activated);
  ASSERT_GE(listener, 0) << std::strerror(errno);
  ASSERT_EQ(::listen(listener, 16), 0);
  const pid_t pid = StartWithFd3(listener);
  ASSERT_GT(pid, 0);
  ::close(listener);
  Client client;
  const bool connected = WaitFor([&] { return client.Connect(activated).ok(); });
  EXPECT_TRUE(connected) << ReadText(log_);
  if (connected) {
    auto version = client.Call({{"op", "version"}});
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_TRUE(version->status.ok()) << version->status;
  }
  // It served the passed socket instead of binding its own.
  EXPECT_FALSE(std::filesystem::exists(socket_));
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(SocketActivationTest, APassedDescriptorThatIsNotAListeningSocketIsFatal) {
  const std::string file = dir_.path() + "/not-a-socket";
  WriteText(file, "x");
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const pid_t pid = StartWithFd3(fd);
  ASSERT_GT(pid, 0);
  ::close(fd);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(ReadText(log_).find("not a listening stream socket"), std::string::npos)
      << ReadText(log_);
}

}  // namespace
}  // namespace spk::testing

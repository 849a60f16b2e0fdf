#include "tests/daemon/daemon_harness.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "daemon/protocol/fd_io.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/json_message.h"

namespace spk::testing {

using protocol::Frame;
using protocol::FrameType;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/spiked-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  if (made != nullptr) {
    path_ = made;
    ::chmod(made, 0755);
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Daemon::~Daemon() {
  if (pid_ > 0) Kill9();
}

Status Daemon::Start(const DaemonOptions& options, const std::string& log_path) {
  std::vector<std::string> args = {options.binary.empty() ? SPIKED_BINARY : options.binary};
  args.insert(args.end(), options.args.begin(), options.args.end());
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  if (!options.env.count("PATH")) env_strings.push_back("PATH=/usr/bin:/bin");
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) return InternalError("fork failed");
  if (pid_ == 0) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    if (options.run_as_uid) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(*options.run_as_uid) != 0 ||
          ::setuid(*options.run_as_uid) != 0) {
        ::_exit(99);
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(98);
  }
  // Generous: CI shares two cores between several builds and test runs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return UnavailableError("spiked exited during start-up with status " +
                              std::to_string(status) + "; see " + log_path);
    }
    Client probe;
    if (probe.ConnectRaw(options.socket).ok()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return DeadlineExceededError("spiked did not listen on " + options.socket + " within 30 s");
}

int Daemon::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void Daemon::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Status Client::ConnectRaw(const std::string& socket) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return InternalError("socket failed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return UnavailableError("connect " + socket + ": " + why);
  }
  return Status::Ok();
}

Status Client::Connect(const std::string& socket) {
  SPK_RETURN_IF_ERROR(ConnectRaw(socket));
  protocol::ClientHello hello;
  hello.client = "daemon_test";
  SPK_RETURN_IF_ERROR(
      protocol::WriteFrame(fd_, protocol::MakeHelloFrame(hello), std::chrono::seconds(10)));
  SPK_ASSIGN_OR_RETURN(Frame reply, Next());
  if (reply.header.type == FrameType::kError) return protocol::StatusFromErrorFrame(reply);
  SPK_ASSIGN_OR_RETURN(hello_, protocol::ParseJsonObject(reply.payload, "hello_reply"));
  return Status::Ok();
}

StatusOr<Frame> Client::Next(std::chrono::milliseconds timeout) {
  return protocol::ReadFrame(fd_, protocol::kMaxFrameLimit, timeout);
}

StatusOr<Response> Client::Call(const nlohmann::json& request,
                                const std::vector<Frame>& attachments) {
  const uint64_t id = next_id_++;
  SPK_RETURN_IF_ERROR(
      protocol::WriteFrame(fd_,
                           protocol::MakeJsonFrame(FrameType::kRequest, id, request,
                                                   attachments.empty() ? 0 : protocol::kFlagMore),
                           std::chrono::seconds(10)));
  for (size_t i = 0; i < attachments.size(); ++i) {
    Frame frame = attachments[i];
    frame.header.request_id = id;
    frame.header.flags = i + 1 < attachments.size() ? protocol::kFlagMore : 0;
    SPK_RETURN_IF_ERROR(protocol::WriteFrame(fd_, frame, std::chrono::seconds(10)));
  }
  Response response;
  for (;;) {
    SPK_ASSIGN_OR_RETURN(Frame frame, Next(std::chrono::seconds(60)));
    if (frame.header.request_id != id) {
      return InternalError("frame for request " + std::to_string(frame.header.request_id) +
                           " while waiting for " + std::to_string(id) + ": " +
                           std::string(frame.payload_text()));
    }
    if (frame.header.type == FrameType::kProgress) {
      SPK_ASSIGN_OR_RETURN(auto body, protocol::ParseJsonObject(frame.payload, "progress"));
      response.progress.push_back(std::move(body));
      continue;
    }
    response.type = frame.header.type;
    if (frame.header.type == FrameType::kError) {
      response.status = protocol::StatusFromErrorFrame(frame);
    } else {
      SPK_ASSIGN_OR_RETURN(response.body, protocol::ParseJsonObject(frame.payload, "response"));
    }
    bool more = frame.header.has(protocol::kFlagMore);
    while (more) {
      SPK_ASSIGN_OR_RETURN(Frame attachment, Next());
      more = attachment.header.has(protocol::kFlagMore);
      response.attachments.push_back(std::move(attachment));
    }
    return response;
  }
}

Frame TensorFrame(const protocol::Tensor& tensor) {
  return protocol::MakeFrame(FrameType::kTensor, 1, protocol::EncodeTensor(tensor));
}

}  // namespace spk::testing

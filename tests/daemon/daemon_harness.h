// Test harness for the real spiked binary: starts it on a temporary socket
// and state directory, talks to it over the real socket with daemon/protocol's
// fd_io helpers, and stops or kills it.
#ifndef SPK_TESTS_DAEMON_DAEMON_HARNESS_H_
#define SPK_TESTS_DAEMON_DAEMON_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/payload.h"

namespace spk::testing {

// A fresh directory under $TMPDIR (mode 0755, so another uid can reach a
// socket in it), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct DaemonOptions {
  std::vector<std::string> args;           // after the binary
  std::map<std::string, std::string> env;  // the whole environment (plus PATH)
  std::optional<uint32_t> run_as_uid;      // drop to this uid and gid before exec
  std::string binary;                      // empty: the spiked this build made
  std::string socket;                      // where to wait for it
};

class Daemon {
 public:
  ~Daemon();  // kills a daemon still running

  // Starts spiked and waits until `options.socket` accepts (30 s at most).
  Status Start(const DaemonOptions& options, const std::string& log_path);
  // SIGTERM and wait: the exit status as waitpid reports it.
  int Stop();
  void Kill9();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct Response {
  protocol::FrameType type = protocol::FrameType::kResponse;
  nlohmann::json body;
  Status status;  // the ERROR frame's, OK for a RESPONSE
  std::vector<protocol::Frame> attachments;
  std::vector<nlohmann::json> progress;  // PROGRESS bodies before the answer
};

class Client {
 public:
  ~Client();
  // Connects and performs the handshake.
  Status Connect(const std::string& socket);
  // Connects without the handshake.
  Status ConnectRaw(const std::string& socket);
  const nlohmann::json& hello() const { return hello_; }
  // The id of the last Call (a session's id after session.open).
  uint64_t last_id() const { return next_id_ - 1; }
  int fd() const { return fd_; }

  StatusOr<Response> Call(const nlohmann::json& request,
                          const std::vector<protocol::Frame>& attachments = {});
  // Reads the next frame (for tests that sent raw bytes).
  StatusOr<protocol::Frame> Next(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  int fd_ = -1;
  uint64_t next_id_ = 1;
  nlohmann::json hello_;
};

// An attachment frame holding a tensor (request id filled in by Call).
protocol::Frame TensorFrame(const protocol::Tensor& tensor);

}  // namespace spk::testing

#endif  // SPK_TESTS_DAEMON_DAEMON_HARNESS_H_

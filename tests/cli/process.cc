#include "tests/cli/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace spk::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<char*> CArgv(std::vector<std::string>& args) {
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  return cargv;
}

// In the child: its own process group, so a timeout kills what it started
// too (spikectl compile runs spk-compile).
void BecomeGroupLeader() { ::setpgid(0, 0); }

// Waits for `pid` until `deadline`, then kills its process group. Sets the
// result's exit code and timed_out.
void Reap(pid_t pid, std::chrono::steady_clock::time_point deadline, ProcessResult& result) {
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string TimeoutNote(const ProcessResult& result, std::chrono::milliseconds timeout) {
  if (!result.timed_out) return "";
  return "\n[test harness: killed after " + std::to_string(timeout.count()) + " ms]\n";
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_path,
                         const std::map<std::string, std::string>& extra_env,
                         std::chrono::milliseconds timeout) {
  ProcessResult result;
  char out_template[] = "/tmp/spk-cli-out-XXXXXX";
  char err_template[] = "/tmp/spk-cli-err-XXXXXX";
  const int out_fd = ::mkstemp(out_template);
  const int err_fd = ::mkstemp(err_template);
  if (out_fd < 0 || err_fd < 0) return result;
  std::vector<std::string> args = argv;
  std::vector<char*> cargv = CArgv(args);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const pid_t pid = ::fork();
  if (pid == 0) {
    BecomeGroupLeader();
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    const int in = ::open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
    if (in >= 0) ::dup2(in, 0);
    for (const auto& [k, v] : extra_env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  if (pid > 0) {
    ::setpgid(pid, pid);  // also here: no race with the child's own call
    Reap(pid, deadline, result);
  }
  ::close(out_fd);
  ::close(err_fd);
  result.out = Slurp(out_template);
  result.err = Slurp(err_template) + TimeoutNote(result, timeout);
  ::unlink(out_template);
  ::unlink(err_template);
  return result;
}

Subprocess::Subprocess(const std::vector<std::string>& argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a Write after the program exited fails instead
  char err_template[] = "/tmp/spk-cli-err-XXXXXX";
  const int err_fd = ::mkstemp(err_template);
  if (err_fd < 0) return;
  err_path_ = err_template;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    ::close(err_fd);
    return;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    ::close(err_fd);
    return;
  }
  std::vector<std::string> args = argv;
  std::vector<char*> cargv = CArgv(args);
  pid_ = ::fork();
  if (pid_ == 0) {
    BecomeGroupLeader();
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  if (pid_ > 0) ::setpgid(pid_, pid_);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err_fd);
  in_ = in[1];
  out_ = out[0];
}

Subprocess::~Subprocess() {
  if (pid_ > 0) Finish(std::chrono::milliseconds(0));
  if (in_ >= 0) ::close(in_);
  if (out_ >= 0) ::close(out_);
  if (!err_path_.empty()) ::unlink(err_path_.c_str());
}

bool Subprocess::Write(const std::string& text) {
  size_t done = 0;
  while (in_ >= 0 && done < text.size()) {
    const ssize_t n = ::write(in_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return in_ >= 0;
}

void Subprocess::CloseStdin() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

std::optional<std::string> Subprocess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (out_ < 0 || left.count() <= 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::read(out_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;  // end of file
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

ProcessResult Subprocess::Finish(std::chrono::milliseconds timeout) {
  ProcessResult result;
  CloseStdin();
  if (pid_ <= 0) return result;
  // Drain stdout while waiting, so a program with more to say is not
  // blocked on a full pipe.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string rest = std::move(buffer_);
  buffer_.clear();
  while (out_ >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{out_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char chunk[4096];
    const ssize_t n = ::read(out_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    rest.append(chunk, static_cast<size_t>(n));
  }
  Reap(pid_, deadline, result);
  pid_ = -1;
  result.out = std::move(rest);
  result.err = Slurp(err_path_) + TimeoutNote(result, timeout);
  return result;
}

}  // namespace spk::testing

#include "daemon/service/compile_runner.h"

#include "base/sha256.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "base/check.h"

namespace spk::daemon {
namespace {

std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

void SetLimit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit limit = {soft, hard};
  ::setrlimit(resource, &limit);
}

void SetLimit(int resource, rlim_t value) { SetLimit(resource, value, value); }

// The hard CPU limit lies beyond the soft one: at the soft limit the kernel
// sends SIGXCPU, which tells why the compile ended; were both equal, the
// hard limit's SIGKILL would come first and say nothing.
constexpr rlim_t kCpuGraceSeconds = 2;

}  // namespace

std::string DefaultCompilerCommand() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "spk-compile";
  std::string exe(buf, static_cast<size_t>(n));
  const size_t slash = exe.rfind('/');
  return exe.substr(0, slash + 1) + "spk-compile";
}

StatusOr<std::string> CompilerIdentity(const std::string& command) {
  if (command.empty() || ::access(command.c_str(), X_OK) != 0) {
    return FailedPreconditionError("compiler '" + command +
                                   "' is missing or not executable (compiler.command); "
                                   "install spk-compile or deploy a .spkimg board image");
  }
  auto file_hash = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    return Sha256Hex(bytes);
  };
  std::string id = file_hash(command);
  // spk-compile execs its sibling spk-compile-torch on a cache miss, so a new
  // frontend alone changes what a compile produces.
  const size_t slash = command.rfind('/');
  const std::string torch =
      (slash == std::string::npos ? std::string() : command.substr(0, slash + 1)) +
      "spk-compile-torch";
  if (::access(torch.c_str(), X_OK) == 0) {
    const std::string both = id + "\n" + file_hash(torch);
    id = Sha256Hex(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(both.data()), both.size()));
  }
  return id;
}

Status RunCompiler(const CompileOptions& options, const CompileJob& job, double* seconds) {
  const std::string opt = "-O" + std::to_string(job.opt_level);
  std::vector<std::string> args = {options.command, job.model_path,   "-o", job.output_path,
                                   "--chip",        job.chip_profile, opt};
  if (job.ssa != "auto") {
    args.push_back("--ssa");
    args.push_back(job.ssa);
  }
  if (!job.report_path.empty()) {
    args.push_back("--report-json");
    args.push_back(job.report_path);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const int log_fd = ::open(job.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    return UnavailableError("compile log " + job.log_path + ": " + std::strerror(errno));
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return UnavailableError(std::string("cannot start the compiler: fork: ") +
                            std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);
    // A compile must not outlive a daemon that was killed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    // The daemon's sockets and database must not live on in the compiler.
    ::close_range(3, ~0U, 0);
    SetLimit(RLIMIT_AS, options.memory_limit);
    const auto cpu_s = std::chrono::duration_cast<std::chrono::seconds>(options.cpu_limit).count();
    const auto cpu_soft = static_cast<rlim_t>(cpu_s > 0 ? cpu_s : 1);
    SetLimit(RLIMIT_CPU, cpu_soft, cpu_soft + kCpuGraceSeconds);
    SetLimit(RLIMIT_FSIZE, options.output_limit);
    SetLimit(RLIMIT_CORE, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ::setpgid(pid, pid);  // also from here: no race with the child's own call

  int status = 0;
  struct rusage usage {};
  bool timed_out = false;
  int stopped = kStopNone;
  for (;;) {
    // Noticed without reaping: while the exited compiler is a zombie its pid,
    // and so its process group id, cannot be reused, and the group is killed
    // below before wait4 frees them. Killing -pid after reaping could hit an
    // unrelated process group that got the same id meanwhile.
    siginfo_t info{};
    const int waited = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (waited == 0 && info.si_pid == pid) break;
    if (waited < 0 && errno != EINTR)
      return InternalError("waitid: " + std::string(std::strerror(errno)));
    if (!timed_out && std::chrono::steady_clock::now() - start > options.timeout) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    if (stopped == kStopNone && job.stop != nullptr && job.stop->load() != kStopNone) {
      stopped = job.stop->load();
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Whatever the compiler left running in its group goes too; then reap it.
  ::kill(-pid, SIGKILL);
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) return InternalError("waitpid: " + std::string(std::strerror(errno)));
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string tail = Tail(job.log_path, 2000);
  const std::string said = tail.empty() ? "" : "; stderr: " + tail;
  const std::string who = "compiler '" + options.command + "'";
  if (stopped == kStopCancelled) {
    return CancelledError(who + " was killed: the deploy was cancelled");
  }
  if (stopped == kStopDeadline) {
    return DeadlineExceededError(who + " was killed: the deploy's timeout_ms passed");
  }
  if (timed_out) {
    return DeadlineExceededError(who + " ran longer than compile.timeout (" +
                                 std::to_string(options.timeout.count()) + " ms) and was killed" +
                                 said);
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const std::string how =
        who + " was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    // A compiler that handles SIGXCPU is killed at the hard limit instead.
    const double cpu_used =
        static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
        1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    const bool cpu_spent = cpu_used >= std::chrono::duration<double>(options.cpu_limit).count();
    if (sig == SIGXCPU || (sig == SIGKILL && cpu_spent)) {
      return ResourceExhaustedError(how + ": compile.cpu_limit reached" + said);
    }
    if (sig == SIGXFSZ) {
      return ResourceExhaustedError(how + ": compile.output_limit reached" + said);
    }
    return InternalError(how + "; the model was not compiled" + said);
  }
  const int code = WEXITSTATUS(status);
  if (code == 127 && tail.empty()) {
    return FailedPreconditionError(who + " could not be started (exit code 127)");
  }
  if (code != 0) {
    const bool memory =
        tail.find("bad_alloc") != std::string::npos || tail.find("emory") != std::string::npos;
    const std::string how = who + " failed with exit code " + std::to_string(code);
    if (memory) {
      return ResourceExhaustedError(how + " (compile.memory_limit " +
                                    std::to_string(options.memory_limit) + " bytes?)" + said);
    }
    return InvalidArgumentError(how + said);
  }
  return Status::Ok();
}

}  // namespace spk::daemon

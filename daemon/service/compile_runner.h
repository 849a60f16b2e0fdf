// Runs the model compiler as a separate process under resource limits.
//
// The daemon never links LibTorch: a model is compiled by
//   COMMAND MODEL -o OUT.spkimg --chip PROFILE -O<level> --report-json R.json
// in a child process with RLIMIT_AS (compile.memory_limit), RLIMIT_CPU
// (compile.cpu_limit), RLIMIT_FSIZE (compile.output_limit) and a wall-clock
// timeout after which its whole process group is killed. A hostile or huge
// model can crash only that process; the daemon reports how it ended.
//
// Error codes:
//   FAILED_PRECONDITION  the compiler command does not exist or is not
//                        executable (names it)
//   DEADLINE_EXCEEDED    compile.timeout passed (the process was killed)
//   RESOURCE_EXHAUSTED   a limit was hit: CPU (SIGXCPU), output size
//                        (SIGXFSZ), or memory (the compiler said so)
//   INVALID_ARGUMENT     the compiler refused the model (non-zero exit)
//   INTERNAL             the compiler crashed (killed by another signal) or
//                        wrote no output
//   CANCELLED            *job.stop became kStopCancelled (the process was killed)
//   DEADLINE_EXCEEDED    also when *job.stop became kStopDeadline
// Each message carries the exit code or signal and the tail of stderr.
//
// Thread safety: functions are reentrant; concurrent compiles are separate
// processes.
#ifndef SPK_DAEMON_SERVICE_COMPILE_RUNNER_H_
#define SPK_DAEMON_SERVICE_COMPILE_RUNNER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "base/sha256.h"
#include "base/status.h"

namespace spk::daemon {

struct CompileOptions {
  std::string command;  // absolute path of the compiler executable
  uint64_t memory_limit = 6ull << 30;
  std::chrono::milliseconds cpu_limit{600'000};
  uint64_t output_limit = 1ull << 30;
  std::chrono::milliseconds timeout{900'000};
};

// Why a request was asked to stop (request cancellation and timeout_ms).
inline constexpr int kStopNone = 0;
inline constexpr int kStopCancelled = 1;
inline constexpr int kStopDeadline = 2;

struct CompileJob {
  std::string model_path;
  std::string output_path;
  std::string report_path;
  std::string log_path;  // the compiler's stderr and stdout go here
  std::string chip_profile;
  uint32_t opt_level = 2;
  std::string ssa = "auto";  // spk-compile --ssa
  // Polled while the compiler runs; non-zero kills it. Borrowed; may be null.
  const std::atomic<int>* stop = nullptr;
};

// `spk-compile` next to the running executable.
std::string DefaultCompilerCommand();

// Identity of the compiler for cache keys: the SHA-256 of its executable,
// combined with that of the spk-compile-torch beside it when there is one.
// FAILED_PRECONDITION when it is missing or not executable.
StatusOr<std::string> CompilerIdentity(const std::string& command);

// Runs one compile; OK when the process exited 0 (the output is checked by
// the caller). `seconds` receives the wall time.
Status RunCompiler(const CompileOptions& options, const CompileJob& job, double* seconds);

// Lower-case hex SHA-256.
using ::spk::Sha256Hex;  // base/sha256.h

}  // namespace spk::daemon

#endif  // SPK_DAEMON_SERVICE_COMPILE_RUNNER_H_

// Runs a program as a subprocess for the CLI tests: argv, optional stdin
// file, environment added to the parent's; returns its exit status and what
// it wrote to stdout and stderr.
//
// Every run has a deadline after which the program (and its process group)
// is killed, so a hung client fails its test instead of the whole suite
// running into ctest's TIMEOUT.
#ifndef SPK_TESTS_CLI_PROCESS_H_
#define SPK_TESTS_CLI_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace spk::testing {

inline constexpr std::chrono::seconds kProcessTimeout{180};

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed
  bool timed_out = false;
  std::string out;
  std::string err;
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_path = "",
                         const std::map<std::string, std::string>& extra_env = {},
                         std::chrono::milliseconds timeout = kProcessTimeout);

// A program with a pipe on stdin and on stdout, for tests that talk to it
// line by line (stderr goes to a file). The destructor kills it if it still
// runs.
class Subprocess {
 public:
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool started() const { return pid_ > 0; }
  // False when the pipe is closed (the program exited).
  bool Write(const std::string& text);
  void CloseStdin();
  // The next line of stdout without its newline; nullopt at end of file or
  // when `timeout` passes first.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Closes stdin, waits up to `timeout` (then kills) and returns the exit
  // status, the rest of stdout and all of stderr.
  ProcessResult Finish(std::chrono::milliseconds timeout = kProcessTimeout);

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string err_path_;
  std::string buffer_;  // stdout read but not yet returned
};

}  // namespace spk::testing

#endif  // SPK_TESTS_CLI_PROCESS_H_

// Runs a program as a subprocess for the CLI tests: argv, optional stdin
// file, environment added to the parent's; returns its exit status and what
// it wrote to stdout and stderr.
#ifndef SPK_TESTS_CLI_PROCESS_H_
#define SPK_TESTS_CLI_PROCESS_H_

#include <map>
#include <string>
#include <vector>

namespace spk::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_path = "",
                         const std::map<std::string, std::string>& extra_env = {});

}  // namespace spk::testing

#endif  // SPK_TESTS_CLI_PROCESS_H_

// The verbs of spikectl, one file each (version.cc, deploy.cc, ...).
// main.cc parses the global flags and hands a verb its own arguments.
#ifndef SPK_CLI_SPIKECTL_VERBS_H_
#define SPK_CLI_SPIKECTL_VERBS_H_

#include <set>
#include <span>
#include <string>

#include "cli/spikectl/common.h"

namespace spk::spikectl {

struct Verb {
  const char* name;
  const char* summary;  // one line for `spikectl --help`
  const char* usage;    // `spikectl VERB --help`
  std::set<std::string> value_flags;
  std::set<std::string> switch_flags;
  int (*run)(Context& ctx, const Args& args);
};

std::span<const Verb> Verbs();
const Verb* FindVerb(const std::string& name);

// Runs spikectl with `argv` (argv[0] excluded); returns the exit code.
int RunSpikectl(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
                bool tty);

// The spk-compile that `spikectl compile` runs (see compile.cc for the
// order); NOT_FOUND saying where it looked.
StatusOr<std::string> FindCompiler(const std::string& flag);

// Doctor's check of one board of the `boards` response: its health, and
// for a real board its firmware and board protocol against what this
// release's driver accepts. {"check": "board ID", "status": "ok"|"warn"|
// "fail", "detail", "fix"?}; a check that is not ok always has a fix.
nlohmann::json CheckBoard(const nlohmann::json& board);

int RunVersion(Context& ctx, const Args& args);
int RunHealth(Context& ctx, const Args& args);
int RunBoards(Context& ctx, const Args& args);
int RunList(Context& ctx, const Args& args);
int RunDescribe(Context& ctx, const Args& args);
int RunDeploy(Context& ctx, const Args& args);
int RunUndeploy(Context& ctx, const Args& args);
int RunInfer(Context& ctx, const Args& args);
int RunCompile(Context& ctx, const Args& args);
int RunTelemetry(Context& ctx, const Args& args);
int RunMeasure(Context& ctx, const Args& args);
int RunDoctor(Context& ctx, const Args& args);
int RunStream(Context& ctx, const Args& args);

}  // namespace spk::spikectl

#endif  // SPK_CLI_SPIKECTL_VERBS_H_

// spikectl compile: compiles a model offline by running spk-compile, the
// same compiler the daemon runs for each deploy, so spikectl itself never
// links LibTorch. Diagnostics and progress come from spk-compile on stderr.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

bool Executable(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

// The compiler to run, first that exists: --compiler, $SPIKED_COMPILE_COMMAND
// (the daemon's own setting), spk-compile beside this binary (the install
// layout), the build tree's compiler/driver/spk-compile, then $PATH.
StatusOr<std::string> FindCompiler(const std::string& flag) {
  if (!flag.empty()) {
    if (!Executable(flag)) return NotFoundError("compiler " + flag + " is not an executable file");
    return flag;
  }
  if (const char* env = std::getenv("SPIKED_COMPILE_COMMAND"); env != nullptr && *env != '\0') {
    if (!Executable(env)) {
      return NotFoundError(std::string("$SPIKED_COMPILE_COMMAND (") + env +
                           ") is not an executable file");
    }
    return std::string(env);
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path dir = self.parent_path();
    for (const auto& candidate : {dir / "spk-compile", dir / "../compiler/driver/spk-compile",
                                  dir / "../libexec/spiked/spk-compile"}) {
      if (Executable(candidate)) return candidate.lexically_normal().string();
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string d;
    while (std::getline(dirs, d, ':')) {
      if (!d.empty() && Executable(std::filesystem::path(d) / "spk-compile")) {
        return (std::filesystem::path(d) / "spk-compile").string();
      }
    }
  }
  return NotFoundError(
      "spk-compile not found beside spikectl, in the build tree or on $PATH; install it or "
      "pass --compiler PATH");
}

int RunCompile(Context& ctx, const Args& args) {
  if (args.positional.size() != 1) return UsageError(ctx, "compile", "needs one MODEL file");
  const std::string output = args.Value("o").value_or(args.Value("output").value_or(""));
  if (output.empty()) return UsageError(ctx, "compile", "needs -o OUT.spkimg");
  // As deploy: a missing model is NOT_FOUND (exit 4), not spk-compile's
  // usage error.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(args.positional[0], ec)) {
    return Fail(ctx, "compile",
                NotFoundError("model file " + args.positional[0] + " does not exist"));
  }
  auto compiler = FindCompiler(args.Value("compiler").value_or(""));
  if (!compiler.ok()) return Fail(ctx, "compile", compiler.status());

  const std::string model = std::filesystem::absolute(args.positional[0], ec).string();
  const std::string out_path = std::filesystem::absolute(output, ec).string();
  char report_template[] = "/tmp/spikectl-report-XXXXXX";
  const int report_fd = ::mkstemp(report_template);
  if (report_fd < 0) return Fail(ctx, "compile", InternalError("cannot create a temporary file"));
  ::close(report_fd);
  const std::string report_path = report_template;

  std::vector<std::string> argv = {*compiler, model, "-o", out_path, "--report-json", report_path};
  for (const char* flag : {"chip", "board", "max-cores", "ssa", "input-shape", "timesteps"}) {
    if (auto v = args.Value(flag)) {
      argv.push_back(std::string("--") + flag);
      argv.push_back(*v);
    }
  }
  if (auto o = args.Value("O") ? args.Value("O") : args.Value("opt-level"))
    argv.push_back("-O" + *o);
  if (args.Has("report")) argv.push_back("--report");
  argv.push_back(ctx.tty && !ctx.json ? "--progress" : "--no-progress");

  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::cout.flush();
  const pid_t pid = ::fork();
  if (pid < 0) return Fail(ctx, "compile", InternalError("fork failed"));
  if (pid == 0) {
    // With --json, stdout carries only our JSON: the report text goes to stderr.
    if (ctx.json) ::dup2(2, 1);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  nlohmann::json report;
  {
    std::ifstream in(report_path);
    std::stringstream text;
    text << in.rdbuf();
    report = nlohmann::json::parse(text.str(), nullptr, false);
    if (report.is_discarded()) report = nullptr;
  }
  std::filesystem::remove(report_path, ec);
  if (rc != 0) {
    const int code = rc == 2 ? kExitUsage : kExitFailed;
    Status why =
        rc == 1   ? InvalidArgumentError(model + " cannot be compiled (see the diagnostics above)")
        : rc == 2 ? InvalidArgumentError("spk-compile refused the arguments or files (see above)")
                  : InternalError("spk-compile failed with status " + std::to_string(rc));
    return Fail(ctx, "compile", why, nullptr, code);
  }
  if (ctx.json) {
    PrintJson(*ctx.out, {{"model", model},
                         {"output", out_path},
                         {"output_bytes", std::filesystem::file_size(out_path, ec)},
                         {"compiler", *compiler},
                         {"report", report}});
    return kExitOk;
  }
  *ctx.out << "wrote " << output << " (" << std::filesystem::file_size(out_path, ec) << " bytes)\n";
  return kExitOk;
}

}  // namespace spk::spikectl

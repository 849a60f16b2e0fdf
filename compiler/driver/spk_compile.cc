// spk-compile: model -> board image. The daemon runs it as a subprocess so
// LibTorch never enters the daemon's address space. Usage and exit codes:
// cli.h.
//
// Two executables are built from this file. `spk-compile` never links
// LibTorch: loading it costs seconds, more than a whole cache hit, so this
// binary answers cache hits and compiles IR text itself, and only when it
// has to import a TorchScript archive does it exec `spk-compile-torch` (the
// same program with the frontend, found next to it) with the same
// arguments plus the cache key it computed.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "compiler/driver/cli.h"

#ifdef SPK_WITH_TORCH
#include "compiler/frontend/importer.h"
#endif

namespace {

#if !defined(SPK_WITH_TORCH) && defined(SPK_TORCH_STAGE)
// Replaces this process with the LibTorch stage; returns only on failure.
spk::Status ExecTorchStage(const std::vector<std::string>& args, const std::string& cache_key) {
  const std::string helper = spk::compiler::driver::SiblingExecutable(SPK_TORCH_STAGE);
  if (helper.empty() || ::access(helper.c_str(), X_OK) != 0) {
    return spk::UnimplementedError("reading TorchScript needs " + std::string(SPK_TORCH_STAGE) +
                                   " next to spk-compile, and it is missing");
  }
  std::vector<std::string> argv_text = {helper};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  if (!cache_key.empty()) {
    argv_text.push_back("--cache-key");
    argv_text.push_back(cache_key);
  }
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  ::execv(helper.c_str(), argv.data());
  return spk::InternalError("cannot run " + helper + ": " + std::strerror(errno));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  spk::compiler::driver::Importer importer;
#ifdef SPK_WITH_TORCH
  importer = [](const spk::compiler::driver::ImportRequest& request,
                spk::compiler::ir::DiagnosticEngine& diags)
      -> spk::StatusOr<std::unique_ptr<spk::compiler::ir::Module>> {
    spk::compiler::frontend::ImportOptions options;
    options.input_shape = request.input_shape;
    options.timesteps = request.timesteps;
    SPK_ASSIGN_OR_RETURN(auto result, spk::compiler::frontend::ImportTorchScript(
                                          request.bytes, request.source_name, options, diags));
    return std::move(result.module);
  };
#elif defined(SPK_TORCH_STAGE)
  importer = [&args](const spk::compiler::driver::ImportRequest& request,
                     spk::compiler::ir::DiagnosticEngine&)
      -> spk::StatusOr<std::unique_ptr<spk::compiler::ir::Module>> {
    return ExecTorchStage(args, request.cache_key);
  };
#endif
  return spk::compiler::driver::RunCompileCli(args, importer, std::cout, std::cerr,
                                              isatty(STDERR_FILENO) != 0);
}

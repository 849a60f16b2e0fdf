// spk-compile: model -> board image. The only binary besides tests that
// links the LibTorch frontend; the daemon runs it as a subprocess so LibTorch
// never enters the daemon's address space. Usage and exit codes: cli.h.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "compiler/driver/cli.h"

#ifdef SPK_WITH_TORCH
#include "compiler/frontend/importer.h"
#endif

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
#endif
  return spk::compiler::driver::RunCompileCli(args, importer, std::cout, std::cerr,
                                              isatty(STDERR_FILENO) != 0);
}

// spk-compile's command line, as a library so tests run exactly what the
// binary runs (without LibTorch: they feed spike IR text).
//
//   spk-compile MODEL -o OUT.spkimg [--chip loihi2] [--board NAME] [--max-cores N]
//               [-O0..3] [--input-shape 1,1,8,8] [--timesteps T] [--report]
//               [--report-json FILE] [--emit-ir input|optimized] [--progress|--no-progress]
//
// Exit codes: 0 success, 1 the model cannot be compiled (diagnostics say
// why), 2 bad usage or unreadable/unwritable files or unknown profiles, 3 an
// internal error.
//
// Thread safety: RunCompileCli is reentrant.
#ifndef SPK_COMPILER_DRIVER_CLI_H_
#define SPK_COMPILER_DRIVER_CLI_H_

#include <ostream>
#include <span>
#include <string>

#include "compiler/driver/driver.h"

namespace spk::compiler::driver {

std::string CompileUsage();

// `args` excludes argv[0]. `progress`: print stage lines to `err` (the
// binary passes isatty(2)).
int RunCompileCli(std::span<const std::string> args, const Importer& importer, std::ostream& out,
                  std::ostream& err, bool progress);

}  // namespace spk::compiler::driver

#endif  // SPK_COMPILER_DRIVER_CLI_H_

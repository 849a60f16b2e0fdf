// The spk-opt driver as a library: argument parsing and one run over IR
// text. spk_opt.cc is a thin main around it, and the golden tests call it
// in-process with the arguments from each test file's RUN line.
#ifndef SPK_COMPILER_TOOLS_OPT_DRIVER_H_
#define SPK_COMPILER_TOOLS_OPT_DRIVER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compiler/ir/diagnostics.h"

namespace spk::compiler::tools {

struct OptOptions {
  std::string input;                // path, or "-" for stdin
  std::string output = "-";         // path, or "-" for stdout
  int opt_level = -1;               // -O<n>; -1: none
  std::vector<std::string> passes;  // --passes=a,b (after the -O pipeline)
  int verify_each = -1;             // -1: the build's default; 0/1: asked
  bool list_passes = false;
  bool list_ops = false;
  bool print_after_each = false;  // IR after every pass, to stderr
  int64_t elide_constants_over = -1;
  bool help = false;
  // --ssa=auto|host|chip: lower-attention's choice for spike matmuls.
  std::string ssa;
  // The target the passes weigh choices against (profiles by name, as
  // spk-compile's); empty chip: none.
  std::string chip;
  std::string board;
  uint32_t max_cores = 0;
};

// Usage text for --help.
std::string OptUsage();

// Parses the arguments after the program name. INVALID_ARGUMENT names the
// bad argument.
StatusOr<OptOptions> ParseOptArgs(std::span<const std::string> args);

// Parses `text`, runs the pipeline and prints the result into `output`.
// Diagnostics (errors, remarks) go to `diags`; `log` receives
// --print-after-each output. INVALID_ARGUMENT for bad IR, an unknown pass
// or a pass failure; INTERNAL when a pass leaves invalid IR.
Status RunOpt(const OptOptions& options, std::string_view text, std::string_view source_name,
              ir::DiagnosticEngine& diags, std::string* output, std::string* log = nullptr);

// The text of --list-passes / --list-ops.
std::string ListPasses();
std::string ListOps();

}  // namespace spk::compiler::tools

#endif  // SPK_COMPILER_TOOLS_OPT_DRIVER_H_

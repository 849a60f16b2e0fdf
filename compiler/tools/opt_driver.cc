#include "compiler/tools/opt_driver.h"

#include <charconv>
#include <cstdint>

#include "compiler/codegen/codegen.h"
#include "compiler/ir/op_registry.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/lowering/lowering.h"
#include "compiler/passes/pass_manager.h"
#include "compiler/passes/pass_registry.h"
#include "hal/format/chip_profile.h"

namespace spk::compiler::tools {
namespace {

constexpr int64_t kDefaultElide = 16;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

StatusOr<int64_t> ParseCount(std::string_view text, std::string_view flag) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return InvalidArgumentError(std::string(flag) + " needs a count >= 0, got '" +
                                std::string(text) + "'");
  }
  return v;
}

const passes::PassRegistry& Passes() {
  static const passes::PassRegistry* registry = [] {
    auto* r = new passes::PassRegistry();
    passes::RegisterBuiltinPasses(*r);
    lowering::RegisterLoweringPasses(*r);
    return r;
  }();
  return *registry;
}

}  // namespace

std::string OptUsage() {
  return "usage: spk-opt INPUT.spkir [--passes=a,b,...] [-O0|-O1|-O2|-O3] [-o OUTPUT]\n"
         "               [--verify-each|--no-verify-each] [--print-after-each]\n"
         "               [--elide-constants[=N]] [--ssa=auto|host|chip]\n"
         "               [--chip=NAME [--board=NAME] [--max-cores=N]]\n"
         "       spk-opt --list-passes | --list-ops | --help\n"
         "\n"
         "Reads spike IR text (INPUT '-' is stdin), runs the -O pipeline and then the\n"
         "named passes, and prints the resulting IR (to OUTPUT, default stdout).\n"
         "Diagnostics go to stderr. Exit status: 0 success, 1 invalid IR or a pass\n"
         "failed, 2 bad usage or unreadable files.\n"
         "\n"
         "  --passes=LIST        comma-separated pass names (see --list-passes)\n"
         "  -O<n>                the optimisation pipeline of level n (0..3)\n"
         "  --verify-each        verify the IR after every pass (default in debug builds)\n"
         "  --print-after-each   print the IR after every pass to stderr\n"
         "  --elide-constants=N  print constants with more than N values (default 16)\n"
         "                       as <elided>; for reading only, such output is not parseable\n"
         "  --ssa=MODE           spike matmuls (Spikformer SSA): auto (default: on the chip\n"
         "                       when the AND expansion fits the target), host or chip\n"
         "  --chip=NAME          the target's chip profile (with --board, --max-cores as\n"
         "                       spk-compile's); without it the target is unknown\n";
}

StatusOr<OptOptions> ParseOptArgs(std::span<const std::string> args) {
  OptOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--list-passes") {
      options.list_passes = true;
    } else if (arg == "--list-ops") {
      options.list_ops = true;
    } else if (arg == "--verify-each") {
      options.verify_each = 1;
    } else if (arg == "--no-verify-each") {
      options.verify_each = 0;
    } else if (arg == "--print-after-each") {
      options.print_after_each = true;
    } else if (arg == "--elide-constants") {
      options.elide_constants_over = kDefaultElide;
    } else if (StartsWith(arg, "--elide-constants=")) {
      SPK_ASSIGN_OR_RETURN(options.elide_constants_over,
                           ParseCount(arg.substr(18), "--elide-constants"));
    } else if (StartsWith(arg, "--ssa=")) {
      options.ssa = std::string(arg.substr(6));
      if (options.ssa != "auto" && options.ssa != "host" && options.ssa != "chip") {
        return InvalidArgumentError("--ssa must be auto, host or chip, got '" + options.ssa + "'");
      }
    } else if (StartsWith(arg, "--chip=")) {
      options.chip = std::string(arg.substr(7));
    } else if (StartsWith(arg, "--board=")) {
      options.board = std::string(arg.substr(8));
    } else if (StartsWith(arg, "--max-cores=")) {
      SPK_ASSIGN_OR_RETURN(int64_t n, ParseCount(arg.substr(12), "--max-cores"));
      if (n > UINT32_MAX) return InvalidArgumentError("--max-cores is too large");
      options.max_cores = static_cast<uint32_t>(n);
    } else if (StartsWith(arg, "--passes=")) {
      std::string_view list = arg.substr(9);
      if (list.empty()) return InvalidArgumentError("--passes= needs at least one pass name");
      options.passes.emplace_back(list);
    } else if (arg.size() == 3 && StartsWith(arg, "-O") && arg[2] >= '0' && arg[2] <= '9') {
      options.opt_level = arg[2] - '0';
      if (options.opt_level > passes::kMaxOptLevel) {
        return InvalidArgumentError("unknown optimisation level " + std::string(arg) +
                                    " (use -O0 to -O" + std::to_string(passes::kMaxOptLevel) + ")");
      }
    } else if (arg == "-o" || arg == "--output") {
      if (i + 1 >= args.size()) return InvalidArgumentError(std::string(arg) + " needs a file");
      options.output = args[++i];
    } else if (StartsWith(arg, "--output=")) {
      options.output = std::string(arg.substr(9));
    } else if (arg != "-" && StartsWith(arg, "-")) {
      return InvalidArgumentError("unknown option '" + std::string(arg) + "' (see --help)");
    } else if (!options.input.empty()) {
      return InvalidArgumentError("more than one input file: '" + options.input + "' and '" +
                                  std::string(arg) + "'");
    } else {
      options.input = std::string(arg);
    }
  }
  if (options.chip.empty() && (!options.board.empty() || options.max_cores != 0)) {
    return InvalidArgumentError("--board and --max-cores need --chip");
  }
  if (options.input.empty() && !options.help && !options.list_passes && !options.list_ops) {
    return InvalidArgumentError("no input file (see --help)");
  }
  return options;
}

std::string ListPasses() {
  std::string out;
  for (const passes::PassInfo* info : Passes().List()) {
    std::string name = info->name;
    name.resize(std::max<size_t>(name.size() + 2, 20), ' ');
    out += "  " + name + info->summary + "\n";
  }
  for (int level = 0; level <= passes::kMaxOptLevel; ++level) {
    auto names = Passes().PipelineForLevel(level);
    out += "-O" + std::to_string(level) + ":";
    for (const std::string& n : *names) out += " " + n;
    out += "\n";
  }
  return out;
}

std::string ListOps() {
  std::string out;
  for (const ir::OpDef* def : ir::DefaultOpRegistry().List()) {
    std::string name = def->name;
    name.resize(std::max<size_t>(name.size() + 2, 14), ' ');
    out += "  " + name + def->summary + "\n";
  }
  return out;
}

Status RunOpt(const OptOptions& options, std::string_view text, std::string_view source_name,
              ir::DiagnosticEngine& diags, std::string* output, std::string* log) {
  passes::PassManager pm(Passes());
  if (options.opt_level >= 0) SPK_RETURN_IF_ERROR(pm.AddOptLevel(options.opt_level));
  for (const std::string& list : options.passes) SPK_RETURN_IF_ERROR(pm.AddPipeline(list));
  if (options.verify_each >= 0) pm.set_verify_each(options.verify_each == 1);
  if (!options.ssa.empty()) pm.set_option("lower-attention.ssa", options.ssa);
  if (!options.chip.empty()) {
    SPK_ASSIGN_OR_RETURN(hal::format::ChipProfile chip, hal::format::LoadChipProfile(options.chip));
    hal::format::BoardProfile board;
    if (options.board.empty()) {
      board.name = chip.name + "-single";
      board.chip = chip.name;
      board.chips = board.chips_x = board.chips_y = 1;
    } else {
      SPK_ASSIGN_OR_RETURN(board, hal::format::LoadBoardProfile(options.board));
    }
    pm.set_target(codegen::TargetInfoFor(chip, board, options.max_cores));
  }
  ir::PrintOptions print_options;
  print_options.elide_constants_over = options.elide_constants_over;
  if (options.print_after_each && log != nullptr) {
    pm.set_after_pass_hook([log, &print_options](const passes::Pass& pass, const ir::Module& m) {
      *log += "// ----- IR after " + std::string(pass.name()) + " -----\n";
      *log += ir::PrintModule(m, print_options);
    });
  }
  SPK_ASSIGN_OR_RETURN(std::unique_ptr<ir::Module> module,
                       ir::ParseModule(text, source_name, diags));
  SPK_RETURN_IF_ERROR(pm.Run(*module, diags));
  *output = ir::PrintModule(*module, print_options);
  return Status::Ok();
}

}  // namespace spk::compiler::tools

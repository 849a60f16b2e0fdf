#include "compiler/driver/driver.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/sha256.h"
#include "compiler/driver/report.h"
#include "compiler/ir/attributes.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/lowering/lowering.h"
#include "compiler/passes/pass_manager.h"
#include "compiler/passes/pass_registry.h"
#include "hal/format/chip_profile.h"

namespace spk::compiler::driver {
namespace {

// The output ops of CompileOptions::probe_neurons, after the lowering (so
// that they read the chip's groups, not the frontend's neurons).
void AddNeuronProbes(ir::Module& module) {
  std::set<std::string> names;
  std::vector<std::pair<std::string, ir::Operation*>> neurons;
  std::vector<std::pair<std::string, ir::Operation*>> reordered;
  for (const auto& op : module.ops()) {
    if (op->name() == "output") {
      if (const std::string* name = op->attrs().GetString("name")) names.insert(*name);
    }
    // Where lowering laid a neuron's group out in another order than the
    // source model's, it marks the layout op restoring that order.
    const std::string* path = op->attrs().GetString("probe.neuron");
    if (path != nullptr && lowering::IsLayoutOp(*op)) reordered.emplace_back(*path, op.get());
    if (op->name() == "cuba_lif" && !op->loc().module_path.empty()) {
      neurons.emplace_back(op->loc().module_path, op.get());
    }
  }
  reordered.insert(reordered.end(), neurons.begin(), neurons.end());
  for (const auto& [path, op] : reordered) {
    const std::string name = "probe:" + path;
    if (!names.insert(name).second) continue;  // one probe per module
    ir::Value* value = op->result(0);
    module.CreateOp("output", std::span<ir::Value* const>(&value, 1), {},
                    ir::MakeAttrs({{"name", ir::Attribute::String(name)}}), op->loc());
  }
}

const passes::PassRegistry& Registry() {
  // Built once; registration is explicit, never from static initialisers.
  static const passes::PassRegistry* registry = [] {
    auto* r = new passes::PassRegistry();
    passes::RegisterBuiltinPasses(*r);
    lowering::RegisterLoweringPasses(*r);
    return r;
  }();
  return *registry;
}

}  // namespace

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnimplemented:
      return kExitModelError;
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kPermissionDenied:
      return kExitUsage;
    default:
      return kExitInternal;
  }
}

std::string SiblingExecutable(const std::string& name) {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  const std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/') + 1) + name;
}

Status CheckSsaMode(std::string_view mode) {
  if (mode == "auto" || mode == "host" || mode == "chip") return Status::Ok();
  return InvalidArgumentError("ssa must be auto, host or chip, got '" + std::string(mode) + "'");
}

bool IsTorchScriptArchive(std::span<const uint8_t> bytes) {
  return bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4;
}

// The pipeline and codegen on an imported module, with `ssa` as the
// attention option. `retry`: whether an SSA expanded on the chip and the
// plan then failed (so the host might map it).
template <typename Say, typename Mark>
Status Lower(std::unique_ptr<ir::Module> module, const CompileOptions& options,
             const std::string& ssa, const hal::format::ChipProfile& chip,
             const hal::format::BoardProfile& board, std::span<const uint8_t> bytes,
             const std::string& source_name, ir::DiagnosticEngine& diags, Say& say, Mark& mark,
             std::chrono::steady_clock::time_point& last, CompileOutput& out, bool* retry) {
  say("running -O" + std::to_string(options.opt_level) + " pipeline");
  passes::PassManager pm(Registry());
  SPK_RETURN_IF_ERROR(pm.AddOptLevel(options.opt_level));
  pm.set_option("lower-attention.ssa", ssa);
  pm.set_target(codegen::TargetInfoFor(chip, board, options.max_cores));
  pm.set_after_pass_hook([&](const passes::Pass& pass, const ir::Module&) {
    mark("pass " + std::string(pass.name()));
  });
  last = std::chrono::steady_clock::now();
  SPK_RETURN_IF_ERROR(pm.Run(*module, diags));
  if (options.emit_ir == "optimized" || options.emit_ir == "lowered") {
    out.emitted_ir = ir::PrintModule(*module);
  }

  if (options.probe_neurons) AddNeuronProbes(*module);
  const bool expanded = std::any_of(module->ops().begin(), module->ops().end(), [](const auto& op) {
    return op->name() == "and2" && op->attrs().GetString("attn.ssa") != nullptr;
  });

  say("partitioning and generating the board image");
  codegen::CodegenOptions cg;
  cg.chip = chip;
  cg.board = board;
  cg.max_cores = options.max_cores;
  cg.model_sha256 = spk::Sha256Hex(bytes);
  if (module->name().empty()) {
    // The file's stem names the model when the module has no name.
    std::string stem = source_name.substr(source_name.find_last_of('/') + 1);
    cg.model_name = stem.substr(0, stem.find('.'));
  }
  auto generated = codegen::GenerateBoardImage(*module, cg, diags);
  mark("partition + codegen");
  if (!generated.ok()) {
    // Codegen's plan and limit checks fail as "mapping: ...".
    *retry = expanded && generated.status().message().starts_with("mapping");
    return generated.status();
  }
  out.codegen = std::move(generated).value();
  out.report_text = ReportText(out.codegen, out.codegen.image, chip, options.assumed_activity);
  out.report_json = ReportJson(out.codegen, out.codegen.image, chip, options.assumed_activity);
  mark("report");
  out.image = std::move(out.codegen.image);
  return Status::Ok();
}

StatusOr<CompileOutput> CompileModel(std::span<const uint8_t> bytes, const std::string& source_name,
                                     const CompileOptions& options, const Importer& importer,
                                     ir::DiagnosticEngine& diags,
                                     const std::function<void(const std::string&)>& progress,
                                     std::vector<StageTime>* timings, std::string* failed_ir) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  if (Status s = CheckSsaMode(options.ssa); !s.ok()) {
    return FailedPreconditionError(std::string(s.message()));
  }
  // Profiles first: a typo in --chip should not cost a model import.
  auto chip = hal::format::LoadChipProfile(options.chip);
  if (!chip.ok()) {
    return Status(chip.status().code() == StatusCode::kNotFound ? StatusCode::kNotFound
                                                                : StatusCode::kFailedPrecondition,
                  "chip profile '" + options.chip + "': " + std::string(chip.status().message()));
  }
  hal::format::BoardProfile board;
  if (options.board.empty()) {
    board.name = chip->name + "-single";
    board.chip = chip->name;
    board.chips = board.chips_x = board.chips_y = 1;
  } else {
    auto loaded = hal::format::LoadBoardProfile(options.board);
    if (!loaded.ok()) {
      return NotFoundError("board profile '" + options.board +
                           "': " + std::string(loaded.status().message()));
    }
    board = *loaded;
    if (board.chip != chip->name) {
      return FailedPreconditionError("board '" + board.name + "' carries " + board.chip +
                                     " chips, not " + chip->name);
    }
  }

  // Each mark closes the stage that ran since the previous one.
  auto last = std::chrono::steady_clock::now();
  auto mark = [&](std::string stage) {
    const auto now = std::chrono::steady_clock::now();
    if (timings) {
      timings->push_back({std::move(stage), std::chrono::duration<double>(now - last).count()});
    }
    last = now;
  };

  // The module, imported or parsed; a second try (below) loads it again
  // rather than keeping a printed copy of millions of weights on every compile.
  const bool torchscript = IsTorchScriptArchive(bytes);
  if (torchscript && !importer) {
    return UnimplementedError(
        "this spk-compile was built without LibTorch (SPK_WITH_TORCH=OFF); it reads spike IR "
        "text only");
  }
  auto load = [&](ir::DiagnosticEngine& into) -> StatusOr<std::unique_ptr<ir::Module>> {
    if (torchscript) {
      ImportRequest request{bytes, source_name, options.input_shape, options.timesteps,
                            options.cache_key};
      return importer(request, into);
    }
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    SPK_ASSIGN_OR_RETURN(auto parsed, ir::ParseModule(text, source_name, into));
    if (options.timesteps)
      parsed->mutable_attrs().Set("timesteps", ir::Attribute::Int(*options.timesteps));
    return parsed;
  };
  say((torchscript ? "importing TorchScript " : "parsing IR ") + source_name);
  auto loaded = load(diags);
  mark(torchscript ? "import" : "parse");
  if (!loaded.ok()) return loaded.status();
  std::unique_ptr<ir::Module> module = std::move(loaded).value();

  CompileOutput out;
  if (options.emit_ir == "input") out.emitted_ir = ir::PrintModule(*module);
  // Under --ssa=auto an attention expanded on the chip by estimate may still
  // not map; then the model is compiled again with it on the host. The first
  // try reports into its own engine, so a failed one leaves no errors.
  const bool may_fall_back =
      options.ssa == "auto" && std::any_of(module->ops().begin(), module->ops().end(),
                                           [](const auto& op) { return op->name() == "matmul"; });
  ir::DiagnosticEngine trial;
  bool retry = false;
  Status lowered = Lower(std::move(module), options, options.ssa, *chip, board, bytes, source_name,
                         may_fall_back ? trial : diags, say, mark, last, out, &retry);
  if (may_fall_back) {
    if (!retry) {
      for (const auto& d : trial.diagnostics()) diags.Emit(d.severity, d.loc, d.message);
    } else {
      std::string first;
      for (const auto& d : trial.diagnostics()) {
        if (d.severity == ir::Severity::kError) {
          first = d.message;
          break;
        }
      }
      ir::DiagnosticEngine again;  // the first load's diagnostics are already out
      SPK_ASSIGN_OR_RETURN(module, load(again));
      diags.Warning(ir::Location{source_name, 0, 0, "", ""},
                    "the on-chip SSA expansion did not map (" + first +
                        "); spike matmuls run on the host (--ssa=auto falls back; --ssa=chip "
                        "reports every violation)");
      say("the SSA expansion did not map; compiling again with it on the host");
      lowered = Lower(std::move(module), options, "host", *chip, board, bytes, source_name, diags,
                      say, mark, last, out, &retry);
    }
  }
  if (!lowered.ok()) {
    if (failed_ir) *failed_ir = std::move(out.emitted_ir);
    return lowered;
  }
  say("done: " + std::to_string(out.image.groups.size()) + " groups on " +
      std::to_string(out.image.cores.size()) + " cores");
  return out;
}

}  // namespace spk::compiler::driver

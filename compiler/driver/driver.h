// The compile pipeline as a library: model file -> board image.
//
// Reads a TorchScript archive (through an importer the caller supplies, so
// that only the spk-compile binary links LibTorch) or spike IR text
// (frontend or already lowered), runs the -O pipeline with the lowering
// passes, partitions and generates the board image, and builds the compile
// report. Every problem in the model is a diagnostic with its source
// location; the returned Status classifies the failure for exit codes:
//
//   INVALID_ARGUMENT, UNIMPLEMENTED  the model cannot be compiled (exit 1)
//   NOT_FOUND, FAILED_PRECONDITION   bad options or unreadable input (exit 2)
//   anything else                    an internal error (exit 3)
//
// Thread safety: CompileModel is reentrant; one DiagnosticEngine per call.
#ifndef SPK_COMPILER_DRIVER_DRIVER_H_
#define SPK_COMPILER_DRIVER_DRIVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compiler/codegen/codegen.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/module.h"
#include "hal/format/board_image.h"

namespace spk::compiler::driver {

// Exit codes of spk-compile (documented in docs/compiler.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitModelError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInternal = 3;
int ExitCodeFor(const Status& status);

struct ImportRequest {
  std::span<const uint8_t> bytes;
  std::string source_name;
  std::vector<int64_t> input_shape;  // empty: from the model
  std::optional<int64_t> timesteps;
  std::string cache_key;  // the artifact cache key of this compile, when cached
};
// TorchScript importer (the frontend); UNIMPLEMENTED when not built in.
using Importer = std::function<StatusOr<std::unique_ptr<ir::Module>>(const ImportRequest&,
                                                                     ir::DiagnosticEngine&)>;

struct CompileOptions {
  std::string chip = "loihi2";
  std::string board;       // empty: one chip of `chip`
  uint32_t max_cores = 0;  // 0: the whole board
  int opt_level = 2;
  std::vector<int64_t> input_shape;
  std::optional<int64_t> timesteps;
  // Print the IR after a stage: "input", "optimized" (after passes).
  std::string emit_ir;
  double assumed_activity = 0.1;  // spike rate the report's estimates assume
  std::string cache_key;          // passed on to the importer
  // Also read back every LIF/IF layer's spikes: each `cuba_lif` with a
  // module path becomes a model output "probe:<module path>" (timed, like
  // any chip output), so a run can be compared with the source model layer
  // by layer. Costs output bandwidth; for debugging and agreement tests.
  bool probe_neurons = false;
  // Spike matmuls (Spikformer SSA): "auto" expands them into and2 layers on
  // the chip when the expansion fits the board (or max_cores of it), else
  // runs them on the host; "host" and "chip" force either (chip fails when it
  // does not fit). docs/lowering.md#attention.
  std::string ssa = "auto";
};

// INVALID_ARGUMENT unless `mode` is auto, host or chip.
Status CheckSsaMode(std::string_view mode);

// Wall time of one stage of CompileModel ("import", a pass name, "codegen").
struct StageTime {
  std::string stage;
  double seconds = 0;
};

struct CompileOutput {
  hal::format::BoardImage image;
  codegen::CodegenResult codegen;  // image moved out; layers, plan, usage remain
  std::string emitted_ir;          // when emit_ir was set
  std::string report_text;
  std::string report_json;
};

// The path of `name` in the directory of the running executable; empty when
// /proc/self/exe cannot be read.
std::string SiblingExecutable(const std::string& name);

// True when `bytes` look like a TorchScript archive (a zip file).
bool IsTorchScriptArchive(std::span<const uint8_t> bytes);

// Compiles model bytes. `progress` (may be null) gets one short line per
// stage; `timings` (may be null) gets the wall time of every stage that ran,
// also when a later one fails; `failed_ir` (may be null) gets the IR that
// options.emit_ir asked for when a later stage fails (say, the mapping), so a
// user can see what did not map.
StatusOr<CompileOutput> CompileModel(std::span<const uint8_t> bytes, const std::string& source_name,
                                     const CompileOptions& options, const Importer& importer,
                                     ir::DiagnosticEngine& diags,
                                     const std::function<void(const std::string&)>& progress = {},
                                     std::vector<StageTime>* timings = nullptr,
                                     std::string* failed_ir = nullptr);

}  // namespace spk::compiler::driver

#endif  // SPK_COMPILER_DRIVER_DRIVER_H_

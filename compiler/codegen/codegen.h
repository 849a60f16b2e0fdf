// Codegen: lowered spike IR -> board image (hal/format/board_image.h).
//
// Neuron ops (cuba_lif, accumulate, and2, relay) become neuron groups after
// partitioning (compiler/partition); syn ops become synapse tables between
// those groups. Layout ops (reshape, flatten, permute, transpose, repeat_t)
// between a neuron and a synapse compose into an index map: a table is dense
// when the map is the identity (weights transposed to fan-out order), a
// shared-weight conv2d table when the source is a plain CHW map split by whole
// channels, and sparse CSR otherwise. `input` ops become input ports, `output`
// ops and every chip value a host op reads become output ports whose delay is
// the value's synaptic depth, `host` ops become host segments, and host values
// that feed synapses become graded input ports the executor feeds back.
//
// The result is deterministic (same module and options, same image) and has
// passed hal/format's validator and the chip's per-core limits. Problems in
// the model are diagnostics at the op at fault, all of them.
//
// Thread safety: pure function.
#ifndef SPK_COMPILER_CODEGEN_CODEGEN_H_
#define SPK_COMPILER_CODEGEN_CODEGEN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/location.h"
#include "compiler/ir/module.h"
#include "compiler/partition/partition.h"
#include "compiler/passes/pass.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"
#include "hal/format/core_usage.h"

namespace spk::compiler::codegen {

// Written into every image's meta; part of the artifact cache key.
inline constexpr char kCompilerVersion[] = "spiked-compiler 0.1.0";

struct CodegenOptions {
  hal::format::ChipProfile chip;
  hal::format::BoardProfile board;
  uint32_t max_cores = 0;    // 0 = the whole board
  uint32_t timesteps = 0;    // 0 = the module's `timesteps`
  std::string model_name;    // empty = the module's name
  std::string model_sha256;  // of the source model bytes; may be empty
  std::string compiler_version = kCompilerVersion;
};

// What became of one layer, for the compile report.
struct LayerInfo {
  std::string name;
  std::string op;  // "cuba_lif", "host:linear", ...
  ir::Location loc;
  bool on_host = false;
  uint32_t neurons = 0;
  uint64_t synapses = 0;         // weights stored in tables into the layer
  uint64_t synapse_bits = 0;     // synapse memory they take
  std::vector<uint32_t> cores;   // logical cores holding its groups
  std::vector<uint32_t> groups;  // group ids
  uint32_t depth = 0;            // synaptic depth of its output
  double fan_in = 0;             // mean synapses per neuron
  // Weight quantization error annotated by lowering (`quant.error` on the
  // neuron op); negative when unknown.
  double quant_error = -1;
  // The attention (its neuron's module path) whose spike matmuls this layer
  // computes, from lower-attention's `attn.ssa`: and2 layers on the chip or
  // host segments. Empty for the rest.
  std::string attention;
};

struct CodegenResult {
  hal::format::BoardImage image;
  std::vector<LayerInfo> layers;
  partition::Plan plan;
  std::vector<hal::format::CoreUsage> usage;  // per logical core
};

// The capacity of `board` (or of `max_cores` of it, when non-zero) as the
// lowering passes see it (passes::TargetInfo).
passes::TargetInfo TargetInfoFor(const hal::format::ChipProfile& chip,
                                 const hal::format::BoardProfile& board, uint32_t max_cores);

// INVALID_ARGUMENT when the model cannot be mapped (diagnostics list every
// problem: unsupported ops, every violated per-core limit); UNIMPLEMENTED for
// lowered constructs the image cannot express yet (a synapse `delay`);
// INTERNAL when codegen produced an image the validator rejects.
StatusOr<CodegenResult> GenerateBoardImage(const ir::Module& module, const CodegenOptions& options,
                                           ir::DiagnosticEngine& diags);

}  // namespace spk::compiler::codegen

#endif  // SPK_COMPILER_CODEGEN_CODEGEN_H_

// The Pass interface: one transformation of a module.
//
// A pass has a command-line name ("fold-batch-norm"), a one-line summary and
// a Run method. It may rewrite the module in place, and reports problems as
// diagnostics at the locations of the ops concerned: remarks for things it
// chose not to do, errors for things that make the model uncompilable (all of
// them, not just the first). A pass fails by returning a non-OK Status or by
// emitting an error; the pass manager then stops the pipeline.
//
// What a pass may assume and must keep (as in MLIR): the module it receives
// verifies; the module it leaves must verify too (the pass manager checks this
// after each pass when asked). A pass keeps no state between runs that
// changes its result; a fresh instance is made for every pipeline.
//
// Thread safety: a pass instance runs on one module at a time.
#ifndef SPK_COMPILER_PASSES_PASS_H_
#define SPK_COMPILER_PASSES_PASS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/module.h"

namespace spk::compiler::passes {

// What the passes know of the hardware the module is compiled for, so that a
// lowering choice can be weighed against its capacity (lower-attention's SSA
// expansion). The driver fills it from the chip and board profiles; spk-opt
// from --chip/--board/--max-cores. cores == 0: unknown.
struct TargetInfo {
  std::string name;    // "loihi2 x 8 chips (kapoho-point-8)", for messages
  uint64_t cores = 0;  // cores the model may use (board, or a partition of it)
  uint64_t neurons_per_core = 0;
  uint64_t synapse_bits_per_core = 0;
  uint64_t input_axons_per_core = 0;
  uint64_t output_axons_per_core = 0;
  uint64_t bits_per_sparse_synapse = 24;  // identity and broadcast tables are sparse
  uint64_t bits_per_dense_synapse = 8;
  bool known() const { return cores > 0; }
};

struct PassContext {
  ir::DiagnosticEngine& diags;
  int opt_level = 0;  // the -O level of the pipeline (0..3), for passes that tune effort
  TargetInfo target;
  // Per-pass options by "<pass>.<option>" ("lower-attention.ssa" = "chip").
  // A pass rejects values it does not know with INVALID_ARGUMENT.
  std::map<std::string, std::string, std::less<>> options;

  // The option's value, or `fallback` when not set.
  std::string Option(std::string_view key, std::string_view fallback) const {
    auto it = options.find(key);
    return it == options.end() ? std::string(fallback) : it->second;
  }
};

class Pass {
 public:
  virtual ~Pass() = default;

  virtual std::string_view name() const = 0;     // command-line name, e.g. "dce"
  virtual std::string_view summary() const = 0;  // one line for --list-passes

  // INVALID_ARGUMENT when the model cannot be compiled as asked (with error
  // diagnostics saying why); INTERNAL for a bug.
  virtual Status Run(ir::Module& module, PassContext& ctx) = 0;
};

}  // namespace spk::compiler::passes

#endif  // SPK_COMPILER_PASSES_PASS_H_

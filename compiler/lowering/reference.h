// A small reference interpreter for tests: runs frontend IR in float (as
// PyTorch would) and lowered IR with the chip's integer semantics
// (facts/chip.md, sim/neuron.h), step by step, so that lowering can be
// checked numerically: spike trains of the frontend's `lif` ops against those
// of the `cuba_lif` groups they became, shifted by their pipeline depth.
//
// Supported ops: input, output, repeat_t, linear, add, reshape, flatten,
// transpose, permute, mul_scalar, matmul (equal batch dims), lif, if_neuron
// (frontend); syn_dense (with delay), cuba_lif, and2 (ports broadcasting,
// with `delays`), host reshape/transpose/permute (lowered).
// Anything else is UNIMPLEMENTED. Not a performance tool: O(steps * weights).
//
// Thread safety: stateless functions.
#ifndef SPK_COMPILER_LOWERING_REFERENCE_H_
#define SPK_COMPILER_LOWERING_REFERENCE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "compiler/ir/module.h"

namespace spk::compiler::lowering {

// Every value at every step, flattened row-major (an untimed value repeats).
struct ReferenceTrace {
  std::map<const ir::Value*, std::vector<std::vector<double>>> values;
};

// `inputs` maps input names to their real (f32) data, the same at every
// step, or for a timed input `steps` times as many values, one step after
// another. Graded input ports encode it as round(x * scale).
StatusOr<ReferenceTrace> RunReference(const ir::Module& module,
                                      const std::map<std::string, std::vector<float>>& inputs,
                                      int64_t steps);

}  // namespace spk::compiler::lowering

#endif  // SPK_COMPILER_LOWERING_REFERENCE_H_

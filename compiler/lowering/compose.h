// Composition of a weighted layer with the element-wise linear ops between
// its result and a neuron's input, for quantize (docs/lowering.md#residual-streams).
//
// A Spike-driven Transformer's residual stream is a real-valued sum of layer
// results, reshaped, transposed and averaged on its way to each neuron that
// reads it. Every op on that way is linear, so each layer composes with its
// way into one synapse table from the layer's input elements to the neuron's.
#ifndef SPK_COMPILER_LOWERING_COMPOSE_H_
#define SPK_COMPILER_LOWERING_COMPOSE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "compiler/ir/module.h"

namespace spk::compiler::lowering {

// A table by target: target t reads entries [rows[t], rows[t + 1]) of
// `cols` (source elements, ascending) and `weights`. Elements are per step,
// row-major.
struct ComposedTable {
  int64_t sources = 0;
  int64_t targets = 0;
  std::vector<uint32_t> rows;
  std::vector<uint32_t> cols;
  std::vector<float> weights;
  std::vector<double> bias;  // per target: the layer's bias carried along
};

// True for the ops ComposeTable can carry a layer's result through: layout
// ops and `mean` over per-step dims.
bool IsComposable(const ir::Operation& op);

// `layer` is a linear or conv2d (without dilation) whose result reaches the
// neuron's input through `path` (in order, each IsComposable). An error names
// the op that cannot be composed, or the size when the table would hold more
// than `max_entries` synapses before merging.
StatusOr<ComposedTable> ComposeTable(const ir::Module& module, const ir::Operation& layer,
                                     std::span<ir::Operation* const> path, size_t max_entries);

// The same for a value read as it is (weight 1 per element), such as a
// stream that a relay group carries, with `bias` per element of `value`.
StatusOr<ComposedTable> ComposeIdentity(const ir::Value& value, std::span<const double> bias,
                                        std::span<ir::Operation* const> path);

}  // namespace spk::compiler::lowering

#endif  // SPK_COMPILER_LOWERING_COMPOSE_H_

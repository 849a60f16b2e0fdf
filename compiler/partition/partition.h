// Partitioning and placement: which neurons of each layer go on which core.
//
// The codegen describes each neuron layer by what it demands of a core
// (neurons, synapse memory per split unit, input axons); Plan splits layers
// into groups that fit one core (conv layers by whole output channels, others
// by neurons; finer where a group's input axons would not fit: a table reads
// only the window of its source that its targets' footprint covers, so axons
// follow footprints, not source groups; sources are split finer when a core's
// output axons overflow), packs small groups onto shared cores in layer order,
// and places logical cores along a snake path over each chip's mesh, spilling
// onto the next chip of the board, so consecutive layers sit a hop apart.
//
// Planning works on estimates; CheckCoreLimits then measures the finished
// board image with the count the emulator applies (hal/format/core_usage.h)
// and is the authority. Both report
// EVERY violated limit (layer, core, resource, needed, available), never just
// the first.
//
// Thread safety: pure functions.
#ifndef SPK_COMPILER_PARTITION_PARTITION_H_
#define SPK_COMPILER_PARTITION_PARTITION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"

namespace spk::compiler::partition {

// One source feeding a layer through synapses.
struct InputDemand {
  int source_layer = -1;     // index into the layer list, or -1 for an input port
  uint64_t source_size = 0;  // neurons (or port elements) of the whole source
  // Synapse bits one split unit of the target needs from this source; when
  // per_source_group, every group of the source carries its own copy (conv
  // tables repeat their shared kernel per source slice).
  uint64_t bits_per_unit = 0;
  bool per_source_group = false;
  // Which source neurons each target neuron reads, as [lo, hi) per target
  // (a hull: exact for row-local tables such as per-token layers); empty
  // means the whole source. A group then needs axons only for its targets'
  // hull (its tables read windows of the source).
  std::vector<uint32_t> footprint_lo, footprint_hi;
  // Synapse bits of targets [0, t) at index t (size + 1 entries), when they
  // differ between targets (sparse tables); empty: bits_per_unit each unit.
  std::vector<uint64_t> bits_prefix;
  uint32_t source_port = 0;  // the input port's index, when source_layer is -1
  // Input axons each split unit of the target needs from this input, when
  // known exactly (a conv tile: its receptive field); overrides footprints.
  std::vector<uint32_t> axons_per_unit;
};

struct LayerDemand {
  std::string name;   // for errors and reports
  uint32_t size = 0;  // neurons
  uint32_t unit = 1;  // split granularity: H*W for conv maps, 1 otherwise; divides size
  std::vector<InputDemand> inputs;
  // Most neurons in one group, 0 for no limit. Per-token layers use one unit
  // (a token's row, or part of it) per group, so their tables stay dense.
  uint32_t max_group = 0;
};

struct GroupSlice {
  uint32_t layer = 0;
  uint32_t offset = 0;  // first neuron of the layer in this group
  uint32_t count = 0;
  uint32_t core = 0;  // logical core
};

// A limit that cannot be met. `core` is -1 when the problem is not tied to
// one core (a single split unit that fits no core, or too many cores).
struct Violation {
  std::string layer;
  int64_t core = -1;
  std::string resource;  // "neurons", "synapse memory bits", "input axons", "output axons", "cores"
  uint64_t needed = 0;
  uint64_t available = 0;

  // "layer 'fc1', core 3: synapse memory bits: needs 2000000, available 1048576"
  std::string ToString() const;
};

struct PlanOptions {
  // Logical cores the model may use (a partition of the board); 0 = the
  // whole board.
  uint32_t max_cores = 0;
};

struct Plan {
  std::vector<GroupSlice> groups;  // in layer order, then offset order
  uint32_t num_cores = 0;
  std::vector<hal::format::CorePlacement> placement;  // per logical core
  std::vector<Violation> violations;                  // empty when the plan fits
};

Plan MakePlan(const std::vector<LayerDemand>& layers, const hal::format::ChipProfile& chip,
              const hal::format::BoardProfile& board, const PlanOptions& options = {});

// Where logical core `index` sits: snake order over the chip's mesh rows,
// chip after chip.
hal::format::CorePlacement PlaceCore(uint32_t index, const hal::format::ChipProfile& chip);

// Every per-core limit the image breaks, with usage measured by
// hal::format::MeasureCoreUsage (hal/format/core_usage.h), the count the
// emulator applies; the layer named is each core's largest group's layer
// (all of them, comma-separated, when shared).
std::vector<Violation> CheckCoreLimits(const hal::format::BoardImage& image,
                                       const hal::format::CoreLimits& limits);

}  // namespace spk::compiler::partition

#endif  // SPK_COMPILER_PARTITION_PARTITION_H_

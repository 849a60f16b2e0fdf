// A board image compiled into the emulator's runnable form: groups, tables
// and spike sources indexed densely, tables grouped by the core they feed,
// and every reference checked so that running it can never index out of
// bounds. Also the per-core resource check against a chip profile.
//
// Thread safety: immutable after BuildNetwork.
#ifndef SPK_SIM_NETWORK_H_
#define SPK_SIM_NETWORK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"
#include "hal/format/core_usage.h"
#include "sim/neuron.h"
#include "sim/synapse.h"

namespace spk::sim {

// Something that emits spikes: an input port or a neuron group. Sources are
// numbered input ports first, then groups, in image order.
struct SpikeSource {
  bool is_input = false;
  uint32_t size = 0;
  bool graded = false;
  uint32_t layer = 0;  // index into Network::layers
  uint32_t core = 0;   // logical core of a group source; unused for inputs
  // Distinct logical cores that this source's tables feed, ascending: one
  // spike message per firing neuron goes to each whose tables read it.
  std::vector<uint32_t> target_cores;
  // Per target core, the neurons its tables read: the union of their source
  // windows and conv windows (hal::format::TableRanges), as sorted disjoint
  // [begin, end) ranges (one range of the whole source when a table reads
  // all of it).
  std::vector<std::vector<hal::format::NeuronRange>> target_ranges;
};

struct CompiledGroup {
  uint32_t id = 0;
  uint32_t layer = 0;  // index into Network::layers
  uint32_t core = 0;   // logical core
  GroupParams params;
  std::vector<int32_t> u_init;  // size entries
  std::vector<int32_t> v_init;
  uint32_t source = 0;                   // index into Network::sources
  std::vector<uint32_t> port_tables[2];  // tables feeding port 0 and port 1
  uint32_t start_step = 0;               // held at its initial state before this step
  uint32_t delay_slots = 1;              // 1 + the largest delay of a table into it
};

struct CompiledInput {
  std::string name;
  uint32_t size = 0;
  bool graded = false;
  uint32_t source = 0;
};

struct CompiledSegment {
  uint32_t group = 0;  // index into Network::groups
  uint32_t group_offset = 0;
  uint32_t port_offset = 0;
  uint32_t count = 0;
};

struct CompiledOutput {
  std::string name;
  uint32_t size = 0;
  hal::format::OutputSource source = hal::format::OutputSource::kSpikes;
  std::vector<CompiledSegment> segments;
};

struct Network {
  uint32_t logical_cores = 0;
  std::vector<std::string> layers;  // group layers, then "input:<port>"
  std::vector<CompiledGroup> groups;
  std::vector<CompiledTable> tables;
  std::vector<SpikeSource> sources;
  std::vector<uint32_t> table_source;  // per table: index into sources
  std::vector<CompiledInput> inputs;
  std::vector<CompiledOutput> outputs;
  std::vector<std::vector<uint32_t>> core_groups;  // per logical core
};

// Compiles an image that passed hal::format::ValidateBoardImage (value ranges
// are not checked again). INVALID_ARGUMENT names the group, table or port when
// a reference or size is still inconsistent, so no image can make the
// emulator index out of bounds, or when a table exceeds the emulator's limit.
StatusOr<Network> BuildNetwork(const hal::format::BoardImage& image);

// INVALID_ARGUMENT listing every violated limit with core, group/layer and
// resource; a limit of 0 in the profile means "not limited". Usage is
// hal::format::MeasureCoreUsage of `image`, the image `network` was built
// from (the count the compiler applies too).
Status CheckCoreLimits(const hal::format::BoardImage& image, const Network& network,
                       const hal::format::CoreLimits& limits);

}  // namespace spk::sim

#endif  // SPK_SIM_NETWORK_H_

// Chip and board profiles: the hardware described as data.
//
// A chip profile gives the per-core limits the compiler must respect and the
// time and energy per operation the emulator charges. A board profile says how
// many chips a board carries and how they sit on the mesh. Both are read from
// JSON files (hal/profiles/chip-<name>.json and board-<name>.json, installed
// under share/spiked/profiles); the field names below are the JSON keys, with
// nested structs as nested objects. Any number may instead be written as
// {"value": 1.7, "source": "..."} or {"value": 1.7, "assumption": "..."} so the
// data carries where it came from; docs/chip-model.md lists every constant.
// Shared by the compiler and the runtime.
//
// Thread safety: plain values; immutable after loading.
#ifndef SPK_HAL_FORMAT_CHIP_PROFILE_H_
#define SPK_HAL_FORMAT_CHIP_PROFILE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace spk::hal::format {

// Limits of one neuromorphic core; hal/format/core_usage.h counts what an
// image uses of them.
struct CoreLimits {
  uint32_t neurons = 0;               // compartments per core
  uint64_t synapse_memory_bits = 0;   // synaptic memory per core
  uint32_t input_axons = 0;           // distinct source neurons a core's tables read
  uint32_t output_axons = 0;          // (neuron, destination core) routes out of a core
  uint32_t synapse_bits_dense = 8;    // bits charged per dense or conv synapse
  uint32_t synapse_bits_sparse = 24;  // bits per sparse synapse (weight + index)
};

// Time in nanoseconds per operation.
struct TimingModel {
  double clock_mhz = 0;
  double synaptic_op_ns = 0;    // one synaptic event (one weight applied)
  double neuron_update_ns = 0;  // one compartment update
  double spike_in_tile_ns = 0;  // a spike delivered within a tile/core
  double hop_ns_east_west = 0;  // one mesh hop
  double hop_ns_north_south = 0;
  double chip_crossing_ns = 0;  // leaving a chip for a neighbour chip
  double barrier_ns = 0;        // end-of-timestep synchronisation
  double host_link_bytes_per_s = 0;
  double host_link_latency_ns = 0;
};

// Energy in picojoules per operation, plus static power.
struct EnergyModel {
  double synaptic_op_pj = 0;
  double neuron_update_active_pj = 0;
  double neuron_update_inactive_pj = 0;
  double spike_in_tile_pj = 0;
  double hop_pj_east_west = 0;
  double hop_pj_north_south = 0;
  double chip_crossing_pj = 0;
  double barrier_pj = 0;
  double host_link_pj_per_byte = 0;
  double static_power_w_per_chip = 0;  // leakage of a powered chip
  // Fraction of dynamic energy on each rail, by rail name (sums to 1).
  std::vector<std::pair<std::string, double>> dynamic_rail_share;
  std::vector<std::pair<std::string, double>> static_rail_share;
};

struct ChipProfile {
  std::string name;  // "loihi2", "loihi3"
  std::string description;
  uint32_t cores_per_chip = 0;
  uint32_t mesh_width = 0;  // cores laid out as mesh_width x mesh_height
  uint32_t mesh_height = 0;
  CoreLimits core;
  TimingModel timing;
  EnergyModel energy;
  // Thermal model for telemetry: T = ambient + R * P, first order with tau.
  double thermal_resistance_c_per_w = 0;
  double thermal_time_constant_s = 0;
  double ambient_c = 25;

  // (x, y) of a core within its chip's mesh.
  uint32_t CoreX(uint32_t core_index) const { return core_index % mesh_width; }
  uint32_t CoreY(uint32_t core_index) const { return core_index / mesh_width; }
};

struct BoardProfile {
  std::string name;  // "oheo-gulch-1", "kapoho-point-8"
  std::string chip;  // chip profile name
  uint32_t chips = 0;
  uint32_t chips_x = 0;  // chips laid out as chips_x x chips_y
  uint32_t chips_y = 0;
  std::string description;

  // Chip index = y * chips_x + x.
  uint32_t ChipX(uint32_t chip_index) const { return chip_index % chips_x; }
  uint32_t ChipY(uint32_t chip_index) const { return chip_index / chips_x; }
};

// Parse a profile from JSON text; INVALID_ARGUMENT names the bad key (missing,
// wrong type, out of range, or unknown: a misspelt key is an error, not a
// silently ignored one). The result has passed Validate*Profile.
StatusOr<ChipProfile> ParseChipProfile(std::string_view json_text);
StatusOr<BoardProfile> ParseBoardProfile(std::string_view json_text);

// The range checks of parsing, for profiles built in code (tests, the
// emulator's variants). INVALID_ARGUMENT names the key, e.g. "core.neurons".
Status ValidateChipProfile(const ChipProfile& profile);
Status ValidateBoardProfile(const BoardProfile& profile);

// Load by name ("loihi2") from the profile search path: $SPK_PROFILE_DIR, then
// the source tree's hal/profiles (for builds run in place), then the install
// prefix's share/spiked/profiles. NOT_FOUND lists where it looked. Files are
// chip-<name>.json and board-<name>.json; the first found wins, and its
// "name" must equal <name>. INVALID_ARGUMENT for a name that is not
// [a-z0-9][a-z0-9._-]* (names never reach outside the directory).
StatusOr<ChipProfile> LoadChipProfile(std::string_view name);
StatusOr<BoardProfile> LoadBoardProfile(std::string_view name);

// The directories LoadChipProfile searches, in order. $SPK_PROFILE_DIR may
// hold several directories separated by ':'.
std::vector<std::string> ProfileSearchPath();

}  // namespace spk::hal::format

#endif  // SPK_HAL_FORMAT_CHIP_PROFILE_H_

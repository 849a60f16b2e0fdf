// The cycle-approximate cost model: where cores sit on a board's mesh, how
// far a spike travels between two of them, and what a core's work in one
// timestep costs in time and energy under a chip profile.
//
// Per timestep (docs/chip-model.md, "What the emulator models"):
//   core time  = synaptic ops * synaptic_op_ns + compartments * neuron_update_ns
//                + spike messages received * spike_in_tile_ns
//   step time  = slowest core + longest route used this step + barrier_ns
// Routes use x-y routing on the board-wide mesh: chips sit chips_x x chips_y,
// each a mesh_width x mesh_height grid of cores, so a route costs |dx| east-
// west hops, |dy| north-south hops, and a chip crossing for every chip
// boundary on the way (charged on top of the hop that crosses it).
//
// Thread safety: plain values and pure functions.
#ifndef SPK_SIM_COST_MODEL_H_
#define SPK_SIM_COST_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "hal/format/chip_profile.h"

namespace spk::sim {

struct RouteMetrics {
  uint32_t hops_ew = 0;
  uint32_t hops_ns = 0;
  uint32_t chip_crossings = 0;
};

// Physical cores of a board (chip * cores_per_chip + core) on the mesh.
class BoardMesh {
 public:
  // INVALID_ARGUMENT when either profile fails its Validate*Profile check or
  // the board carries another chip.
  static StatusOr<BoardMesh> Create(const hal::format::ChipProfile& chip,
                                    const hal::format::BoardProfile& board);

  uint32_t chips() const { return chips_; }
  uint32_t cores_per_chip() const { return cores_per_chip_; }
  uint32_t total_cores() const { return chips_ * cores_per_chip_; }
  uint32_t ChipOf(uint32_t core) const { return core / cores_per_chip_; }

  RouteMetrics Route(uint32_t from_core, uint32_t to_core) const;

 private:
  BoardMesh() = default;

  uint32_t chips_ = 0;
  uint32_t chips_x_ = 0;
  uint32_t cores_per_chip_ = 0;
  uint32_t mesh_width_ = 0;
  uint32_t mesh_height_ = 0;
};

double RouteLatencyNs(const hal::format::TimingModel& timing, const RouteMetrics& route);

// Work counted on one core (or for one layer), in one step or summed.
struct WorkCounters {
  uint64_t synaptic_ops = 0;
  uint64_t updates_active = 0;    // compartments with non-zero input or a spike
  uint64_t updates_inactive = 0;  // the others: every compartment updates every step
  uint64_t spikes_out = 0;        // spikes fired by the core's neurons
  uint64_t deliveries = 0;        // spike messages received (counted at the receiver)
  uint64_t hops_ew = 0;           // mesh hops of messages sent (counted at the sender)
  uint64_t hops_ns = 0;
  uint64_t chip_crossings = 0;

  uint64_t neuron_updates() const { return updates_active + updates_inactive; }
  WorkCounters& operator+=(const WorkCounters& o);
  friend bool operator==(const WorkCounters&, const WorkCounters&) = default;
};

// Time of a core's own work (synaptic ops, updates, deliveries).
double CoreWorkTimeNs(const hal::format::TimingModel& timing, const WorkCounters& work);

// Dynamic energy of the work; the barrier and the host link are charged apart.
double WorkEnergyPj(const hal::format::EnergyModel& energy, const WorkCounters& work);

struct RailEnergy {
  std::string rail;
  double dynamic_j = 0;
  double static_j = 0;
};

// Splits energy over the profile's rails by their shares. A profile without
// shares reports everything on one rail named "total".
std::vector<RailEnergy> SplitByRail(const hal::format::EnergyModel& energy, double dynamic_j,
                                    double static_j);

}  // namespace spk::sim

#endif  // SPK_SIM_COST_MODEL_H_

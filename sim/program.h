// One board image loaded on the emulator: its network, its state (membrane
// potentials, pending synaptic input, queued host input), and the stepping
// loop with its counters, time and energy.
//
// A timestep t, for every logical core c:
//   1. each group on c takes a_in = saturate16(input accumulated during t-1),
//      updates its compartments and fires (spikes of step t);
//   2. after all cores have fired, each core c sums the step-t spikes of every
//      source into the groups it holds (event-driven: only firing sources),
//      which becomes a_in at step t+1: one timestep of delay per synapse layer.
// Input port spikes queued for step t are spikes of step t, so a group fed by
// an input port sees them at t+1. Work is split by target core and integer
// sums are exact, so results and counters are bit-identical for any thread
// count.
//
// Thread safety: not thread-safe; the owner serialises calls (SimDevice holds
// a mutex per program). Run may use a ThreadPool internally.
#ifndef SPK_SIM_PROGRAM_H_
#define SPK_SIM_PROGRAM_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "hal/device.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"
#include "sim/cost_model.h"
#include "sim/network.h"
#include "sim/thread_pool.h"

namespace spk::sim {

struct CoreReport {
  uint32_t logical_core = 0;
  uint32_t physical_core = 0;
  WorkCounters work;
  double busy_time_s = 0;       // sum over steps of the core's own work time
  double dynamic_energy_j = 0;  // its work; the barrier and host link are charged apart
  double static_energy_j = 0;   // its share (1 / cores_per_chip) of its chip's static power
};

struct LayerReport {
  std::string layer;  // group.layer, or "input:<port>" for host input
  WorkCounters work;  // updates and spikes of its groups, synaptic ops into
                      // them, deliveries and hops of the spikes they send
  double dynamic_energy_j = 0;
  double static_energy_j = 0;  // its cores' static share, split by compartments
};

// Everything counted in one Run.
struct RunReport {
  hal::RunStats stats;
  WorkCounters work;  // totals over cores
  uint64_t input_spikes = 0;
  uint64_t host_bytes_in = 0;
  uint64_t host_bytes_out = 0;
  // chip_time_s = compute (slowest core per step) + routing + barrier.
  double compute_time_s = 0;
  double routing_time_s = 0;
  double barrier_time_s = 0;
  // stats.dynamic_energy_j = sum over cores + barrier + host link; the layers
  // add up to the cores' sum.
  double barrier_energy_j = 0;  // barrier_pj per powered chip and step
  double host_link_energy_j = 0;
  uint32_t chips_powered = 0;  // chips holding the partition; static energy counts them whole
  std::vector<double> step_time_s;
  std::vector<CoreReport> cores;
  std::vector<LayerReport> layers;
  std::vector<RailEnergy> rails;
};

class Program {
 public:
  // Builds the program for `image` with logical core i on partition[i].
  // FAILED_PRECONDITION when the image was compiled for another chip profile;
  // INVALID_ARGUMENT when it fails ValidateBoardImage or breaks the chip's
  // per-core limits (all of them listed); RESOURCE_EXHAUSTED when the
  // partition has fewer cores than the image.
  static StatusOr<std::unique_ptr<Program>> Create(const hal::format::BoardImage& image,
                                                   const hal::format::ChipProfile& chip,
                                                   const BoardMesh& mesh,
                                                   std::vector<uint32_t> partition);

  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const Network& network() const { return net_; }
  const std::vector<uint32_t>& partition() const { return partition_; }

  // Queues `steps` steps of input for `port` (step-major, port size values
  // per step; 0/1 for binary ports, payloads for graded ones, 0 = no spike).
  // INVALID_ARGUMENT for a bad port, size or binary value; RESOURCE_EXHAUSTED
  // when too many steps are queued.
  Status WriteInputs(uint32_t port, uint32_t steps, std::span<const int32_t> values);

  // Runs `steps` timesteps. `pool` may be null (single-threaded).
  // INVALID_ARGUMENT when the run would record more outputs than allowed.
  StatusOr<hal::RunStats> Run(uint32_t steps, ThreadPool* pool);

  // Per-step values of output port `port` from the last Run.
  StatusOr<std::vector<int32_t>> ReadOutputs(uint32_t port) const;

  // Membrane state back to its initial values, pending synaptic input
  // dropped. Queued host input and recorded outputs are kept.
  void ResetState();

  const RunReport& last_run() const { return report_; }

  // Limits of one Run and of queued input, to bound memory.
  static constexpr uint32_t kMaxRunSteps = uint32_t{1} << 24;
  static constexpr uint64_t kMaxOutputValues = uint64_t{1} << 28;
  static constexpr size_t kMaxQueuedSteps = size_t{1} << 20;

 private:
  // A route from a source to one of its target cores, placed on the mesh.
  struct PlacedRoute {
    uint32_t target_core = 0;  // logical
    RouteMetrics metrics;
    double latency_ns = 0;
    // The source neurons the target core reads (SpikeSource::target_ranges,
    // owned by net_); whole when that is every neuron of the source.
    const std::vector<hal::format::NeuronRange>* ranges = nullptr;
    bool whole = true;
  };
  // Where a group's values land in an output port.
  struct OutputTap {
    uint32_t output = 0;
    CompiledSegment segment;
  };
  // Per logical core buffers, touched only by the thread running that core.
  struct CoreScratch {
    FanOutScratch fan_out;
    SpikeList window;  // the spikes of a windowed table's window, as rows
    std::vector<int32_t> a_in[2];
  };

  Program(Network net, const hal::format::ChipProfile& chip, std::vector<uint32_t> partition,
          uint32_t chips_powered);

  void PlaceRoutes(const BoardMesh& mesh);
  void UpdateCore(uint32_t core, uint32_t step, int slot);
  // Fans out the spikes of the step before `now` (steps since reset).
  void FanOutCore(uint32_t core, int slot, uint64_t now);
  void InjectInputs(int slot);
  void RouteSpikes(int slot);
  void FinishStep(int slot);
  void Record(const CompiledGroup& group, uint32_t group_index, uint32_t step, int slot);
  void FinishReport(uint32_t steps);

  const Network net_;
  const hal::format::ChipProfile chip_;
  const std::vector<uint32_t> partition_;
  const uint32_t chips_powered_;
  std::vector<std::vector<PlacedRoute>> routes_;  // per source
  std::vector<std::vector<OutputTap>> taps_;      // per group

  // State.
  std::vector<GroupState> state_;  // per group
  // Per group and port: synaptic input for the coming steps, a ring of
  // delay_slots blocks of group size; block (step % delay_slots) is a_in of
  // that step.
  std::vector<std::array<std::vector<int64_t>, 2>> pending_;
  uint64_t clock_ = 0;                         // steps since the last ResetState
  std::vector<std::deque<SpikeList>> queued_;  // per input port
  std::vector<SpikeList> spikes_[2];           // per source; [step & 1]
  std::vector<CoreScratch> scratch_;           // per logical core

  // Counters of the run in progress.
  std::vector<WorkCounters> step_work_[2];  // per core; [step & 1]
  double step_latency_ns_[2] = {0, 0};      // longest route used by the step
  std::vector<WorkCounters> group_work_;    // per group: updates, spikes, ops into it
  std::vector<WorkCounters> source_work_;   // per source: deliveries, hops
  std::vector<WorkCounters> core_work_;     // per core, summed over the run
  std::vector<double> core_busy_ns_;

  std::vector<std::vector<int32_t>> outputs_;  // per output port, last run
  RunReport report_;
};

}  // namespace spk::sim

#endif  // SPK_SIM_PROGRAM_H_

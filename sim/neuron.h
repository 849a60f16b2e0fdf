// Neuron groups as the emulator runs them: compiled parameters, state, and
// the per-timestep update of a whole group.
//
// Models (hal/format/board_image.h NeuronModel), each per compartment, given
// the saturated 16-bit input a_in of the step (port 0; AND2 also port 1):
//   kCubaLif      LifStep() of fixed_point.h; fires when v > vth << 6.
//   kAccumulator  v = clamp(decay_dv(v) + a_in + b_eff); never fires. a_in is
//                 added unscaled (no << 6), so v counts weighted input.
//   kAnd2         fires when both ports' a_in are non-zero; keeps no state.
//   kRelay        sends a_in on when non-zero: payload = a_in for a graded
//                 group, a plain spike for a binary one; v shows a_in.
// A spike of a LIF or AND2 group with graded output carries payload 1.
//
// Thread safety: a GroupState is owned by the thread updating its core.
#ifndef SPK_SIM_NEURON_H_
#define SPK_SIM_NEURON_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hal/format/board_image.h"
#include "sim/fixed_point.h"

namespace spk::sim {

// Spikes of one source (neuron group or input port) in one timestep.
struct SpikeList {
  std::vector<uint32_t> index;   // firing neurons, ascending
  std::vector<int32_t> payload;  // graded sources only, parallel to index

  void Clear() {
    index.clear();
    payload.clear();
  }
  size_t size() const { return index.size(); }
};

struct GroupParams {
  hal::format::NeuronModel model = hal::format::NeuronModel::kCubaLif;
  bool graded = false;  // output spikes carry a payload
  uint32_t size = 0;
  LifConstants lif;
  std::vector<int32_t> bias;  // effective bias per neuron; empty = 0
};

struct GroupState {
  std::vector<int32_t> u;
  std::vector<int32_t> v;
};

// What one update of a group did, for the counters.
struct GroupStepResult {
  uint64_t active = 0;  // compartments that received non-zero input or fired
};

// a_in = saturate16(accumulator), and the accumulator cleared for the next
// step's input.
void TakeInput(int64_t* accumulator, int32_t* a_in, size_t n);

// One timestep of a group. `a_in0` / `a_in1` hold size saturated inputs (a_in1
// only read for kAnd2). Appends spikes (and payloads when graded) to `out`.
GroupStepResult UpdateGroup(const GroupParams& params, const int32_t* a_in0, const int32_t* a_in1,
                            GroupState* state, SpikeList* out);

}  // namespace spk::sim

#endif  // SPK_SIM_NEURON_H_

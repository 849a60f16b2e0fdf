// The peer of sim_bench: the same dense CUBA layer as a float forward in
// LibTorch, the way a PyTorch user would run it on a CPU.
//
// Thread safety: call from one thread at a time (it sets torch's thread count).
#ifndef SPK_BENCH_SIM_TORCH_PEER_H_
#define SPK_BENCH_SIM_TORCH_PEER_H_

#include <cstdint>
#include <vector>

#include "bench/sim/step_time.h"

namespace spk::bench {

struct DenseLifLayer {
  uint32_t inputs = 0;
  uint32_t outputs = 0;
  std::vector<float> weights;  // [inputs][outputs], row-major
  float current_decay = 0;     // fraction of u lost per step
  float voltage_decay = 0;     // fraction of v lost per step
  float threshold = 0;
};

// Runs `steps` steps of spikes (raster: steps x inputs, 0/1) through the
// layer on the calling thread: a = s . W, then the LIF update in float.
// Returns the best time per step over `repeats` runs.
StepTime TorchTimePerStep(const DenseLifLayer& layer, const std::vector<uint8_t>& raster,
                          uint32_t steps, int repeats);

}  // namespace spk::bench

#endif  // SPK_BENCH_SIM_TORCH_PEER_H_

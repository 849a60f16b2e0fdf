#include "bench/sim/torch_peer.h"

#include <torch/torch.h>

#include <chrono>
#include <limits>

namespace spk::bench {

StepTime TorchTimePerStep(const DenseLifLayer& layer, const std::vector<uint8_t>& raster,
                          uint32_t steps, int repeats) {
  torch::set_num_threads(1);  // per core, as the emulator is measured
  torch::InferenceMode inference;
  const int64_t n = layer.inputs, m = layer.outputs;
  const torch::Tensor w =
      torch::from_blob(const_cast<float*>(layer.weights.data()), {n, m}, torch::kFloat32).clone();
  // The spike raster as float rows, made before timing (as a dataloader would).
  const torch::Tensor spikes =
      torch::from_blob(const_cast<uint8_t*>(raster.data()), {int64_t{steps}, 1, n}, torch::kUInt8)
          .to(torch::kFloat32);
  StepTime best{std::numeric_limits<double>::infinity(), 0};
  for (int r = 0; r < repeats; ++r) {
    torch::Tensor u = torch::zeros({1, m});
    torch::Tensor v = torch::zeros({1, m});
    const double cpu_start = ThreadCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t t = 0; t < steps; ++t) {
      const torch::Tensor a = torch::matmul(spikes[t], w);
      u.mul_(1.0f - layer.current_decay).add_(a);
      v.mul_(1.0f - layer.voltage_decay).add_(u);
      v.masked_fill_(v.gt(layer.threshold), 0.0f);  // fire and reset
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = ThreadCpuSeconds() - cpu_start;
    if (cpu / steps < best.cpu_s) best = {cpu / steps, wall / steps};
  }
  return best;
}

}  // namespace spk::bench

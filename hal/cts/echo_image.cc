#include "hal/cts/echo_image.h"

#include <random>
#include <string>

namespace spk::hal::cts {

format::BoardImage MakeEchoImage(const std::string& chip_profile, uint32_t cores, uint32_t width) {
  format::BoardImage image;
  image.meta.model_name = "cts-echo-" + std::to_string(cores);
  image.meta.compiler_version = "hal-cts";
  image.meta.chip_profile = chip_profile;
  image.meta.timesteps = 1;
  image.meta.run_steps = 2;  // the input step plus one synapse layer
  image.inputs.push_back({.name = "in", .shape = {width}, .kind = format::SpikeKind::kBinary});

  format::OutputPort out;
  out.name = "out";
  out.shape = {cores * width};
  out.source = format::OutputSource::kSpikes;
  out.delay = 1;

  // Weight 1 becomes a_in << 6 in u, so v > 0 = vth << 6 in the same step.
  std::vector<int16_t> identity(static_cast<size_t>(width) * width, 0);
  for (uint32_t i = 0; i < width; ++i) identity[static_cast<size_t>(i) * width + i] = 1;

  for (uint32_t c = 0; c < cores; ++c) {
    image.cores.push_back({.chip = 0, .core = c});
    const uint32_t group = c + 1;
    format::NeuronGroup g;
    g.id = group;
    g.core = c;
    g.layer = "echo" + std::to_string(c);
    g.model = format::NeuronModel::kCubaLif;
    g.size = width;
    g.du = 4095;
    g.dv = 4095;
    g.vth = 0;
    image.groups.push_back(std::move(g));

    format::SynapseTable t;
    t.id = group;
    t.source = {format::SourceKind::kInputPort, 0};
    t.target_group = group;
    t.format = format::SynapseFormat::kDense;
    t.weights = identity;
    image.tables.push_back(std::move(t));

    out.segments.push_back(
        {.group = group, .group_offset = 0, .port_offset = c * width, .count = width});
  }
  image.outputs.push_back(std::move(out));
  return image;
}

std::vector<int32_t> ExpectedEchoOutput(std::span<const int32_t> input, uint32_t steps,
                                        uint32_t cores, std::span<const int32_t> carry,
                                        uint32_t width) {
  const size_t row = static_cast<size_t>(cores) * width;
  std::vector<int32_t> out(steps * row, 0);
  for (uint32_t t = 0; t < steps; ++t) {
    std::span<const int32_t> from;
    if (t > 0) {
      from = input.subspan((t - 1) * size_t{width}, width);
    } else if (!carry.empty()) {
      from = carry;
    } else {
      continue;
    }
    for (uint32_t c = 0; c < cores; ++c) {
      for (uint32_t j = 0; j < width; ++j) out[t * row + c * width + j] = from[j];
    }
  }
  return out;
}

std::vector<int32_t> MakeEchoInput(uint32_t seed, uint32_t steps, uint32_t width) {
  std::mt19937 rng(seed);
  std::vector<int32_t> input(static_cast<size_t>(steps) * width);
  for (auto& x : input) x = rng() % 3 == 0 ? 1 : 0;
  if (steps > 0) input[(steps - 1) * size_t{width} + seed % width] = 1;
  return input;
}

}  // namespace spk::hal::cts

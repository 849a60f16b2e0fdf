// Emulator throughput: synaptic events per second on one CPU core for one
// dense layer (n binary inputs -> 1024 CUBA LIF neurons, int8 weights) at
// input spike rates of 1-20 %, and LibTorch's dense float forward of the same
// layer measured in the same run (torch_peer.cc). Prints a table;
// docs/benchmarks.md records it with the machine.
//
//   sim_bench [--steps N] [--repeats R] [--quick]
//
// Build in Release; the numbers of a Debug build mean nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bench/sim/step_time.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"
#include "sim/cost_model.h"
#include "sim/program.h"

#ifdef SPK_WITH_TORCH
#include <link.h>

#include "bench/sim/torch_peer.h"
#endif

namespace spk::bench {
namespace {

namespace fmt = hal::format;

constexpr uint32_t kOutputs = 1024;

struct Options {
  uint32_t steps = 1000;
  int repeats = 3;
  bool quick = false;
};

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

#ifdef SPK_WITH_TORCH
// The BLAS LibTorch's matmul ends up in: Debian's default libblas.so.3 is the
// netlib reference, far slower than OpenBLAS, and the table should say which.
std::string LoadedBlas() {
  std::string found = "unknown";
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("libblas") != std::string::npos ||
            name.find("libopenblas") != std::string::npos) {
          // Through the alternatives symlinks to the library itself.
          std::error_code ec;
          const auto real = std::filesystem::canonical(name, ec);
          *static_cast<std::string*>(data) = ec ? name : real.string();
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}
#endif

// The layer: mixed-sign 8-bit weights (even, as the chip keeps them), a
// threshold that lets some neurons fire.
fmt::BoardImage MakeImage(uint32_t inputs, const std::vector<int16_t>& weights) {
  fmt::BoardImage image;
  image.meta.model_name = "bench-dense";
  image.meta.chip_profile = "loihi2";
  image.meta.timesteps = 1;
  image.meta.run_steps = 1;
  image.cores = {{0, 0}};
  image.inputs.push_back({"x", {inputs}, fmt::SpikeKind::kBinary, 1.0f});
  fmt::NeuronGroup g;
  g.id = 1;
  g.layer = "fc";
  g.size = kOutputs;
  g.du = 410;
  g.dv = 205;
  g.vth = 2000;
  image.groups.push_back(g);
  fmt::SynapseTable t;
  t.id = 1;
  t.source = {fmt::SourceKind::kInputPort, 0};
  t.target_group = 1;
  t.weights = weights;
  image.tables.push_back(t);
  fmt::OutputPort out;
  out.name = "spikes";
  out.shape = {kOutputs};
  out.segments = {{1, 0, 0, kOutputs}};
  image.outputs.push_back(out);
  return image;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

struct SimResult {
  StepTime time;
  uint64_t events = 0;
  uint64_t output_spikes = 0;
};

SimResult RunSim(const fmt::ChipProfile& chip, const sim::BoardMesh& mesh, uint32_t inputs,
                 const std::vector<int16_t>& weights, const std::vector<uint8_t>& raster,
                 const Options& o) {
  auto program = sim::Program::Create(MakeImage(inputs, weights), chip, mesh, {0});
  if (!program.ok()) {
    std::fprintf(stderr, "sim_bench: %s\n", program.status().ToString().c_str());
    std::exit(1);
  }
  const std::vector<int32_t> values(raster.begin(), raster.end());
  SimResult best;
  best.time.cpu_s = std::numeric_limits<double>::infinity();
  for (int r = 0; r < o.repeats; ++r) {
    (*program)->ResetState();
    if (!(*program)->WriteInputs(0, o.steps, values).ok()) std::exit(1);
    const double cpu_start = ThreadCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    auto stats = (*program)->Run(o.steps, nullptr);  // one thread: per-core throughput
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = ThreadCpuSeconds() - cpu_start;
    if (!stats.ok()) std::exit(1);
    if (cpu / o.steps < best.time.cpu_s) {
      best.time = {cpu / o.steps, wall / o.steps};
      best.events = stats->synaptic_ops;
      best.output_spikes = stats->spikes;
    }
  }
  return best;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      o.quick = true;
      o.steps = 50;
      o.repeats = 1;
    } else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) {
      o.steps = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) {
      o.repeats = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: sim_bench [--steps N] [--repeats R] [--quick]\n");
      return 2;
    }
  }
  auto chip = fmt::LoadChipProfile("loihi2");
  auto board = fmt::LoadBoardProfile("oheo-gulch-1");
  if (!chip.ok() || !board.ok()) {
    std::fprintf(stderr, "sim_bench: %s %s\n", chip.status().ToString().c_str(),
                 board.status().ToString().c_str());
    return 1;
  }
  // A 4096 x 1024 dense layer spans many Loihi cores; here it stays on one
  // logical core so the number measured is the emulator's per-CPU-core speed.
  chip->core.neurons = kOutputs;
  chip->core.synapse_memory_bits = uint64_t{1} << 40;
  chip->core.input_axons = 1u << 20;
  auto mesh = sim::BoardMesh::Create(*chip, *board);
  if (!mesh.ok()) return 1;

  std::printf("sim_bench: dense layer n -> %u CUBA LIF, %u steps, best of %d, one thread\n",
              kOutputs, o.steps, o.repeats);
  std::printf("cpu: %s\n", CpuModel().c_str());
#ifdef SPK_WITH_TORCH
  std::printf("torch: one thread, BLAS %s\n", LoadedBlas().c_str());
#endif
  std::printf("load average at start: %s; times are thread CPU time, wall time in brackets\n\n",
              LoadAverage().c_str());
  std::printf("%5s %5s  %17s  %19s  %21s  %9s\n", "n", "rate", "sim events/s/core", "sim us/step",
              "torch us/step", "torch/sim");

  std::mt19937_64 rng(1);
  const std::vector<uint32_t> sizes =
      o.quick ? std::vector<uint32_t>{1024} : std::vector<uint32_t>{1024, 4096};
  for (uint32_t inputs : sizes) {
    std::vector<int16_t> weights(size_t{inputs} * kOutputs);
    std::uniform_int_distribution<int> w8(-127, 127);
    for (auto& w : weights) w = static_cast<int16_t>(2 * w8(rng));
#ifdef SPK_WITH_TORCH
    DenseLifLayer layer;
    layer.inputs = inputs;
    layer.outputs = kOutputs;
    layer.weights.assign(weights.begin(), weights.end());
    layer.current_decay = 411.0f / 4096;
    layer.voltage_decay = 205.0f / 4096;
    layer.threshold = 2000.0f * 64;
#endif
    for (double rate : {0.01, 0.05, 0.10, 0.20}) {
      std::vector<uint8_t> raster(size_t{o.steps} * inputs);
      std::bernoulli_distribution fire(rate);
      for (auto& s : raster) s = fire(rng) ? 1 : 0;
      const SimResult sim = RunSim(*chip, *mesh, inputs, weights, raster, o);
      const double events_per_s = static_cast<double>(sim.events) / o.steps / sim.time.cpu_s;
#ifdef SPK_WITH_TORCH
      const StepTime torch = TorchTimePerStep(layer, raster, o.steps, o.repeats);
#else
      const StepTime torch{0, 0};
#endif
      std::printf("%5u %4.0f%%  %17.3g  %8.2f [%8.2f]  %9.1f [%9.1f]  %8.1fx\n", inputs, rate * 100,
                  events_per_s, sim.time.cpu_s * 1e6, sim.time.wall_s * 1e6, torch.cpu_s * 1e6,
                  torch.wall_s * 1e6, torch.cpu_s / sim.time.cpu_s);
    }
  }
#ifndef SPK_WITH_TORCH
  std::printf("\n(built without SPK_WITH_TORCH: no LibTorch peer)\n");
#endif
  return 0;
}

}  // namespace
}  // namespace spk::bench

int main(int argc, char** argv) { return spk::bench::Main(argc, argv); }

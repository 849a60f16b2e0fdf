#include "compiler/partition/partition.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "hal/format/board_image_validate.h"

namespace spk::compiler::partition {
namespace {

using hal::format::BoardImage;
using hal::format::ChipProfile;
using hal::format::CoreLimits;
using hal::format::CorePlacement;
using hal::format::SourceKind;
using hal::format::SynapseFormat;

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// A limit of 0 in a profile means "not modelled".
uint64_t Cap(uint64_t limit) { return limit == 0 ? kUnlimited : limit; }

// What the planner believes a core already holds.
struct OpenCore {
  uint64_t neurons = 0;
  uint64_t bits = 0;
  uint64_t axons = 0;
  bool empty = true;
};

}  // namespace

std::string Violation::ToString() const {
  std::string s = "layer '" + layer + "'";
  if (core >= 0) s += ", core " + std::to_string(core);
  s += ": " + resource + ": needs " + std::to_string(needed) + ", available " +
       std::to_string(available);
  return s;
}

CorePlacement PlaceCore(uint32_t index, const ChipProfile& chip) {
  const uint32_t per_chip = std::max<uint32_t>(chip.cores_per_chip, 1);
  const uint32_t width = std::max<uint32_t>(chip.mesh_width, 1);
  const uint32_t k = index % per_chip;
  const uint32_t y = k / width;
  uint32_t x = k % width;
  // Odd rows run backwards so that consecutive cores stay one hop apart; a
  // partial last row cannot, since its far end has no cores.
  const bool full_row = (y + 1) * width <= per_chip;
  if (y % 2 == 1 && full_row) x = width - 1 - x;
  return CorePlacement{index / per_chip, y * width + x};
}

Plan MakePlan(const std::vector<LayerDemand>& layers, const ChipProfile& chip,
              const hal::format::BoardProfile& board, const PlanOptions& options) {
  Plan plan;
  const CoreLimits& lim = chip.core;
  std::vector<uint32_t> groups_of(layers.size(), 0);
  OpenCore open;
  uint32_t cores = 0;

  for (uint32_t l = 0; l < layers.size(); ++l) {
    const LayerDemand& layer = layers[l];
    const uint32_t unit = std::max<uint32_t>(layer.unit, 1);
    const uint64_t units = std::max<uint64_t>(layer.size / unit, 1);
    uint64_t bits_per_unit = 0;
    uint64_t axons = 0;
    // A source read by several tables (a split table's two halves) sends
    // its spikes to the core once: its axons count once.
    std::set<int> sources;
    for (const InputDemand& in : layer.inputs) {
      const uint64_t copies = in.per_source_group && in.source_layer >= 0
                                  ? std::max<uint32_t>(groups_of[in.source_layer], 1)
                                  : 1;
      bits_per_unit += in.bits_per_unit * copies;
      if (in.source_layer < 0 || sources.insert(in.source_layer).second) axons += in.source_size;
    }
    uint64_t per_group = units;
    const uint64_t by_neurons = Cap(lim.neurons) / unit;
    if (by_neurons == 0) {
      plan.violations.push_back({layer.name, -1, "neurons", unit, lim.neurons});
    } else {
      per_group = std::min(per_group, by_neurons);
    }
    if (bits_per_unit > 0) {
      const uint64_t by_bits = Cap(lim.synapse_memory_bits) / bits_per_unit;
      if (by_bits == 0) {
        plan.violations.push_back(
            {layer.name, -1, "synapse memory bits", bits_per_unit, lim.synapse_memory_bits});
      } else {
        per_group = std::min(per_group, by_bits);
      }
    }
    if (axons > Cap(lim.input_axons)) {
      plan.violations.push_back({layer.name, -1, "input axons", axons, lim.input_axons});
    }
    // Balanced split: n groups whose sizes differ by at most one unit.
    const uint64_t n = (units + per_group - 1) / per_group;
    groups_of[l] = static_cast<uint32_t>(n);
    uint64_t offset_units = 0;
    for (uint64_t g = 0; g < n; ++g) {
      const uint64_t count_units = units / n + (g < units % n ? 1 : 0);
      const uint64_t neurons = count_units * unit;
      const uint64_t bits = count_units * bits_per_unit;
      const bool fits = !open.empty && open.neurons + neurons <= Cap(lim.neurons) &&
                        open.bits + bits <= Cap(lim.synapse_memory_bits) &&
                        open.axons + axons <= Cap(lim.input_axons);
      if (!fits) {
        open = OpenCore{};
        ++cores;
      }
      open.empty = false;
      open.neurons += neurons;
      open.bits += bits;
      open.axons += axons;
      plan.groups.push_back({l, static_cast<uint32_t>(offset_units * unit),
                             static_cast<uint32_t>(std::min<uint64_t>(neurons, layer.size)),
                             cores - 1});
      offset_units += count_units;
    }
  }
  plan.num_cores = cores;

  const uint64_t board_cores = uint64_t{board.chips} * chip.cores_per_chip;
  const uint64_t available =
      options.max_cores == 0 ? board_cores : std::min<uint64_t>(options.max_cores, board_cores);
  if (cores > available) {
    // Name every layer that lands outside the partition, not only the first.
    std::set<uint32_t> named;
    for (const GroupSlice& g : plan.groups) {
      if (g.core >= available && named.insert(g.layer).second) {
        plan.violations.push_back({layers[g.layer].name, g.core, "cores", cores, available});
      }
    }
  }
  for (uint32_t c = 0; c < cores; ++c) plan.placement.push_back(PlaceCore(c, chip));
  return plan;
}

std::vector<CoreUsage> MeasureCoreUsage(const BoardImage& image, const CoreLimits& limits) {
  std::vector<CoreUsage> usage(image.cores.size());
  std::map<uint32_t, const hal::format::NeuronGroup*> by_id;
  for (const auto& g : image.groups) {
    by_id[g.id] = &g;
    if (g.core < usage.size()) usage[g.core].neurons += g.size;
  }
  std::vector<std::set<std::pair<int, uint32_t>>> sources(usage.size());
  std::map<uint32_t, std::set<uint32_t>> targets_of;  // source group -> target cores
  for (const auto& t : image.tables) {
    auto it = by_id.find(t.target_group);
    if (it == by_id.end() || it->second->core >= usage.size()) continue;
    const uint32_t core = it->second->core;
    const uint64_t bits =
        t.format == SynapseFormat::kSparse ? limits.synapse_bits_sparse : limits.synapse_bits_dense;
    usage[core].synapse_bits += t.weights.size() * bits;
    sources[core].insert({static_cast<int>(t.source.kind), t.source.index});
    if (t.source.kind == SourceKind::kGroup) targets_of[t.source.index].insert(core);
  }
  for (size_t c = 0; c < usage.size(); ++c) {
    for (const auto& [kind, index] : sources[c]) {
      usage[c].input_axons +=
          hal::format::SourceSize(image, {static_cast<SourceKind>(kind), index});
    }
  }
  for (const auto& [group, cores] : targets_of) {
    auto it = by_id.find(group);
    if (it != by_id.end() && it->second->core < usage.size()) {
      usage[it->second->core].output_axons += uint64_t{it->second->size} * cores.size();
    }
  }
  return usage;
}

std::vector<Violation> CheckCoreLimits(const BoardImage& image, const CoreLimits& limits) {
  const std::vector<CoreUsage> usage = MeasureCoreUsage(image, limits);
  // Layers sharing a core are named together: "a', 'b" inside the quotes.
  std::vector<std::string> layers(usage.size());
  std::vector<std::set<std::string>> seen(usage.size());
  for (const auto& g : image.groups) {
    if (g.core >= layers.size() || !seen[g.core].insert(g.layer).second) continue;
    layers[g.core] += (layers[g.core].empty() ? "" : "', '") + g.layer;
  }
  std::vector<Violation> out;
  auto check = [&](size_t core, const char* resource, uint64_t used, uint64_t limit) {
    if (limit != 0 && used > limit) {
      out.push_back({layers[core], static_cast<int64_t>(core), resource, used, limit});
    }
  };
  for (size_t c = 0; c < usage.size(); ++c) {
    check(c, "neurons", usage[c].neurons, limits.neurons);
    check(c, "synapse memory bits", usage[c].synapse_bits, limits.synapse_memory_bits);
    check(c, "input axons", usage[c].input_axons, limits.input_axons);
    check(c, "output axons", usage[c].output_axons, limits.output_axons);
  }
  return out;
}

}  // namespace spk::compiler::partition

#include "hal/format/core_usage.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "hal/format/board_image_validate.h"

namespace spk::hal::format {

NeuronRange TableWindow(const SynapseTable& table, uint64_t source_size) {
  if (table.source_count == 0) return {0, source_size};
  const uint64_t begin = std::min<uint64_t>(table.source_offset, source_size);
  const uint64_t end =
      std::min<uint64_t>(uint64_t{table.source_offset} + table.source_count, source_size);
  return {begin, end};
}

std::vector<NeuronRange> MergeRanges(std::vector<NeuronRange> ranges) {
  std::erase_if(ranges, [](const NeuronRange& r) { return r.begin >= r.end; });
  std::sort(ranges.begin(), ranges.end(),
            [](const NeuronRange& a, const NeuronRange& b) { return a.begin < b.begin; });
  std::vector<NeuronRange> out;
  for (const NeuronRange& r : ranges) {
    if (!out.empty() && r.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<CoreUsage> MeasureCoreUsage(const BoardImage& image, const CoreLimits& limits) {
  std::vector<CoreUsage> usage(image.cores.size());
  std::unordered_map<uint32_t, const NeuronGroup*> by_id;
  for (const NeuronGroup& g : image.groups) {
    by_id.emplace(g.id, &g);
    if (g.core < usage.size()) usage[g.core].neurons += g.size;
  }
  auto group = [&](uint32_t id) -> const NeuronGroup* {
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  };
  auto source_size = [&](const SynapseSource& s) -> uint64_t {
    if (s.kind == SourceKind::kInputPort) {
      return s.index < image.inputs.size() ? ShapeElements(image.inputs[s.index].shape) : 0;
    }
    if (s.kind == SourceKind::kGroup) {
      const NeuronGroup* g = group(s.index);
      return g != nullptr ? g->size : 0;
    }
    return 0;
  };

  // The windows each source's tables read on each target core, keyed by
  // (source kind, source index, target core).
  std::map<std::tuple<uint8_t, uint32_t, uint32_t>, std::vector<NeuronRange>> windows;
  for (const SynapseTable& t : image.tables) {
    const NeuronGroup* target = group(t.target_group);
    if (target == nullptr || target->core >= usage.size()) continue;
    const uint32_t core = target->core;
    const uint64_t bits =
        t.format == SynapseFormat::kSparse ? limits.synapse_bits_sparse : limits.synapse_bits_dense;
    usage[core].synapse_bits += t.weights.size() * bits;
    windows[{static_cast<uint8_t>(t.source.kind), t.source.index, core}].push_back(
        TableWindow(t, source_size(t.source)));
  }

  // A source neuron covered on core c takes one input axon of c and, for a
  // group, one output axon of the group's core.
  for (auto& [key, ranges] : windows) {
    const auto [kind, index, core] = key;
    uint64_t covered = 0;
    for (const NeuronRange& r : MergeRanges(std::move(ranges))) covered += r.end - r.begin;
    usage[core].input_axons += covered;
    if (static_cast<SourceKind>(kind) == SourceKind::kGroup) {
      const NeuronGroup* source = group(index);
      if (source != nullptr && source->core < usage.size()) {
        usage[source->core].output_axons += covered;
      }
    }
  }
  return usage;
}

}  // namespace spk::hal::format

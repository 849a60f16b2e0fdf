#include "sim/network.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "sim/fixed_point.h"

namespace spk::sim {
namespace {

using hal::format::BoardImage;
using hal::format::CoreLimits;
using hal::format::NeuronGroup;
using hal::format::NeuronModel;
using hal::format::SourceKind;
using hal::format::SpikeKind;

// Ports and groups larger than this are refused rather than risking size
// arithmetic overflow; no chip comes close.
constexpr uint64_t kMaxPortSize = uint64_t{1} << 31;

std::string GroupName(const NeuronGroup& g) {
  return "group " + std::to_string(g.id) + " (layer '" + g.layer + "')";
}

StatusOr<uint32_t> ShapeSize(const std::vector<uint32_t>& shape, const std::string& what) {
  uint64_t size = 1;
  for (uint32_t d : shape) {
    size *= d;
    if (size > kMaxPortSize) return InvalidArgumentError(what + ": shape is too large");
  }
  if (size == 0) return InvalidArgumentError(what + ": shape has no elements");
  return static_cast<uint32_t>(size);
}

// Value ranges were checked by ValidateBoardImage before this runs.
CompiledGroup CompileGroup(const NeuronGroup& g) {
  CompiledGroup out;
  out.id = g.id;
  out.core = g.core;
  out.start_step = g.start_step;
  GroupParams& p = out.params;
  p.model = g.model;
  p.graded = g.output == SpikeKind::kGraded;
  p.size = g.size;
  p.lif = MakeLifConstants(g.du, g.dv, g.vth);
  // Only LIF and accumulators keep a membrane; AND2 and relays ignore bias
  // and initial state.
  const bool stateful = g.model == NeuronModel::kCubaLif || g.model == NeuronModel::kAccumulator;
  const bool has_bias =
      std::any_of(g.bias_mant.begin(), g.bias_mant.end(), [](int16_t m) { return m != 0; });
  if (stateful && has_bias) {
    p.bias.reserve(g.size);
    for (int16_t m : g.bias_mant) p.bias.push_back(EffectiveBias(m, g.bias_exp));
  }
  out.u_init.assign(g.size, 0);
  out.v_init.assign(g.size, 0);
  if (g.model == NeuronModel::kCubaLif && !g.u_init.empty()) out.u_init = g.u_init;
  if (stateful && !g.v_init.empty()) out.v_init = g.v_init;
  return out;
}

}  // namespace

StatusOr<Network> BuildNetwork(const BoardImage& image) {
  Network net;
  net.logical_cores = static_cast<uint32_t>(image.cores.size());

  std::map<std::string, uint32_t> layer_index;
  auto layer_of = [&](const std::string& name) {
    auto [it, inserted] = layer_index.emplace(name, static_cast<uint32_t>(net.layers.size()));
    if (inserted) net.layers.push_back(name);
    return it->second;
  };

  // Groups.
  std::map<uint32_t, uint32_t> group_index;
  for (const auto& g : image.groups) {
    if (g.core >= net.logical_cores) {
      return InvalidArgumentError(GroupName(g) + ": logical core " + std::to_string(g.core) +
                                  " but the image has " + std::to_string(net.logical_cores) +
                                  " cores");
    }
    if (!group_index.emplace(g.id, static_cast<uint32_t>(net.groups.size())).second) {
      return InvalidArgumentError(GroupName(g) + ": duplicate group id");
    }
    if (g.size == 0 || g.size > kMaxPortSize) {
      return InvalidArgumentError(GroupName(g) + ": size " + std::to_string(g.size) +
                                  " is not usable");
    }
    CompiledGroup cg = CompileGroup(g);
    cg.layer = layer_of(g.layer);
    net.groups.push_back(std::move(cg));
  }

  // Sources: input ports first, then groups.
  for (size_t i = 0; i < image.inputs.size(); ++i) {
    const auto& port = image.inputs[i];
    const std::string name = "input port " + std::to_string(i) + " ('" + port.name + "')";
    SPK_ASSIGN_OR_RETURN(uint32_t size, ShapeSize(port.shape, name));
    SpikeSource src;
    src.is_input = true;
    src.size = size;
    src.graded = port.kind == SpikeKind::kGraded;
    src.layer = layer_of("input:" + port.name);
    net.inputs.push_back({port.name, size, src.graded, static_cast<uint32_t>(net.sources.size())});
    net.sources.push_back(std::move(src));
  }
  for (size_t i = 0; i < net.groups.size(); ++i) {
    CompiledGroup& g = net.groups[i];
    SpikeSource src;
    src.size = g.params.size;
    src.graded = g.params.graded;
    src.layer = g.layer;
    src.core = g.core;
    g.source = static_cast<uint32_t>(net.sources.size());
    net.sources.push_back(std::move(src));
  }

  // Tables. Per source and target core: the windows of its tables there.
  std::vector<std::map<uint32_t, std::vector<hal::format::NeuronRange>>> windows(
      net.sources.size());
  std::unordered_map<uint32_t, size_t> table_index;  // image table id -> net.tables
  for (const auto& t : image.tables) {
    const std::string name = "synapse table " + std::to_string(t.id);
    uint32_t source = 0;
    if (t.source.kind == SourceKind::kInputPort) {
      if (t.source.index >= net.inputs.size()) {
        return InvalidArgumentError(name + ": input port " + std::to_string(t.source.index) +
                                    " does not exist");
      }
      source = net.inputs[t.source.index].source;
    } else if (t.source.kind == SourceKind::kGroup) {
      auto it = group_index.find(t.source.index);
      if (it == group_index.end()) {
        return InvalidArgumentError(name + ": source group " + std::to_string(t.source.index) +
                                    " does not exist");
      }
      source = net.groups[it->second].source;
    } else {
      return InvalidArgumentError(name + ": unknown source kind");
    }
    auto target = group_index.find(t.target_group);
    if (target == group_index.end()) {
      return InvalidArgumentError(name + ": target group " + std::to_string(t.target_group) +
                                  " does not exist");
    }
    CompiledGroup& tg = net.groups[target->second];
    const bool two_ports = tg.params.model == NeuronModel::kAnd2;
    if (t.target_port > (two_ports ? 1 : 0)) {
      return InvalidArgumentError(name + ": target port " + std::to_string(t.target_port) +
                                  " does not exist on group " + std::to_string(tg.id));
    }
    const SpikeSource& src = net.sources[source];
    const CompiledTable* owner = nullptr;
    if (t.weights_of != hal::format::kOwnWeights) {
      auto it = table_index.find(t.weights_of);
      if (it == table_index.end()) {
        return InvalidArgumentError(name + ": weights_of " + std::to_string(t.weights_of) +
                                    " names no earlier table");
      }
      owner = &net.tables[it->second];
    }
    SPK_ASSIGN_OR_RETURN(CompiledTable ct,
                         CompileTable(t, src.size, tg.params.size, src.graded, owner));
    table_index.emplace(t.id, net.tables.size());
    const uint32_t index = static_cast<uint32_t>(net.tables.size());
    tg.port_tables[t.target_port].push_back(index);
    tg.delay_slots = std::max<uint32_t>(tg.delay_slots, uint32_t{t.delay} + 1);
    // The neurons it reads: its window, or a conv table's window of its box.
    std::vector<hal::format::NeuronRange>& reads = windows[source][tg.core];
    for (const hal::format::NeuronRange& r : hal::format::TableRanges(t, src.size)) {
      reads.push_back(r);
    }
    net.tables.push_back(std::move(ct));
    net.table_source.push_back(source);
  }
  for (size_t s = 0; s < net.sources.size(); ++s) {
    for (auto& [core, ranges] : windows[s]) {
      net.sources[s].target_cores.push_back(core);
      net.sources[s].target_ranges.push_back(hal::format::MergeRanges(std::move(ranges)));
    }
  }

  // Outputs. Exact coverage is the validator's rule; only bounds matter here.
  for (size_t i = 0; i < image.outputs.size(); ++i) {
    const auto& port = image.outputs[i];
    const std::string name = "output port " + std::to_string(i) + " ('" + port.name + "')";
    CompiledOutput out;
    out.name = port.name;
    out.source = port.source;
    SPK_ASSIGN_OR_RETURN(out.size, ShapeSize(port.shape, name));
    for (const auto& seg : port.segments) {
      auto it = group_index.find(seg.group);
      if (it == group_index.end() ||
          uint64_t{seg.group_offset} + seg.count > net.groups[it->second].params.size ||
          uint64_t{seg.port_offset} + seg.count > out.size) {
        return InvalidArgumentError(name + ": a segment of group " + std::to_string(seg.group) +
                                    " is out of range");
      }
      out.segments.push_back({it->second, seg.group_offset, seg.port_offset, seg.count});
    }
    net.outputs.push_back(std::move(out));
  }

  net.core_groups.resize(net.logical_cores);
  for (size_t i = 0; i < net.groups.size(); ++i) {
    net.core_groups[net.groups[i].core].push_back(static_cast<uint32_t>(i));
  }
  return net;
}

Status CheckCoreLimits(const BoardImage& image, const Network& net, const CoreLimits& limits) {
  const std::vector<hal::format::CoreUsage> usage = hal::format::MeasureCoreUsage(image, limits);
  if (usage.size() != net.logical_cores) {
    return InvalidArgumentError("the network was not built from this image (" +
                                std::to_string(usage.size()) + " cores, the network has " +
                                std::to_string(net.logical_cores) + ")");
  }
  std::vector<std::string> problems;
  auto over = [](uint64_t used, uint64_t limit) { return limit != 0 && used > limit; };
  for (uint32_t c = 0; c < net.logical_cores; ++c) {
    const std::string core = "core " + std::to_string(c);
    std::string groups;  // "group 1 (layer 'a'), group 2 (layer 'b')"
    for (uint32_t gi : net.core_groups[c]) {
      const CompiledGroup& g = net.groups[gi];
      const std::string name =
          "group " + std::to_string(g.id) + " (layer '" + net.layers[g.layer] + "')";
      groups += (groups.empty() ? "" : ", ") + name;
      if (over(g.params.size, limits.neurons)) {
        problems.push_back(core + ": " + name + " has " + std::to_string(g.params.size) +
                           " neurons, more than the core's limit of " +
                           std::to_string(limits.neurons));
      }
    }
    const hal::format::CoreUsage& u = usage[c];
    if (net.core_groups[c].size() > 1 && over(u.neurons, limits.neurons)) {
      problems.push_back(core + ": " + groups + " hold " + std::to_string(u.neurons) +
                         " neurons together, more than the core's limit of " +
                         std::to_string(limits.neurons));
    }
    if (over(u.synapse_bits, limits.synapse_memory_bits)) {
      problems.push_back(core + ": synapses into " + groups + " need " +
                         std::to_string(u.synapse_bits) + " bits of synapse memory, more than " +
                         std::to_string(limits.synapse_memory_bits));
    }
    if (over(u.input_axons, limits.input_axons)) {
      problems.push_back(core + ": inputs to " + groups + " need " + std::to_string(u.input_axons) +
                         " input axons, more than " + std::to_string(limits.input_axons));
    }
    if (over(u.output_axons, limits.output_axons)) {
      problems.push_back(core + ": outputs of " + groups + " need " +
                         std::to_string(u.output_axons) + " output axons, more than " +
                         std::to_string(limits.output_axons));
    }
  }
  if (problems.empty()) return Status::Ok();
  std::string message = std::to_string(problems.size()) + " per-core limit(s) exceeded: ";
  for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
  return InvalidArgumentError(message);
}

}  // namespace spk::sim

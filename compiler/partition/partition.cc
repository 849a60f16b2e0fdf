#include "compiler/partition/partition.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "hal/format/core_usage.h"

namespace spk::compiler::partition {
namespace {

using hal::format::BoardImage;
using hal::format::ChipProfile;
using hal::format::CoreLimits;
using hal::format::CorePlacement;

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// A limit of 0 in a profile means "not modelled".
uint64_t Cap(uint64_t limit) { return limit == 0 ? kUnlimited : limit; }

// What the planner believes a core already holds.
struct OpenCore {
  uint64_t neurons = 0;
  uint64_t bits = 0;
  uint64_t axons = 0;
  uint64_t out_axons = 0;  // estimated from the previous round's fan-out
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

namespace {

// Input axons of a group of `layers[l]` holding target neurons [first, end).
// Tables read windows of their source groups, so a planned source layer
// costs, per source group, the hull of the targets' footprints inside it; a
// port costs the hull of the footprints; an input with per-unit axons
// (conv tiles) their sum; anything else its whole source.
uint64_t GroupAxons(const std::vector<LayerDemand>& layers, uint32_t l, uint64_t first,
                    uint64_t end,
                    const std::vector<std::vector<std::pair<uint32_t, uint32_t>>>& slices) {
  uint64_t axons = 0;
  const uint32_t unit = std::max<uint32_t>(layers[l].unit, 1);
  // A source read by several tables (a split table's two halves, a stream
  // read through several layers) sends its spikes to the core once: one
  // hull per source group. Layers have few inputs and a group touches few
  // source groups, so flat lists will do.
  struct Hull {
    int src;
    uint32_t port;
    uint64_t lo, hi, whole;
  };
  std::vector<Hull> hulls;
  auto join = [&](int src, uint32_t port, uint64_t lo, uint64_t hi, uint64_t whole) {
    auto it = std::find_if(hulls.begin(), hulls.end(),
                           [&](const Hull& h) { return h.src == src && h.port == port; });
    if (it == hulls.end()) {
      hulls.push_back({src, port, lo, hi, whole});
    } else {
      it->lo = std::min(it->lo, lo);
      it->hi = std::max(it->hi, hi);
      it->whole = std::max(it->whole, whole);
    }
  };
  for (const InputDemand& in : layers[l].inputs) {
    const bool planned = in.source_layer >= 0 && static_cast<uint32_t>(in.source_layer) < l;
    if (!in.axons_per_unit.empty()) {
      for (uint64_t u = first / unit; u * unit < end && u < in.axons_per_unit.size(); ++u) {
        axons += in.axons_per_unit[u];
      }
      continue;
    }
    if (in.footprint_lo.empty() || (in.source_layer >= 0 && !planned)) {
      // Whole: keyed apart from hulls (port index past any group's).
      join(in.source_layer, in.source_layer < 0 ? in.source_port : 0, 0, in.source_size,
           in.source_size);
      continue;
    }
    if (in.source_layer < 0) {
      uint64_t lo = std::numeric_limits<uint64_t>::max(), hi = 0;
      for (uint64_t t = first; t < end; ++t) {
        lo = std::min<uint64_t>(lo, in.footprint_lo[t]);
        hi = std::max<uint64_t>(hi, in.footprint_hi[t]);
      }
      join(-1, in.source_port, lo, hi, in.source_size);
      continue;
    }
    // Per source group: slices are in offset order.
    const auto& sl = slices[static_cast<size_t>(in.source_layer)];
    for (uint64_t t = first; t < end; ++t) {
      uint64_t lo = in.footprint_lo[t];
      const uint64_t hi = in.footprint_hi[t];
      if (lo >= hi) continue;
      auto it = std::partition_point(
          sl.begin(), sl.end(), [&](const auto& s) { return uint64_t{s.first} + s.second <= lo; });
      for (; it != sl.end() && it->first < hi; ++it) {
        const uint64_t g_end = uint64_t{it->first} + it->second;
        join(in.source_layer, static_cast<uint32_t>(it - sl.begin()) + 1,
             std::max(lo, uint64_t{it->first}), std::min(hi, g_end), in.source_size);
        lo = g_end;
      }
    }
  }
  for (const Hull& h : hulls) {
    if (h.lo >= h.hi) continue;
    if (h.src >= 0 && static_cast<uint32_t>(h.src) >= l) {
      axons += h.whole;  // not planned yet (read before it is written)
    } else {
      axons += h.hi - h.lo;
    }
  }
  return axons;
}

// One planning pass with `caps` (most neurons per group, per layer). Fills
// `split` with source layers whose groups are too large for some target
// neuron's inputs to fit a core.
// Source groups a group [first, end) of layer l reads, by index into
// `groups` (of an earlier layer), through its footprint.
template <typename Visit>
void ReadGroups(const std::vector<LayerDemand>& layers, uint32_t l, uint64_t first, uint64_t end,
                const std::vector<std::vector<size_t>>& groups_by_layer,
                const std::vector<GroupSlice>& groups, Visit&& visit) {
  for (const InputDemand& in : layers[l].inputs) {
    if (in.source_layer < 0 || static_cast<uint32_t>(in.source_layer) >= l) continue;
    uint64_t lo = 0, hi = in.source_size;
    if (!in.footprint_lo.empty()) {
      lo = std::numeric_limits<uint64_t>::max();
      hi = 0;
      for (uint64_t t = first; t < end; ++t) {
        lo = std::min<uint64_t>(lo, in.footprint_lo[t]);
        hi = std::max<uint64_t>(hi, in.footprint_hi[t]);
      }
    }
    const auto& of = groups_by_layer[static_cast<size_t>(in.source_layer)];
    auto it = std::partition_point(of.begin(), of.end(), [&](size_t gi) {
      return uint64_t{groups[gi].offset} + groups[gi].count <= lo;
    });
    for (; it != of.end() && groups[*it].offset < hi; ++it) visit(*it);
  }
}

Plan PlanOnce(const std::vector<LayerDemand>& layers, const ChipProfile& chip,
              const hal::format::BoardProfile& board, const PlanOptions& options,
              const std::vector<uint64_t>& caps, std::vector<uint64_t>& fanout,
              std::set<int>* split) {
  Plan plan;
  const CoreLimits& lim = chip.core;
  std::vector<uint32_t> groups_of(layers.size(), 0);
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> slices(layers.size());
  OpenCore open;
  uint32_t cores = 0;

  for (uint32_t l = 0; l < layers.size(); ++l) {
    const LayerDemand& layer = layers[l];
    const uint32_t unit = std::max<uint32_t>(layer.unit, 1);
    const uint64_t units = std::max<uint64_t>(layer.size / unit, 1);
    // Conv kernels are stored once per source group.
    auto copies = [&](const InputDemand& in) -> uint64_t {
      return in.per_source_group && in.source_layer >= 0
                 ? std::max<uint32_t>(groups_of[in.source_layer], 1)
                 : 1;
    };
    uint64_t bits_per_unit = 0;
    for (const InputDemand& in : layer.inputs) bits_per_unit += in.bits_per_unit * copies(in);
    uint64_t per_group = std::min<uint64_t>(units, std::max<uint64_t>(caps[l] / unit, 1));
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
    const uint64_t size = std::max<uint64_t>(layer.size, 1);
    // Synapse bits of targets [first, end).
    auto group_bits = [&](uint64_t first, uint64_t end) {
      uint64_t bits = 0;
      for (const InputDemand& in : layer.inputs) {
        if (!in.bits_prefix.empty()) {
          bits += in.bits_prefix[end] - in.bits_prefix[first];
          continue;
        }
        bits += in.bits_per_unit * copies(in) * ((end - first) / unit);
      }
      return bits;
    };
    auto group_range = [&](uint64_t n, uint64_t g) {  // neurons of group g of n
      const uint64_t first_unit = g * (units / n) + std::min(g, units % n);
      const uint64_t count_units = units / n + (g < units % n ? 1 : 0);
      return std::pair{first_unit * unit, std::min(size, (first_unit + count_units) * unit)};
    };
    // The most axons one split unit needs: no split fits below it.
    uint64_t unit_axons = 0;
    const bool same_for_all =
        std::none_of(layer.inputs.begin(), layer.inputs.end(), [&](const InputDemand& in) {
          return !in.footprint_lo.empty() || !in.axons_per_unit.empty();
        });
    for (uint64_t u = 0; u < (same_for_all ? 1 : units); ++u) {
      unit_axons = std::max(
          unit_axons, GroupAxons(layers, l, u * unit, std::min(size, (u + 1) * unit), slices));
    }
    uint64_t n = (units + per_group - 1) / per_group;
    std::vector<uint64_t> axons_of;
    if (unit_axons > Cap(lim.input_axons)) {
      // One split unit's inputs alone are too many (tables read windows, so
      // splitting its sources would not help).
      plan.violations.push_back({layer.name, -1, "input axons", unit_axons, lim.input_axons});
    } else {
      // More, smaller groups until each group's axons and synapses fit
      // (sparse tables' synapses need not spread evenly over the targets).
      for (;;) {
        axons_of.assign(n, 0);
        bool fits = true;
        for (uint64_t g = 0; g < n && fits; ++g) {
          const auto [first, end] = group_range(n, g);
          axons_of[g] = GroupAxons(layers, l, first, end, slices);
          fits = axons_of[g] <= Cap(lim.input_axons) &&
                 (end - first <= unit || group_bits(first, end) <= Cap(lim.synapse_memory_bits));
        }
        if (fits || n >= units) break;
        n = std::min(units, std::max(n + 1, n + n / 4));
      }
    }
    if (axons_of.size() != n) {
      axons_of.assign(n, 0);
      for (uint64_t g = 0; g < n; ++g) {
        const auto [first, end] = group_range(n, g);
        axons_of[g] = GroupAxons(layers, l, first, end, slices);
      }
    }
    groups_of[l] = static_cast<uint32_t>(n);
    for (uint64_t g = 0; g < n; ++g) {
      const auto [first, end] = group_range(n, g);
      const uint64_t neurons = end - first;
      const uint64_t bits = group_bits(first, end);
      const uint64_t axons = axons_of[g];
      const uint64_t out_axons = neurons * fanout[l];
      const bool fits = !open.empty && open.neurons + neurons <= Cap(lim.neurons) &&
                        open.bits + bits <= Cap(lim.synapse_memory_bits) &&
                        open.axons + axons <= Cap(lim.input_axons) &&
                        open.out_axons + out_axons <= Cap(lim.output_axons);
      if (!fits) {
        open = OpenCore{};
        ++cores;
      }
      open.empty = false;
      open.neurons += neurons;
      open.bits += bits;
      open.axons += axons;
      open.out_axons += out_axons;
      const uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(neurons, layer.size));
      plan.groups.push_back({l, static_cast<uint32_t>(first), count, cores - 1});
      slices[l].push_back({static_cast<uint32_t>(first), count});
    }
  }
  plan.num_cores = cores;

  // Output axons: a group sends to every core holding a group that reads
  // it. Too many on a core: split its largest sender finer, and remember each
  // layer's fan-out so the next round packs by it.
  std::vector<std::vector<size_t>> groups_by_layer(layers.size());
  for (size_t gi = 0; gi < plan.groups.size(); ++gi) {
    groups_by_layer[plan.groups[gi].layer].push_back(gi);
  }
  // Groups are visited in core order, so a source group's target cores
  // arrive sorted: count the distinct ones by the last seen.
  std::vector<uint32_t> targets(plan.groups.size(), 0);
  std::vector<int64_t> last_core(plan.groups.size(), -1);
  for (const GroupSlice& g : plan.groups) {
    ReadGroups(layers, g.layer, g.offset, uint64_t{g.offset} + g.count, groups_by_layer,
               plan.groups, [&](size_t gi) {
                 if (last_core[gi] != g.core) {
                   last_core[gi] = g.core;
                   ++targets[gi];
                 }
               });
  }
  std::vector<uint64_t> out_axons(cores, 0);
  std::vector<std::map<uint32_t, uint64_t>> out_by_layer(cores);
  for (size_t gi = 0; gi < plan.groups.size(); ++gi) {
    const GroupSlice& g = plan.groups[gi];
    const uint64_t n = uint64_t{g.count} * targets[gi];
    out_axons[g.core] += n;
    out_by_layer[g.core][g.layer] += n;
    fanout[g.layer] = std::max<uint64_t>(fanout[g.layer], targets[gi]);
  }
  for (uint32_t c = 0; c < cores; ++c) {
    if (out_axons[c] <= Cap(lim.output_axons)) continue;
    uint32_t worst = 0;
    uint64_t most = 0;
    for (const auto& [layer, n] : out_by_layer[c]) {
      if (n > most) {
        most = n;
        worst = layer;
      }
    }
    split->insert(static_cast<int>(worst));
  }

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

}  // namespace

Plan MakePlan(const std::vector<LayerDemand>& layers, const ChipProfile& chip,
              const hal::format::BoardProfile& board, const PlanOptions& options) {
  // A target neuron whose inputs do not fit a core's axons may fit once a
  // source it reads part of is split finer: halve that source's groups and
  // plan again.
  constexpr int kMaxRounds = 32;
  std::vector<uint64_t> caps(layers.size(), kUnlimited);
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].max_group > 0) caps[l] = layers[l].max_group;
  }
  std::vector<uint64_t> fanout(layers.size(), 0);
  for (int round = 0;; ++round) {
    std::set<int> split;
    const std::vector<uint64_t> fanout_before = fanout;
    Plan plan = PlanOnce(layers, chip, board, options, caps, fanout, &split);
    if (round == kMaxRounds) return plan;
    bool changed = fanout != fanout_before;
    for (int src : split) {
      uint64_t largest = 0;
      for (const GroupSlice& g : plan.groups) {
        if (g.layer == static_cast<uint32_t>(src)) largest = std::max<uint64_t>(largest, g.count);
      }
      const uint64_t unit = std::max<uint32_t>(layers[src].unit, 1);
      const uint64_t cap = std::max(unit, (largest / 2) / unit * unit);
      if (cap < caps[src] && cap < largest) {
        caps[src] = cap;
        changed = true;
      }
    }
    if (!changed) return plan;
  }
}

std::vector<Violation> CheckCoreLimits(const BoardImage& image, const CoreLimits& limits) {
  const std::vector<hal::format::CoreUsage> usage = hal::format::MeasureCoreUsage(image, limits);
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

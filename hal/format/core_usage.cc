#include "hal/format/core_usage.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
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

namespace {

uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t out;
  return __builtin_add_overflow(a, b, &out) ? std::numeric_limits<uint64_t>::max() : out;
}
uint64_t SatMul(uint64_t a, uint64_t b) {
  uint64_t out;
  return __builtin_mul_overflow(a, b, &out) ? std::numeric_limits<uint64_t>::max() : out;
}

// [lo, hi) of the window on one axis, relative to the source box and clipped
// to it.
std::pair<uint64_t, uint64_t> LocalWindow(uint64_t box0, uint64_t boxn, uint64_t win0,
                                          uint64_t winn) {
  const uint64_t lo = std::max(box0, win0);
  const uint64_t hi = std::min(SatAdd(box0, boxn), SatAdd(win0, winn));
  return lo < hi ? std::pair(lo - box0, hi - box0) : std::pair<uint64_t, uint64_t>(0, 0);
}

// The neurons a conv2d table reads: its window's rows and columns of every
// channel of the source box, in box-local CHW order.
std::vector<NeuronRange> ConvRanges(const Conv2dGeometry& conv, uint64_t source_size) {
  const ConvBox b = ResolveConvBox(conv);
  const uint64_t rows = b.in_yn, cols = b.in_xn;
  const uint64_t plane = rows * cols;  // < 2^64: both below 2^32
  const auto [y0, y1] = LocalWindow(b.in_y0, b.in_yn, b.win_y0, b.win_yn);
  const auto [x0, x1] = LocalWindow(b.in_x0, b.in_xn, b.win_x0, b.win_xn);
  std::vector<NeuronRange> out;
  if (plane == 0 || y0 == y1 || x0 == x1 || conv.in_c_count == 0) return out;
  auto add = [&](uint64_t begin, uint64_t end) {
    end = std::min(end, source_size);
    if (begin < end) out.push_back({begin, end});
    return begin < source_size;
  };
  if (y0 == 0 && y1 == rows && x0 == 0 && x1 == cols) {
    add(0, SatMul(conv.in_c_count, plane));
    return out;
  }
  // Channels past the source's end read nothing.
  const uint64_t channels = std::min<uint64_t>(conv.in_c_count, source_size / plane + 1);
  for (uint64_t c = 0; c < channels; ++c) {
    const uint64_t base = c * plane;  // <= source_size
    if (x0 == 0 && x1 == cols) {
      if (!add(base + y0 * cols, base + y1 * cols)) break;
      continue;
    }
    for (uint64_t y = y0; y < y1; ++y) {
      if (!add(base + y * cols + x0, base + y * cols + x1)) return out;
    }
  }
  return out;
}

// FNV-1a over a kernel's weights, to find identical kernels.
uint64_t KernelHash(const std::vector<int16_t>& weights) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int16_t w : weights) {
    h = (h ^ static_cast<uint16_t>(w)) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::vector<NeuronRange> TableRanges(const SynapseTable& table, uint64_t source_size) {
  if (table.format == SynapseFormat::kConv2d) return ConvRanges(table.conv, source_size);
  const NeuronRange r = TableWindow(table, source_size);
  if (r.begin >= r.end) return {};
  return {r};
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
  // The conv kernels stored on each core, keyed by (core, num_weight_bits,
  // out_c_count, kernel_h, kernel_w, weights, hash of the weights): tables
  // with the same key and equal weights share one copy.
  std::map<std::tuple<uint32_t, uint8_t, uint32_t, uint32_t, uint32_t, size_t, uint64_t>,
           std::vector<const std::vector<int16_t>*>>
      kernels;
  // A table sharing another's weights (weights_of) applies the owner's; a
  // core stores each owner's set once.
  std::unordered_map<uint32_t, const SynapseTable*> tables_by_id;
  for (const SynapseTable& t : image.tables) tables_by_id.emplace(t.id, &t);
  std::set<std::pair<uint32_t, const SynapseTable*>> owners_stored;  // (core, owner)
  std::unordered_map<const SynapseTable*, uint64_t> kernel_hash;
  for (const SynapseTable& t : image.tables) {
    const NeuronGroup* target = group(t.target_group);
    if (target == nullptr || target->core >= usage.size()) continue;
    const uint32_t core = target->core;
    const SynapseTable* owner = &t;
    if (t.weights_of != kOwnWeights) {
      auto it = tables_by_id.find(t.weights_of);
      if (it != tables_by_id.end()) owner = it->second;
    }
    const std::vector<int16_t>& weights = owner->weights;
    bool stored = owners_stored.insert({core, owner}).second;
    if (stored && t.format == SynapseFormat::kConv2d && !weights.empty()) {
      auto [hash, fresh] = kernel_hash.try_emplace(owner, 0);
      if (fresh) hash->second = KernelHash(weights);  // once per weight set
      auto& same = kernels[{core, t.num_weight_bits, t.conv.out_c_count, t.conv.kernel_h,
                            t.conv.kernel_w, weights.size(), hash->second}];
      stored = std::none_of(same.begin(), same.end(),
                            [&](const std::vector<int16_t>* w) { return *w == weights; });
      if (stored) same.push_back(&weights);
    }
    const uint64_t bits =
        t.format == SynapseFormat::kSparse ? limits.synapse_bits_sparse : limits.synapse_bits_dense;
    if (stored) usage[core].synapse_bits += weights.size() * bits;
    std::vector<NeuronRange>& ranges =
        windows[{static_cast<uint8_t>(t.source.kind), t.source.index, core}];
    for (const NeuronRange& r : TableRanges(t, source_size(t.source))) ranges.push_back(r);
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

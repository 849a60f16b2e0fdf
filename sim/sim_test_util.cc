#include "sim/sim_test_util.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <utility>

namespace spk::sim::testing {

using hal::format::BoardImage;
using hal::format::NeuronGroup;
using hal::format::NeuronModel;
using hal::format::OutputSource;
using hal::format::SourceKind;
using hal::format::SpikeKind;
using hal::format::SynapseSource;
using hal::format::SynapseTable;

hal::format::ChipProfile TestChip() {
  hal::format::ChipProfile p;
  p.name = "test";
  p.description = "round numbers for tests";
  p.cores_per_chip = 16;
  p.mesh_width = 4;
  p.mesh_height = 4;
  p.core.neurons = 4096;
  p.core.synapse_memory_bits = uint64_t{1} << 26;
  p.core.input_axons = 8192;
  p.core.output_axons = 8192;
  p.timing.clock_mhz = 1000;
  p.timing.synaptic_op_ns = 2;
  p.timing.neuron_update_ns = 3;
  p.timing.spike_in_tile_ns = 5;
  p.timing.hop_ns_east_west = 7;
  p.timing.hop_ns_north_south = 11;
  p.timing.chip_crossing_ns = 100;
  p.timing.barrier_ns = 200;
  p.timing.host_link_bytes_per_s = 1e9;
  p.timing.host_link_latency_ns = 1000;
  p.energy.synaptic_op_pj = 20;
  p.energy.neuron_update_active_pj = 80;
  p.energy.neuron_update_inactive_pj = 50;
  p.energy.spike_in_tile_pj = 2;
  p.energy.hop_pj_east_west = 3;
  p.energy.hop_pj_north_south = 4;
  p.energy.chip_crossing_pj = 1000;
  p.energy.barrier_pj = 10;
  p.energy.host_link_pj_per_byte = 100;
  p.energy.static_power_w_per_chip = 0.5;
  p.energy.dynamic_rail_share = {{"vdd", 0.75}, {"vddm", 0.25}};
  p.energy.static_rail_share = {{"vdd", 0.5}, {"vddm", 0.5}};
  p.thermal_resistance_c_per_w = 10;
  p.thermal_time_constant_s = 2;
  p.ambient_c = 25;
  return p;
}

hal::format::BoardProfile TestBoard(uint32_t chips, uint32_t chips_x, uint32_t chips_y) {
  hal::format::BoardProfile b;
  b.name = "test-board-" + std::to_string(chips);
  b.chip = "test";
  b.chips = chips;
  b.chips_x = chips_x ? chips_x : chips;
  b.chips_y = chips_y ? chips_y : 1;
  return b;
}

ImageBuilder::ImageBuilder(uint32_t cores, std::string chip) {
  image_.meta.model_name = "test-model";
  image_.meta.chip_profile = std::move(chip);
  image_.meta.timesteps = 1;
  image_.meta.run_steps = 1;
  for (uint32_t c = 0; c < cores; ++c) image_.cores.push_back({0, c});
}

uint32_t ImageBuilder::AddInput(const std::string& name, uint32_t size, SpikeKind kind) {
  hal::format::InputPort port;
  port.name = name;
  port.shape = {size};
  port.kind = kind;
  image_.inputs.push_back(port);
  return static_cast<uint32_t>(image_.inputs.size() - 1);
}

NeuronGroup& ImageBuilder::AddGroup(uint32_t id, uint32_t core, uint32_t size, NeuronModel model) {
  NeuronGroup g;
  g.id = id;
  g.core = core;
  g.size = size;
  g.model = model;
  g.layer = "layer" + std::to_string(id);
  image_.groups.push_back(g);
  return image_.groups.back();
}

SynapseTable& ImageBuilder::AddDense(uint32_t id, SynapseSource source, uint32_t target_group,
                                     std::vector<int16_t> weights, int8_t weight_exp,
                                     uint8_t target_port) {
  SynapseTable t;
  t.id = id;
  t.source = source;
  t.target_group = target_group;
  t.target_port = target_port;
  t.weight_exp = weight_exp;
  t.weights = std::move(weights);
  return AddTable(std::move(t));
}

SynapseTable& ImageBuilder::AddTable(SynapseTable table) {
  image_.tables.push_back(std::move(table));
  return image_.tables.back();
}

void ImageBuilder::AddOutput(const std::string& name, uint32_t group, OutputSource source) {
  uint32_t size = 0;
  for (const auto& g : image_.groups) {
    if (g.id == group) size = g.size;
  }
  hal::format::OutputPort port;
  port.name = name;
  port.shape = {size};
  port.source = source;
  port.segments.push_back({group, 0, 0, size});
  image_.outputs.push_back(port);
}

BoardImage ImageBuilder::Build() const {
  BoardImage image = image_;
  std::map<uint32_t, const NeuronGroup*> groups;
  for (const auto& g : image.groups) groups[g.id] = &g;
  std::set<std::pair<uint32_t, uint32_t>> routes;
  std::map<uint32_t, uint32_t> next_axon;  // per target core
  for (const auto& t : image.tables) {
    if (t.source.kind != SourceKind::kGroup) continue;
    auto src = groups.find(t.source.index);
    auto dst = groups.find(t.target_group);
    if (src == groups.end() || dst == groups.end()) continue;
    const uint32_t core = dst->second->core;
    if (!routes.insert({src->first, core}).second) continue;
    image.routes.push_back({src->first, core, next_axon[core]});
    next_axon[core] += src->second->size;
  }
  return image;
}

std::vector<Span> Halves(uint32_t n) { return {{0, n / 2}, {n / 2, n - n / 2}}; }

namespace {

// The rows (or columns) of the input that outputs [out.lo, +out.n) read,
// inside `box`; n 0 when they meet nowhere.
Span Field(Span out, uint32_t kernel, uint32_t stride, uint32_t pad, Span box) {
  const int64_t lo = std::max<int64_t>(int64_t{out.lo} * stride - pad, box.lo);
  const int64_t hi =
      std::min<int64_t>(int64_t{out.lo + out.n - 1} * stride - pad + kernel, box.lo + box.n);
  if (lo >= hi) return {0, 0};
  return {static_cast<uint32_t>(lo), static_cast<uint32_t>(hi - lo)};
}

}  // namespace

bool ConvTileTable(const SynapseTable& whole, Span in_c, Span ys, Span xs, Span out_c, Span oys,
                   Span oxs, SynapseTable* t) {
  const hal::format::Conv2dGeometry& w = whole.conv;
  const Span wy = Field(oys, w.kernel_h, w.stride_h, w.pad_h, ys);
  const Span wx = Field(oxs, w.kernel_w, w.stride_w, w.pad_w, xs);
  if (wy.n == 0 || wx.n == 0) return false;
  *t = whole;
  hal::format::Conv2dGeometry& g = t->conv;
  g.in_c_offset = in_c.lo;
  g.in_c_count = in_c.n;
  g.out_c_offset = out_c.lo;
  g.out_c_count = out_c.n;
  auto set = [](Span s, uint32_t full, uint32_t& offset, uint32_t& count) {
    const bool all = s.lo == 0 && s.n == full;
    offset = all ? 0 : s.lo;
    count = all ? 0 : s.n;
  };
  set(ys, w.in_h, g.in_y_offset, g.in_y_count);
  set(xs, w.in_w, g.in_x_offset, g.in_x_count);
  set(oys, w.out_h, g.out_y_offset, g.out_y_count);
  set(oxs, w.out_w, g.out_x_offset, g.out_x_count);
  const bool whole_y = wy.lo == ys.lo && wy.n == ys.n;
  const bool whole_x = wx.lo == xs.lo && wx.n == xs.n;
  g.win_y_offset = whole_y ? 0 : wy.lo;
  g.win_y_count = whole_y ? 0 : wy.n;
  g.win_x_offset = whole_x ? 0 : wx.lo;
  g.win_x_count = whole_x ? 0 : wx.n;
  // The weights of the target's output channels.
  const size_t per_oc = whole.weights.size() / w.out_c_count;
  t->weights.assign(
      whole.weights.begin() + static_cast<std::ptrdiff_t>(out_c.lo * per_oc),
      whole.weights.begin() + static_cast<std::ptrdiff_t>((out_c.lo + out_c.n) * per_oc));
  return true;
}

uint64_t TestRng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace spk::sim::testing

#include "sim/program.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "hal/format/board_image_validate.h"
#include "sim/fixed_point.h"

namespace spk::sim {
namespace {

using hal::format::NeuronModel;
using hal::format::OutputSource;

constexpr double kNsToS = 1e-9;
constexpr double kPjToJ = 1e-12;

// Bytes one step of a port takes over the host link: binary spikes as a
// bitmap, payloads and voltages as 32-bit values.
uint64_t StepBytes(uint32_t size, bool packed_bits) {
  return packed_bits ? (uint64_t{size} + 7) / 8 : uint64_t{size} * 4;
}

// How many of the ascending `index` lie in the sorted disjoint `ranges`: a
// binary search per range, or per spike when the ranges are the more (a conv
// window is a range per channel and row).
uint64_t CountInRanges(const std::vector<uint32_t>& index,
                       const std::vector<hal::format::NeuronRange>& ranges) {
  uint64_t n = 0;
  if (ranges.size() <= index.size()) {
    auto lo = index.begin();
    for (const hal::format::NeuronRange& r : ranges) {
      lo = std::lower_bound(lo, index.end(), r.begin);
      const auto hi = std::lower_bound(lo, index.end(), r.end);
      n += static_cast<uint64_t>(hi - lo);
      lo = hi;
    }
    return n;
  }
  auto r = ranges.begin();
  for (uint32_t i : index) {
    // The first range that ends after i.
    r = std::partition_point(r, ranges.end(),
                             [i](const hal::format::NeuronRange& x) { return x.end <= i; });
    if (r == ranges.end()) break;
    n += r->begin <= i ? 1 : 0;
  }
  return n;
}

}  // namespace

StatusOr<std::unique_ptr<Program>> Program::Create(const hal::format::BoardImage& image,
                                                   const hal::format::ChipProfile& chip,
                                                   const BoardMesh& mesh,
                                                   std::vector<uint32_t> partition) {
  if (image.meta.chip_profile != chip.name) {
    return FailedPreconditionError("the image was compiled for chip profile '" +
                                   image.meta.chip_profile + "', this board has '" + chip.name +
                                   "'");
  }
  SPK_RETURN_IF_ERROR(hal::format::ValidateBoardImage(image));
  SPK_ASSIGN_OR_RETURN(Network net, BuildNetwork(image));
  SPK_RETURN_IF_ERROR(CheckCoreLimits(image, net, chip.core));
  if (partition.size() < net.logical_cores) {
    return ResourceExhaustedError("the image needs " + std::to_string(net.logical_cores) +
                                  " cores but the partition has " +
                                  std::to_string(partition.size()));
  }
  std::set<uint32_t> chips;
  for (uint32_t core : partition) {
    if (core >= mesh.total_cores()) {
      return InvalidArgumentError("partition core " + std::to_string(core) +
                                  " does not exist on a board of " +
                                  std::to_string(mesh.total_cores()) + " cores");
    }
    chips.insert(mesh.ChipOf(core));
  }
  std::unique_ptr<Program> program(
      new Program(std::move(net), chip, std::move(partition), static_cast<uint32_t>(chips.size())));
  program->PlaceRoutes(mesh);
  return program;
}

Program::Program(Network net, const hal::format::ChipProfile& chip, std::vector<uint32_t> partition,
                 uint32_t chips_powered)
    : net_(std::move(net)),
      chip_(chip),
      partition_(std::move(partition)),
      chips_powered_(chips_powered) {
  const size_t groups = net_.groups.size();
  const size_t cores = net_.logical_cores;
  state_.resize(groups);
  pending_.resize(groups);
  taps_.resize(groups);
  group_work_.resize(groups);
  for (size_t i = 0; i < groups; ++i) {
    const CompiledGroup& g = net_.groups[i];
    const size_t ring = size_t{g.params.size} * g.delay_slots;
    pending_[i][0].assign(ring, 0);
    if (g.params.model == NeuronModel::kAnd2) pending_[i][1].assign(ring, 0);
  }
  ResetState();
  queued_.resize(net_.inputs.size());
  for (auto& s : spikes_) s.resize(net_.sources.size());
  source_work_.resize(net_.sources.size());
  scratch_.resize(cores);
  for (size_t c = 0; c < cores; ++c) {
    uint32_t largest = 0;
    for (uint32_t gi : net_.core_groups[c]) {
      largest = std::max(largest, net_.groups[gi].params.size);
    }
    scratch_[c].a_in[0].assign(largest, 0);
    scratch_[c].a_in[1].assign(largest, 0);
  }
  for (auto& w : step_work_) w.assign(cores, WorkCounters{});
  core_work_.assign(cores, WorkCounters{});
  core_busy_ns_.assign(cores, 0);
  outputs_.resize(net_.outputs.size());
  for (uint32_t k = 0; k < net_.outputs.size(); ++k) {
    for (const CompiledSegment& seg : net_.outputs[k].segments) {
      taps_[seg.group].push_back(OutputTap{k, seg});
    }
  }
}

void Program::PlaceRoutes(const BoardMesh& mesh) {
  routes_.resize(net_.sources.size());
  for (size_t s = 0; s < net_.sources.size(); ++s) {
    const SpikeSource& src = net_.sources[s];
    for (size_t k = 0; k < src.target_cores.size(); ++k) {
      const uint32_t target = src.target_cores[k];
      PlacedRoute route;
      route.target_core = target;
      route.ranges = &src.target_ranges[k];
      route.whole = route.ranges->size() == 1 && route.ranges->front().begin == 0 &&
                    route.ranges->front().end == src.size;
      // Host input enters at the target core itself: it pays the host link,
      // not the mesh.
      if (!src.is_input) {
        route.metrics = mesh.Route(partition_[src.core], partition_[target]);
        route.latency_ns = RouteLatencyNs(chip_.timing, route.metrics);
      }
      routes_[s].push_back(route);
    }
  }
}

void Program::ResetState() {
  clock_ = 0;
  for (size_t i = 0; i < net_.groups.size(); ++i) {
    state_[i].u = net_.groups[i].u_init;
    state_[i].v = net_.groups[i].v_init;
    for (auto& port : pending_[i]) std::fill(port.begin(), port.end(), 0);
  }
  for (auto& slot : spikes_) {
    for (auto& list : slot) list.Clear();
  }
}

Status Program::WriteInputs(uint32_t port, uint32_t steps, std::span<const int32_t> values) {
  if (port >= net_.inputs.size()) {
    return InvalidArgumentError("input port " + std::to_string(port) +
                                " does not exist; the program has " +
                                std::to_string(net_.inputs.size()));
  }
  const CompiledInput& in = net_.inputs[port];
  const uint64_t expected = uint64_t{steps} * in.size;
  if (values.size() != expected) {
    return InvalidArgumentError("input port '" + in.name + "': " + std::to_string(values.size()) +
                                " values for " + std::to_string(steps) + " steps of " +
                                std::to_string(in.size) + " (expected " + std::to_string(expected) +
                                ")");
  }
  if (queued_[port].size() + steps > kMaxQueuedSteps) {
    return ResourceExhaustedError("input port '" + in.name + "': more than " +
                                  std::to_string(kMaxQueuedSteps) + " steps queued");
  }
  if (!in.graded) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i] != 0 && values[i] != 1) {
        return InvalidArgumentError("input port '" + in.name + "' is binary but value " +
                                    std::to_string(i) + " is " + std::to_string(values[i]));
      }
    }
  }
  for (uint32_t s = 0; s < steps; ++s) {
    SpikeList list;
    const int32_t* step = values.data() + uint64_t{s} * in.size;
    for (uint32_t j = 0; j < in.size; ++j) {
      if (step[j] == 0) continue;
      list.index.push_back(j);
      if (in.graded) list.payload.push_back(step[j]);
    }
    queued_[port].push_back(std::move(list));
  }
  return Status::Ok();
}

StatusOr<std::vector<int32_t>> Program::ReadOutputs(uint32_t port) const {
  if (port >= outputs_.size()) {
    return InvalidArgumentError("output port " + std::to_string(port) +
                                " does not exist; the program has " +
                                std::to_string(outputs_.size()));
  }
  return outputs_[port];
}

void Program::InjectInputs(int slot) {
  for (size_t k = 0; k < net_.inputs.size(); ++k) {
    const CompiledInput& in = net_.inputs[k];
    SpikeList& dst = spikes_[slot][in.source];
    if (queued_[k].empty()) {
      dst.Clear();
      continue;
    }
    dst = std::move(queued_[k].front());
    queued_[k].pop_front();
    report_.input_spikes += dst.size();
    report_.host_bytes_in += StepBytes(in.size, !in.graded);
  }
}

void Program::UpdateCore(uint32_t core, uint32_t step, int slot) {
  CoreScratch& s = scratch_[core];
  WorkCounters& work = step_work_[slot][core];
  for (uint32_t gi : net_.core_groups[core]) {
    const CompiledGroup& g = net_.groups[gi];
    const uint32_t n = g.params.size;
    const bool two_ports = g.params.model == NeuronModel::kAnd2;
    const uint64_t now = clock_ + step;
    const size_t block = static_cast<size_t>(now % g.delay_slots) * n;
    for (int port = 0; port < (two_ports ? 2 : 1); ++port) {
      TakeInput(pending_[gi][port].data() + block, s.a_in[port].data(), n);
    }
    SpikeList& out = spikes_[slot][g.source];
    out.Clear();
    if (now < g.start_step) {
      // Pipeline fill: input is dropped and the state stays as reset.
      Record(g, gi, step, slot);
      continue;
    }
    const GroupStepResult r = UpdateGroup(
        g.params, s.a_in[0].data(), two_ports ? s.a_in[1].data() : nullptr, &state_[gi], &out);
    WorkCounters gw;
    gw.updates_active = r.active;
    gw.updates_inactive = n - r.active;
    gw.spikes_out = out.size();
    work += gw;
    group_work_[gi] += gw;
    Record(g, gi, step, slot);
  }
}

void Program::Record(const CompiledGroup& g, uint32_t gi, uint32_t step, int slot) {
  const SpikeList& spikes = spikes_[slot][g.source];
  for (const OutputTap& tap : taps_[gi]) {
    const CompiledOutput& port = net_.outputs[tap.output];
    const CompiledSegment& seg = tap.segment;
    int32_t* out = outputs_[tap.output].data() + uint64_t{step} * port.size + seg.port_offset;
    if (port.source == OutputSource::kVoltage) {
      std::copy_n(state_[gi].v.data() + seg.group_offset, seg.count, out);
      continue;
    }
    // Zero-filled when the run started; only firing neurons are written.
    auto it = std::lower_bound(spikes.index.begin(), spikes.index.end(), seg.group_offset);
    for (; it != spikes.index.end() && *it < seg.group_offset + seg.count; ++it) {
      const size_t k = static_cast<size_t>(it - spikes.index.begin());
      const bool payload = port.source == OutputSource::kPayload && g.params.graded;
      out[*it - seg.group_offset] = payload ? spikes.payload[k] : 1;
    }
  }
}

void Program::FanOutCore(uint32_t core, int slot, uint64_t now) {
  CoreScratch& s = scratch_[core];
  WorkCounters& work = step_work_[slot][core];
  for (uint32_t gi : net_.core_groups[core]) {
    const CompiledGroup& g = net_.groups[gi];
    for (int port = 0; port < 2; ++port) {
      for (uint32_t t : g.port_tables[port]) {
        const SpikeList* spikes = &spikes_[slot][net_.table_source[t]];
        if (spikes->size() == 0) continue;
        const CompiledTable& table = net_.tables[t];
        if (table.windowed) {
          SliceWindow(table, *spikes, &s.window);
          if (s.window.size() == 0) continue;
          spikes = &s.window;
        }
        const size_t block =
            static_cast<size_t>((now + table.delay) % g.delay_slots) * g.params.size;
        const uint64_t ops = FanOut(table, *spikes, &s.fan_out, pending_[gi][port].data() + block);
        work.synaptic_ops += ops;
        group_work_[gi].synaptic_ops += ops;
      }
    }
  }
}

void Program::RouteSpikes(int slot) {
  double latency = 0;
  for (size_t s = 0; s < net_.sources.size(); ++s) {
    const SpikeList& spikes = spikes_[slot][s];
    if (spikes.size() == 0) continue;
    const SpikeSource& src = net_.sources[s];
    for (const PlacedRoute& route : routes_[s]) {
      // Only neurons that the target core's tables read send it a message.
      uint64_t n = spikes.size();
      if (!route.whole) {
        n = CountInRanges(spikes.index, *route.ranges);
        if (n == 0) continue;
      }
      WorkCounters hop;
      hop.hops_ew = n * route.metrics.hops_ew;
      hop.hops_ns = n * route.metrics.hops_ns;
      hop.chip_crossings = n * route.metrics.chip_crossings;
      step_work_[slot][route.target_core].deliveries += n;
      if (!src.is_input) step_work_[slot][src.core] += hop;
      hop.deliveries = n;
      source_work_[s] += hop;
      latency = std::max(latency, route.latency_ns);
    }
  }
  step_latency_ns_[slot] = latency;
}

void Program::FinishStep(int slot) {
  double slowest = 0;
  for (size_t c = 0; c < net_.logical_cores; ++c) {
    WorkCounters& w = step_work_[slot][c];
    const double ns = CoreWorkTimeNs(chip_.timing, w);
    core_busy_ns_[c] += ns;
    slowest = std::max(slowest, ns);
    core_work_[c] += w;
    w = WorkCounters{};
  }
  const double step_ns = slowest + step_latency_ns_[slot] + chip_.timing.barrier_ns;
  report_.compute_time_s += slowest * kNsToS;
  report_.routing_time_s += step_latency_ns_[slot] * kNsToS;
  report_.barrier_time_s += chip_.timing.barrier_ns * kNsToS;
  report_.step_time_s.push_back(step_ns * kNsToS);
}

StatusOr<hal::RunStats> Program::Run(uint32_t steps, ThreadPool* pool) {
  if (steps > kMaxRunSteps) {
    return InvalidArgumentError("Run(" + std::to_string(steps) + "): at most " +
                                std::to_string(kMaxRunSteps) + " steps per run");
  }
  uint64_t output_values = 0;
  for (const auto& port : net_.outputs) output_values += uint64_t{steps} * port.size;
  if (output_values > kMaxOutputValues) {
    return InvalidArgumentError("Run(" + std::to_string(steps) + ") would record " +
                                std::to_string(output_values) + " output values, more than " +
                                std::to_string(kMaxOutputValues) + "; run fewer steps at a time");
  }

  report_ = RunReport{};
  report_.step_time_s.reserve(steps);
  std::fill(group_work_.begin(), group_work_.end(), WorkCounters{});
  std::fill(source_work_.begin(), source_work_.end(), WorkCounters{});
  std::fill(core_work_.begin(), core_work_.end(), WorkCounters{});
  std::fill(core_busy_ns_.begin(), core_busy_ns_.end(), 0.0);
  for (size_t k = 0; k < outputs_.size(); ++k) {
    outputs_[k].assign(uint64_t{steps} * net_.outputs[k].size, 0);
  }

  // Iteration i fans out the spikes of step i-1 and then fires step i, per
  // core; the extra last iteration only fans out, so the run's final spikes
  // are counted in this run and wait as pending input for the next.
  const size_t cores = net_.logical_cores;
  for (uint32_t i = 0; i <= steps; ++i) {
    const int slot = static_cast<int>(i & 1);
    const int prev = slot ^ 1;
    if (i < steps) InjectInputs(slot);
    auto body = [&](size_t c) {
      if (i > 0) FanOutCore(static_cast<uint32_t>(c), prev, clock_ + i);
      if (i < steps) UpdateCore(static_cast<uint32_t>(c), i, slot);
    };
    if (pool != nullptr && cores > 1) {
      pool->ParallelFor(cores, body);
    } else {
      for (size_t c = 0; c < cores; ++c) body(c);
    }
    if (i > 0) FinishStep(prev);
    if (i < steps) RouteSpikes(slot);
  }
  clock_ += steps;
  FinishReport(steps);
  return report_.stats;
}

void Program::FinishReport(uint32_t steps) {
  const auto& timing = chip_.timing;
  const auto& energy = chip_.energy;
  RunReport& r = report_;
  const double chip_time_s = r.compute_time_s + r.routing_time_s + r.barrier_time_s;
  const double core_static_w =
      chip_.cores_per_chip ? energy.static_power_w_per_chip / chip_.cores_per_chip : 0;

  double core_dynamic_j = 0;
  for (uint32_t c = 0; c < net_.logical_cores; ++c) {
    CoreReport cr;
    cr.logical_core = c;
    cr.physical_core = partition_[c];
    cr.work = core_work_[c];
    cr.busy_time_s = core_busy_ns_[c] * kNsToS;
    cr.dynamic_energy_j = WorkEnergyPj(energy, cr.work) * kPjToJ;
    cr.static_energy_j = core_static_w * chip_time_s;
    core_dynamic_j += cr.dynamic_energy_j;
    r.work += cr.work;
    r.cores.push_back(cr);
  }
  // The barrier is a chip-wide wave (docs/chip-model.md): charged per powered
  // chip and step, not to any one core.
  r.barrier_energy_j = energy.barrier_pj * steps * chips_powered_ * kPjToJ;

  for (const auto& port : net_.outputs) {
    r.host_bytes_out += steps * StepBytes(port.size, port.source == OutputSource::kSpikes);
  }
  const uint64_t host_bytes = r.host_bytes_in + r.host_bytes_out;
  double link_s = 0;
  if (host_bytes > 0 && timing.host_link_bytes_per_s > 0) {
    link_s = static_cast<double>(host_bytes) / timing.host_link_bytes_per_s;
  }
  const int transfers = (r.host_bytes_in > 0) + (r.host_bytes_out > 0);
  link_s += transfers * timing.host_link_latency_ns * kNsToS;
  r.host_link_energy_j = static_cast<double>(host_bytes) * energy.host_link_pj_per_byte * kPjToJ;

  // Layers: their groups' work plus the delivery of the spikes they send;
  // static energy follows each core's compartments.
  r.layers.resize(net_.layers.size());
  for (size_t l = 0; l < net_.layers.size(); ++l) r.layers[l].layer = net_.layers[l];
  for (size_t gi = 0; gi < net_.groups.size(); ++gi) {
    const CompiledGroup& g = net_.groups[gi];
    LayerReport& layer = r.layers[g.layer];
    layer.work += group_work_[gi];
    uint64_t core_neurons = 0;
    for (uint32_t other : net_.core_groups[g.core]) core_neurons += net_.groups[other].params.size;
    layer.static_energy_j += r.cores[g.core].static_energy_j * g.params.size / core_neurons;
  }
  for (size_t s = 0; s < net_.sources.size(); ++s) {
    r.layers[net_.sources[s].layer].work += source_work_[s];
  }
  for (LayerReport& layer : r.layers) {
    layer.dynamic_energy_j = WorkEnergyPj(energy, layer.work) * kPjToJ;
  }

  const double dynamic_j = core_dynamic_j + r.barrier_energy_j + r.host_link_energy_j;
  const double static_j = energy.static_power_w_per_chip * chips_powered_ * chip_time_s;
  r.chips_powered = chips_powered_;
  r.rails = SplitByRail(energy, dynamic_j, static_j);

  hal::RunStats& st = r.stats;
  st.steps = steps;
  st.synaptic_ops = r.work.synaptic_ops;
  st.neuron_updates = r.work.neuron_updates();
  st.spikes = r.work.spikes_out;
  st.hops = r.work.hops_ew + r.work.hops_ns;
  st.host_bytes = host_bytes;
  st.chip_time_s = chip_time_s;
  st.host_link_time_s = link_s;
  st.dynamic_energy_j = dynamic_j;
  st.static_energy_j = static_j;
  for (const CoreReport& cr : r.cores) {
    st.core_dynamic_energy_j.push_back(cr.dynamic_energy_j);
    st.core_time_s.push_back(cr.busy_time_s);
  }
}

}  // namespace spk::sim

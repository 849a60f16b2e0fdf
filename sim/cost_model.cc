#include "sim/cost_model.h"

#include <map>
#include <string>

namespace spk::sim {
namespace {

uint32_t Distance(uint32_t a, uint32_t b) { return a > b ? a - b : b - a; }

}  // namespace

StatusOr<BoardMesh> BoardMesh::Create(const hal::format::ChipProfile& chip,
                                      const hal::format::BoardProfile& board) {
  SPK_RETURN_IF_ERROR(hal::format::ValidateChipProfile(chip).WithContext("chip profile"));
  SPK_RETURN_IF_ERROR(hal::format::ValidateBoardProfile(board).WithContext("board profile"));
  if (board.chip != chip.name) {
    return InvalidArgumentError("board profile '" + board.name + "' carries '" + board.chip +
                                "' chips, not '" + chip.name + "'");
  }
  if (uint64_t{board.chips} * chip.cores_per_chip > (uint64_t{1} << 31)) {
    return InvalidArgumentError("board profile '" + board.name + "' has too many cores");
  }
  BoardMesh mesh;
  mesh.chips_ = board.chips;
  mesh.chips_x_ = board.chips_x;
  mesh.cores_per_chip_ = chip.cores_per_chip;
  mesh.mesh_width_ = chip.mesh_width;
  mesh.mesh_height_ = chip.mesh_height;
  return mesh;
}

RouteMetrics BoardMesh::Route(uint32_t from_core, uint32_t to_core) const {
  auto place = [&](uint32_t core, uint32_t* gx, uint32_t* gy, uint32_t* cx, uint32_t* cy) {
    const uint32_t chip = core / cores_per_chip_;
    const uint32_t local = core % cores_per_chip_;
    *cx = chip % chips_x_;
    *cy = chip / chips_x_;
    *gx = *cx * mesh_width_ + local % mesh_width_;
    *gy = *cy * mesh_height_ + local / mesh_width_;
  };
  uint32_t ax, ay, acx, acy, bx, by, bcx, bcy;
  place(from_core, &ax, &ay, &acx, &acy);
  place(to_core, &bx, &by, &bcx, &bcy);
  RouteMetrics r;
  r.hops_ew = Distance(ax, bx);
  r.hops_ns = Distance(ay, by);
  // X first along the source row, then Y: each chip column and row boundary
  // between the two is crossed exactly once.
  r.chip_crossings = Distance(acx, bcx) + Distance(acy, bcy);
  return r;
}

double RouteLatencyNs(const hal::format::TimingModel& t, const RouteMetrics& r) {
  return r.hops_ew * t.hop_ns_east_west + r.hops_ns * t.hop_ns_north_south +
         r.chip_crossings * t.chip_crossing_ns;
}

WorkCounters& WorkCounters::operator+=(const WorkCounters& o) {
  synaptic_ops += o.synaptic_ops;
  updates_active += o.updates_active;
  updates_inactive += o.updates_inactive;
  spikes_out += o.spikes_out;
  deliveries += o.deliveries;
  hops_ew += o.hops_ew;
  hops_ns += o.hops_ns;
  chip_crossings += o.chip_crossings;
  return *this;
}

double CoreWorkTimeNs(const hal::format::TimingModel& t, const WorkCounters& w) {
  return static_cast<double>(w.synaptic_ops) * t.synaptic_op_ns +
         static_cast<double>(w.neuron_updates()) * t.neuron_update_ns +
         static_cast<double>(w.deliveries) * t.spike_in_tile_ns;
}

double WorkEnergyPj(const hal::format::EnergyModel& e, const WorkCounters& w) {
  return static_cast<double>(w.synaptic_ops) * e.synaptic_op_pj +
         static_cast<double>(w.updates_active) * e.neuron_update_active_pj +
         static_cast<double>(w.updates_inactive) * e.neuron_update_inactive_pj +
         static_cast<double>(w.deliveries) * e.spike_in_tile_pj +
         static_cast<double>(w.hops_ew) * e.hop_pj_east_west +
         static_cast<double>(w.hops_ns) * e.hop_pj_north_south +
         static_cast<double>(w.chip_crossings) * e.chip_crossing_pj;
}

std::vector<RailEnergy> SplitByRail(const hal::format::EnergyModel& e, double dynamic_j,
                                    double static_j) {
  if (e.dynamic_rail_share.empty() && e.static_rail_share.empty()) {
    return {RailEnergy{"total", dynamic_j, static_j}};
  }
  // Rails in the order the profile names them, dynamic list first.
  std::vector<RailEnergy> rails;
  std::map<std::string, size_t> index;
  auto rail = [&](const std::string& name) -> RailEnergy& {
    auto [it, inserted] = index.emplace(name, rails.size());
    if (inserted) rails.push_back(RailEnergy{name, 0, 0});
    return rails[it->second];
  };
  for (const auto& [name, share] : e.dynamic_rail_share) rail(name).dynamic_j += dynamic_j * share;
  for (const auto& [name, share] : e.static_rail_share) rail(name).static_j += static_j * share;
  return rails;
}

}  // namespace spk::sim

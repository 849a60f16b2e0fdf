#include "sim/sim_device.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <thread>
#include <utility>

namespace spk::sim {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double RealtimeSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

StatusOr<std::unique_ptr<SimDevice>> SimDevice::Create(hal::format::ChipProfile chip,
                                                       hal::format::BoardProfile board,
                                                       SimDeviceOptions options) {
  SPK_ASSIGN_OR_RETURN(BoardMesh mesh, BoardMesh::Create(chip, board));
  if (!(options.power_window_s > 0)) {
    return InvalidArgumentError("power_window_s must be positive");
  }
  if (!options.clock) options.clock = SteadySeconds;
  if (options.serial.empty()) options.serial = "SIM-" + options.id;
  return std::unique_ptr<SimDevice>(
      new SimDevice(std::move(chip), std::move(board), mesh, std::move(options)));
}

SimDevice::SimDevice(hal::format::ChipProfile chip, hal::format::BoardProfile board, BoardMesh mesh,
                     SimDeviceOptions options)
    : chip_(std::move(chip)),
      board_(std::move(board)),
      mesh_(mesh),
      options_(std::move(options)),
      pool_(ResolveThreads(options_.threads)) {
  info_.id = options_.id;
  info_.driver = "sim";
  info_.serial = options_.serial;
  info_.firmware_version = "sim";
  info_.protocol_version = 0;  // not on a wire
  info_.board_profile = board_.name;
  info_.chip_profile = chip_.name;
  info_.chips = mesh_.chips();
  info_.cores_per_chip = mesh_.cores_per_chip();
  core_owner_.assign(mesh_.total_cores(), 0);
  start_s_ = Now();
  thermal_time_s_ = start_s_;
  temperature_c_ = chip_.ambient_c;
}

SimDevice::~SimDevice() {
  if (options_.on_close) options_.on_close();
}

double SimDevice::Now() const { return options_.clock(); }

double SimDevice::BoardStaticW() const {
  return chip_.energy.static_power_w_per_chip * mesh_.chips();
}

Status SimDevice::CheckPresent() const {
  if (fault_ == SimFault::kUnplugged) {
    return UnavailableError("board " + info_.id + " is gone (unplugged)");
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<SimDevice::Slot>> SimDevice::Find(hal::ProgramId program) {
  std::lock_guard<std::mutex> lock(mu_);
  SPK_RETURN_IF_ERROR(CheckPresent());
  auto it = programs_.find(program);
  if (it == programs_.end()) {
    return NotFoundError("board " + info_.id + " has no program " + std::to_string(program));
  }
  return it->second;
}

Status SimDevice::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  SPK_RETURN_IF_ERROR(CheckPresent());
  // Runs in progress finish on their own reference and are then dropped.
  programs_.clear();
  std::fill(core_owner_.begin(), core_owner_.end(), 0);
  fault_ = SimFault::kNone;
  degraded_.clear();
  return Status::Ok();
}

StatusOr<hal::ProgramId> SimDevice::Load(const hal::format::BoardImage& image,
                                         const hal::Partition& partition) {
  const std::string board = "board " + info_.id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SPK_RETURN_IF_ERROR(CheckPresent());
  }
  if (partition.cores.empty()) return InvalidArgumentError(board + ": the partition is empty");
  std::set<uint32_t> seen;
  for (uint32_t core : partition.cores) {
    if (!seen.insert(core).second) {
      return InvalidArgumentError(board + ": partition lists core " + std::to_string(core) +
                                  " twice");
    }
  }
  // Building can take a while for a large image; do it before taking cores.
  // It also refuses partition cores that are not on the board.
  auto built = Program::Create(image, chip_, mesh_, partition.cores);
  if (!built.ok()) {
    return built.status().WithContext(board + ": loading '" + image.meta.model_name + "'");
  }

  std::lock_guard<std::mutex> lock(mu_);
  SPK_RETURN_IF_ERROR(CheckPresent());
  for (uint32_t core : partition.cores) {
    if (core_owner_[core] != 0) {
      return ResourceExhaustedError(board + ": core " + std::to_string(core) +
                                    " is taken by program " + std::to_string(core_owner_[core]));
    }
  }
  const hal::ProgramId id = next_program_++;
  for (uint32_t core : partition.cores) core_owner_[core] = id;
  auto slot = std::make_shared<Slot>();
  slot->program = std::move(built).value();
  programs_.emplace(id, std::move(slot));
  return id;
}

Status SimDevice::Unload(hal::ProgramId program) {
  std::lock_guard<std::mutex> lock(mu_);
  SPK_RETURN_IF_ERROR(CheckPresent());
  if (programs_.erase(program) == 0) {
    return NotFoundError("board " + info_.id + " has no program " + std::to_string(program));
  }
  for (auto& owner : core_owner_) {
    if (owner == program) owner = 0;
  }
  return Status::Ok();
}

Status SimDevice::ResetState(hal::ProgramId program) {
  SPK_ASSIGN_OR_RETURN(auto slot, Find(program));
  std::lock_guard<std::mutex> lock(slot->mu);
  slot->program->ResetState();
  return Status::Ok();
}

Status SimDevice::WriteInputs(hal::ProgramId program, uint32_t port, uint32_t steps,
                              std::span<const int32_t> values) {
  SPK_ASSIGN_OR_RETURN(auto slot, Find(program));
  std::lock_guard<std::mutex> lock(slot->mu);
  return slot->program->WriteInputs(port, steps, values);
}

StatusOr<hal::RunStats> SimDevice::Run(hal::ProgramId program, uint32_t steps) {
  SPK_ASSIGN_OR_RETURN(auto slot, Find(program));
  uint32_t fault_at = steps;
  bool faulted = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fault_ == SimFault::kStepFault && fault_step_ < steps) {
      fault_at = fault_step_;
      faulted = true;
      fault_ = SimFault::kNone;
    }
  }
  std::lock_guard<std::mutex> program_lock(slot->mu);
  auto stats = slot->program->Run(fault_at, &pool_);
  if (!stats.ok()) return stats.status();

  std::lock_guard<std::mutex> lock(mu_);
  const double now = Now();
  AdvanceThermal(now);
  dynamic_total_j_ += stats->dynamic_energy_j;
  thermal_pending_j_ += stats->dynamic_energy_j;
  recent_.emplace_back(now, stats->dynamic_energy_j);
  PruneWindow(now);
  steps_total_ += stats->steps;
  if (faulted) {
    ++errors_total_;
    degraded_ = "step fault in program " + std::to_string(program) + " at step " +
                std::to_string(fault_at) + " of a " + std::to_string(steps) + "-step run";
    return UnavailableError("board " + info_.id + ": " + degraded_);
  }
  return stats;
}

StatusOr<std::vector<int32_t>> SimDevice::ReadOutputs(hal::ProgramId program, uint32_t port) {
  SPK_ASSIGN_OR_RETURN(auto slot, Find(program));
  std::lock_guard<std::mutex> lock(slot->mu);
  return slot->program->ReadOutputs(port);
}

StatusOr<RunReport> SimDevice::LastRunReport(hal::ProgramId program) {
  SPK_ASSIGN_OR_RETURN(auto slot, Find(program));
  std::lock_guard<std::mutex> lock(slot->mu);
  return slot->program->last_run();
}

void SimDevice::AdvanceThermal(double now) {
  const double dt = now - thermal_time_s_;
  if (dt <= 0) return;
  // Power held constant over the interval: the static draw plus the dynamic
  // energy that arrived since the last update, spread over it.
  const double power = BoardStaticW() + thermal_pending_j_ / dt;
  const double target = chip_.ambient_c + chip_.thermal_resistance_c_per_w * power;
  const double tau = chip_.thermal_time_constant_s;
  const double keep = tau > 0 ? std::exp(-dt / tau) : 0.0;
  temperature_c_ = target + (temperature_c_ - target) * keep;
  thermal_time_s_ = now;
  thermal_pending_j_ = 0;
}

void SimDevice::PruneWindow(double now) {
  while (!recent_.empty() && recent_.front().first < now - options_.power_window_s) {
    recent_.pop_front();
  }
}

StatusOr<hal::Telemetry> SimDevice::ReadTelemetry() {
  std::lock_guard<std::mutex> lock(mu_);
  SPK_RETURN_IF_ERROR(CheckPresent());
  const double now = Now();
  AdvanceThermal(now);
  const double window = options_.power_window_s;
  PruneWindow(now);
  double window_j = 0;
  for (const auto& [when, joules] : recent_) window_j += joules;
  // A device younger than the window averages over its life so far.
  const double span = std::min(window, now - start_s_);
  const double dynamic_w = span > 0 ? window_j / span : 0;

  hal::Telemetry t;
  t.timestamp_s = RealtimeSeconds();
  for (const RailEnergy& rail : SplitByRail(chip_.energy, dynamic_w, BoardStaticW())) {
    t.power_w[rail.rail] = hal::TelemetryValue{true, rail.dynamic_j + rail.static_j};
  }
  t.temperature_c = {true, temperature_c_};
  t.energy_total_j = {true, BoardStaticW() * (now - start_s_) + dynamic_total_j_};
  t.steps_total = steps_total_;
  t.errors_total = errors_total_;
  return t;
}

hal::Health SimDevice::CheckHealth() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fault_ == SimFault::kUnplugged) return {hal::HealthState::kGone, "unplugged"};
  if (!degraded_.empty()) return {hal::HealthState::kDegraded, degraded_};
  return {};
}

void SimDevice::InjectFault(SimFault fault, uint32_t at_step) {
  std::lock_guard<std::mutex> lock(mu_);
  fault_ = fault;
  fault_step_ = at_step;
  if (fault == SimFault::kNone) degraded_.clear();
}

}  // namespace spk::sim

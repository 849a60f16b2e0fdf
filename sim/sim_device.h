// SimDevice: one emulated board behind the HAL Device interface.
//
// The board is described by a chip profile and a board profile; programs are
// board images loaded onto disjoint partitions of its physical cores and run
// by the bit-exact emulator (program.h). Every call returns promptly: the
// emulator computes on the caller's thread (plus the device's worker pool),
// and nothing waits on hardware.
//
// Telemetry is modelled from the energy model: power per rail is the board's
// static power (every chip powered) plus the dynamic energy of the runs that
// finished within the last `power_window_s` of wall time divided by that
// window; temperature follows a first-order model, T -> ambient + R * P with
// time constant tau, driven by the same power; energy_total_j counts static
// energy since creation plus all dynamic energy.
//
// Several SimDevices in one process are fully independent.
//
// Thread safety: all methods may be called from any thread. Calls on one
// program are serialised by that program's mutex; calls on different programs
// run concurrently, sharing the device's worker pool (which serialises them
// while they use it).
#ifndef SPK_SIM_SIM_DEVICE_H_
#define SPK_SIM_SIM_DEVICE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "hal/device.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"
#include "sim/cost_model.h"
#include "sim/program.h"
#include "sim/thread_pool.h"

namespace spk::sim {

struct SimDeviceOptions {
  std::string id = "sim0";  // DeviceInfo::id
  std::string serial;       // default: "SIM-" + id
  int threads = 1;          // emulation threads per Run, caller included; 0 = one per CPU
  double power_window_s = 1.0;
  // Monotonic time in seconds for telemetry; tests pass a manual clock.
  // Default: std::chrono::steady_clock.
  std::function<double()> clock;
  // Called once from the destructor; the driver uses it to free the board.
  std::function<void()> on_close;
};

// Faults a test can inject to exercise the layers above the HAL.
enum class SimFault {
  kNone,       // clears any fault
  kUnplugged,  // every call fails UNAVAILABLE, health kGone
  kStepFault,  // the next Run stops after `at_step` steps and fails UNAVAILABLE
};

class SimDevice final : public hal::Device {
 public:
  // INVALID_ARGUMENT when the profiles do not describe a usable board.
  static StatusOr<std::unique_ptr<SimDevice>> Create(hal::format::ChipProfile chip,
                                                     hal::format::BoardProfile board,
                                                     SimDeviceOptions options = {});
  ~SimDevice() override;

  const hal::DeviceInfo& info() const override { return info_; }
  Status Reset() override;
  // Also INVALID_ARGUMENT for an image that fails validation or the chip's
  // per-core limits, FAILED_PRECONDITION for an image compiled for another
  // chip profile.
  StatusOr<hal::ProgramId> Load(const hal::format::BoardImage& image,
                                const hal::Partition& partition) override;
  Status Unload(hal::ProgramId program) override;
  Status ResetState(hal::ProgramId program) override;
  Status WriteInputs(hal::ProgramId program, uint32_t port, uint32_t steps,
                     std::span<const int32_t> values) override;
  StatusOr<hal::RunStats> Run(hal::ProgramId program, uint32_t steps) override;
  StatusOr<std::vector<int32_t>> ReadOutputs(hal::ProgramId program, uint32_t port) override;
  StatusOr<hal::Telemetry> ReadTelemetry() override;
  hal::Health CheckHealth() override;

  // The full breakdown of the program's last Run: per core, per layer, per
  // rail, per step. NOT_FOUND for an unknown program.
  StatusOr<RunReport> LastRunReport(hal::ProgramId program);

  const hal::format::ChipProfile& chip() const { return chip_; }
  const hal::format::BoardProfile& board() const { return board_; }

  void InjectFault(SimFault fault, uint32_t at_step = 0);

 private:
  struct Slot {
    std::mutex mu;  // serialises calls on this program
    std::unique_ptr<Program> program;
  };

  SimDevice(hal::format::ChipProfile chip, hal::format::BoardProfile board, BoardMesh mesh,
            SimDeviceOptions options);

  double Now() const;
  Status CheckPresent() const;  // requires mu_
  StatusOr<std::shared_ptr<Slot>> Find(hal::ProgramId program);
  void AdvanceThermal(double now);  // requires mu_
  void PruneWindow(double now);     // requires mu_: drops runs older than the window
  double BoardStaticW() const;

  const hal::format::ChipProfile chip_;
  const hal::format::BoardProfile board_;
  const BoardMesh mesh_;
  const SimDeviceOptions options_;
  hal::DeviceInfo info_;
  ThreadPool pool_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::map<hal::ProgramId, std::shared_ptr<Slot>> programs_;
  std::vector<hal::ProgramId> core_owner_;  // per physical core; 0 = free
  hal::ProgramId next_program_ = 1;
  SimFault fault_ = SimFault::kNone;
  uint32_t fault_step_ = 0;
  std::string degraded_;  // why health is degraded; empty when OK
  double start_s_ = 0;
  double dynamic_total_j_ = 0;
  std::deque<std::pair<double, double>> recent_;  // (finish time, dynamic J) of runs
  double temperature_c_ = 0;
  double thermal_time_s_ = 0;
  double thermal_pending_j_ = 0;  // dynamic energy not yet fed to the thermal model
  uint64_t steps_total_ = 0;
  uint64_t errors_total_ = 0;
};

}  // namespace spk::sim

#endif  // SPK_SIM_SIM_DEVICE_H_

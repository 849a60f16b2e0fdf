// The hardware abstraction: one board (real, virtual or emulated) as the
// runtime sees it.
//
// A Device owns a board's cores. Programs (loaded board images) occupy
// partitions, disjoint sets of the board's cores, so several deployments share
// one board. Driving a program is: WriteInputs for the next steps, Run(N),
// ReadOutputs of those N steps. Every call is bounded in time: a device that
// does not answer yields DEADLINE_EXCEEDED, never a hang.
//
// Error codes: UNAVAILABLE when the board is gone or busy (retry or fail
// over), FAILED_PRECONDITION for firmware or profile mismatch, DATA_LOSS for a
// corrupt image or transfer, INVALID_ARGUMENT for a bad partition, port or
// buffer size, NOT_FOUND for an unknown program, RESOURCE_EXHAUSTED when the
// partition's cores are taken or too few.
//
// Thread safety: a Device is safe to call from several threads; calls on the
// same program are serialised by the device. Implementations say how.
#ifndef SPK_HAL_DEVICE_H_
#define SPK_HAL_DEVICE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"

namespace spk::hal {

struct DeviceInfo {
  std::string id;      // stable in this process: "sim0", "usb-1-4"
  std::string driver;  // "sim", "loihi3"
  std::string serial;
  std::string firmware_version;
  uint32_t protocol_version = 0;
  std::string board_profile;  // "kapoho-point-8"
  std::string chip_profile;   // "loihi2"
  uint32_t chips = 0;
  uint32_t cores_per_chip = 0;
  uint32_t total_cores() const { return chips * cores_per_chip; }
};

// Physical cores, numbered chip * cores_per_chip + core.
struct Partition {
  std::vector<uint32_t> cores;
};

using ProgramId = uint64_t;

// Per-run work and cost, as the device (or its model) counted it.
struct RunStats {
  uint64_t steps = 0;
  uint64_t synaptic_ops = 0;
  uint64_t neuron_updates = 0;
  uint64_t spikes = 0;
  uint64_t hops = 0;
  uint64_t host_bytes = 0;      // bytes over the host link for this run
  double chip_time_s = 0;       // modelled on-chip time of the run
  double host_link_time_s = 0;  // modelled transfer time
  double dynamic_energy_j = 0;
  double static_energy_j = 0;
  // Per logical core of the program: dynamic energy and time, by index.
  std::vector<double> core_dynamic_energy_j;
  std::vector<double> core_time_s;
};

// A value that a device may not support: `supported == false` means the
// field is reported as "unsupported", never an error.
struct TelemetryValue {
  bool supported = false;
  double value = 0;
};

struct Telemetry {
  double timestamp_s = 0;                         // CLOCK_REALTIME
  std::map<std::string, TelemetryValue> power_w;  // per rail
  TelemetryValue temperature_c;
  TelemetryValue energy_total_j;  // since the device came up
  uint64_t steps_total = 0;
  uint64_t errors_total = 0;
};

enum class HealthState { kOk, kDegraded, kFailed, kGone };

struct Health {
  HealthState state = HealthState::kOk;
  std::string detail;  // empty when OK, else what is wrong
};

class Device {
 public:
  virtual ~Device() = default;

  virtual const DeviceInfo& info() const = 0;

  // Board-level reset: unloads every program. A reset that did not take is
  // reported as an error, never as success.
  virtual Status Reset() = 0;

  // Loads `image` onto `partition` (logical core i -> partition.cores[i]).
  virtual StatusOr<ProgramId> Load(const format::BoardImage& image, const Partition& partition) = 0;
  virtual Status Unload(ProgramId program) = 0;

  // Clears membrane state and pending synaptic input of a program (between
  // independent inferences); streaming sessions simply do not call it.
  virtual Status ResetState(ProgramId program) = 0;

  // Queues input for the next `steps` timesteps of input port `port`:
  // values has steps * port size entries, step-major (0/1 for binary ports,
  // payloads for graded ones). Steps without queued input inject nothing.
  virtual Status WriteInputs(ProgramId program, uint32_t port, uint32_t steps,
                             std::span<const int32_t> values) = 0;

  // Runs `steps` timesteps, consuming queued inputs and recording outputs.
  virtual StatusOr<RunStats> Run(ProgramId program, uint32_t steps) = 0;

  // Outputs recorded by the last Run for output port `port`: steps * port
  // size values, step-major.
  virtual StatusOr<std::vector<int32_t>> ReadOutputs(ProgramId program, uint32_t port) = 0;

  virtual StatusOr<Telemetry> ReadTelemetry() = 0;
  virtual Health CheckHealth() = 0;
};

}  // namespace spk::hal

#endif  // SPK_HAL_DEVICE_H_

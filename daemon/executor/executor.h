// The executor: runs a compiled model (a board image loaded on any HAL
// device) for the host.
//
// It encodes the model's inputs into spikes or graded payloads per timestep,
// runs the chip for the image's run_steps, reads the output ports, aligns them
// by each port's synaptic delay (an output at chip step t + delay belongs to
// input step t), runs the host segments (host_ops.h) and returns the model's
// outputs with the run's modelled latency and energy.
//
// Host segments whose outputs feed chip input ports (a spike matmul left on
// the host between two chip parts) make the run interleaved: the chip steps
// one timestep at a time and the host computes in between. Such a port
// receives model step t at chip step t + d + 1, where d is the largest delay
// among the outputs the segment reads.
//
// One-shot use (Infer) resets membrane state first; streaming use (Stream*)
// keeps it, one model timestep per call. A model with a host segment that
// reduces over time (a classifier head after a mean over T) streams in
// windows instead: each `timesteps()` pushed steps are one inference, run
// from reset state, so a window gives exactly what Infer gives for the same
// input (an edge application classifying a stream of samples wants one
// answer per sample, not state leaking from the previous one).
//
// Ownership: the executor borrows the device, which must outlive it, and owns
// a copy of the image's host program. Thread safety: not thread-safe; one
// executor serves one caller at a time (the daemon keeps one per
// deployment and serialises on it).
#ifndef SPK_DAEMON_EXECUTOR_EXECUTOR_H_
#define SPK_DAEMON_EXECUTOR_EXECUTOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "daemon/executor/host_ops.h"
#include "hal/device.h"
#include "hal/format/board_image.h"

namespace spk::executor {

struct InferenceResult {
  std::map<std::string, HostValue> outputs;  // by model output name
  // Every chip output port, timed [T, ...], before any host segment reads
  // it (what `infer` with outputs "spikes" returns).
  std::map<std::string, HostValue> ports;
  hal::RunStats chip;         // what the device counted, summed over steps
  double host_compute_s = 0;  // measured time of host segments
  // Modelled on-chip time plus host-link time plus host compute.
  double latency_s = 0;
  double energy_j = 0;  // chip static + dynamic
};

// Outputs of one model timestep in streaming.
struct StreamStep {
  int64_t step = 0;                          // model timestep the values belong to
  std::map<std::string, HostValue> outputs;  // untimed values of that step
};

// A model input or output as clients see it.
struct PortDesc {
  std::string name;
  uint32_t index = 0;          // position among the model's inputs or outputs
  bool spikes = false;         // takes or carries 0/1 spikes; else real values
  bool per_step = true;        // one value per timestep; false: reduced over T
  std::vector<int64_t> shape;  // per step; empty when unknown
};

class Executor {
 public:
  // Checks the image's host program against its ports. INVALID_ARGUMENT
  // names the segment or port at fault.
  static StatusOr<std::unique_ptr<Executor>> Create(const hal::format::BoardImage& image,
                                                    hal::Device* device, hal::ProgramId program);

  // Names and per-step shapes of the model's inputs and outputs.
  const std::map<std::string, std::vector<int64_t>>& inputs() const { return input_shapes_; }
  const std::vector<std::string>& outputs() const { return output_names_; }
  uint32_t timesteps() const { return timesteps_; }
  // The model's inputs (in input order) and outputs (in outputs() order,
  // which numbers a session's output ports).
  std::vector<PortDesc> InputPorts() const;
  std::vector<PortDesc> OutputPorts() const;
  // True when chip output port `name` carries spikes (0/1), false when it
  // carries graded values or does not exist.
  bool SpikePort(const std::string& name) const;

  // One inference. Each input is untimed (fed at every step, as direct
  // coding does) or timed with T steps. INVALID_ARGUMENT for a missing or
  // misshapen input (naming it), or non-binary values on a binary port.
  StatusOr<InferenceResult> Infer(const std::map<std::string, HostValue>& inputs);

  // Streaming: StreamReset clears state; StreamPush feeds one model
  // timestep (untimed values) and returns the outputs of the timesteps that
  // became complete (a step's outputs appear `latency_steps()` calls later;
  // push zeros to drain). When windowed(), nothing is returned until a
  // window's last step is pushed; then every output of the window comes
  // back at once: per-step outputs as one StreamStep per step, outputs
  // reduced over time in the StreamStep of the window's last step.
  Status StreamReset();
  StatusOr<std::vector<StreamStep>> StreamPush(const std::map<std::string, HostValue>& inputs,
                                               hal::RunStats* stats = nullptr);
  uint32_t latency_steps() const { return windowed() ? 0 : max_delay_; }
  bool windowed() const { return windowed_; }

 private:
  struct Port {
    uint32_t index = 0;
    std::string name;
    std::vector<int64_t> shape;
    int64_t size = 0;
    bool binary = false;
    float scale = 1;
    uint32_t delay = 0;     // chip step of model step 0
    bool feedback = false;  // fed by a host segment
  };
  struct Segment {
    std::unique_ptr<HostOp> op;
    std::vector<std::string> inputs;
    std::string output;
    uint32_t ready = 0;  // chip steps after which its step-0 value can be computed
    // Runs once after the chip: it reduces over time, or reads a value that
    // does (a head after a mean over T).
    bool after_run = false;
  };

  Executor(hal::Device* device, hal::ProgramId program) : device_(device), program_(program) {}
  Status Build(const hal::format::BoardImage& image);
  void ProbeHostShapes();
  StatusOr<std::vector<int32_t>> Encode(const Port& port, const HostValue& value,
                                        int64_t step) const;
  StatusOr<std::vector<StreamStep>> StreamWindow(hal::RunStats* stats);
  StatusOr<HostValue> CheckInput(const std::map<std::string, HostValue>& inputs,
                                 const std::string& name, bool allow_timed) const;
  static void AddStats(hal::RunStats& total, const hal::RunStats& add);

  hal::Device* device_;  // borrowed
  hal::ProgramId program_;
  uint32_t timesteps_ = 0;
  uint32_t run_steps_ = 0;
  uint32_t max_delay_ = 0;
  bool interleaved_ = false;
  bool windowed_ = false;  // some segment reduces over time
  std::vector<Port> in_ports_;
  std::vector<Port> out_ports_;
  std::vector<Segment> segments_;
  std::map<std::string, std::vector<int64_t>> input_shapes_;  // model inputs
  std::vector<std::string> output_names_;
  // Of host-computed outputs, found by running the host program once on
  // zeros at Build: whether they stay timed, and their per-step shape.
  std::map<std::string, std::pair<bool, std::vector<int64_t>>> host_output_shapes_;
  // Streaming state.
  int64_t stream_chip_step_ = 0;
  std::map<std::string, std::map<int64_t, HostValue>> stream_values_;
  // Windowed streaming: steps pushed so far and the current window's inputs.
  int64_t stream_steps_ = 0;
  std::map<std::string, HostValue> window_;
};

}  // namespace spk::executor

#endif  // SPK_DAEMON_EXECUTOR_EXECUTOR_H_

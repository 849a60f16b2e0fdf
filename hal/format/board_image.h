// The board image: a compiled model as the hardware sees it.
//
// The compiler writes it, the emulator executes it and the USB driver streams
// it to a board; it is the only thing the compiler and the runtime share. The
// in-memory form is below; the byte form (versioned header, checksummed
// sections, little-endian) is documented in docs/board-image.md and produced
// by WriteBoardImage / read back by ReadBoardImage (board_image_io.h). The
// rules an image must satisfy are in board_image_validate.h.
//
// Model of the chip. A model is a set of neuron groups, each on one logical
// core. Neurons send spikes (binary, or graded with an integer payload) to
// synapse tables that feed other groups; each synaptic layer delays by one
// timestep, as on Loihi. Input ports inject spikes from the host; output ports
// read spikes, payloads or membrane voltages back. Logical cores 0..N-1 are
// mapped onto the physical cores of a partition at load time (logical core i
// runs on partition core i), so a cached image can be loaded into any free
// partition with at least N cores. Host segments are the parts of a model that
// stay on the host (a float classifier head, a spike matmul that did not fit);
// the executor runs them, the chip never sees them.
//
// Neuron layout inside a group is row-major over the layer's shape (CHW for
// feature maps), so conv tables can compute their targets.
//
// Thread safety: plain values.
#ifndef SPK_HAL_FORMAT_BOARD_IMAGE_H_
#define SPK_HAL_FORMAT_BOARD_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace spk::hal::format {

inline constexpr uint16_t kBoardImageVersionMajor = 1;
inline constexpr uint16_t kBoardImageVersionMinor = 1;

enum class NeuronModel : uint8_t {
  // CUBA LIF, bit-exact to facts/chip.md: u, v 24-bit; du, dv 12-bit; strict threshold.
  kCubaLif = 0,
  // Non-spiking integrator v += a_in (with dv leak); readout of class scores.
  kAccumulator = 1,
  // Two-input coincidence (dendritic AND): spikes when both ports received
  // non-zero input this step. Used for element-wise spike products.
  kAnd2 = 2,
  // Sends its input of the step on as a graded spike (payload = a_in) when
  // non-zero: residual sums, path-balancing delays.
  kRelay = 3,
};

enum class SpikeKind : uint8_t { kBinary = 0, kGraded = 1 };

struct NeuronGroup {
  uint32_t id = 0;    // unique in the image; tables and ports refer to it
  uint32_t core = 0;  // logical core
  std::string layer;  // compiler's layer name, for reports and errors
  NeuronModel model = NeuronModel::kCubaLif;
  SpikeKind output = SpikeKind::kBinary;
  uint32_t size = 0;  // compartments
  // CUBA parameters, shared by the group (see facts/chip.md for widths).
  uint16_t du = 0;                 // 0..4095, with the +1 offset of the equations
  uint16_t dv = 0;                 // 0..4095
  uint32_t vth = 0;                // 0..2^17-1; effective threshold vth << 6
  int8_t bias_exp = 0;             // -7..7
  std::vector<int16_t> bias_mant;  // per neuron, 13-bit signed; empty = all 0
  std::vector<int32_t> u_init;     // per neuron, 24-bit signed; empty = all 0
  std::vector<int32_t> v_init;
  // After a state reset the group holds its initial state and sends nothing
  // until this chip step: the pipeline fill. Without it a layer deep in the
  // network would integrate its bias for steps before its first input
  // arrives. (On a board the embedded cores enable the group at this step.)
  uint32_t start_step = 0;

  friend bool operator==(const NeuronGroup&, const NeuronGroup&) = default;
};

enum class SynapseFormat : uint8_t { kDense = 0, kSparse = 1, kConv2d = 2 };

enum class SourceKind : uint8_t { kInputPort = 0, kGroup = 1 };

struct SynapseSource {
  SourceKind kind = SourceKind::kGroup;
  uint32_t index = 0;  // input port index or group id

  friend bool operator==(const SynapseSource&, const SynapseSource&) = default;
};

// 2-D convolution with shared weights between two feature maps. The source
// holds input channels [in_c_offset, in_c_offset + in_c_count) of a map of
// in_channels x in_h x in_w; the destination group holds output channels
// [out_c_offset, out_c_offset + out_c_count) of out_channels x out_h x out_w.
struct Conv2dGeometry {
  uint32_t in_channels = 0, in_h = 0, in_w = 0;
  uint32_t out_channels = 0, out_h = 0, out_w = 0;
  uint32_t kernel_h = 0, kernel_w = 0;
  uint32_t stride_h = 1, stride_w = 1;
  uint32_t pad_h = 0, pad_w = 0;
  uint32_t groups = 1;
  uint32_t in_c_offset = 0, in_c_count = 0;
  uint32_t out_c_offset = 0, out_c_count = 0;
  // Spatial tiles (format 1.1; a count of 0 is the whole extent, offset 0,
  // as in 1.0 images). The source holds rows [in_y_offset, +in_y_count) x
  // columns [in_x_offset, +in_x_count) of its channels, CHW within that box;
  // the target likewise holds a box of the output map. The table reads only
  // the window rows [win_y_offset, +win_y_count) x columns [win_x_offset,
  // +win_x_count) of the source box (map coordinates, all its channels), so a
  // core needs input axons only for the window: a tile of a large map reads
  // its receptive field from the neighbouring tiles, not the tiles whole.
  uint32_t in_y_offset = 0, in_y_count = 0, in_x_offset = 0, in_x_count = 0;
  uint32_t out_y_offset = 0, out_y_count = 0, out_x_offset = 0, out_x_count = 0;
  uint32_t win_y_offset = 0, win_y_count = 0, win_x_offset = 0, win_x_count = 0;

  friend bool operator==(const Conv2dGeometry&, const Conv2dGeometry&) = default;
};

inline constexpr uint32_t kOwnWeights = 0xFFFFFFFF;

struct SynapseTable {
  uint32_t id = 0;
  SynapseSource source;
  uint32_t target_group = 0;
  uint8_t target_port = 0;  // 0, or 1 for the second input of kAnd2
  SynapseFormat format = SynapseFormat::kDense;
  int8_t weight_exp = 0;        // a = exp >= 0 ? a << exp : a >> -exp (floors)
  uint8_t num_weight_bits = 8;  // 1..8; low bits truncated by sign mode
  // Extra timesteps of synaptic delay beyond the inherent one (0..62, as
  // Loihi 2's per-synapse delays), so that paths of different depth that
  // meet in one group deliver the same model timestep.
  uint8_t delay = 0;
  // Weights as the hardware applies them, already truncated for their sign
  // mode (facts/chip.md): -256..255.
  //   kDense:  [source size][target size], row-major (fan-out per source).
  //   kSparse: CSR by source: row_ptr has source size + 1 entries, col holds
  //            target indices, weights the matching values.
  //   kConv2d: [out_c_count][in_channels / groups][kernel_h][kernel_w].
  std::vector<int16_t> weights;
  std::vector<uint32_t> row_ptr;  // kSparse only
  std::vector<uint32_t> col;      // kSparse only
  Conv2dGeometry conv;            // kConv2d only
  // The window of source neurons the table reads: [source_offset,
  // source_offset + source_count); a count of 0 means the whole source
  // (offset 0). Dense and sparse rows index the window ("source size" above
  // is its count); conv2d tables read their whole source. A core needs input
  // axons only for the source neurons its tables' windows cover, so a layer
  // reading one token's row of a large port or group pays for that row.
  // (Format 1.1; absent in 1.0 images, which read as whole.)
  uint32_t source_offset = 0;
  uint32_t source_count = 0;
  // Dense and conv2d tables: the id of an earlier table whose weights this
  // one applies (same format and weight shape), or kOwnWeights. A kernel read
  // from several source tiles, or a token layer's matrix repeated per token,
  // is then stored once in the image, `weights` staying empty; a core holds
  // each distinct weight set once. (Format 1.1.)
  uint32_t weights_of = kOwnWeights;

  friend bool operator==(const SynapseTable&, const SynapseTable&) = default;
};

// A source group's spikes reach a core through one route; input axons of the
// target core are allocated per route.
struct Route {
  uint32_t source_group = 0;
  uint32_t target_core = 0;  // logical core
  uint32_t axon_offset = 0;  // first input axon on the target core

  friend bool operator==(const Route&, const Route&) = default;
};

struct InputPort {
  std::string name;
  std::vector<uint32_t> shape;  // per timestep, e.g. {1, 8, 8}
  SpikeKind kind = SpikeKind::kBinary;
  // Host-side encoding of real-valued input before it becomes spikes (the
  // executor applies it): graded payload = round(x * scale).
  float scale = 1.0f;

  friend bool operator==(const InputPort&, const InputPort&) = default;
};

enum class OutputSource : uint8_t { kSpikes = 0, kPayload = 1, kVoltage = 2 };

// A slice of a group that fills part of an output port.
struct OutputSegment {
  uint32_t group = 0;
  uint32_t group_offset = 0;
  uint32_t port_offset = 0;
  uint32_t count = 0;

  friend bool operator==(const OutputSegment&, const OutputSegment&) = default;
};

struct OutputPort {
  std::string name;
  std::vector<uint32_t> shape;  // per timestep
  OutputSource source = OutputSource::kSpikes;
  std::vector<OutputSegment> segments;  // cover the port exactly once
  // Timesteps between an input at step t and its effect here (the synaptic
  // depth of the path); the executor aligns outputs with inputs by it.
  uint32_t delay = 0;
  // Dequantisation for voltages or payloads: real = value * scale.
  float scale = 1.0f;

  friend bool operator==(const OutputPort&, const OutputPort&) = default;
};

// A named float tensor carried for host segments.
struct HostTensor {
  std::string name;
  std::vector<uint32_t> shape;
  std::vector<float> data;

  friend bool operator==(const HostTensor&, const HostTensor&) = default;
};

// Work the host does around the chip. `op` names an operation the executor
// knows (e.g. "linear_head", "spike_matmul"); `attributes` is a JSON object
// text; inputs/outputs name ports or other host values.
struct HostSegment {
  std::string name;
  std::string op;
  std::string attributes;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<HostTensor> tensors;

  friend bool operator==(const HostSegment&, const HostSegment&) = default;
};

// Where a logical core would like to sit: the compiler placed the model
// assuming this mesh position; the loader may honour or ignore it.
struct CorePlacement {
  uint32_t chip = 0;
  uint32_t core = 0;  // core index within the chip

  friend bool operator==(const CorePlacement&, const CorePlacement&) = default;
};

struct BoardImageMeta {
  std::string model_name;
  std::string model_sha256;  // of the source model bytes
  std::string compiler_version;
  std::string chip_profile;  // profile the image was compiled for
  uint32_t timesteps = 0;    // input timesteps per inference (T)
  uint32_t run_steps = 0;    // chip steps per inference (T + pipeline depth)

  friend bool operator==(const BoardImageMeta&, const BoardImageMeta&) = default;
};

struct BoardImage {
  BoardImageMeta meta;
  std::vector<CorePlacement> cores;  // index = logical core
  std::vector<NeuronGroup> groups;
  std::vector<SynapseTable> tables;
  std::vector<Route> routes;
  std::vector<InputPort> inputs;
  std::vector<OutputPort> outputs;
  std::vector<HostSegment> host_segments;

  // Field by field; floats compare by value (the format stores their bits).
  friend bool operator==(const BoardImage&, const BoardImage&) = default;
};

}  // namespace spk::hal::format

#endif  // SPK_HAL_FORMAT_BOARD_IMAGE_H_

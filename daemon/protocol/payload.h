// Binary payloads: tensors, spike events, stream chunks and credits
// (docs/protocol.md, "Binary payloads"). All integers little-endian.
//
//   TENSOR   u8 dtype, u8 rank, u16 reserved(0), u32 dims[rank], data
//            (row-major, prod(dims) * size(dtype) bytes exactly)
//   SPIKES   u8 kind (0 binary, 1 graded), u8[3] reserved(0), u32 count,
//            count events of {u32 timestep, u32 index[, i32 payload]},
//            sorted by timestep
//   STREAM_INPUT / STREAM_OUTPUT
//            u64 first_step, u32 steps, u16 port, u8 encoding (1 tensor,
//            2 spikes), u8 reserved(0), then a TENSOR or SPIKES body
//   CREDIT   u32 frames granted
//
// Decoders treat their input as hostile: sizes are checked before use,
// products of dimensions are computed without overflow, and every failure is
// INVALID_ARGUMENT naming the field. Encoders take values that their own
// Validate() accepts; anything else is a programmer error (checked).
//
// Thread safety: plain values and pure functions.
#ifndef SPK_DAEMON_PROTOCOL_PAYLOAD_H_
#define SPK_DAEMON_PROTOCOL_PAYLOAD_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "base/status.h"

namespace spk::protocol {

enum class DType : uint8_t { kU8 = 1, kI8 = 2, kI16 = 3, kI32 = 4, kF32 = 5 };

// "u8", "i8", "i16", "i32", "f32" (also the JSON spelling); "unknown".
std::string_view DTypeName(DType dtype);
// INVALID_ARGUMENT for any other name.
StatusOr<DType> DTypeFromName(std::string_view name);
// Bytes per element; 0 for a value outside the enum.
size_t DTypeSize(DType dtype);

template <typename T>
constexpr DType DTypeOf();
template <>
constexpr DType DTypeOf<uint8_t>() {
  return DType::kU8;
}
template <>
constexpr DType DTypeOf<int8_t>() {
  return DType::kI8;
}
template <>
constexpr DType DTypeOf<int16_t>() {
  return DType::kI16;
}
template <>
constexpr DType DTypeOf<int32_t>() {
  return DType::kI32;
}
template <>
constexpr DType DTypeOf<float>() {
  return DType::kF32;
}

inline constexpr size_t kMaxTensorRank = 8;

// A dense tensor: shape and little-endian row-major element bytes.
struct Tensor {
  DType dtype = DType::kF32;
  std::vector<uint32_t> shape;  // empty: a scalar
  std::vector<uint8_t> data;

  template <typename T>
  static Tensor FromValues(std::vector<uint32_t> shape, std::span<const T> values);

  // OK when dtype is known, rank <= kMaxTensorRank and data holds exactly
  // prod(shape) elements; INVALID_ARGUMENT saying which is not.
  Status Validate() const;
  // prod(shape); call only on a valid tensor.
  uint64_t element_count() const;

  // The elements as T; INVALID_ARGUMENT if dtype is not DTypeOf<T>().
  template <typename T>
  StatusOr<std::vector<T>> Values() const;
  // Integer dtypes widened to int32 (what hal::Device::WriteInputs takes);
  // INVALID_ARGUMENT for f32.
  StatusOr<std::vector<int32_t>> ToInt32() const;
  // Every dtype as float.
  std::vector<float> ToFloat() const;

  friend bool operator==(const Tensor&, const Tensor&) = default;
};

std::vector<uint8_t> EncodeTensor(const Tensor& tensor);
StatusOr<Tensor> DecodeTensor(std::span<const uint8_t> payload);
// "[2, 3] i32".
std::string DescribeShape(const Tensor& tensor);

struct SpikeEvent {
  uint32_t timestep = 0;  // relative to the first step of the chunk or run
  uint32_t index = 0;     // neuron index within the port
  int32_t payload = 0;    // graded spikes only; 0 (and not sent) otherwise
  friend bool operator==(const SpikeEvent&, const SpikeEvent&) = default;
};

// Sparse input or output: spikes as (timestep, index[, payload]).
struct SpikeEvents {
  bool graded = false;
  std::vector<SpikeEvent> events;  // sorted by timestep

  // OK when events are sorted by timestep and, if not graded, payloads are 0.
  Status Validate() const;
  // Checks bounds against a port: every timestep < steps, every index <
  // neurons; INVALID_ARGUMENT names the first offending event and the port.
  Status CheckBounds(uint32_t steps, uint32_t neurons, std::string_view port) const;

  friend bool operator==(const SpikeEvents&, const SpikeEvents&) = default;
};

std::vector<uint8_t> EncodeSpikes(const SpikeEvents& spikes);
StatusOr<SpikeEvents> DecodeSpikes(std::span<const uint8_t> payload);

enum class StreamEncoding : uint8_t { kTensor = 1, kSpikes = 2 };

// One chunk of a streaming session: input or output of `steps` timesteps
// starting at `first_step` on port number `port`. A tensor body has the
// timestep as its leading dimension (shape[0] == steps); spike timesteps are
// relative to first_step and below steps.
struct StreamChunk {
  uint64_t first_step = 0;
  uint32_t steps = 0;
  uint16_t port = 0;
  std::variant<Tensor, SpikeEvents> body;

  Status Validate() const;
  friend bool operator==(const StreamChunk&, const StreamChunk&) = default;
};

std::vector<uint8_t> EncodeStreamChunk(const StreamChunk& chunk);
StatusOr<StreamChunk> DecodeStreamChunk(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeCredit(uint32_t frames);
StatusOr<uint32_t> DecodeCredit(std::span<const uint8_t> payload);

// Implementation of the templates.

template <typename T>
Tensor Tensor::FromValues(std::vector<uint32_t> shape, std::span<const T> values) {
  static_assert(std::endian::native == std::endian::little, "byte-swap needed on this host");
  Tensor tensor;
  tensor.dtype = DTypeOf<T>();
  tensor.shape = std::move(shape);
  tensor.data.resize(values.size_bytes());
  if (!values.empty()) std::memcpy(tensor.data.data(), values.data(), values.size_bytes());
  return tensor;
}

template <typename T>
StatusOr<std::vector<T>> Tensor::Values() const {
  static_assert(std::endian::native == std::endian::little, "byte-swap needed on this host");
  if (dtype != DTypeOf<T>()) {
    return InvalidArgumentError("tensor: dtype is " + std::string(DTypeName(dtype)) +
                                ", expected " + std::string(DTypeName(DTypeOf<T>())));
  }
  std::vector<T> out(data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
  return out;
}

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_PAYLOAD_H_

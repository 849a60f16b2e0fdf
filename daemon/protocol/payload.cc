#include "daemon/protocol/payload.h"

#include <limits>

#include "base/check.h"
#include "daemon/protocol/byte_io.h"

namespace spk::protocol {
namespace {

using internal::ByteReader;
using internal::ByteWriter;

constexpr size_t kTensorHeaderSize = 4;
constexpr size_t kSpikesHeaderSize = 8;
constexpr size_t kStreamHeaderSize = 16;

std::string ShapeText(std::span<const uint32_t> shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// Checks that `data_size` bytes hold exactly prod(shape) elements of dtype,
// with the product computed without overflow.
Status CheckTensorShape(DType dtype, std::span<const uint32_t> shape, size_t data_size) {
  const size_t element_size = DTypeSize(dtype);
  if (element_size == 0) {
    return InvalidArgumentError("tensor: dtype " + std::to_string(static_cast<int>(dtype)) +
                                " is unknown (known: 1 u8, 2 i8, 3 i16, 4 i32, 5 f32)");
  }
  if (shape.size() > kMaxTensorRank) {
    return InvalidArgumentError("tensor: rank " + std::to_string(shape.size()) +
                                " exceeds the maximum of " + std::to_string(kMaxTensorRank));
  }
  uint64_t bytes = element_size;
  for (uint32_t dim : shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      return InvalidArgumentError("tensor: shape " + ShapeText(shape) + " of " +
                                  std::string(DTypeName(dtype)) + " is too large to address");
    }
  }
  if (bytes != data_size) {
    return InvalidArgumentError("tensor: shape " + ShapeText(shape) + " of " +
                                std::string(DTypeName(dtype)) + " needs " + std::to_string(bytes) +
                                " data bytes, payload has " + std::to_string(data_size));
  }
  return Status::Ok();
}

size_t SpikeEventSize(bool graded) { return graded ? 12 : 8; }

}  // namespace

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kU8:
      return "u8";
    case DType::kI8:
      return "i8";
    case DType::kI16:
      return "i16";
    case DType::kI32:
      return "i32";
    case DType::kF32:
      return "f32";
  }
  return "unknown";
}

StatusOr<DType> DTypeFromName(std::string_view name) {
  for (DType dtype : {DType::kU8, DType::kI8, DType::kI16, DType::kI32, DType::kF32}) {
    if (DTypeName(dtype) == name) return dtype;
  }
  return InvalidArgumentError("dtype '" + std::string(name) +
                              "' is unknown (known: u8, i8, i16, i32, f32)");
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kU8:
    case DType::kI8:
      return 1;
    case DType::kI16:
      return 2;
    case DType::kI32:
    case DType::kF32:
      return 4;
  }
  return 0;
}

Status Tensor::Validate() const { return CheckTensorShape(dtype, shape, data.size()); }

uint64_t Tensor::element_count() const {
  const size_t size = DTypeSize(dtype);
  return size == 0 ? 0 : data.size() / size;
}

StatusOr<std::vector<int32_t>> Tensor::ToInt32() const {
  const uint64_t n = element_count();
  std::vector<int32_t> out(n);
  const uint8_t* p = data.data();
  switch (dtype) {
    case DType::kU8:
      for (uint64_t i = 0; i < n; ++i) out[i] = p[i];
      break;
    case DType::kI8:
      for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(p[i]);
      break;
    case DType::kI16:
      for (uint64_t i = 0; i < n; ++i) {
        out[i] = static_cast<int16_t>(internal::LoadU16(p + 2 * i));
      }
      break;
    case DType::kI32:
      for (uint64_t i = 0; i < n; ++i) {
        out[i] = static_cast<int32_t>(internal::LoadU32(p + 4 * i));
      }
      break;
    case DType::kF32:
      return InvalidArgumentError(
          "tensor: f32 values cannot be used as integer input; send u8, i8, i16 or i32");
  }
  return out;
}

std::vector<float> Tensor::ToFloat() const {
  if (dtype == DType::kF32) {
    std::vector<float> out(element_count());
    if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(float));
    return out;
  }
  auto ints = ToInt32();
  SPK_CHECK_OK(ints);
  return std::vector<float>(ints->begin(), ints->end());
}

std::vector<uint8_t> EncodeTensor(const Tensor& tensor) {
  SPK_CHECK_OK(tensor.Validate());
  std::vector<uint8_t> out;
  out.reserve(kTensorHeaderSize + 4 * tensor.shape.size() + tensor.data.size());
  ByteWriter w(&out);
  w.U8(static_cast<uint8_t>(tensor.dtype));
  w.U8(static_cast<uint8_t>(tensor.shape.size()));
  w.U16(0);
  for (uint32_t dim : tensor.shape) w.U32(dim);
  w.Bytes(tensor.data);
  return out;
}

StatusOr<Tensor> DecodeTensor(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t dtype = 0;
  uint8_t rank = 0;
  uint16_t reserved = 0;
  if (!r.U8(&dtype) || !r.U8(&rank) || !r.U16(&reserved)) {
    return InvalidArgumentError("tensor: payload is " + std::to_string(payload.size()) +
                                " bytes, shorter than the " + std::to_string(kTensorHeaderSize) +
                                "-byte tensor header");
  }
  Tensor tensor;
  tensor.dtype = static_cast<DType>(dtype);
  if (DTypeSize(tensor.dtype) == 0) {
    return InvalidArgumentError("tensor: dtype " + std::to_string(dtype) +
                                " is unknown (known: 1 u8, 2 i8, 3 i16, 4 i32, 5 f32)");
  }
  if (rank > kMaxTensorRank) {
    return InvalidArgumentError("tensor: rank " + std::to_string(rank) +
                                " exceeds the maximum of " + std::to_string(kMaxTensorRank));
  }
  if (reserved != 0) {
    return InvalidArgumentError("tensor: reserved field must be 0, got " +
                                std::to_string(reserved));
  }
  tensor.shape.resize(rank);
  for (uint8_t i = 0; i < rank; ++i) {
    if (!r.U32(&tensor.shape[i])) {
      return InvalidArgumentError("tensor: payload ends inside dims: rank " + std::to_string(rank) +
                                  " needs " + std::to_string(4 * rank) + " bytes of dims, " +
                                  std::to_string(4 * i + r.remaining()) + " present");
    }
  }
  auto data = r.Rest();
  SPK_RETURN_IF_ERROR(CheckTensorShape(tensor.dtype, tensor.shape, data.size()));
  tensor.data.assign(data.begin(), data.end());
  return tensor;
}

std::string DescribeShape(const Tensor& tensor) {
  return ShapeText(tensor.shape) + " " + std::string(DTypeName(tensor.dtype));
}

Status SpikeEvents::Validate() const {
  for (size_t i = 0; i < events.size(); ++i) {
    if (i > 0 && events[i].timestep < events[i - 1].timestep) {
      return InvalidArgumentError("spikes: event " + std::to_string(i) + " has timestep " +
                                  std::to_string(events[i].timestep) + " after timestep " +
                                  std::to_string(events[i - 1].timestep) +
                                  "; events must be sorted by timestep");
    }
    if (!graded && events[i].payload != 0) {
      return InvalidArgumentError("spikes: event " + std::to_string(i) +
                                  " has a payload but the events are not graded");
    }
  }
  if (events.size() > std::numeric_limits<uint32_t>::max()) {
    return InvalidArgumentError("spikes: more than 2^32-1 events");
  }
  return Status::Ok();
}

Status SpikeEvents::CheckBounds(uint32_t steps, uint32_t neurons, std::string_view port) const {
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].timestep >= steps) {
      return InvalidArgumentError("spikes: event " + std::to_string(i) + " has timestep " +
                                  std::to_string(events[i].timestep) + ", port '" +
                                  std::string(port) + "' takes " + std::to_string(steps) +
                                  " steps here");
    }
    if (events[i].index >= neurons) {
      return InvalidArgumentError("spikes: event " + std::to_string(i) + " has index " +
                                  std::to_string(events[i].index) + ", port '" + std::string(port) +
                                  "' has " + std::to_string(neurons) + " neurons");
    }
  }
  return Status::Ok();
}

std::vector<uint8_t> EncodeSpikes(const SpikeEvents& spikes) {
  SPK_CHECK_OK(spikes.Validate());
  std::vector<uint8_t> out;
  out.reserve(kSpikesHeaderSize + spikes.events.size() * SpikeEventSize(spikes.graded));
  ByteWriter w(&out);
  w.U8(spikes.graded ? 1 : 0);
  w.U8(0);
  w.U16(0);
  w.U32(static_cast<uint32_t>(spikes.events.size()));
  for (const SpikeEvent& e : spikes.events) {
    w.U32(e.timestep);
    w.U32(e.index);
    if (spikes.graded) w.U32(static_cast<uint32_t>(e.payload));
  }
  return out;
}

StatusOr<SpikeEvents> DecodeSpikes(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t kind = 0;
  uint8_t reserved8 = 0;
  uint16_t reserved16 = 0;
  uint32_t count = 0;
  if (!r.U8(&kind) || !r.U8(&reserved8) || !r.U16(&reserved16) || !r.U32(&count)) {
    return InvalidArgumentError("spikes: payload is " + std::to_string(payload.size()) +
                                " bytes, shorter than the " + std::to_string(kSpikesHeaderSize) +
                                "-byte spikes header");
  }
  if (kind > 1) {
    return InvalidArgumentError("spikes: kind " + std::to_string(kind) +
                                " is unknown (known: 0 binary, 1 graded)");
  }
  if (reserved8 != 0 || reserved16 != 0) {
    return InvalidArgumentError("spikes: reserved bytes must be 0");
  }
  SpikeEvents spikes;
  spikes.graded = kind == 1;
  const uint64_t need = static_cast<uint64_t>(count) * SpikeEventSize(spikes.graded);
  if (need != r.remaining()) {
    return InvalidArgumentError("spikes: count " + std::to_string(count) + " of " +
                                (spikes.graded ? "graded" : "binary") + " events needs " +
                                std::to_string(need) + " bytes, payload has " +
                                std::to_string(r.remaining()));
  }
  spikes.events.resize(count);
  const uint8_t* p = r.Rest().data();
  for (SpikeEvent& e : spikes.events) {
    e.timestep = internal::LoadU32(p);
    e.index = internal::LoadU32(p + 4);
    if (spikes.graded) e.payload = static_cast<int32_t>(internal::LoadU32(p + 8));
    p += SpikeEventSize(spikes.graded);
  }
  SPK_RETURN_IF_ERROR(spikes.Validate());
  return spikes;
}

Status StreamChunk::Validate() const {
  if (steps == 0) return InvalidArgumentError("stream chunk: steps must be at least 1");
  if (first_step > std::numeric_limits<uint64_t>::max() - steps) {
    return InvalidArgumentError("stream chunk: first_step + steps overflows");
  }
  if (const auto* tensor = std::get_if<Tensor>(&body)) {
    SPK_RETURN_IF_ERROR(tensor->Validate().WithContext("stream chunk"));
    if (tensor->shape.empty() || tensor->shape[0] != steps) {
      return InvalidArgumentError("stream chunk: tensor shape " + ShapeText(tensor->shape) +
                                  " must have the step count " + std::to_string(steps) +
                                  " as its leading dimension");
    }
  } else {
    const auto& spikes = std::get<SpikeEvents>(body);
    SPK_RETURN_IF_ERROR(spikes.Validate().WithContext("stream chunk"));
    if (!spikes.events.empty() && spikes.events.back().timestep >= steps) {
      return InvalidArgumentError("stream chunk: spike timestep " +
                                  std::to_string(spikes.events.back().timestep) +
                                  " is outside the chunk's " + std::to_string(steps) + " steps");
    }
  }
  return Status::Ok();
}

std::vector<uint8_t> EncodeStreamChunk(const StreamChunk& chunk) {
  SPK_CHECK_OK(chunk.Validate());
  std::vector<uint8_t> out;
  ByteWriter w(&out);
  w.U64(chunk.first_step);
  w.U32(chunk.steps);
  w.U16(chunk.port);
  const bool is_tensor = std::holds_alternative<Tensor>(chunk.body);
  w.U8(static_cast<uint8_t>(is_tensor ? StreamEncoding::kTensor : StreamEncoding::kSpikes));
  w.U8(0);
  w.Bytes(is_tensor ? EncodeTensor(std::get<Tensor>(chunk.body))
                    : EncodeSpikes(std::get<SpikeEvents>(chunk.body)));
  return out;
}

StatusOr<StreamChunk> DecodeStreamChunk(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  StreamChunk chunk;
  uint8_t encoding = 0;
  uint8_t reserved = 0;
  if (!r.U64(&chunk.first_step) || !r.U32(&chunk.steps) || !r.U16(&chunk.port) ||
      !r.U8(&encoding) || !r.U8(&reserved)) {
    return InvalidArgumentError("stream chunk: payload is " + std::to_string(payload.size()) +
                                " bytes, shorter than the " + std::to_string(kStreamHeaderSize) +
                                "-byte chunk header");
  }
  if (reserved != 0) return InvalidArgumentError("stream chunk: reserved byte must be 0");
  switch (static_cast<StreamEncoding>(encoding)) {
    case StreamEncoding::kTensor: {
      auto tensor = DecodeTensor(r.Rest());
      if (!tensor.ok()) return tensor.status().WithContext("stream chunk");
      chunk.body = *std::move(tensor);
      break;
    }
    case StreamEncoding::kSpikes: {
      auto spikes = DecodeSpikes(r.Rest());
      if (!spikes.ok()) return spikes.status().WithContext("stream chunk");
      chunk.body = *std::move(spikes);
      break;
    }
    default:
      return InvalidArgumentError("stream chunk: encoding " + std::to_string(encoding) +
                                  " is unknown (known: 1 tensor, 2 spikes)");
  }
  SPK_RETURN_IF_ERROR(chunk.Validate());
  return chunk;
}

std::vector<uint8_t> EncodeCredit(uint32_t frames) {
  std::vector<uint8_t> out;
  ByteWriter(&out).U32(frames);
  return out;
}

StatusOr<uint32_t> DecodeCredit(std::span<const uint8_t> payload) {
  if (payload.size() != 4) {
    return InvalidArgumentError("credit: payload must be 4 bytes, got " +
                                std::to_string(payload.size()));
  }
  return internal::LoadU32(payload.data());
}

}  // namespace spk::protocol

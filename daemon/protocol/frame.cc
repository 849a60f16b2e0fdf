#include "daemon/protocol/frame.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <string>

#include "base/check.h"
#include "daemon/protocol/byte_io.h"

namespace spk::protocol {
namespace {

using internal::LoadU16;
using internal::LoadU32;
using internal::LoadU64;

std::string Hex(uint64_t value, int width) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%0*llx", width, static_cast<unsigned long long>(value));
  return buf;
}

// `47 45 54 20 ("GET ")`: shows what the peer sent instead of the magic,
// which usually identifies the wrong client (an HTTP request, a TLS hello).
std::string DescribeBytes(std::span<const uint8_t> bytes) {
  std::string hex;
  std::string text;
  for (uint8_t b : bytes) {
    char buf[4];
    std::snprintf(buf, sizeof(buf), "%02x", b);
    if (!hex.empty()) hex += ' ';
    hex += buf;
    text += std::isprint(b) ? static_cast<char>(b) : '.';
  }
  return hex + " (\"" + text + "\")";
}

}  // namespace

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kHelloReply:
      return "HELLO_REPLY";
    case FrameType::kRequest:
      return "REQUEST";
    case FrameType::kResponse:
      return "RESPONSE";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kCancel:
      return "CANCEL";
    case FrameType::kProgress:
      return "PROGRESS";
    case FrameType::kTensor:
      return "TENSOR";
    case FrameType::kSpikes:
      return "SPIKES";
    case FrameType::kBlob:
      return "BLOB";
    case FrameType::kStreamInput:
      return "STREAM_INPUT";
    case FrameType::kStreamOutput:
      return "STREAM_OUTPUT";
    case FrameType::kCredit:
      return "CREDIT";
  }
  return "UNKNOWN";
}

bool IsKnownFrameType(uint8_t value) {
  return FrameTypeName(static_cast<FrameType>(value)) != "UNKNOWN";
}

bool IsJsonFrameType(FrameType type) {
  switch (type) {
    case FrameType::kHello:
    case FrameType::kHelloReply:
    case FrameType::kRequest:
    case FrameType::kResponse:
    case FrameType::kError:
    case FrameType::kProgress:
      return true;
    default:
      return false;
  }
}

bool IsAttachmentFrameType(FrameType type) {
  return type == FrameType::kTensor || type == FrameType::kSpikes || type == FrameType::kBlob;
}

bool IsStreamDataFrameType(FrameType type) {
  return type == FrameType::kStreamInput || type == FrameType::kStreamOutput;
}

std::array<uint8_t, kHeaderSize> EncodeHeader(const FrameHeader& header) {
  std::array<uint8_t, kHeaderSize> out{};
  for (size_t i = 0; i < kMagic.size(); ++i) out[i] = kMagic[i];
  out[4] = header.version;
  out[5] = static_cast<uint8_t>(header.type);
  internal::StoreU16(&out[6], header.flags);
  internal::StoreU64(&out[8], header.request_id);
  internal::StoreU32(&out[16], header.payload_length);
  internal::StoreU32(&out[20], Crc32(std::span<const uint8_t>(out.data(), 20)));
  return out;
}

Status ValidateHeader(const FrameHeader& header, uint32_t frame_limit) {
  const std::string type_name(FrameTypeName(header.type));
  if (!IsKnownFrameType(static_cast<uint8_t>(header.type))) {
    return InvalidArgumentError("frame header: type " + Hex(static_cast<uint8_t>(header.type), 2) +
                                " is unknown");
  }
  if ((header.flags & ~kKnownFlags) != 0) {
    return InvalidArgumentError("frame header: flags " + Hex(header.flags, 4) +
                                " has reserved bits set (known: " + Hex(kKnownFlags, 4) + ")");
  }
  const bool attachment = IsAttachmentFrameType(header.type);
  const bool stream_data = IsStreamDataFrameType(header.type);
  if (header.has(kFlagOpen) && header.type != FrameType::kResponse) {
    return InvalidArgumentError("frame header: flag OPEN is only valid on RESPONSE, not " +
                                type_name);
  }
  if (header.has(kFlagContinued)) {
    if (!attachment && !stream_data) {
      return InvalidArgumentError(
          "frame header: flag CONTINUED is only valid on binary frames, not " + type_name);
    }
    if (!header.has(kFlagMore)) {
      return InvalidArgumentError("frame header: flag CONTINUED requires flag MORE");
    }
  }
  if (header.has(kFlagMore)) {
    const bool may_have_more = header.type == FrameType::kRequest ||
                               header.type == FrameType::kResponse || attachment ||
                               (stream_data && header.has(kFlagContinued));
    if (!may_have_more) {
      return InvalidArgumentError("frame header: flag MORE is not valid on " + type_name);
    }
  }
  const bool connection_level =
      header.type == FrameType::kHello || header.type == FrameType::kHelloReply;
  if (connection_level && header.request_id != 0) {
    return InvalidArgumentError("frame header: request_id must be 0 on " + type_name + ", got " +
                                std::to_string(header.request_id));
  }
  if (!connection_level && header.type != FrameType::kError && header.request_id == 0) {
    return InvalidArgumentError("frame header: request_id 0 is reserved for the connection; " +
                                type_name + " needs a request's id");
  }
  if (header.payload_length > frame_limit) {
    return InvalidArgumentError(
        "frame header: payload_length " + std::to_string(header.payload_length) +
        " exceeds the frame limit of " + std::to_string(frame_limit) + " bytes");
  }
  if (header.type == FrameType::kCancel && header.payload_length != 0) {
    return InvalidArgumentError("frame header: payload_length of CANCEL must be 0, got " +
                                std::to_string(header.payload_length));
  }
  if (header.type == FrameType::kCredit && header.payload_length != 4) {
    return InvalidArgumentError("frame header: payload_length of CREDIT must be 4, got " +
                                std::to_string(header.payload_length));
  }
  return Status::Ok();
}

StatusOr<FrameHeader> DecodeHeader(std::span<const uint8_t, kHeaderSize> bytes,
                                   uint32_t frame_limit) {
  if (!std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) {
    return InvalidArgumentError("frame header: bad magic " + DescribeBytes(bytes.first(4)) +
                                ", expected 53 50 4b 44 (\"SPKD\"); is the peer a spiked client?");
  }
  FrameHeader header;
  header.version = bytes[4];
  if (header.version != kFrameVersion) {
    return FailedPreconditionError("frame header: version " + std::to_string(header.version) +
                                   " is not supported; this side speaks protocol version " +
                                   std::to_string(kFrameVersion));
  }
  const uint32_t stored_crc = LoadU32(&bytes[20]);
  const uint32_t computed_crc = Crc32(bytes.first(20));
  if (stored_crc != computed_crc) {
    return DataLossError("frame header: header_crc " + Hex(stored_crc, 8) + " does not match " +
                         Hex(computed_crc, 8) + " computed over the header");
  }
  header.type = static_cast<FrameType>(bytes[5]);
  header.flags = LoadU16(&bytes[6]);
  header.request_id = LoadU64(&bytes[8]);
  header.payload_length = LoadU32(&bytes[16]);
  SPK_RETURN_IF_ERROR(ValidateHeader(header, frame_limit));
  return header;
}

Frame MakeFrame(FrameType type, uint64_t request_id, std::vector<uint8_t> payload, uint16_t flags) {
  SPK_CHECK_LE(payload.size(), std::numeric_limits<uint32_t>::max());
  Frame frame;
  frame.header.type = type;
  frame.header.flags = flags;
  frame.header.request_id = request_id;
  frame.header.payload_length = static_cast<uint32_t>(payload.size());
  frame.payload = std::move(payload);
  return frame;
}

std::vector<uint8_t> EncodeFrame(const Frame& frame) {
  SPK_CHECK_EQ(frame.header.payload_length, frame.payload.size());
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize + frame.payload.size());
  const auto header = EncodeHeader(frame.header);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), frame.payload.begin(), frame.payload.end());
  return out;
}

}  // namespace spk::protocol

// Frames of the spiked local-socket protocol (docs/protocol.md).
//
// Every frame is a fixed 24-byte little-endian header followed by a payload:
//
//   offset size field
//        0    4 magic           "SPKD"
//        4    1 version         protocol major version (1)
//        5    1 type            FrameType
//        6    2 flags           FrameFlag bits; unknown bits are refused
//        8    8 request_id      ties frames of one request together; 0 is
//                               the connection itself (hello, fatal errors)
//       16    4 payload_length  bytes after the header, <= the frame limit
//       20    4 header_crc      CRC-32 (zlib's) of bytes 0..19
//
// This file holds the header codec, the header's validity rules and a frame
// as a value. Payload formats are in payload.h (binary) and json_message.h.
//
// Thread safety: plain values and pure functions.
#ifndef SPK_DAEMON_PROTOCOL_FRAME_H_
#define SPK_DAEMON_PROTOCOL_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/crc32.h"
#include "base/status.h"

namespace spk::protocol {

inline constexpr std::array<uint8_t, 4> kMagic = {'S', 'P', 'K', 'D'};
// The major version carried in every header. Minor versions are agreed in
// the handshake and never change the framing.
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kHeaderSize = 24;

// Payload limits. The daemon's limit is configurable within
// [kMinFrameLimit, kMaxFrameLimit] and announced in its hello reply.
inline constexpr uint32_t kDefaultFrameLimit = 16u << 20;  // 16 MiB
inline constexpr uint32_t kMinFrameLimit = 64u << 10;      // 64 KiB
inline constexpr uint32_t kMaxFrameLimit = 1u << 30;       // 1 GiB

enum class FrameType : uint8_t {
  // Connection setup; request_id 0; JSON payloads.
  kHello = 0x01,       // client -> server
  kHelloReply = 0x02,  // server -> client
  // Control; JSON payloads.
  kRequest = 0x10,   // client -> server: {"op": ..., ...}
  kResponse = 0x11,  // server -> client: the result
  kError = 0x12,     // either way: {"code", "message", "details"?}
  kCancel = 0x13,    // client -> server, empty: abandon request_id
  kProgress = 0x14,  // server -> client: interim progress of a request
  // Attachments of a JSON message; binary payloads.
  kTensor = 0x20,
  kSpikes = 0x21,
  kBlob = 0x22,
  // Streaming sessions; binary payloads.
  kStreamInput = 0x30,   // client -> server: input for a timestep range
  kStreamOutput = 0x31,  // server -> client: output of a timestep range
  kCredit = 0x32,        // either way: permission to send more stream frames
};

// Flag bits of the header's flags field.
enum FrameFlag : uint16_t {
  // Another frame of the same message follows (same request_id).
  kFlagMore = 0x0001,
  // The next frame's payload continues this frame's attachment. Binary and
  // stream frames only; implies kFlagMore.
  kFlagContinued = 0x0002,
  // RESPONSE only: the request stays open as a stream (session.open).
  kFlagOpen = 0x0004,
};
inline constexpr uint16_t kKnownFlags = kFlagMore | kFlagContinued | kFlagOpen;

// "REQUEST", "TENSOR", ...; "UNKNOWN" for values outside the enum.
std::string_view FrameTypeName(FrameType type);
bool IsKnownFrameType(uint8_t value);
// HELLO, HELLO_REPLY, REQUEST, RESPONSE, ERROR, PROGRESS.
bool IsJsonFrameType(FrameType type);
// TENSOR, SPIKES, BLOB: frames that may follow a JSON frame in a message.
bool IsAttachmentFrameType(FrameType type);
// STREAM_INPUT, STREAM_OUTPUT.
bool IsStreamDataFrameType(FrameType type);

struct FrameHeader {
  uint8_t version = kFrameVersion;
  FrameType type = FrameType::kRequest;
  uint16_t flags = 0;
  uint64_t request_id = 0;
  uint32_t payload_length = 0;

  bool has(FrameFlag flag) const { return (flags & flag) != 0; }
  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

// Header checksums are zlib's CRC-32 (base/crc32.h), so clients in any
// language can use their standard library's.
using ::spk::Crc32;

// Writes magic, the fields and the checksum.
std::array<uint8_t, kHeaderSize> EncodeHeader(const FrameHeader& header);

// Decodes and validates a header, in this order so that the first message
// names the most useful fault:
//   magic          INVALID_ARGUMENT (the peer does not speak this protocol)
//   version        FAILED_PRECONDITION (naming both versions)
//   header_crc     DATA_LOSS
//   type, flags, request_id, payload_length
//                  INVALID_ARGUMENT naming the field; a payload_length over
//                  `frame_limit` is refused before any payload is read.
StatusOr<FrameHeader> DecodeHeader(std::span<const uint8_t, kHeaderSize> bytes,
                                   uint32_t frame_limit);

// The per-type rules DecodeHeader applies after the checksum; exposed so
// that senders can check what they build.
Status ValidateHeader(const FrameHeader& header, uint32_t frame_limit);

// A whole frame. The header's payload_length equals payload.size() for
// frames made by MakeFrame or produced by the decoders.
struct Frame {
  FrameHeader header;
  std::vector<uint8_t> payload;

  std::string_view payload_text() const {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

// Builds a frame, setting payload_length. The payload must fit in 32 bits
// (checked: larger data must be split by the caller).
Frame MakeFrame(FrameType type, uint64_t request_id, std::vector<uint8_t> payload,
                uint16_t flags = 0);

// Header followed by payload, ready to write.
std::vector<uint8_t> EncodeFrame(const Frame& frame);

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_FRAME_H_

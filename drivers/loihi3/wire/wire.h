// The spiked board protocol on the wire (docs/board-protocol.md): frame
// header, opcodes and message bodies, shared by the host driver and the board
// firmware (the virtual board in drivers/loihi3/virtual).
//
// A frame is a 32-byte header followed by `payload_size` bytes of payload.
// All integers are little-endian; floating-point values are IEEE-754 binary64.
// The header carries its own CRC-32 and the payload's, so a corrupt frame is
// caught before its body is decoded. Bodies are read by a bounds-checked
// Reader: a decoder never reads outside its input, never allocates more than
// the input could hold, and ignores trailing bytes (a later minor version may
// append fields).
//
// Error codes of the decoders: DATA_LOSS for a truncated frame or a CRC
// mismatch, INVALID_ARGUMENT for a frame that is not this protocol's (bad
// magic, size over the limit) or a body that does not decode,
// FAILED_PRECONDITION for a frame of another major version.
//
// Thread safety: pure functions and plain values.
#ifndef SPK_DRIVERS_LOIHI3_WIRE_WIRE_H_
#define SPK_DRIVERS_LOIHI3_WIRE_WIRE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hal/device.h"

namespace spk::loihi3::wire {

// "SPKB" read as a little-endian u32.
inline constexpr uint32_t kMagic = 0x424B5053u;
inline constexpr uint8_t kProtocolMajor = 1;
inline constexpr uint8_t kProtocolMinor = 0;
inline constexpr uint32_t kHeaderSize = 32;
// Largest payload either side sends or accepts.
inline constexpr uint32_t kMaxPayload = 16u << 20;
// Image bytes per LOAD_CHUNK.
inline constexpr uint32_t kLoadChunkSize = 64u << 10;
// Board images staged (LOAD_BEGIN .. CONFIGURE_PARTITION) at once.
inline constexpr uint32_t kMaxStagedLoads = 8;

enum class Opcode : uint8_t {
  kIdentify = 0x01,
  kReset = 0x02,
  kSelfTest = 0x03,
  kLoadBegin = 0x10,
  kLoadChunk = 0x11,
  kLoadEnd = 0x12,
  kConfigurePartition = 0x13,
  kUnload = 0x14,
  kResetState = 0x15,
  kWriteInputs = 0x20,
  kRun = 0x21,
  kReadOutputs = 0x22,
  kReadTelemetry = 0x30,
  kReadHealth = 0x31,
};

// "IDENTIFY", "RUN", ... or "OPCODE_0x7f".
std::string OpcodeName(uint8_t opcode);

// Header flag bits.
inline constexpr uint8_t kFlagResponse = 0x01;
// A request sent again with the sequence number of one the host got no good
// answer to: the board replays its answer if it executed it, rather than
// executing it twice.
inline constexpr uint8_t kFlagRetry = 0x02;

struct FrameHeader {
  uint8_t version_major = kProtocolMajor;
  uint8_t version_minor = kProtocolMinor;
  uint8_t opcode = 0;
  uint8_t flags = 0;
  uint32_t sequence = 0;
  // Responses: a spk::StatusCode; the payload of a non-zero status is the
  // error report (UTF-8 text). Zero in requests.
  uint16_t status = 0;
  uint32_t payload_size = 0;
  uint32_t payload_crc = 0;
};

// Header followed by the payload, CRCs filled in. INVALID_ARGUMENT when the
// payload is over kMaxPayload.
StatusOr<std::vector<uint8_t>> EncodeFrame(FrameHeader header, std::span<const uint8_t> payload);
// Just the 32 header bytes (payload_size and payload_crc as given).
std::vector<uint8_t> EncodeHeader(const FrameHeader& header);

// Decodes and checks the first kHeaderSize bytes: magic, header CRC, size
// limit, major version. Does not check the payload.
StatusOr<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes);
// DATA_LOSS when `payload` does not match the header's size and CRC.
Status CheckPayload(const FrameHeader& header, std::span<const uint8_t> payload);

// --- Body encoding --------------------------------------------------------

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void F64(double v);
  void Str(std::string_view s);  // u32 length + bytes
  void Bytes(std::span<const uint8_t> b);
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// Reads a body; every getter fails INVALID_ARGUMENT (naming `what`) rather
// than read past the end.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, std::string_view what) : bytes_(bytes), what_(what) {}
  StatusOr<uint8_t> U8();
  StatusOr<uint16_t> U16();
  StatusOr<uint32_t> U32();
  StatusOr<uint64_t> U64();
  StatusOr<int32_t> I32();
  StatusOr<double> F64();
  StatusOr<std::string> Str();
  // `count` bytes; fails without allocating when fewer remain.
  StatusOr<std::span<const uint8_t>> Bytes(size_t count);
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  Status Short(size_t need) const;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::string_view what_;
};

// --- Message bodies -------------------------------------------------------

struct IdentifyResponse {
  std::string serial;
  std::string firmware_version;  // "major.minor.patch"
  uint8_t protocol_major = 0;
  uint8_t protocol_minor = 0;
  // Oldest host protocol minor (of this major) the board still serves.
  uint8_t min_host_minor = 0;
  uint32_t chips = 0;
  uint32_t cores_per_chip = 0;
  std::string board_profile;
  std::string chip_profile;
  friend bool operator==(const IdentifyResponse&, const IdentifyResponse&) = default;
};
std::vector<uint8_t> Encode(const IdentifyResponse& m);
StatusOr<IdentifyResponse> DecodeIdentifyResponse(std::span<const uint8_t> body);

struct LoadBegin {
  uint32_t image_size = 0;
  uint32_t image_crc = 0;
  friend bool operator==(const LoadBegin&, const LoadBegin&) = default;
};
std::vector<uint8_t> Encode(const LoadBegin& m);
StatusOr<LoadBegin> DecodeLoadBegin(std::span<const uint8_t> body);

struct LoadChunk {
  uint32_t handle = 0;
  uint32_t offset = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const LoadChunk&, const LoadChunk&) = default;
};
std::vector<uint8_t> Encode(const LoadChunk& m);
StatusOr<LoadChunk> DecodeLoadChunk(std::span<const uint8_t> body);

struct ConfigurePartition {
  uint32_t handle = 0;
  std::vector<uint32_t> cores;
  friend bool operator==(const ConfigurePartition&, const ConfigurePartition&) = default;
};
std::vector<uint8_t> Encode(const ConfigurePartition& m);
StatusOr<ConfigurePartition> DecodeConfigurePartition(std::span<const uint8_t> body);

struct WriteInputs {
  uint64_t program = 0;
  uint32_t port = 0;
  uint32_t steps = 0;
  std::vector<int32_t> values;
  friend bool operator==(const WriteInputs&, const WriteInputs&) = default;
};
std::vector<uint8_t> Encode(const WriteInputs& m);
StatusOr<WriteInputs> DecodeWriteInputs(std::span<const uint8_t> body);

// RUN: program and steps; READ_OUTPUTS: program and port; UNLOAD and
// RESET_STATE: program only (arg ignored).
struct ProgramCall {
  uint64_t program = 0;
  uint32_t arg = 0;
  friend bool operator==(const ProgramCall&, const ProgramCall&) = default;
};
std::vector<uint8_t> Encode(const ProgramCall& m);
StatusOr<ProgramCall> DecodeProgramCall(std::span<const uint8_t> body);

// Single values: a u32 (load handle, self-test code), a u64 (program id).
std::vector<uint8_t> EncodeU32(uint32_t v);
StatusOr<uint32_t> DecodeU32(std::span<const uint8_t> body, std::string_view what);
std::vector<uint8_t> EncodeU64(uint64_t v);
StatusOr<uint64_t> DecodeU64(std::span<const uint8_t> body, std::string_view what);

std::vector<uint8_t> Encode(const hal::RunStats& m);
StatusOr<hal::RunStats> DecodeRunStats(std::span<const uint8_t> body);

std::vector<uint8_t> EncodeValues(std::span<const int32_t> values);
StatusOr<std::vector<int32_t>> DecodeValues(std::span<const uint8_t> body);

std::vector<uint8_t> Encode(const hal::Telemetry& m);
StatusOr<hal::Telemetry> DecodeTelemetry(std::span<const uint8_t> body);

std::vector<uint8_t> Encode(const hal::Health& m);
StatusOr<hal::Health> DecodeHealth(std::span<const uint8_t> body);

}  // namespace spk::loihi3::wire

#endif  // SPK_DRIVERS_LOIHI3_WIRE_WIRE_H_

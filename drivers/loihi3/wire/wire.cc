#include "drivers/loihi3/wire/wire.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/crc32.h"

namespace spk::loihi3::wire {
namespace {

void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

// Bounds a count read from the wire by what the remaining bytes can hold, so
// a hostile count cannot make the decoder allocate.
Status CheckCount(const Reader& r, uint64_t count, size_t each, std::string_view what) {
  if (count > r.remaining() / each) {
    return InvalidArgumentError(std::string(what) + ": count " + std::to_string(count) +
                                " exceeds the " + std::to_string(r.remaining()) + " bytes left");
  }
  return Status::Ok();
}

}  // namespace

std::string OpcodeName(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kIdentify:
      return "IDENTIFY";
    case Opcode::kReset:
      return "RESET";
    case Opcode::kSelfTest:
      return "SELF_TEST";
    case Opcode::kLoadBegin:
      return "LOAD_BEGIN";
    case Opcode::kLoadChunk:
      return "LOAD_CHUNK";
    case Opcode::kLoadEnd:
      return "LOAD_END";
    case Opcode::kConfigurePartition:
      return "CONFIGURE_PARTITION";
    case Opcode::kUnload:
      return "UNLOAD";
    case Opcode::kResetState:
      return "RESET_STATE";
    case Opcode::kWriteInputs:
      return "WRITE_INPUTS";
    case Opcode::kRun:
      return "RUN";
    case Opcode::kReadOutputs:
      return "READ_OUTPUTS";
    case Opcode::kReadTelemetry:
      return "READ_TELEMETRY";
    case Opcode::kReadHealth:
      return "READ_HEALTH";
  }
  char buf[16];
  std::snprintf(buf, sizeof(buf), "OPCODE_0x%02x", opcode);
  return buf;
}

std::vector<uint8_t> EncodeHeader(const FrameHeader& h) {
  std::vector<uint8_t> out(kHeaderSize, 0);
  Put32(&out[0], kMagic);
  out[4] = h.version_major;
  out[5] = h.version_minor;
  out[6] = h.opcode;
  out[7] = h.flags;
  Put32(&out[8], h.sequence);
  out[12] = static_cast<uint8_t>(h.status);
  out[13] = static_cast<uint8_t>(h.status >> 8);
  Put32(&out[16], h.payload_size);
  Put32(&out[20], h.payload_crc);
  Put32(&out[28], Crc32(std::span<const uint8_t>(out).first(28)));
  return out;
}

StatusOr<std::vector<uint8_t>> EncodeFrame(FrameHeader header, std::span<const uint8_t> payload) {
  if (payload.size() > kMaxPayload) {
    return InvalidArgumentError(OpcodeName(header.opcode) + ": payload of " +
                                std::to_string(payload.size()) + " bytes exceeds the limit of " +
                                std::to_string(kMaxPayload));
  }
  header.payload_size = static_cast<uint32_t>(payload.size());
  header.payload_crc = Crc32(payload);
  std::vector<uint8_t> out = EncodeHeader(header);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

StatusOr<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return DataLossError("frame header truncated: " + std::to_string(bytes.size()) + " of " +
                         std::to_string(kHeaderSize) + " bytes");
  }
  if (Get32(&bytes[0]) != kMagic) return InvalidArgumentError("not a spiked board frame (magic)");
  const uint32_t crc = Get32(&bytes[28]);
  if (Crc32(bytes.first(28)) != crc) return DataLossError("frame header CRC mismatch");
  FrameHeader h;
  h.version_major = bytes[4];
  h.version_minor = bytes[5];
  h.opcode = bytes[6];
  h.flags = bytes[7];
  h.sequence = Get32(&bytes[8]);
  h.status = static_cast<uint16_t>(bytes[12] | (bytes[13] << 8));
  h.payload_size = Get32(&bytes[16]);
  h.payload_crc = Get32(&bytes[20]);
  if (h.version_major != kProtocolMajor) {
    return FailedPreconditionError("frame of board protocol " + std::to_string(h.version_major) +
                                   "." + std::to_string(h.version_minor) + "; this side speaks " +
                                   std::to_string(kProtocolMajor) + ".x");
  }
  if (h.payload_size > kMaxPayload) {
    return InvalidArgumentError("frame payload of " + std::to_string(h.payload_size) +
                                " bytes exceeds the limit of " + std::to_string(kMaxPayload));
  }
  return h;
}

Status CheckPayload(const FrameHeader& header, std::span<const uint8_t> payload) {
  if (payload.size() != header.payload_size) {
    return DataLossError(OpcodeName(header.opcode) +
                         " payload truncated: " + std::to_string(payload.size()) + " of " +
                         std::to_string(header.payload_size) + " bytes");
  }
  if (Crc32(payload) != header.payload_crc) {
    return DataLossError(OpcodeName(header.opcode) + " payload CRC mismatch");
  }
  return Status::Ok();
}

// --- Writer / Reader ------------------------------------------------------

void Writer::U16(uint16_t v) {
  U8(static_cast<uint8_t>(v));
  U8(static_cast<uint8_t>(v >> 8));
}
void Writer::U32(uint32_t v) {
  for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
}
void Writer::U64(uint64_t v) {
  for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
}
void Writer::F64(double v) { U64(std::bit_cast<uint64_t>(v)); }
void Writer::Str(std::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  out_.insert(out_.end(), s.begin(), s.end());
}
void Writer::Bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

Status Reader::Short(size_t need) const {
  return InvalidArgumentError(std::string(what_) + ": body truncated at byte " +
                              std::to_string(pos_) + " (needs " + std::to_string(need) +
                              " more, has " + std::to_string(remaining()) + ")");
}

StatusOr<std::span<const uint8_t>> Reader::Bytes(size_t count) {
  if (count > remaining()) return Short(count);
  auto out = bytes_.subspan(pos_, count);
  pos_ += count;
  return out;
}
StatusOr<uint8_t> Reader::U8() {
  SPK_ASSIGN_OR_RETURN(auto b, Bytes(1));
  return b[0];
}
StatusOr<uint16_t> Reader::U16() {
  SPK_ASSIGN_OR_RETURN(auto b, Bytes(2));
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
StatusOr<uint32_t> Reader::U32() {
  SPK_ASSIGN_OR_RETURN(auto b, Bytes(4));
  return Get32(b.data());
}
StatusOr<uint64_t> Reader::U64() {
  SPK_ASSIGN_OR_RETURN(auto b, Bytes(8));
  return static_cast<uint64_t>(Get32(b.data())) |
         (static_cast<uint64_t>(Get32(b.data() + 4)) << 32);
}
StatusOr<int32_t> Reader::I32() {
  SPK_ASSIGN_OR_RETURN(uint32_t v, U32());
  return static_cast<int32_t>(v);
}
StatusOr<double> Reader::F64() {
  SPK_ASSIGN_OR_RETURN(uint64_t v, U64());
  return std::bit_cast<double>(v);
}
StatusOr<std::string> Reader::Str() {
  SPK_ASSIGN_OR_RETURN(uint32_t n, U32());
  SPK_ASSIGN_OR_RETURN(auto b, Bytes(n));
  return std::string(b.begin(), b.end());
}

// --- Bodies ---------------------------------------------------------------

std::vector<uint8_t> Encode(const IdentifyResponse& m) {
  Writer w;
  w.Str(m.serial);
  w.Str(m.firmware_version);
  w.U8(m.protocol_major);
  w.U8(m.protocol_minor);
  w.U8(m.min_host_minor);
  w.U32(m.chips);
  w.U32(m.cores_per_chip);
  w.Str(m.board_profile);
  w.Str(m.chip_profile);
  return w.Take();
}

StatusOr<IdentifyResponse> DecodeIdentifyResponse(std::span<const uint8_t> body) {
  Reader r(body, "IDENTIFY response");
  IdentifyResponse m;
  SPK_ASSIGN_OR_RETURN(m.serial, r.Str());
  SPK_ASSIGN_OR_RETURN(m.firmware_version, r.Str());
  SPK_ASSIGN_OR_RETURN(m.protocol_major, r.U8());
  SPK_ASSIGN_OR_RETURN(m.protocol_minor, r.U8());
  SPK_ASSIGN_OR_RETURN(m.min_host_minor, r.U8());
  SPK_ASSIGN_OR_RETURN(m.chips, r.U32());
  SPK_ASSIGN_OR_RETURN(m.cores_per_chip, r.U32());
  SPK_ASSIGN_OR_RETURN(m.board_profile, r.Str());
  SPK_ASSIGN_OR_RETURN(m.chip_profile, r.Str());
  return m;
}

std::vector<uint8_t> Encode(const LoadBegin& m) {
  Writer w;
  w.U32(m.image_size);
  w.U32(m.image_crc);
  return w.Take();
}

StatusOr<LoadBegin> DecodeLoadBegin(std::span<const uint8_t> body) {
  Reader r(body, "LOAD_BEGIN");
  LoadBegin m;
  SPK_ASSIGN_OR_RETURN(m.image_size, r.U32());
  SPK_ASSIGN_OR_RETURN(m.image_crc, r.U32());
  return m;
}

std::vector<uint8_t> Encode(const LoadChunk& m) {
  Writer w;
  w.U32(m.handle);
  w.U32(m.offset);
  w.U32(static_cast<uint32_t>(m.data.size()));
  w.Bytes(m.data);
  return w.Take();
}

StatusOr<LoadChunk> DecodeLoadChunk(std::span<const uint8_t> body) {
  Reader r(body, "LOAD_CHUNK");
  LoadChunk m;
  SPK_ASSIGN_OR_RETURN(m.handle, r.U32());
  SPK_ASSIGN_OR_RETURN(m.offset, r.U32());
  SPK_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  SPK_ASSIGN_OR_RETURN(auto data, r.Bytes(n));
  m.data.assign(data.begin(), data.end());
  return m;
}

std::vector<uint8_t> Encode(const ConfigurePartition& m) {
  Writer w;
  w.U32(m.handle);
  w.U32(static_cast<uint32_t>(m.cores.size()));
  for (uint32_t c : m.cores) w.U32(c);
  return w.Take();
}

StatusOr<ConfigurePartition> DecodeConfigurePartition(std::span<const uint8_t> body) {
  Reader r(body, "CONFIGURE_PARTITION");
  ConfigurePartition m;
  SPK_ASSIGN_OR_RETURN(m.handle, r.U32());
  SPK_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  SPK_RETURN_IF_ERROR(CheckCount(r, n, 4, "CONFIGURE_PARTITION cores"));
  m.cores.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    SPK_ASSIGN_OR_RETURN(uint32_t c, r.U32());
    m.cores.push_back(c);
  }
  return m;
}

std::vector<uint8_t> Encode(const WriteInputs& m) {
  Writer w;
  w.U64(m.program);
  w.U32(m.port);
  w.U32(m.steps);
  w.U32(static_cast<uint32_t>(m.values.size()));
  for (int32_t v : m.values) w.I32(v);
  return w.Take();
}

StatusOr<WriteInputs> DecodeWriteInputs(std::span<const uint8_t> body) {
  Reader r(body, "WRITE_INPUTS");
  WriteInputs m;
  SPK_ASSIGN_OR_RETURN(m.program, r.U64());
  SPK_ASSIGN_OR_RETURN(m.port, r.U32());
  SPK_ASSIGN_OR_RETURN(m.steps, r.U32());
  SPK_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  SPK_RETURN_IF_ERROR(CheckCount(r, n, 4, "WRITE_INPUTS values"));
  m.values.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    SPK_ASSIGN_OR_RETURN(int32_t v, r.I32());
    m.values.push_back(v);
  }
  return m;
}

std::vector<uint8_t> Encode(const ProgramCall& m) {
  Writer w;
  w.U64(m.program);
  w.U32(m.arg);
  return w.Take();
}

StatusOr<ProgramCall> DecodeProgramCall(std::span<const uint8_t> body) {
  Reader r(body, "program call");
  ProgramCall m;
  SPK_ASSIGN_OR_RETURN(m.program, r.U64());
  SPK_ASSIGN_OR_RETURN(m.arg, r.U32());
  return m;
}

std::vector<uint8_t> EncodeU32(uint32_t v) {
  Writer w;
  w.U32(v);
  return w.Take();
}
StatusOr<uint32_t> DecodeU32(std::span<const uint8_t> body, std::string_view what) {
  Reader r(body, what);
  return r.U32();
}
std::vector<uint8_t> EncodeU64(uint64_t v) {
  Writer w;
  w.U64(v);
  return w.Take();
}
StatusOr<uint64_t> DecodeU64(std::span<const uint8_t> body, std::string_view what) {
  Reader r(body, what);
  return r.U64();
}

namespace {
void PutDoubles(Writer& w, const std::vector<double>& v) {
  w.U32(static_cast<uint32_t>(v.size()));
  for (double x : v) w.F64(x);
}
StatusOr<std::vector<double>> GetDoubles(Reader& r, std::string_view what) {
  SPK_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  SPK_RETURN_IF_ERROR(CheckCount(r, n, 8, what));
  std::vector<double> v;
  v.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    SPK_ASSIGN_OR_RETURN(double x, r.F64());
    v.push_back(x);
  }
  return v;
}
void PutValue(Writer& w, const hal::TelemetryValue& v) {
  w.U8(v.supported ? 1 : 0);
  w.F64(v.value);
}
StatusOr<hal::TelemetryValue> GetValue(Reader& r) {
  hal::TelemetryValue v;
  SPK_ASSIGN_OR_RETURN(uint8_t supported, r.U8());
  v.supported = supported != 0;
  SPK_ASSIGN_OR_RETURN(v.value, r.F64());
  return v;
}
}  // namespace

std::vector<uint8_t> Encode(const hal::RunStats& m) {
  Writer w;
  w.U64(m.steps);
  w.U64(m.synaptic_ops);
  w.U64(m.neuron_updates);
  w.U64(m.spikes);
  w.U64(m.hops);
  w.U64(m.host_bytes);
  w.F64(m.chip_time_s);
  w.F64(m.host_link_time_s);
  w.F64(m.dynamic_energy_j);
  w.F64(m.static_energy_j);
  PutDoubles(w, m.core_dynamic_energy_j);
  PutDoubles(w, m.core_time_s);
  return w.Take();
}

StatusOr<hal::RunStats> DecodeRunStats(std::span<const uint8_t> body) {
  Reader r(body, "RUN response");
  hal::RunStats m;
  SPK_ASSIGN_OR_RETURN(m.steps, r.U64());
  SPK_ASSIGN_OR_RETURN(m.synaptic_ops, r.U64());
  SPK_ASSIGN_OR_RETURN(m.neuron_updates, r.U64());
  SPK_ASSIGN_OR_RETURN(m.spikes, r.U64());
  SPK_ASSIGN_OR_RETURN(m.hops, r.U64());
  SPK_ASSIGN_OR_RETURN(m.host_bytes, r.U64());
  SPK_ASSIGN_OR_RETURN(m.chip_time_s, r.F64());
  SPK_ASSIGN_OR_RETURN(m.host_link_time_s, r.F64());
  SPK_ASSIGN_OR_RETURN(m.dynamic_energy_j, r.F64());
  SPK_ASSIGN_OR_RETURN(m.static_energy_j, r.F64());
  SPK_ASSIGN_OR_RETURN(m.core_dynamic_energy_j, GetDoubles(r, "RUN core energies"));
  SPK_ASSIGN_OR_RETURN(m.core_time_s, GetDoubles(r, "RUN core times"));
  return m;
}

std::vector<uint8_t> EncodeValues(std::span<const int32_t> values) {
  Writer w;
  w.U32(static_cast<uint32_t>(values.size()));
  for (int32_t v : values) w.I32(v);
  return w.Take();
}

StatusOr<std::vector<int32_t>> DecodeValues(std::span<const uint8_t> body) {
  Reader r(body, "READ_OUTPUTS response");
  SPK_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  SPK_RETURN_IF_ERROR(CheckCount(r, n, 4, "READ_OUTPUTS values"));
  std::vector<int32_t> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    SPK_ASSIGN_OR_RETURN(int32_t v, r.I32());
    out.push_back(v);
  }
  return out;
}

std::vector<uint8_t> Encode(const hal::Telemetry& m) {
  Writer w;
  w.F64(m.timestamp_s);
  w.U32(static_cast<uint32_t>(m.power_w.size()));
  for (const auto& [rail, value] : m.power_w) {
    w.Str(rail);
    PutValue(w, value);
  }
  PutValue(w, m.temperature_c);
  PutValue(w, m.energy_total_j);
  w.U64(m.steps_total);
  w.U64(m.errors_total);
  return w.Take();
}

StatusOr<hal::Telemetry> DecodeTelemetry(std::span<const uint8_t> body) {
  Reader r(body, "READ_TELEMETRY response");
  hal::Telemetry m;
  SPK_ASSIGN_OR_RETURN(m.timestamp_s, r.F64());
  SPK_ASSIGN_OR_RETURN(uint32_t rails, r.U32());
  // A rail is at least a length, a flag and a value.
  SPK_RETURN_IF_ERROR(CheckCount(r, rails, 13, "READ_TELEMETRY rails"));
  for (uint32_t i = 0; i < rails; ++i) {
    SPK_ASSIGN_OR_RETURN(std::string rail, r.Str());
    SPK_ASSIGN_OR_RETURN(m.power_w[rail], GetValue(r));
  }
  SPK_ASSIGN_OR_RETURN(m.temperature_c, GetValue(r));
  SPK_ASSIGN_OR_RETURN(m.energy_total_j, GetValue(r));
  SPK_ASSIGN_OR_RETURN(m.steps_total, r.U64());
  SPK_ASSIGN_OR_RETURN(m.errors_total, r.U64());
  return m;
}

std::vector<uint8_t> Encode(const hal::Health& m) {
  Writer w;
  w.U8(static_cast<uint8_t>(m.state));
  w.Str(m.detail);
  return w.Take();
}

StatusOr<hal::Health> DecodeHealth(std::span<const uint8_t> body) {
  Reader r(body, "READ_HEALTH response");
  hal::Health m;
  SPK_ASSIGN_OR_RETURN(uint8_t state, r.U8());
  if (state > static_cast<uint8_t>(hal::HealthState::kGone)) {
    return InvalidArgumentError("READ_HEALTH response: unknown state " + std::to_string(state));
  }
  m.state = static_cast<hal::HealthState>(state);
  SPK_ASSIGN_OR_RETURN(m.detail, r.Str());
  return m;
}

}  // namespace spk::loihi3::wire

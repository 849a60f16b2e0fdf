#include "drivers/loihi3/usb_device.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <thread>
#include <utility>

#include "base/crc32.h"
#include "hal/format/board_image_io.h"

namespace spk::loihi3 {
namespace {

using wire::Opcode;

std::array<int, 3> ParseVersion(const std::string& text) {
  std::array<int, 3> v{0, 0, 0};
  std::sscanf(text.c_str(), "%d.%d.%d", &v[0], &v[1], &v[2]);
  return v;
}

std::string ProgramStep(std::string_view op, hal::ProgramId program) {
  return std::string(op) + " program " + std::to_string(program);
}

}  // namespace

std::string RequiredVersions(const UsbLinkOptions& options) {
  return "firmware >= " + options.min_firmware + " and board protocol " +
         std::to_string(wire::kProtocolMajor) +
         ".x with x >= " + std::to_string(options.min_protocol_minor) + " (this host speaks " +
         std::to_string(wire::kProtocolMajor) + "." + std::to_string(wire::kProtocolMinor) + ")";
}

Status CheckCompatible(const std::string& board, const wire::IdentifyResponse& id,
                       const UsbLinkOptions& options) {
  const bool firmware_ok = ParseVersion(id.firmware_version) >= ParseVersion(options.min_firmware);
  const bool protocol_ok =
      id.protocol_major == wire::kProtocolMajor && id.protocol_minor >= options.min_protocol_minor;
  const bool host_ok = id.min_host_minor <= wire::kProtocolMinor;
  if (firmware_ok && protocol_ok && host_ok) return Status::Ok();
  std::string fix = host_ok ? "update the board's firmware" : "update spiked";
  return FailedPreconditionError(
      board + " has firmware " + id.firmware_version + " and speaks board protocol " +
      std::to_string(id.protocol_major) + "." + std::to_string(id.protocol_minor) +
      " (for hosts of " + std::to_string(id.protocol_major) + "." +
      std::to_string(id.min_host_minor) + " or later); this driver needs " +
      RequiredVersions(options) + ": " + fix);
}

StatusOr<std::unique_ptr<UsbDevice>> UsbDevice::Create(std::unique_ptr<UsbTransport> transport,
                                                       std::string id, UsbLinkOptions options,
                                                       std::function<void()> on_close) {
  std::unique_ptr<UsbDevice> device(
      new UsbDevice(std::move(transport), std::move(id), std::move(options), std::move(on_close)));
  wire::IdentifyResponse identity;
  {
    std::lock_guard<std::mutex> lock(device->mu_);
    auto identified = device->Identify();
    if (!identified.ok()) {
      if (identified.status().code() == StatusCode::kFailedPrecondition) {
        return identified.status().WithContext("this driver needs " +
                                               RequiredVersions(device->options_));
      }
      return identified.status();
    }
    identity = std::move(identified).value();
  }
  hal::DeviceInfo& info = device->info_;
  info.serial = identity.serial;
  SPK_RETURN_IF_ERROR(CheckCompatible(device->Name(), identity, device->options_));
  info.firmware_version = identity.firmware_version;
  info.protocol_version = (uint32_t{identity.protocol_major} << 8) | identity.protocol_minor;
  info.board_profile = identity.board_profile;
  info.chip_profile = identity.chip_profile;
  info.chips = identity.chips;
  info.cores_per_chip = identity.cores_per_chip;
  if (info.chips == 0 || info.cores_per_chip == 0) {
    return FailedPreconditionError(device->Name() + " reports no cores (" +
                                   std::to_string(info.chips) + " chips of " +
                                   std::to_string(info.cores_per_chip) + ")");
  }
  return device;
}

UsbDevice::UsbDevice(std::unique_ptr<UsbTransport> transport, std::string id,
                     UsbLinkOptions options, std::function<void()> on_close)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      on_close_(std::move(on_close)) {
  info_.id = std::move(id);
  info_.driver = "loihi3";
}

UsbDevice::~UsbDevice() {
  if (on_close_) on_close_();
}

std::string UsbDevice::Name() const {
  return "board " + info_.id + (info_.serial.empty() ? "" : " (serial " + info_.serial + ")");
}

uint64_t UsbDevice::retries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retries_;
}

Status UsbDevice::TransferError(const TransferResult& r, const std::string& step, bool reading) {
  const std::string ms = std::to_string(options_.timeout.count()) + " ms";
  switch (r.outcome) {
    case TransferOutcome::kOk:
      return Status::Ok();
    case TransferOutcome::kTimedOut:
      return DeadlineExceededError(Name() + " did not " + (reading ? "answer " : "accept ") + step +
                                   " within " + ms);
    case TransferOutcome::kGone:
      return UnavailableError(Name() + " was unplugged during " + step);
    case TransferOutcome::kStalled:
      return UnavailableError(Name() + ": endpoint stalled during " + step);
    case TransferOutcome::kError:
      break;
  }
  return UnavailableError(Name() + ": USB error " + r.detail + " during " + step);
}

Status UsbDevice::ReadFrame(wire::FrameHeader* header, std::vector<uint8_t>* payload,
                            const std::string& step, TransferOutcome* outcome) {
  *outcome = TransferOutcome::kOk;
  TransferResult r = transport_->Read(wire::kHeaderSize, options_.timeout);
  *outcome = r.outcome;
  SPK_RETURN_IF_ERROR(TransferError(r, step, true));
  auto decoded = wire::DecodeHeader(r.data);
  if (!decoded.ok()) {
    // Without a header the payload's length is unknown: drop whatever the
    // board still has queued so the next read starts at a frame boundary.
    for (int i = 0; i < 8; ++i) {
      TransferResult drained =
          transport_->Read(wire::kHeaderSize + wire::kMaxPayload, std::chrono::milliseconds(50));
      if (drained.outcome != TransferOutcome::kOk) break;
    }
    // A foreign magic or an absurd length from the board is a damaged
    // answer like a bad CRC (DATA_LOSS, asked again); another major is not.
    Status why = decoded.status();
    if (why.code() == StatusCode::kInvalidArgument) why = DataLossError(std::string(why.message()));
    return why.WithContext(Name() + ": answer to " + step);
  }
  *header = *decoded;
  payload->clear();
  payload->reserve(header->payload_size);
  while (payload->size() < header->payload_size) {
    r = transport_->Read(header->payload_size - payload->size(), options_.timeout);
    *outcome = r.outcome;
    SPK_RETURN_IF_ERROR(TransferError(r, step, true));
    if (r.data.empty()) return DataLossError(Name() + ": empty transfer in the answer to " + step);
    payload->insert(payload->end(), r.data.begin(), r.data.end());
  }
  return wire::CheckPayload(*header, *payload).WithContext(Name() + ": answer to " + step);
}

StatusOr<std::vector<uint8_t>> UsbDevice::Call(Opcode opcode, std::span<const uint8_t> body,
                                               const std::string& step) {
  std::lock_guard<std::mutex> lock(mu_);
  return CallLocked(opcode, body, step);
}

StatusOr<std::vector<uint8_t>> UsbDevice::CallLocked(Opcode opcode, std::span<const uint8_t> body,
                                                     const std::string& step) {
  if (transport_->gone()) return UnavailableError(Name() + " is unplugged; cannot " + step);
  const uint32_t sequence = next_sequence_++;
  Status last;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) ++retries_;
    wire::FrameHeader h;
    h.opcode = static_cast<uint8_t>(opcode);
    h.sequence = sequence;
    h.flags = attempt > 0 ? wire::kFlagRetry : 0;
    SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, wire::EncodeFrame(h, body));
    TransferResult sent = transport_->Write(frame, options_.timeout);
    if (sent.outcome == TransferOutcome::kStalled) {
      last = TransferError(sent, step, false);
      TransferResult cleared = transport_->ClearHalt(/*in=*/false);
      SPK_RETURN_IF_ERROR(TransferError(cleared, "clearing a stall during " + step, false));
      continue;
    }
    SPK_RETURN_IF_ERROR(TransferError(sent, step, false));

    // Answers to earlier requests that timed out may still be queued: skip
    // them by sequence number.
    bool retry = false;
    for (int stale = 0; !retry; ++stale) {
      wire::FrameHeader answer;
      std::vector<uint8_t> payload;
      TransferOutcome outcome;
      Status read = ReadFrame(&answer, &payload, step, &outcome);
      if (outcome == TransferOutcome::kStalled) {
        last = read;
        TransferResult cleared = transport_->ClearHalt(/*in=*/true);
        SPK_RETURN_IF_ERROR(TransferError(cleared, "clearing a stall during " + step, true));
        retry = true;
        break;
      }
      if (read.code() == StatusCode::kDataLoss) {
        last = read;
        retry = true;
        break;
      }
      SPK_RETURN_IF_ERROR(read);
      if (answer.sequence != sequence) {
        if (stale >= 16) return DataLossError(Name() + ": no answer to " + step + " in sequence");
        continue;
      }
      if (answer.opcode != h.opcode || (answer.flags & wire::kFlagResponse) == 0) {
        return DataLossError(Name() + ": answered " + step + " with " +
                             wire::OpcodeName(answer.opcode));
      }
      if (answer.status != 0) {
        // A code this host does not know is still a failure.
        const StatusCode code = answer.status <= static_cast<uint16_t>(StatusCode::kDataLoss)
                                    ? static_cast<StatusCode>(answer.status)
                                    : StatusCode::kUnknown;
        const std::string message(payload.begin(), payload.end());
        return Status(code, Name() + ": " + step + ": " + message);
      }
      return payload;
    }
  }
  return last.WithContext("gave up after " + std::to_string(options_.retries + 1) + " attempts");
}

StatusOr<wire::IdentifyResponse> UsbDevice::Identify() {
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> body, CallLocked(Opcode::kIdentify, {}, "IDENTIFY"));
  return wire::DecodeIdentifyResponse(body);
}

Status UsbDevice::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  auto fail = [&](const std::string& at, const Status& why) {
    failed_ = "reset failed at " + at + ": " + std::string(why.message());
    const StatusCode code = why.code() == StatusCode::kFailedPrecondition
                                ? StatusCode::kFailedPrecondition
                                : StatusCode::kUnavailable;
    return Status(code,
                  "reset of " + Name() + " failed at " + at + ": " + std::string(why.message()));
  };
  if (Status s = CallLocked(Opcode::kReset, {}, "RESET").status(); !s.ok()) return fail("RESET", s);
  TransferResult port = transport_->ResetPort();
  if (port.outcome != TransferOutcome::kOk) {
    return fail("port reset", TransferError(port, "the port reset", false));
  }
  // The board comes back after re-enumerating; ask until it answers.
  const auto deadline = std::chrono::steady_clock::now() + options_.reset_timeout;
  StatusOr<wire::IdentifyResponse> identity = UnavailableError("not asked");
  while (true) {
    identity = Identify();
    if (identity.ok() || transport_->gone() ||
        identity.status().code() == StatusCode::kFailedPrecondition ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!identity.ok()) return fail("IDENTIFY", identity.status());
  if (identity->serial != info_.serial) {
    return fail("IDENTIFY", UnavailableError("board answered with serial " + identity->serial));
  }
  if (Status s = CheckCompatible(Name(), *identity, options_); !s.ok()) return fail("IDENTIFY", s);
  if (Status s = CallLocked(Opcode::kSelfTest, {}, "SELF_TEST").status(); !s.ok()) {
    return fail("SELF_TEST", s);
  }
  failed_.clear();
  return Status::Ok();
}

StatusOr<hal::ProgramId> UsbDevice::Load(const hal::format::BoardImage& image,
                                         const hal::Partition& partition) {
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, hal::format::WriteBoardImage(image));
  if (bytes.size() > UINT32_MAX) return InvalidArgumentError("board image over 4 GiB");
  wire::LoadBegin begin;
  begin.image_size = static_cast<uint32_t>(bytes.size());
  begin.image_crc = Crc32(bytes);
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> answer,
                       Call(Opcode::kLoadBegin, wire::Encode(begin), "LOAD_BEGIN"));
  SPK_ASSIGN_OR_RETURN(uint32_t handle, wire::DecodeU32(answer, "LOAD_BEGIN answer"));
  for (size_t offset = 0; offset < bytes.size(); offset += wire::kLoadChunkSize) {
    wire::LoadChunk chunk;
    chunk.handle = handle;
    chunk.offset = static_cast<uint32_t>(offset);
    const size_t end = std::min(bytes.size(), offset + wire::kLoadChunkSize);
    chunk.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                      bytes.begin() + static_cast<std::ptrdiff_t>(end));
    SPK_RETURN_IF_ERROR(Call(Opcode::kLoadChunk, wire::Encode(chunk),
                             "LOAD_CHUNK at byte " + std::to_string(offset))
                            .status());
  }
  SPK_RETURN_IF_ERROR(Call(Opcode::kLoadEnd, wire::EncodeU32(handle), "LOAD_END").status());
  wire::ConfigurePartition configure;
  configure.handle = handle;
  configure.cores = partition.cores;
  SPK_ASSIGN_OR_RETURN(
      answer, Call(Opcode::kConfigurePartition, wire::Encode(configure), "CONFIGURE_PARTITION"));
  return wire::DecodeU64(answer, "CONFIGURE_PARTITION answer");
}

Status UsbDevice::Unload(hal::ProgramId program) {
  return Call(Opcode::kUnload, wire::Encode(wire::ProgramCall{program, 0}),
              ProgramStep("UNLOAD", program))
      .status();
}

Status UsbDevice::ResetState(hal::ProgramId program) {
  return Call(Opcode::kResetState, wire::Encode(wire::ProgramCall{program, 0}),
              ProgramStep("RESET_STATE", program))
      .status();
}

Status UsbDevice::WriteInputs(hal::ProgramId program, uint32_t port, uint32_t steps,
                              std::span<const int32_t> values) {
  wire::WriteInputs m;
  m.program = program;
  m.port = port;
  m.steps = steps;
  m.values.assign(values.begin(), values.end());
  return Call(Opcode::kWriteInputs, wire::Encode(m),
              ProgramStep("WRITE_INPUTS", program) + ", port " + std::to_string(port) + ", " +
                  std::to_string(steps) + " steps")
      .status();
}

StatusOr<hal::RunStats> UsbDevice::Run(hal::ProgramId program, uint32_t steps) {
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> answer,
                       Call(Opcode::kRun, wire::Encode(wire::ProgramCall{program, steps}),
                            ProgramStep("RUN", program) + ", " + std::to_string(steps) + " steps"));
  return wire::DecodeRunStats(answer);
}

StatusOr<std::vector<int32_t>> UsbDevice::ReadOutputs(hal::ProgramId program, uint32_t port) {
  SPK_ASSIGN_OR_RETURN(
      std::vector<uint8_t> answer,
      Call(Opcode::kReadOutputs, wire::Encode(wire::ProgramCall{program, port}),
           ProgramStep("READ_OUTPUTS", program) + ", port " + std::to_string(port)));
  return wire::DecodeValues(answer);
}

StatusOr<hal::Telemetry> UsbDevice::ReadTelemetry() {
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> answer,
                       Call(Opcode::kReadTelemetry, {}, "READ_TELEMETRY"));
  return wire::DecodeTelemetry(answer);
}

hal::Health UsbDevice::CheckHealth() {
  if (transport_->gone()) return {hal::HealthState::kGone, Name() + " was unplugged"};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.empty()) return {hal::HealthState::kFailed, failed_};
  }
  auto answer = Call(Opcode::kReadHealth, {}, "READ_HEALTH");
  if (!answer.ok()) {
    if (transport_->gone()) return {hal::HealthState::kGone, Name() + " was unplugged"};
    return {hal::HealthState::kDegraded, answer.status().ToString()};
  }
  auto health = wire::DecodeHealth(*answer);
  if (!health.ok()) return {hal::HealthState::kDegraded, health.status().ToString()};
  return *health;
}

}  // namespace spk::loihi3

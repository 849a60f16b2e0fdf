#include "drivers/loihi3/virtual/virtual_board.h"

#include <algorithm>
#include <utility>

#include "base/crc32.h"
#include "hal/format/board_image_io.h"

namespace spk::loihi3 {

using wire::FrameHeader;
using wire::Opcode;

StatusOr<std::unique_ptr<VirtualBoard>> VirtualBoard::Create(hal::format::ChipProfile chip,
                                                             hal::format::BoardProfile board,
                                                             VirtualBoardOptions options) {
  sim::SimDeviceOptions sim_options;
  sim_options.id = "virtual-" + options.serial;
  sim_options.serial = options.serial;
  sim_options.threads = options.sim_threads;
  SPK_ASSIGN_OR_RETURN(auto sim,
                       sim::SimDevice::Create(std::move(chip), std::move(board), sim_options));
  return std::unique_ptr<VirtualBoard>(new VirtualBoard(std::move(options), std::move(sim)));
}

StatusOr<std::unique_ptr<VirtualBoard>> VirtualBoard::CreateFromProfiles(
    std::string_view board_profile, VirtualBoardOptions options) {
  SPK_ASSIGN_OR_RETURN(hal::format::BoardProfile board,
                       hal::format::LoadBoardProfile(board_profile));
  SPK_ASSIGN_OR_RETURN(hal::format::ChipProfile chip, hal::format::LoadChipProfile(board.chip));
  return Create(std::move(chip), std::move(board), std::move(options));
}

VirtualBoard::VirtualBoard(VirtualBoardOptions options, std::unique_ptr<sim::SimDevice> sim)
    : options_(std::move(options)), sim_(std::move(sim)) {}

void VirtualBoard::Receive(std::span<const uint8_t> bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (faults_.hang) return;
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  while (in_.size() >= wire::kHeaderSize) {
    auto header = wire::DecodeHeader(in_);
    if (header.status().code() == StatusCode::kFailedPrecondition && AnswerOtherMajor()) continue;
    if (!header.ok()) {
      // A header that does not decode leaves no way to find the next frame
      // boundary: drop what was received (the host sends whole frames per
      // transfer, so the next transfer starts a frame) and let it time out.
      ++counters_.corrupt_requests;
      in_.clear();
      return;
    }
    const size_t total = wire::kHeaderSize + header->payload_size;
    if (in_.size() < total) return;  // the rest comes in the next transfer
    std::vector<uint8_t> payload(in_.begin() + wire::kHeaderSize, in_.begin() + total);
    in_.erase(in_.begin(), in_.begin() + total);
    HandleFrame(*header, payload);
  }
}

bool VirtualBoard::AnswerOtherMajor() {
  // DecodeHeader checked the magic and the header CRC before the version:
  // the frame is intact, only of another major, and its length is known.
  auto get32 = [&](size_t at) {
    return static_cast<uint32_t>(in_[at]) | static_cast<uint32_t>(in_[at + 1]) << 8 |
           static_cast<uint32_t>(in_[at + 2]) << 16 | static_cast<uint32_t>(in_[at + 3]) << 24;
  };
  FrameHeader header;
  header.version_major = in_[4];
  header.version_minor = in_[5];
  header.opcode = in_[6];
  header.sequence = get32(8);
  const uint32_t payload_size = get32(16);
  if (payload_size > wire::kMaxPayload) return false;
  if (in_.size() < wire::kHeaderSize + payload_size) return false;
  in_.erase(in_.begin(), in_.begin() + wire::kHeaderSize + payload_size);
  ++counters_.corrupt_requests;
  Answer(header,
         FailedPreconditionError("board " + options_.serial + " speaks board protocol " +
                                 std::to_string(options_.protocol_major) + "." +
                                 std::to_string(options_.protocol_minor) + ", the host sent " +
                                 std::to_string(header.version_major) + "." +
                                 std::to_string(header.version_minor)),
         {}, /*cache=*/false);
  return true;
}

void VirtualBoard::HandleFrame(const FrameHeader& header, std::span<const uint8_t> payload) {
  if (Status ok = wire::CheckPayload(header, payload); !ok.ok()) {
    // Answered but not cached: the host's retry executes it afresh.
    ++counters_.corrupt_requests;
    Answer(header, ok, {}, /*cache=*/false);
    return;
  }
  if ((header.flags & wire::kFlagRetry) != 0 && last_sequence_ == header.sequence) {
    ++counters_.replayed;
    Queue(last_answer_);
    return;
  }
  // IDENTIFY is always answered, so that a host can say which versions it
  // would need.
  if (header.version_minor < options_.min_host_minor &&
      header.opcode != static_cast<uint8_t>(Opcode::kIdentify)) {
    Answer(header,
           FailedPreconditionError(
               "board " + options_.serial +
               " needs host protocol >= " + std::to_string(options_.protocol_major) + "." +
               std::to_string(options_.min_host_minor) + ", got " +
               std::to_string(header.version_major) + "." + std::to_string(header.version_minor)),
           {}, /*cache=*/true);
    return;
  }
  ++counters_.executed;
  auto body = Execute(header, payload);
  if (body.ok()) {
    Answer(header, Status::Ok(), *body, /*cache=*/true);
  } else {
    Answer(header, body.status(), {}, /*cache=*/true);
  }
}

StatusOr<std::vector<uint8_t>> VirtualBoard::Execute(const FrameHeader& header,
                                                     std::span<const uint8_t> payload) {
  switch (static_cast<Opcode>(header.opcode)) {
    case Opcode::kIdentify: {
      const hal::DeviceInfo& info = sim_->info();
      wire::IdentifyResponse m;
      m.serial = faults_.identify_serial.empty() ? options_.serial : faults_.identify_serial;
      m.firmware_version = options_.firmware_version;
      m.protocol_major = options_.protocol_major;
      m.protocol_minor = options_.protocol_minor;
      m.min_host_minor = options_.min_host_minor;
      m.chips = info.chips;
      m.cores_per_chip = info.cores_per_chip;
      m.board_profile = info.board_profile;
      m.chip_profile = info.chip_profile;
      return wire::Encode(m);
    }
    case Opcode::kReset: {
      staged_.clear();
      ++counters_.resets;
      SPK_RETURN_IF_ERROR(sim_->Reset());
      return std::vector<uint8_t>{};
    }
    case Opcode::kSelfTest: {
      if (faults_.fail_self_test) {
        return InternalError("self-test failed: core 0 SRAM pattern mismatch");
      }
      const hal::Health health = sim_->CheckHealth();
      if (health.state != hal::HealthState::kOk) {
        return InternalError("self-test failed: " + health.detail);
      }
      return std::vector<uint8_t>{};
    }
    case Opcode::kLoadBegin: {
      SPK_ASSIGN_OR_RETURN(wire::LoadBegin m, wire::DecodeLoadBegin(payload));
      if (m.image_size == 0) return InvalidArgumentError("LOAD_BEGIN: empty image");
      // Abandoned loads (a host that died mid-load) must not pile up.
      while (staged_.size() >= wire::kMaxStagedLoads) staged_.erase(staged_.begin());
      const uint32_t handle = next_handle_++;
      Staged& s = staged_[handle];
      s.size = m.image_size;
      s.crc = m.image_crc;
      return wire::EncodeU32(handle);
    }
    case Opcode::kLoadChunk: {
      SPK_ASSIGN_OR_RETURN(wire::LoadChunk m, wire::DecodeLoadChunk(payload));
      auto it = staged_.find(m.handle);
      if (it == staged_.end()) {
        return NotFoundError("LOAD_CHUNK: no load " + std::to_string(m.handle) + " in progress");
      }
      Staged& s = it->second;
      if (m.offset != s.bytes.size() || m.data.size() > s.size - s.bytes.size()) {
        return InvalidArgumentError("LOAD_CHUNK: chunk at " + std::to_string(m.offset) + " of " +
                                    std::to_string(m.data.size()) + " bytes; expected offset " +
                                    std::to_string(s.bytes.size()) + " of an image of " +
                                    std::to_string(s.size));
      }
      s.bytes.insert(s.bytes.end(), m.data.begin(), m.data.end());
      return std::vector<uint8_t>{};
    }
    case Opcode::kLoadEnd: {
      SPK_ASSIGN_OR_RETURN(uint32_t handle, wire::DecodeU32(payload, "LOAD_END"));
      auto it = staged_.find(handle);
      if (it == staged_.end()) {
        return NotFoundError("LOAD_END: no load " + std::to_string(handle) + " in progress");
      }
      Staged& s = it->second;
      Status verified = Status::Ok();
      if (s.bytes.size() != s.size) {
        verified = DataLossError("LOAD_END: received " + std::to_string(s.bytes.size()) + " of " +
                                 std::to_string(s.size) + " image bytes");
      } else if (Crc32(s.bytes) != s.crc) {
        verified = DataLossError("LOAD_END: image CRC mismatch");
      } else {
        auto image = hal::format::ReadBoardImage(s.bytes);
        if (image.ok()) {
          s.image = std::move(image).value();
          s.bytes = {};
        } else {
          verified = image.status();
        }
      }
      if (!verified.ok()) staged_.erase(it);
      SPK_RETURN_IF_ERROR(verified);
      return std::vector<uint8_t>{};
    }
    case Opcode::kConfigurePartition: {
      SPK_ASSIGN_OR_RETURN(wire::ConfigurePartition m, wire::DecodeConfigurePartition(payload));
      auto it = staged_.find(m.handle);
      if (it == staged_.end() || !it->second.image) {
        return NotFoundError("CONFIGURE_PARTITION: no verified load " + std::to_string(m.handle));
      }
      const hal::format::BoardImage image = std::move(*it->second.image);
      staged_.erase(it);
      SPK_ASSIGN_OR_RETURN(hal::ProgramId program,
                           sim_->Load(image, hal::Partition{std::move(m.cores)}));
      return wire::EncodeU64(program);
    }
    case Opcode::kUnload: {
      SPK_ASSIGN_OR_RETURN(wire::ProgramCall m, wire::DecodeProgramCall(payload));
      SPK_RETURN_IF_ERROR(sim_->Unload(m.program));
      return std::vector<uint8_t>{};
    }
    case Opcode::kResetState: {
      SPK_ASSIGN_OR_RETURN(wire::ProgramCall m, wire::DecodeProgramCall(payload));
      SPK_RETURN_IF_ERROR(sim_->ResetState(m.program));
      return std::vector<uint8_t>{};
    }
    case Opcode::kWriteInputs: {
      SPK_ASSIGN_OR_RETURN(wire::WriteInputs m, wire::DecodeWriteInputs(payload));
      SPK_RETURN_IF_ERROR(sim_->WriteInputs(m.program, m.port, m.steps, m.values));
      return std::vector<uint8_t>{};
    }
    case Opcode::kRun: {
      SPK_ASSIGN_OR_RETURN(wire::ProgramCall m, wire::DecodeProgramCall(payload));
      SPK_ASSIGN_OR_RETURN(hal::RunStats stats, sim_->Run(m.program, m.arg));
      return wire::Encode(stats);
    }
    case Opcode::kReadOutputs: {
      SPK_ASSIGN_OR_RETURN(wire::ProgramCall m, wire::DecodeProgramCall(payload));
      SPK_ASSIGN_OR_RETURN(std::vector<int32_t> values, sim_->ReadOutputs(m.program, m.arg));
      return wire::EncodeValues(values);
    }
    case Opcode::kReadTelemetry: {
      SPK_ASSIGN_OR_RETURN(hal::Telemetry t, sim_->ReadTelemetry());
      return wire::Encode(t);
    }
    case Opcode::kReadHealth:
      return wire::Encode(sim_->CheckHealth());
  }
  return UnimplementedError("board " + options_.serial + " does not know opcode " +
                            wire::OpcodeName(header.opcode));
}

void VirtualBoard::Answer(const FrameHeader& request, const Status& status,
                          std::span<const uint8_t> body, bool cache) {
  FrameHeader h;
  h.version_major = options_.protocol_major;
  h.version_minor = options_.protocol_minor;
  h.opcode = request.opcode;
  h.flags = wire::kFlagResponse;
  h.sequence = request.sequence;
  h.status = static_cast<uint16_t>(status.code());
  const std::string_view message = status.message();
  std::span<const uint8_t> payload =
      status.ok() ? body
                  : std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()),
                                             std::min<size_t>(message.size(), 4096));
  auto frame = wire::EncodeFrame(h, payload);
  if (!frame.ok()) {
    h.status = static_cast<uint16_t>(frame.status().code());
    const std::string text(frame.status().message());
    frame = wire::EncodeFrame(
        h, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  if (cache) {
    last_sequence_ = request.sequence;
    last_answer_ = *frame;
  }
  Queue(std::move(frame).value());
}

void VirtualBoard::Queue(std::vector<uint8_t> frame) {
  if (faults_.corrupt_responses > 0 && frame.size() >= wire::kHeaderSize) {
    --faults_.corrupt_responses;
    // Flip a payload-CRC bit and re-seal the header, so the header decodes
    // and the corruption shows as a payload CRC mismatch.
    auto header = wire::DecodeHeader(std::span<const uint8_t>(frame).first(wire::kHeaderSize));
    if (header.ok()) {
      header->payload_crc ^= 1;
      std::vector<uint8_t> sealed = wire::EncodeHeader(*header);
      std::copy(sealed.begin(), sealed.end(), frame.begin());
    }
  }
  // Header and payload go out as separate segments: the host reads the
  // header first to learn how long the payload is.
  std::vector<uint8_t> payload(frame.begin() + wire::kHeaderSize, frame.end());
  frame.resize(wire::kHeaderSize);
  out_.push_back(std::move(frame));
  if (!payload.empty()) out_.push_back(std::move(payload));
}

std::vector<uint8_t> VirtualBoard::Send(size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  if (out_.empty() || max == 0) return {};
  std::vector<uint8_t>& front = out_.front();
  if (front.size() <= max) {
    std::vector<uint8_t> out = std::move(front);
    out_.pop_front();
    return out;
  }
  std::vector<uint8_t> out(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max));
  front.erase(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(max));
  return out;
}

bool VirtualBoard::HasOutput() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !out_.empty();
}

void VirtualBoard::SetFaults(const VirtualBoardFaults& faults) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_ = faults;
}

VirtualBoardFaults VirtualBoard::faults() const {
  std::lock_guard<std::mutex> lock(mu_);
  return faults_;
}

VirtualBoard::Counters VirtualBoard::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

}  // namespace spk::loihi3

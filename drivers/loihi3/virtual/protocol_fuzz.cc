// Fuzz target for the board protocol's parsers: every host-side decoder, and
// the board side (VirtualBoard::Receive, which decodes and executes
// requests). Each input is tried as given, where most mutations stop at a
// CRC, and as a frame sealed with correct magic, version and CRCs, so the
// body decoders and the board's handlers see the mutation too. The contract:
// no crash, no read outside the input, every decoder returns a value or an
// error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/crc32.h"
#include "drivers/loihi3/virtual/virtual_board.h"
#include "drivers/loihi3/wire/wire.h"

namespace {

using namespace spk::loihi3;  // NOLINT: a fuzz entry point, not a library

void DecodeAll(std::span<const uint8_t> b) {
  (void)wire::DecodeHeader(b);
  (void)wire::DecodeIdentifyResponse(b);
  (void)wire::DecodeLoadBegin(b);
  (void)wire::DecodeLoadChunk(b);
  (void)wire::DecodeConfigurePartition(b);
  (void)wire::DecodeWriteInputs(b);
  (void)wire::DecodeProgramCall(b);
  (void)wire::DecodeRunStats(b);
  (void)wire::DecodeValues(b);
  (void)wire::DecodeTelemetry(b);
  (void)wire::DecodeHealth(b);
}

// The input as one well-formed frame: its first bytes give the opcode and
// flags, the rest is the payload.
std::vector<uint8_t> Sealed(std::span<const uint8_t> b) {
  wire::FrameHeader h;
  h.opcode = b.empty() ? 0 : b[0];
  h.flags = b.size() < 2 ? 0 : static_cast<uint8_t>(b[1] & wire::kFlagRetry);
  h.sequence = b.size() < 3 ? 0 : b[2];
  auto frame = wire::EncodeFrame(h, b.size() < 3 ? std::span<const uint8_t>() : b.subspan(3));
  return frame.ok() ? *frame : std::vector<uint8_t>();
}

VirtualBoard& Board() {
  // One board for the process, as firmware lives across requests.
  static VirtualBoard* board = [] {
    auto created = VirtualBoard::CreateFromProfiles("oheo-gulch-1");
    return created.ok() ? created->release() : nullptr;
  }();
  return *board;
}

void Drain(VirtualBoard& board) {
  while (board.HasOutput()) (void)board.Send(1 << 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  DecodeAll(bytes);
  if (bytes.size() > spk::loihi3::wire::kHeaderSize) {
    DecodeAll(bytes.subspan(spk::loihi3::wire::kHeaderSize));
  }
  VirtualBoard& board = Board();
  board.Receive(bytes);
  Drain(board);
  const std::vector<uint8_t> sealed = Sealed(bytes);
  // RESET would wipe the state other inputs built up; the other requests
  // are the interesting ones.
  if (!sealed.empty() && sealed[6] != static_cast<uint8_t>(wire::Opcode::kReset)) {
    board.Receive(sealed);
    Drain(board);
  }
  return 0;
}

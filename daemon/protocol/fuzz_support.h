// Drives every protocol parser of outside input with arbitrary bytes, the
// way a connection would. Shared by the libFuzzer target
// (frame_decoder_fuzz.cc) and the deterministic mutation test that runs in
// every build. Test-only: not part of spk::protocol.
//
// Beyond "does not crash", it checks round trips: whatever a decoder accepts
// must re-encode to the same bytes (binary payloads) or parse again after
// serialising (typed requests); a violation aborts.
//
// Thread safety: pure function.
#ifndef SPK_DAEMON_PROTOCOL_FUZZ_SUPPORT_H_
#define SPK_DAEMON_PROTOCOL_FUZZ_SUPPORT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace spk::protocol {

struct FuzzOutcome {
  std::vector<Status> errors;  // every error a parser returned
  size_t frames = 0;           // frames decoded
  size_t messages = 0;         // messages assembled
  size_t accepted = 0;         // payloads a parser accepted
};

// The first byte picks a mode:
//   0  the rest is a raw byte stream, fed to a FrameDecoder in chunks
//   1  the rest is a list of (type, flags, length, payload) records framed
//      with valid checksums, so that mutations reach the payload parsers
//   2  the rest is one payload for the parser its first byte selects
FuzzOutcome ExerciseProtocol(std::span<const uint8_t> data);

// True for the codes parsers may return on bad input: INVALID_ARGUMENT,
// DATA_LOSS, FAILED_PRECONDITION, UNIMPLEMENTED, RESOURCE_EXHAUSTED.
bool IsExpectedInputErrorCode(StatusCode code);

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_FUZZ_SUPPORT_H_

// libFuzzer target for every protocol parser of outside input: the frame
// decoder, the message assembler, the binary payloads and the JSON
// requests. Built with -DSPK_BUILD_FUZZERS=ON under clang:
//   ./frame_decoder_fuzz -max_total_time=60 corpus/
// A crash, a sanitizer report or a broken round trip (fuzz_support.h) is a
// finding; an input error with an unexpected status code is one too.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/check.h"
#include "daemon/protocol/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto outcome = spk::protocol::ExerciseProtocol(std::span<const uint8_t>(data, size));
  for (const spk::Status& error : outcome.errors) {
    SPK_CHECK(spk::protocol::IsExpectedInputErrorCode(error.code())) << error;
    SPK_CHECK(!error.message().empty());
  }
  return 0;
}

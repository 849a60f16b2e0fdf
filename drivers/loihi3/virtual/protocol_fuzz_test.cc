// The fuzz contract on every build: deterministic mutations of valid request
// and answer frames (byte flips, truncations, inflated counts, random bytes)
// through the fuzz target (protocol_fuzz.cc), which runs every decoder and the
// virtual board on them. ASan builds check the "never reads outside".
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "drivers/loihi3/wire/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace spk::loihi3::wire {
namespace {

std::vector<std::vector<uint8_t>> Seeds() {
  std::vector<std::vector<uint8_t>> bodies = {
      {},
      Encode(LoadBegin{100, 7}),
      Encode(LoadChunk{1, 0, {1, 2, 3, 4}}),
      EncodeU32(1),
      Encode(ConfigurePartition{1, {0, 1}}),
      Encode(WriteInputs{1, 0, 2, {1, 0, 1, 0}}),
      Encode(ProgramCall{1, 4}),
      Encode(IdentifyResponse{"S", "1.0.0", 1, 0, 0, 1, 4, "b", "c"}),
      Encode(hal::RunStats{}),
      EncodeValues(std::vector<int32_t>{1, 2, 3}),
      Encode(hal::Telemetry{}),
      Encode(hal::Health{})};
  const std::vector<Opcode> ops = {
      Opcode::kIdentify,           Opcode::kLoadBegin,   Opcode::kLoadChunk, Opcode::kLoadEnd,
      Opcode::kConfigurePartition, Opcode::kWriteInputs, Opcode::kRun,       Opcode::kReadOutputs,
      Opcode::kReadTelemetry,      Opcode::kReadHealth,  Opcode::kUnload,    Opcode::kResetState};
  std::vector<std::vector<uint8_t>> seeds;
  for (size_t i = 0; i < bodies.size(); ++i) {
    FrameHeader h;
    h.opcode = static_cast<uint8_t>(ops[i % ops.size()]);
    h.sequence = static_cast<uint32_t>(i);
    seeds.push_back(*EncodeFrame(h, bodies[i]));
    // The same body behind the "sealed" form's three leading bytes.
    std::vector<uint8_t> raw = {h.opcode, 0, static_cast<uint8_t>(i)};
    raw.insert(raw.end(), bodies[i].begin(), bodies[i].end());
    seeds.push_back(raw);
  }
  return seeds;
}

TEST(WireFuzzTest, MutationsOfValidFramesKeepTheContract) {
  std::mt19937 rng(1234);
  int inputs = 0;
  for (const std::vector<uint8_t>& seed : Seeds()) {
    LLVMFuzzerTestOneInput(seed.data(), seed.size());
    for (size_t n = 0; n < seed.size(); ++n) {  // every truncation
      LLVMFuzzerTestOneInput(seed.data(), n);
      ++inputs;
    }
    for (int i = 0; i < 300; ++i) {
      std::vector<uint8_t> m = seed;
      if (m.empty()) m.push_back(0);
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t at = rng() % m.size();
        switch (rng() % 3) {
          case 0:
            m[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            m[at] = 0xFF;
            break;  // inflates counts and lengths
          default:
            m[at] = static_cast<uint8_t>(rng());
            break;
        }
      }
      LLVMFuzzerTestOneInput(m.data(), m.size());
      ++inputs;
    }
  }
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint8_t> junk(rng() % 128);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(junk.data(), junk.size());
    ++inputs;
  }
  EXPECT_GT(inputs, 5000);
}

}  // namespace
}  // namespace spk::loihi3::wire

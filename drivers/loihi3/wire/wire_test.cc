#include "drivers/loihi3/wire/wire.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "base/crc32.h"

namespace spk::loihi3::wire {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(WireTest, FrameRoundTrips) {
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(Opcode::kRun);
  h.flags = kFlagRetry;
  h.sequence = 0xA1B2C3D4u;
  h.status = 14;
  const std::vector<uint8_t> payload = Bytes("hello board");
  auto frame = EncodeFrame(h, payload);
  ASSERT_TRUE(frame.ok()) << frame.status();
  ASSERT_EQ(frame->size(), kHeaderSize + payload.size());
  // The layout is the documented one: magic "SPKB", then the versions.
  EXPECT_EQ((*frame)[0], 'S');
  EXPECT_EQ((*frame)[3], 'B');
  EXPECT_EQ((*frame)[4], kProtocolMajor);
  EXPECT_EQ((*frame)[6], 0x21);
  auto back = DecodeHeader(*frame);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->opcode, h.opcode);
  EXPECT_EQ(back->flags, kFlagRetry);
  EXPECT_EQ(back->sequence, 0xA1B2C3D4u);
  EXPECT_EQ(back->status, 14);
  EXPECT_EQ(back->payload_size, payload.size());
  EXPECT_EQ(back->payload_crc, Crc32(payload));
  EXPECT_TRUE(CheckPayload(*back, std::span<const uint8_t>(*frame).subspan(kHeaderSize)).ok());
}

TEST(WireTest, EveryCorruptHeaderByteIsCaught) {
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(Opcode::kIdentify);
  const std::vector<uint8_t> frame = *EncodeFrame(h, {});
  for (size_t i = 0; i < kHeaderSize; ++i) {
    std::vector<uint8_t> bad = frame;
    bad[i] ^= 0x10;
    auto decoded = DecodeHeader(bad);
    EXPECT_FALSE(decoded.ok()) << "byte " << i;
    // Magic bytes say "not ours"; every other byte is a CRC mismatch.
    EXPECT_EQ(decoded.status().code(), i < 4 ? StatusCode::kInvalidArgument : StatusCode::kDataLoss)
        << "byte " << i;
  }
}

TEST(WireTest, TruncatedAndCorruptPayloadsAreDataLoss) {
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(Opcode::kWriteInputs);
  const std::vector<uint8_t> payload = Bytes("0123456789");
  const std::vector<uint8_t> frame = *EncodeFrame(h, payload);
  EXPECT_EQ(DecodeHeader(std::span<const uint8_t>(frame).first(kHeaderSize - 1)).status().code(),
            StatusCode::kDataLoss);
  const FrameHeader back = *DecodeHeader(frame);
  EXPECT_EQ(CheckPayload(back, std::span<const uint8_t>(payload).first(9)).code(),
            StatusCode::kDataLoss);
  std::vector<uint8_t> flipped = payload;
  flipped[3] ^= 1;
  const Status crc = CheckPayload(back, flipped);
  EXPECT_EQ(crc.code(), StatusCode::kDataLoss);
  EXPECT_NE(crc.message().find("WRITE_INPUTS"), std::string_view::npos) << crc;
}

TEST(WireTest, OtherMajorVersionIsFailedPreconditionNamingBoth) {
  FrameHeader h;
  h.version_major = kProtocolMajor + 1;
  h.version_minor = 3;
  const std::vector<uint8_t> frame = *EncodeFrame(h, {});
  const Status s = DecodeHeader(frame).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("2.3"), std::string_view::npos) << s;
  EXPECT_NE(s.message().find("1.x"), std::string_view::npos) << s;
  // A newer minor of the same major is fine: fields are only appended.
  h.version_major = kProtocolMajor;
  h.version_minor = 200;
  EXPECT_TRUE(DecodeHeader(*EncodeFrame(h, {})).ok());
}

TEST(WireTest, OversizedPayloadIsRefusedBothWays) {
  FrameHeader h;
  h.payload_size = kMaxPayload + 1;
  EXPECT_EQ(DecodeHeader(EncodeHeader(h)).status().code(), StatusCode::kInvalidArgument);
  std::vector<uint8_t> big(kMaxPayload + 1);
  EXPECT_EQ(EncodeFrame(FrameHeader{}, big).status().code(), StatusCode::kInvalidArgument);
}

TEST(WireTest, OpcodeNames) {
  EXPECT_EQ(OpcodeName(0x21), "RUN");
  EXPECT_EQ(OpcodeName(0x13), "CONFIGURE_PARTITION");
  EXPECT_EQ(OpcodeName(0x7f), "OPCODE_0x7f");
}

TEST(WireTest, BodiesRoundTrip) {
  IdentifyResponse id{"SN-1", "1.2.3", 1, 4, 0, 8, 120, "kapoho-point-8", "loihi2"};
  EXPECT_EQ(*DecodeIdentifyResponse(Encode(id)), id);
  LoadBegin begin{12345, 0xDEADBEEF};
  EXPECT_EQ(*DecodeLoadBegin(Encode(begin)), begin);
  LoadChunk chunk{7, 65536, {1, 2, 3, 250}};
  EXPECT_EQ(*DecodeLoadChunk(Encode(chunk)), chunk);
  ConfigurePartition part{7, {5, 1, 900}};
  EXPECT_EQ(*DecodeConfigurePartition(Encode(part)), part);
  WriteInputs in{1ull << 40, 2, 3, {0, 1, -5, 1 << 30}};
  EXPECT_EQ(*DecodeWriteInputs(Encode(in)), in);
  ProgramCall call{99, 16};
  EXPECT_EQ(*DecodeProgramCall(Encode(call)), call);
  EXPECT_EQ(*DecodeU32(EncodeU32(0xFEEDu), "x"), 0xFEEDu);
  EXPECT_EQ(*DecodeU64(EncodeU64(1ull << 63), "x"), 1ull << 63);
  const std::vector<int32_t> values = {1, 0, -1, 2147483647};
  EXPECT_EQ(*DecodeValues(EncodeValues(values)), values);

  hal::RunStats stats;
  stats.steps = 16;
  stats.synaptic_ops = 1000;
  stats.spikes = 12;
  stats.chip_time_s = 1.5e-6;
  stats.dynamic_energy_j = 2.5e-9;
  stats.core_time_s = {1e-6, 2e-6};
  const hal::RunStats stats_back = *DecodeRunStats(Encode(stats));
  EXPECT_EQ(stats_back.steps, 16u);
  EXPECT_EQ(stats_back.synaptic_ops, 1000u);
  EXPECT_EQ(stats_back.spikes, 12u);
  EXPECT_EQ(stats_back.chip_time_s, 1.5e-6);
  EXPECT_EQ(stats_back.dynamic_energy_j, 2.5e-9);
  EXPECT_EQ(stats_back.core_time_s, stats.core_time_s);
  EXPECT_TRUE(stats_back.core_dynamic_energy_j.empty());

  hal::Telemetry t;
  t.timestamp_s = 1.7e9;
  t.power_w["vdd"] = {true, 0.25};
  t.power_w["vddio"] = {false, 0};
  t.temperature_c = {true, 41.5};
  t.steps_total = 77;
  t.errors_total = 2;
  const hal::Telemetry t_back = *DecodeTelemetry(Encode(t));
  EXPECT_EQ(t_back.timestamp_s, t.timestamp_s);
  ASSERT_EQ(t_back.power_w.size(), 2u);
  EXPECT_TRUE(t_back.power_w.at("vdd").supported);
  EXPECT_EQ(t_back.power_w.at("vdd").value, 0.25);
  EXPECT_FALSE(t_back.power_w.at("vddio").supported);
  EXPECT_EQ(t_back.temperature_c.value, 41.5);
  EXPECT_FALSE(t_back.energy_total_j.supported);
  EXPECT_EQ(t_back.steps_total, 77u);
  EXPECT_EQ(t_back.errors_total, 2u);

  hal::Health health{hal::HealthState::kDegraded, "hot"};
  const hal::Health health_back = *DecodeHealth(Encode(health));
  EXPECT_EQ(health_back.state, hal::HealthState::kDegraded);
  EXPECT_EQ(health_back.detail, "hot");
}

TEST(WireTest, TrailingBytesFromANewerMinorAreIgnored) {
  std::vector<uint8_t> body = Encode(LoadBegin{10, 20});
  body.push_back(0xAB);
  auto back = DecodeLoadBegin(body);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->image_size, 10u);
}

TEST(WireTest, HostileCountsFailWithoutAllocating) {
  Writer w;
  w.U64(1);
  w.U32(0);
  w.U32(4);
  w.U32(0xFFFFFFFFu);  // four billion values promised, none sent
  const Status s = DecodeWriteInputs(w.Take()).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("count"), std::string_view::npos) << s;

  Writer strings;
  strings.U32(0x7FFFFFFFu);  // a string longer than the body
  EXPECT_EQ(DecodeIdentifyResponse(strings.Take()).status().code(), StatusCode::kInvalidArgument);

  Writer health;
  health.U8(9);  // no such state
  health.Str("");
  EXPECT_EQ(DecodeHealth(health.Take()).status().code(), StatusCode::kInvalidArgument);
}

// Every prefix of every valid body, and random bytes, decode to an error or a
// value, never past the end (ASan checks the "never").
TEST(WireTest, TruncatedAndRandomBodiesNeverCrash) {
  hal::Telemetry t;
  t.power_w["vdd"] = {true, 1};
  const std::vector<std::vector<uint8_t>> bodies = {
      Encode(IdentifyResponse{"S", "1.0.0", 1, 0, 0, 1, 2, "b", "c"}),
      Encode(LoadChunk{1, 0, {1, 2, 3}}),
      Encode(ConfigurePartition{1, {1, 2}}),
      Encode(WriteInputs{1, 0, 1, {1, 0}}),
      Encode(hal::RunStats{}),
      EncodeValues(std::vector<int32_t>{1, 2}),
      Encode(t),
      Encode(hal::Health{})};
  auto decode_all = [](std::span<const uint8_t> b) {
    int ok = 0;
    ok += DecodeIdentifyResponse(b).ok();
    ok += DecodeLoadBegin(b).ok();
    ok += DecodeLoadChunk(b).ok();
    ok += DecodeConfigurePartition(b).ok();
    ok += DecodeWriteInputs(b).ok();
    ok += DecodeProgramCall(b).ok();
    ok += DecodeRunStats(b).ok();
    ok += DecodeValues(b).ok();
    ok += DecodeTelemetry(b).ok();
    ok += DecodeHealth(b).ok();
    ok += DecodeHeader(b).ok();
    return ok;
  };
  for (const auto& body : bodies) {
    for (size_t n = 0; n < body.size(); ++n) {
      decode_all(std::span<const uint8_t>(body).first(n));
    }
    EXPECT_GT(decode_all(body), 0);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> junk(rng() % 96);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    decode_all(junk);
  }
}

}  // namespace
}  // namespace spk::loihi3::wire

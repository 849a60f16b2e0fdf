#include "drivers/loihi3/virtual/virtual_board.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/crc32.h"
#include "hal/cts/echo_image.h"
#include "hal/format/board_image_io.h"
#include "sim/sim_test_util.h"

namespace spk::loihi3 {
namespace {

using wire::FrameHeader;
using wire::Opcode;

struct Answer {
  FrameHeader header;
  std::vector<uint8_t> payload;
  Status status() const {
    return header.status == 0 ? Status::Ok()
                              : Status(static_cast<StatusCode>(header.status),
                                       std::string(payload.begin(), payload.end()));
  }
};

class VirtualBoardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto board = VirtualBoard::Create(sim::testing::TestChip(), sim::testing::TestBoard(2));
    ASSERT_TRUE(board.ok()) << board.status();
    board_ = std::move(board).value();
  }

  std::vector<uint8_t> Frame(Opcode op, std::span<const uint8_t> body, uint32_t seq,
                             uint8_t flags = 0) {
    FrameHeader h;
    h.opcode = static_cast<uint8_t>(op);
    h.sequence = seq;
    h.flags = flags;
    return *wire::EncodeFrame(h, body);
  }

  // Reads one answer frame the way the host does: header, then payload.
  std::optional<Answer> Next() {
    std::vector<uint8_t> head = board_->Send(wire::kHeaderSize);
    if (head.empty()) return std::nullopt;
    Answer a;
    auto h = wire::DecodeHeader(head);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return std::nullopt;
    a.header = *h;
    while (a.payload.size() < a.header.payload_size) {
      std::vector<uint8_t> part = board_->Send(a.header.payload_size - a.payload.size());
      EXPECT_FALSE(part.empty());
      if (part.empty()) break;
      a.payload.insert(a.payload.end(), part.begin(), part.end());
    }
    return a;
  }

  Answer Call(Opcode op, std::span<const uint8_t> body = {}, uint8_t flags = 0) {
    const uint32_t seq = flags & wire::kFlagRetry ? seq_ : ++seq_;
    board_->Receive(Frame(op, body, seq, flags));
    std::optional<Answer> a = Next();
    EXPECT_TRUE(a.has_value()) << wire::OpcodeName(static_cast<uint8_t>(op)) << ": no answer";
    if (!a) return {};
    EXPECT_EQ(a->header.sequence, seq);
    EXPECT_EQ(a->header.opcode, static_cast<uint8_t>(op));
    EXPECT_TRUE(a->header.flags & wire::kFlagResponse);
    EXPECT_TRUE(wire::CheckPayload(a->header, a->payload).ok());
    return *a;
  }

  // LOAD_BEGIN .. CONFIGURE_PARTITION with small chunks.
  StatusOr<uint64_t> Load(const hal::format::BoardImage& image, std::vector<uint32_t> cores,
                          bool corrupt_crc = false) {
    const std::vector<uint8_t> bytes = *hal::format::WriteBoardImage(image);
    Answer begin = Call(Opcode::kLoadBegin,
                        wire::Encode(wire::LoadBegin{static_cast<uint32_t>(bytes.size()),
                                                     Crc32(bytes) ^ (corrupt_crc ? 1u : 0u)}));
    SPK_RETURN_IF_ERROR(begin.status());
    const uint32_t handle = *wire::DecodeU32(begin.payload, "handle");
    for (size_t off = 0; off < bytes.size(); off += 100) {
      wire::LoadChunk chunk{handle, static_cast<uint32_t>(off), {}};
      chunk.data.assign(bytes.begin() + off, bytes.begin() + std::min(bytes.size(), off + 100));
      SPK_RETURN_IF_ERROR(Call(Opcode::kLoadChunk, wire::Encode(chunk)).status());
    }
    SPK_RETURN_IF_ERROR(Call(Opcode::kLoadEnd, wire::EncodeU32(handle)).status());
    Answer configured =
        Call(Opcode::kConfigurePartition, wire::Encode(wire::ConfigurePartition{handle, cores}));
    SPK_RETURN_IF_ERROR(configured.status());
    return wire::DecodeU64(configured.payload, "program");
  }

  std::unique_ptr<VirtualBoard> board_;
  uint32_t seq_ = 0;
};

TEST_F(VirtualBoardTest, IdentifiesWithItsProfiles) {
  Answer a = Call(Opcode::kIdentify);
  ASSERT_TRUE(a.status().ok()) << a.status();
  auto id = wire::DecodeIdentifyResponse(a.payload);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->serial, "VB-0001");
  EXPECT_EQ(id->firmware_version, "1.0.0");
  EXPECT_EQ(id->protocol_major, wire::kProtocolMajor);
  EXPECT_EQ(id->chips, 2u);
  EXPECT_EQ(id->cores_per_chip, 16u);
  EXPECT_EQ(id->chip_profile, "test");
  EXPECT_TRUE(Call(Opcode::kSelfTest).status().ok());
}

TEST_F(VirtualBoardTest, LoadsRunsAndEchoesExactly) {
  auto program = Load(hal::cts::MakeEchoImage("test", 2), {3, 17});
  ASSERT_TRUE(program.ok()) << program.status();
  const std::vector<int32_t> input = hal::cts::MakeEchoInput(1, 8);
  ASSERT_TRUE(Call(Opcode::kWriteInputs, wire::Encode(wire::WriteInputs{*program, 0, 8, input}))
                  .status()
                  .ok());
  Answer run = Call(Opcode::kRun, wire::Encode(wire::ProgramCall{*program, 8}));
  ASSERT_TRUE(run.status().ok()) << run.status();
  EXPECT_EQ(wire::DecodeRunStats(run.payload)->steps, 8u);
  Answer out = Call(Opcode::kReadOutputs, wire::Encode(wire::ProgramCall{*program, 0}));
  ASSERT_TRUE(out.status().ok()) << out.status();
  EXPECT_EQ(*wire::DecodeValues(out.payload), hal::cts::ExpectedEchoOutput(input, 8, 2));
  // Errors of the chip come back with their codes.
  EXPECT_EQ(Call(Opcode::kRun, wire::Encode(wire::ProgramCall{*program + 100, 1})).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Load(hal::cts::MakeEchoImage("test", 1), {3}).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(Load(hal::cts::MakeEchoImage("other", 1), {4}).status().code(),
            StatusCode::kFailedPrecondition);
  // RESET unloads everything.
  ASSERT_TRUE(Call(Opcode::kReset).status().ok());
  EXPECT_EQ(Call(Opcode::kUnload, wire::Encode(wire::ProgramCall{*program, 0})).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(board_->counters().resets, 1u);
}

TEST_F(VirtualBoardTest, ImageWithWrongCrcIsDataLossAndNotLoaded) {
  auto program = Load(hal::cts::MakeEchoImage("test", 1), {0}, /*corrupt_crc=*/true);
  EXPECT_EQ(program.status().code(), StatusCode::kDataLoss) << program.status();
  EXPECT_TRUE(Load(hal::cts::MakeEchoImage("test", 1), {0}).ok());
}

TEST_F(VirtualBoardTest, OutOfOrderChunkIsRefused) {
  Answer begin = Call(Opcode::kLoadBegin, wire::Encode(wire::LoadBegin{10, 0}));
  const uint32_t handle = *wire::DecodeU32(begin.payload, "handle");
  EXPECT_EQ(
      Call(Opcode::kLoadChunk, wire::Encode(wire::LoadChunk{handle, 4, {1, 2}})).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Call(Opcode::kLoadChunk, wire::Encode(wire::LoadChunk{handle + 9, 0, {1}})).status().code(),
      StatusCode::kNotFound);
  EXPECT_EQ(Call(Opcode::kLoadEnd, wire::EncodeU32(handle)).status().code(), StatusCode::kDataLoss);
}

TEST_F(VirtualBoardTest, RetriedRequestIsReplayedNotExecutedTwice) {
  auto program = Load(hal::cts::MakeEchoImage("test", 1), {0});
  ASSERT_TRUE(program.ok());
  const std::vector<int32_t> input = hal::cts::MakeEchoInput(2, 4);
  ASSERT_TRUE(Call(Opcode::kWriteInputs, wire::Encode(wire::WriteInputs{*program, 0, 4, input}))
                  .status()
                  .ok());
  Answer first = Call(Opcode::kRun, wire::Encode(wire::ProgramCall{*program, 4}));
  const uint64_t executed = board_->counters().executed;
  Answer again = Call(Opcode::kRun, wire::Encode(wire::ProgramCall{*program, 4}), wire::kFlagRetry);
  EXPECT_EQ(again.payload, first.payload);
  EXPECT_EQ(board_->counters().executed, executed);
  EXPECT_EQ(board_->counters().replayed, 1u);
  // A retry flag on a request it never executed runs it.
  Answer fresh = Call(Opcode::kReadOutputs, wire::Encode(wire::ProgramCall{*program, 0}));
  EXPECT_EQ(*wire::DecodeValues(fresh.payload), hal::cts::ExpectedEchoOutput(input, 4, 1));
}

TEST_F(VirtualBoardTest, CorruptRequestIsAnsweredDataLossAndNotExecuted) {
  std::vector<uint8_t> frame = Frame(Opcode::kReset, wire::EncodeU32(1), 50);
  frame.back() ^= 0xFF;
  board_->Receive(frame);
  std::optional<Answer> a = Next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(board_->counters().resets, 0u);
  EXPECT_EQ(board_->counters().corrupt_requests, 1u);
  // A header that does not decode is dropped without an answer.
  std::vector<uint8_t> junk(wire::kHeaderSize, 0x55);
  board_->Receive(junk);
  EXPECT_FALSE(board_->HasOutput());
  EXPECT_TRUE(Call(Opcode::kIdentify).status().ok());
}

TEST_F(VirtualBoardTest, FramesSplitOrJoinedAcrossTransfersAreReassembled) {
  std::vector<uint8_t> two = Frame(Opcode::kIdentify, {}, 1);
  const std::vector<uint8_t> second = Frame(Opcode::kSelfTest, {}, 2);
  two.insert(two.end(), second.begin(), second.end());
  board_->Receive(std::span<const uint8_t>(two).first(5));
  EXPECT_FALSE(board_->HasOutput());
  board_->Receive(std::span<const uint8_t>(two).subspan(5));
  std::optional<Answer> a = Next();
  std::optional<Answer> b = Next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->header.sequence, 1u);
  EXPECT_EQ(b->header.sequence, 2u);
  EXPECT_FALSE(board_->HasOutput());
}

TEST_F(VirtualBoardTest, FaultKnobs) {
  board_->SetFaults({.fail_self_test = true});
  const Status self_test = Call(Opcode::kSelfTest).status();
  EXPECT_EQ(self_test.code(), StatusCode::kInternal);
  EXPECT_NE(self_test.message().find("self-test failed"), std::string_view::npos);

  board_->SetFaults({.corrupt_responses = 1});
  board_->Receive(Frame(Opcode::kIdentify, {}, 70));
  std::optional<Answer> corrupt = Next();
  ASSERT_TRUE(corrupt.has_value());
  EXPECT_EQ(wire::CheckPayload(corrupt->header, corrupt->payload).code(), StatusCode::kDataLoss);
  // The retry is answered from the cache, intact.
  board_->Receive(Frame(Opcode::kIdentify, {}, 70, wire::kFlagRetry));
  std::optional<Answer> replay = Next();
  ASSERT_TRUE(replay.has_value());
  EXPECT_TRUE(wire::CheckPayload(replay->header, replay->payload).ok());

  board_->SetFaults({.hang = true});
  board_->Receive(Frame(Opcode::kIdentify, {}, 80));
  EXPECT_FALSE(board_->HasOutput());
  board_->SetFaults({});
  EXPECT_TRUE(Call(Opcode::kIdentify).status().ok());
}

TEST_F(VirtualBoardTest, UnknownOpcodeIsUnimplemented) {
  EXPECT_EQ(Call(static_cast<Opcode>(0x7E)).status().code(), StatusCode::kUnimplemented);
}

// Well-framed requests with random opcodes and bodies (valid CRCs, so the
// bodies reach the decoders): every one is answered, none crashes the board.
TEST_F(VirtualBoardTest, RandomRequestsAreAnsweredNeverCrash) {
  auto program = Load(hal::cts::MakeEchoImage("test", 1), {0});
  ASSERT_TRUE(program.ok());
  const std::vector<uint8_t> ops = {0x01, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
                                    0x20, 0x21, 0x22, 0x30, 0x31, 0x00, 0x99};
  sim::testing::TestRng rng(11);
  for (int i = 0; i < 3000; ++i) {
    const uint8_t op = ops[rng.Next() % ops.size()];
    std::vector<uint8_t> body(rng.Next() % 48);
    for (auto& b : body) b = static_cast<uint8_t>(rng.Next());
    // Often aim at the live program so deeper checks run.
    if (body.size() >= 12 && rng.Next() % 2 == 0) {
      std::vector<uint8_t> id = wire::EncodeU64(*program);
      std::copy(id.begin(), id.end(), body.begin());
      body[8] = body[9] = body[10] = body[11] = 0;
      body[8] = static_cast<uint8_t>(rng.Next() % 3);
    }
    Answer a = Call(static_cast<Opcode>(op), body);
    EXPECT_LE(a.header.status, static_cast<uint16_t>(StatusCode::kDataLoss));
  }
  EXPECT_FALSE(board_->HasOutput());
}

TEST(VirtualBoardVersionTest, TooOldHostIsFailedPrecondition) {
  VirtualBoardOptions options;
  options.protocol_minor = 5;
  options.min_host_minor = wire::kProtocolMinor + 1;
  auto board = VirtualBoard::Create(sim::testing::TestChip(), sim::testing::TestBoard(1), options);
  ASSERT_TRUE(board.ok());
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(Opcode::kRun);
  h.sequence = 1;
  (*board)->Receive(*wire::EncodeFrame(h, {}));
  auto header = wire::DecodeHeader((*board)->Send(wire::kHeaderSize));
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->status, static_cast<uint16_t>(StatusCode::kFailedPrecondition));
  EXPECT_EQ(header->version_minor, 5);
}

// docs/board-protocol.md, "Versions and compatibility": a frame of another
// major is refused with FAILED_PRECONDITION naming both versions, not
// dropped (which would leave the host waiting for its timeout).
TEST(VirtualBoardVersionTest, FrameOfAnotherMajorIsFailedPrecondition) {
  auto board = VirtualBoard::Create(sim::testing::TestChip(), sim::testing::TestBoard(1), {});
  ASSERT_TRUE(board.ok());
  FrameHeader h;
  h.version_major = wire::kProtocolMajor + 1;
  h.opcode = static_cast<uint8_t>(Opcode::kRun);
  h.sequence = 7;
  const std::vector<uint8_t> body = {1, 2, 3};
  auto frame = wire::EncodeFrame(h, body);
  ASSERT_TRUE(frame.ok());
  (*board)->Receive(*frame);
  // The answer comes as the host reads it: a header, then its payload.
  auto header = wire::DecodeHeader((*board)->Send(wire::kHeaderSize));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->status, static_cast<uint16_t>(StatusCode::kFailedPrecondition));
  EXPECT_EQ(header->sequence, 7u);
  EXPECT_EQ(header->version_major, wire::kProtocolMajor);
  const std::vector<uint8_t> payload = (*board)->Send(header->payload_size);
  const std::string message(payload.begin(), payload.end());
  EXPECT_NE(message.find(std::to_string(wire::kProtocolMajor + 1) + ".0"), std::string::npos)
      << message;
  EXPECT_EQ((*board)->counters().executed, 0u);
  // The next frame, of the right major, is served as usual.
  FrameHeader ok;
  ok.opcode = static_cast<uint8_t>(Opcode::kIdentify);
  ok.sequence = 8;
  (*board)->Receive(*wire::EncodeFrame(ok, {}));
  auto next = wire::DecodeHeader((*board)->Send(wire::kHeaderSize));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->status, 0);
  EXPECT_EQ(next->sequence, 8u);
}

}  // namespace
}  // namespace spk::loihi3

// Only the echo images of hal/cts are used here; its suite runs on the board
// through the driver in drivers/loihi3/testing.
namespace spk::hal::cts {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HalConformanceTest);
}  // namespace spk::hal::cts

#include "daemon/protocol/message_assembler.h"

#include <vector>

#include <gtest/gtest.h>

#include "daemon/protocol/payload.h"

namespace spk::protocol {
namespace {

std::vector<uint8_t> Bytes(size_t size, uint8_t value) { return std::vector<uint8_t>(size, value); }

// Adds a frame that must not complete a message.
void AddPartial(MessageAssembler& assembler, Frame frame) {
  auto result = assembler.Add(std::move(frame));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->has_value());
}

Message AddComplete(MessageAssembler& assembler, Frame frame) {
  auto result = assembler.Add(std::move(frame));
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result.ok() && result->has_value());
  return result.ok() && result->has_value() ? **std::move(result) : Message();
}

TEST(MessageAssemblerTest, SingleFrameMessages) {
  MessageAssembler assembler;
  Message request = AddComplete(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(3, 'x')));
  EXPECT_EQ(request.type, FrameType::kRequest);
  EXPECT_EQ(request.request_id, 1u);
  EXPECT_EQ(request.body, Bytes(3, 'x'));
  EXPECT_TRUE(request.attachments.empty());
  Message credit = AddComplete(assembler, MakeFrame(FrameType::kCredit, 2, EncodeCredit(3)));
  EXPECT_EQ(credit.type, FrameType::kCredit);
  Message open =
      AddComplete(assembler, MakeFrame(FrameType::kResponse, 2, Bytes(1, '{'), kFlagOpen));
  EXPECT_EQ(open.flags, kFlagOpen);
}

TEST(MessageAssemblerTest, AttachmentsInOrderAndContinuedOnesJoined) {
  MessageAssembler assembler;
  AddPartial(assembler, MakeFrame(FrameType::kRequest, 5, Bytes(2, '{'), kFlagMore));
  AddPartial(assembler, MakeFrame(FrameType::kTensor, 5, Bytes(4, 1), kFlagMore));
  AddPartial(assembler, MakeFrame(FrameType::kBlob, 5, Bytes(3, 2), kFlagMore | kFlagContinued));
  AddPartial(assembler, MakeFrame(FrameType::kBlob, 5, Bytes(2, 3), kFlagMore | kFlagContinued));
  EXPECT_EQ(assembler.partial_messages(), 1u);
  EXPECT_EQ(assembler.buffered_bytes(), 2u + 4 + 3 + 2);
  Message message = AddComplete(assembler, MakeFrame(FrameType::kBlob, 5, Bytes(1, 4)));
  ASSERT_EQ(message.attachments.size(), 2u);
  EXPECT_EQ(message.attachments[0].type, FrameType::kTensor);
  EXPECT_EQ(message.attachments[0].bytes, Bytes(4, 1));
  EXPECT_EQ(message.attachments[1].type, FrameType::kBlob);
  EXPECT_EQ(message.attachments[1].bytes, (std::vector<uint8_t>{2, 2, 2, 3, 3, 4}));
  EXPECT_EQ(assembler.partial_messages(), 0u);
  EXPECT_EQ(assembler.buffered_bytes(), 0u);
}

TEST(MessageAssemblerTest, RequestsInterleave) {
  MessageAssembler assembler;
  AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(1, 'a'), kFlagMore));
  AddPartial(assembler, MakeFrame(FrameType::kRequest, 2, Bytes(1, 'b'), kFlagMore));
  Message quick = AddComplete(assembler, MakeFrame(FrameType::kRequest, 3, Bytes(1, 'c')));
  EXPECT_EQ(quick.request_id, 3u);
  Message second = AddComplete(assembler, MakeFrame(FrameType::kTensor, 2, Bytes(1, 2)));
  EXPECT_EQ(second.body, Bytes(1, 'b'));
  Message first = AddComplete(assembler, MakeFrame(FrameType::kSpikes, 1, Bytes(1, 1)));
  EXPECT_EQ(first.attachments[0].type, FrameType::kSpikes);
}

TEST(MessageAssemblerTest, ContinuedStreamFrameIsOneChunk) {
  StreamChunk chunk;
  chunk.steps = 4;
  const std::vector<int16_t> values(4 * 1000, 7);
  chunk.body = Tensor::FromValues<int16_t>({4, 1000}, values);
  const auto bytes = EncodeStreamChunk(chunk);
  const size_t half = bytes.size() / 2;
  MessageAssembler assembler;
  AddPartial(assembler, MakeFrame(FrameType::kStreamInput, 9,
                                  std::vector<uint8_t>(bytes.begin(), bytes.begin() + half),
                                  kFlagMore | kFlagContinued));
  Message message =
      AddComplete(assembler, MakeFrame(FrameType::kStreamInput, 9,
                                       std::vector<uint8_t>(bytes.begin() + half, bytes.end())));
  auto decoded = DecodeStreamChunk(message.body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, chunk);
}

TEST(MessageAssemblerTest, CancelDropsThePartialMessage) {
  MessageAssembler assembler;
  AddPartial(assembler, MakeFrame(FrameType::kRequest, 4, Bytes(10, 'a'), kFlagMore));
  Message cancel = AddComplete(assembler, MakeFrame(FrameType::kCancel, 4, {}));
  EXPECT_EQ(cancel.type, FrameType::kCancel);
  EXPECT_EQ(assembler.partial_messages(), 0u);
  EXPECT_EQ(assembler.buffered_bytes(), 0u);
  auto late = assembler.Add(MakeFrame(FrameType::kBlob, 4, Bytes(1, 0)));
  EXPECT_EQ(late.status().message(),
            "request 4: BLOB frame does not follow a JSON frame with flag MORE");
}

TEST(MessageAssemblerTest, BrokenSequencesAreRefused) {
  {
    MessageAssembler assembler;
    auto result = assembler.Add(MakeFrame(FrameType::kTensor, 1, Bytes(1, 0)));
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(result.status().message(),
              "request 1: TENSOR frame does not follow a JSON frame with flag MORE");
  }
  {
    MessageAssembler assembler;
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(1, 0), kFlagMore));
    auto result = assembler.Add(MakeFrame(FrameType::kRequest, 1, Bytes(1, 0)));
    EXPECT_EQ(result.status().message(),
              "request 1: REQUEST frame arrived where an attachment of the REQUEST was expected");
    EXPECT_EQ(assembler.partial_messages(), 0u);
  }
  {
    MessageAssembler assembler;
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(1, 0), kFlagMore));
    AddPartial(assembler, MakeFrame(FrameType::kBlob, 1, Bytes(1, 0), kFlagMore | kFlagContinued));
    auto result = assembler.Add(MakeFrame(FrameType::kTensor, 1, Bytes(1, 0)));
    EXPECT_EQ(result.status().message(),
              "request 1: continued BLOB attachment continues as TENSOR");
  }
  {
    MessageAssembler assembler;
    AddPartial(assembler,
               MakeFrame(FrameType::kStreamInput, 1, Bytes(1, 0), kFlagMore | kFlagContinued));
    auto result = assembler.Add(MakeFrame(FrameType::kBlob, 1, Bytes(1, 0)));
    EXPECT_EQ(result.status().message(),
              "request 1: expected the continuation of a STREAM_INPUT frame, got BLOB");
  }
}

TEST(MessageAssemblerTest, LimitsAreEnforced) {
  AssemblerLimits limits;
  limits.max_message_bytes = 100;
  limits.max_buffered_bytes = 150;
  limits.max_partial_messages = 2;
  limits.max_attachments = 2;
  {
    MessageAssembler assembler(limits);
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(60, 0), kFlagMore));
    auto result = assembler.Add(MakeFrame(FrameType::kBlob, 1, Bytes(41, 0)));
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(result.status().message(), "request 1: message exceeds the limit of 100 bytes");
    EXPECT_EQ(assembler.buffered_bytes(), 0u);
  }
  {
    MessageAssembler assembler(limits);
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(80, 0), kFlagMore));
    auto result = assembler.Add(MakeFrame(FrameType::kRequest, 2, Bytes(80, 0), kFlagMore));
    EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(result.status().message(),
              "request 2: partial messages on this connection exceed 150 bytes");
  }
  {
    MessageAssembler assembler(limits);
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(1, 0), kFlagMore));
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 2, Bytes(1, 0), kFlagMore));
    auto result = assembler.Add(MakeFrame(FrameType::kRequest, 3, Bytes(1, 0), kFlagMore));
    EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(result.status().message(),
              "request 3: more than 2 messages are partly received on this connection");
  }
  {
    MessageAssembler assembler(limits);
    AddPartial(assembler, MakeFrame(FrameType::kRequest, 1, Bytes(1, 0), kFlagMore));
    AddPartial(assembler, MakeFrame(FrameType::kBlob, 1, Bytes(1, 0), kFlagMore));
    AddPartial(assembler, MakeFrame(FrameType::kBlob, 1, Bytes(1, 0), kFlagMore));
    auto result = assembler.Add(MakeFrame(FrameType::kBlob, 1, Bytes(1, 0)));
    EXPECT_EQ(result.status().message(), "request 1: more than 2 attachments");
  }
}

}  // namespace
}  // namespace spk::protocol

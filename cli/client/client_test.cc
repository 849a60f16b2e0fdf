// The client library's pure parts: decoding an infer response's outputs.
#include "cli/client/client.h"

#include <gtest/gtest.h>

namespace spk::client {
namespace {

Attachment TensorAttachment(std::vector<float> values) {
  const uint32_t n = static_cast<uint32_t>(values.size());
  return {protocol::FrameType::kTensor,
          protocol::EncodeTensor(protocol::Tensor::FromValues<float>({1, n}, values))};
}

// The response lists "z_scores" before "a_aux": the first output is the one
// a prediction is read from, whatever the names' sort order.
TEST(DecodeInferOutputsTest, KeepsTheResponsesPortOrder) {
  Reply reply;
  reply.body = nlohmann::json::parse(
      R"({"outputs": [{"port": "z_scores", "attachment": 1}, {"port": "a_aux", "attachment": 0}]})");
  reply.attachments = {TensorAttachment({9, 9, 9}), TensorAttachment({1, 3, 2})};
  InferResult result;
  ASSERT_TRUE(DecodeInferOutputs(reply, result).ok());
  EXPECT_EQ(result.ports, (std::vector<std::string>{"z_scores", "a_aux"}));
  ASSERT_NE(result.FirstTensor(), nullptr);
  EXPECT_EQ(result.FirstTensor()->ToFloat(), (std::vector<float>{1, 3, 2}));
}

TEST(DecodeInferOutputsTest, SpikesOnlyHaveNoFirstTensor) {
  protocol::SpikeEvents spikes;
  spikes.events.push_back({0, 1, 0});
  Reply reply;
  reply.body = nlohmann::json::parse(R"({"outputs": [{"port": "out", "attachment": 0}]})");
  reply.attachments = {{protocol::FrameType::kSpikes, protocol::EncodeSpikes(spikes)}};
  InferResult result;
  ASSERT_TRUE(DecodeInferOutputs(reply, result).ok());
  EXPECT_EQ(result.ports, (std::vector<std::string>{"out"}));
  EXPECT_EQ(result.FirstTensor(), nullptr);
  EXPECT_EQ(result.spikes.at("out").events.size(), 1u);
}

TEST(DecodeInferOutputsTest, AMissingAttachmentIsInvalidArgument) {
  Reply reply;
  reply.body = nlohmann::json::parse(R"({"outputs": [{"port": "out", "attachment": 2}]})");
  reply.attachments = {TensorAttachment({1})};
  InferResult result;
  const Status s = DecodeInferOutputs(reply, result);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'out'"), std::string::npos) << s;
}

}  // namespace
}  // namespace spk::client

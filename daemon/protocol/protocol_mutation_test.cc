// Deterministic mutation testing of every protocol parser: thousands of
// seeded mutations of valid frames, records and JSON bodies go through
// ExerciseProtocol (the fuzz target's body). Nothing may crash, every round
// trip must hold (checked inside), and every error must carry an expected
// code and a message. Runs in every build, including gcc ones where the
// libFuzzer target is not built.
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/protocol/fuzz_support.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/json_message.h"
#include "daemon/protocol/operations.h"
#include "daemon/protocol/payload.h"

namespace spk::protocol {
namespace {

constexpr int kMutationsPerMode = 3000;

using Bytes = std::vector<uint8_t>;

Tensor SmallTensor() {
  const std::vector<int16_t> values = {1, -2, 3, -4, 5, -6};
  return Tensor::FromValues<int16_t>({2, 3}, values);
}

SpikeEvents SmallSpikes(bool graded) {
  SpikeEvents spikes;
  spikes.graded = graded;
  spikes.events = {{0, 1, graded ? -3 : 0}, {1, 0, graded ? 9 : 0}, {1, 2, 0}};
  return spikes;
}

std::vector<nlohmann::json> RequestBodies() {
  DeployRequest deploy;
  deploy.model.path = "/models/m.pt";
  deploy.partition.cores = 4;
  deploy.failover = FailoverPolicy::kEmulator;
  DeployRequest upload;
  upload.model.attachment = 0;
  upload.model.filename = "m.pt";
  InferRequest infer;
  infer.deployment = "mnist";
  infer.inputs = {{"image", 0}, {"mask", 1}};
  infer.timesteps = 4;
  SessionOpenRequest open;
  open.deployment = "kws";
  TelemetryHistoryRequest history;
  history.since = 10;
  history.until = 20.5;
  UndeployRequest undeploy;
  undeploy.deployment = "mnist";
  HealthRequest health;
  health.deployment = "mnist";
  DescribeDeploymentRequest describe;
  describe.deployment = "mnist";
  return {ToJson(deploy),
          ToJson(upload),
          ToJson(infer),
          ToJson(open),
          ToJson(history),
          ToJson(undeploy),
          ToJson(health),
          ToJson(describe),
          ToJson(VersionRequest()),
          ToJson(BoardsRequest()),
          ToJson(SessionCloseRequest()),
          ToJson(TelemetryLatestRequest()),
          ToJson(ListDeploymentsRequest())};
}

// Valid frame sequences, each one a plausible conversation.
std::vector<std::vector<Frame>> SampleConversations() {
  std::vector<std::vector<Frame>> out;
  ClientHello hello;
  hello.client = "test";
  ServerHello reply;
  reply.version = kProtocolVersion;
  InferRequest infer;
  infer.deployment = "mnist";
  infer.inputs = {{"image", 0}, {"events", 1}};
  out.push_back({MakeHelloFrame(hello), MakeHelloReplyFrame(reply),
                 MakeRequestFrame(1, infer, kFlagMore),
                 MakeFrame(FrameType::kTensor, 1, EncodeTensor(SmallTensor()), kFlagMore),
                 MakeFrame(FrameType::kSpikes, 1, EncodeSpikes(SmallSpikes(false)))});
  DeployRequest deploy;
  deploy.model.attachment = 0;
  out.push_back({MakeRequestFrame(2, deploy, kFlagMore),
                 MakeFrame(FrameType::kBlob, 2, Bytes(40, 'P'), kFlagMore | kFlagContinued),
                 MakeFrame(FrameType::kBlob, 2, Bytes(9, 'K'))});
  StreamChunk tensor_chunk;
  tensor_chunk.first_step = 8;
  tensor_chunk.steps = 2;
  tensor_chunk.body = SmallTensor();
  StreamChunk spike_chunk;
  spike_chunk.steps = 3;
  spike_chunk.port = 1;
  spike_chunk.body = SmallSpikes(true);
  const Bytes spikes = EncodeStreamChunk(spike_chunk);
  const size_t half = spikes.size() / 2;
  out.push_back({MakeFrame(FrameType::kStreamInput, 3, EncodeStreamChunk(tensor_chunk)),
                 MakeFrame(FrameType::kStreamInput, 3, Bytes(spikes.begin(), spikes.begin() + half),
                           kFlagMore | kFlagContinued),
                 MakeFrame(FrameType::kStreamInput, 3, Bytes(spikes.begin() + half, spikes.end())),
                 MakeFrame(FrameType::kCredit, 3, EncodeCredit(4)),
                 MakeFrame(FrameType::kStreamOutput, 3, EncodeStreamChunk(tensor_chunk)),
                 MakeFrame(FrameType::kCancel, 3, {})});
  out.push_back({MakeJsonFrame(FrameType::kResponse, 4, {{"session", "s1"}}, kFlagOpen),
                 MakeJsonFrame(FrameType::kProgress, 5, {{"stage", "compile"}}),
                 MakeErrorFrame(5, NotFoundError("no such deployment"), {{"x", 1}}),
                 MakeErrorFrame(0, InvalidArgumentError("bad frame"))});
  std::vector<Frame> requests;
  uint64_t id = 10;
  for (const auto& body : RequestBodies()) {
    // Requests that name attachments are in the conversations above.
    const bool names_attachments =
        body["op"] == "infer" || (body.contains("model") && body["model"].contains("attachment"));
    if (names_attachments) continue;
    requests.push_back(MakeJsonFrame(FrameType::kRequest, id++, body));
  }
  out.push_back(requests);
  return out;
}

Bytes Stream(const std::vector<Frame>& frames) {
  Bytes out;
  for (const Frame& frame : frames) {
    const Bytes bytes = EncodeFrame(frame);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

// The record form fuzz_support's mode 1 reframes with valid checksums.
Bytes Records(const std::vector<Frame>& frames) {
  Bytes out;
  for (const Frame& frame : frames) {
    out.push_back(static_cast<uint8_t>(frame.header.type));
    out.push_back(static_cast<uint8_t>(frame.header.flags));
    out.push_back(static_cast<uint8_t>(frame.header.request_id));
    out.push_back(static_cast<uint8_t>(frame.payload.size()));
    out.push_back(static_cast<uint8_t>(frame.payload.size() >> 8));
    out.insert(out.end(), frame.payload.begin(), frame.payload.end());
  }
  return out;
}

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return n == 0 ? 0 : rng_() % n; }

  void Mutate(Bytes& bytes) {
    const int count = 1 + static_cast<int>(Below(4));
    for (int i = 0; i < count; ++i) MutateOnce(bytes);
  }

  // Replaces, removes or adds one field of a JSON object, so that field
  // validation (not only the JSON parser) sees hostile values.
  void MutateJson(nlohmann::json& body) {
    static const nlohmann::json kValues[] = {
        nullptr,
        -1,
        0,
        1,
        4294967296ull,
        1e300,
        -0.5,
        "",
        "x",
        "/abs/path",
        "a b",
        true,
        nlohmann::json::array(),
        nlohmann::json::object(),
        {{"attachment", 0}},
        nlohmann::json::array({nlohmann::json::object({{"attachment", 0}})})};
    std::vector<std::string> keys;
    for (const auto& [key, value] : body.items()) keys.push_back(key);
    const size_t action = Below(4);
    if (action == 0 || keys.empty()) {
      body["extra" + std::to_string(Below(3))] = kValues[Below(std::size(kValues))];
    } else if (action == 1) {
      body.erase(keys[Below(keys.size())]);
    } else {
      const std::string& key = keys[Below(keys.size())];
      nlohmann::json& value = body[key];
      if (value.is_object() && !value.empty() && Below(2)) {
        MutateJson(value);
      } else {
        value = kValues[Below(std::size(kValues))];
      }
    }
  }

 private:
  void MutateOnce(Bytes& bytes) {
    static const uint8_t kInteresting[] = {0, 1, 0x7F, 0x80, 0xFF, '{', '"', '[', 0x30, 0x31};
    const size_t pos = Below(bytes.size() + 1);
    switch (Below(7)) {
      case 0:
        if (!bytes.empty()) bytes[Below(bytes.size())] ^= static_cast<uint8_t>(1u << Below(8));
        break;
      case 1:
        if (!bytes.empty()) {
          bytes[Below(bytes.size())] = kInteresting[Below(std::size(kInteresting))];
        }
        break;
      case 2: {
        Bytes insert(1 + Below(8));
        for (auto& b : insert) b = static_cast<uint8_t>(rng_());
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pos), insert.begin(),
                     insert.end());
        break;
      }
      case 3:
        if (pos < bytes.size()) {
          const size_t n = 1 + Below(std::min<size_t>(16, bytes.size() - pos));
          bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                      bytes.begin() + static_cast<std::ptrdiff_t>(pos + n));
        }
        break;
      case 4:
        bytes.resize(pos);
        break;
      case 5:
        if (pos + 4 <= bytes.size()) {
          const uint32_t value = rng_() >> Below(32);
          for (int i = 0; i < 4; ++i) bytes[pos + i] = static_cast<uint8_t>(value >> (8 * i));
        }
        break;
      case 6:
        if (pos < bytes.size()) {
          const size_t n = 1 + Below(std::min<size_t>(32, bytes.size() - pos));
          Bytes copy(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                     bytes.begin() + static_cast<std::ptrdiff_t>(pos + n));
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(Below(bytes.size())),
                       copy.begin(), copy.end());
        }
        break;
    }
  }

  std::mt19937 rng_;
};

struct Tally {
  std::map<StatusCode, int> codes;
  size_t accepted = 0;
  size_t runs = 0;
};

void RunOne(uint8_t mode, const Bytes& body, Tally& tally) {
  Bytes input = {mode};
  input.insert(input.end(), body.begin(), body.end());
  const FuzzOutcome outcome = ExerciseProtocol(input);
  ++tally.runs;
  tally.accepted += outcome.accepted;
  for (const Status& error : outcome.errors) {
    ASSERT_TRUE(IsExpectedInputErrorCode(error.code())) << error;
    ASSERT_FALSE(error.message().empty());
    ++tally.codes[error.code()];
  }
}

TEST(ProtocolMutationTest, UnmutatedSamplesAreAcceptedWhole) {
  for (const auto& conversation : SampleConversations()) {
    for (const Bytes& input : {Bytes{0}, Bytes{1}}) {
      Bytes data = input;
      const Bytes body = input[0] == 0 ? Stream(conversation) : Records(conversation);
      data.insert(data.end(), body.begin(), body.end());
      const FuzzOutcome outcome = ExerciseProtocol(data);
      for (const Status& error : outcome.errors) ADD_FAILURE() << error;
      EXPECT_EQ(outcome.frames, conversation.size());
    }
  }
}

TEST(ProtocolMutationTest, MutatedStreamsOnlyYieldExpectedErrors) {
  Mutator mutator(0x5eed);
  const auto conversations = SampleConversations();
  Tally tally;
  for (int i = 0; i < kMutationsPerMode; ++i) {
    const auto& conversation = conversations[mutator.Below(conversations.size())];
    Bytes stream = Stream(conversation);
    mutator.Mutate(stream);
    RunOne(0, stream, tally);
    Bytes records = Records(conversation);
    mutator.Mutate(records);
    RunOne(1, records, tally);
  }
  EXPECT_EQ(tally.runs, 2u * kMutationsPerMode);
  // The mutations reached the header checks and, through valid checksums,
  // the payload parsers.
  EXPECT_GT(tally.codes[StatusCode::kDataLoss], 100);
  EXPECT_GT(tally.codes[StatusCode::kInvalidArgument], 1000);
  EXPECT_GT(tally.codes[StatusCode::kFailedPrecondition], 10);
  EXPECT_GT(tally.accepted, 1000u);
}

TEST(ProtocolMutationTest, MutatedPayloadsOnlyYieldExpectedErrors) {
  Mutator mutator(0xfeed);
  std::vector<std::pair<uint8_t, Bytes>> payloads = {
      {0, EncodeTensor(SmallTensor())},
      {1, EncodeSpikes(SmallSpikes(false))},
      {1, EncodeSpikes(SmallSpikes(true))},
      {3, EncodeCredit(7)},
      {5, SerializeJson(ErrorBody(UnavailableError("board gone"), {{"board", "usb-1"}}))},
      {6, MakeHelloFrame(ClientHello()).payload},
      {7, MakeHelloReplyFrame(ServerHello()).payload},
  };
  StreamChunk chunk;
  chunk.steps = 2;
  chunk.body = SmallTensor();
  payloads.push_back({2, EncodeStreamChunk(chunk)});
  Tally tally;
  for (int i = 0; i < kMutationsPerMode; ++i) {
    auto [selector, bytes] = payloads[mutator.Below(payloads.size())];
    mutator.Mutate(bytes);
    Bytes input = {selector};
    input.insert(input.end(), bytes.begin(), bytes.end());
    RunOne(2, input, tally);
  }
  EXPECT_GT(tally.codes[StatusCode::kInvalidArgument], 1000);
  EXPECT_GT(tally.accepted, 100u);
}

TEST(ProtocolMutationTest, MutatedRequestFieldsOnlyYieldExpectedErrors) {
  Mutator mutator(0xbeef);
  const auto bodies = RequestBodies();
  Tally tally;
  for (int i = 0; i < kMutationsPerMode; ++i) {
    nlohmann::json body = bodies[mutator.Below(bodies.size())];
    mutator.MutateJson(body);
    if (mutator.Below(3) == 0) mutator.MutateJson(body);
    Bytes input = {4};
    const Bytes text = SerializeJson(body);
    input.insert(input.end(), text.begin(), text.end());
    RunOne(2, input, tally);
  }
  EXPECT_GT(tally.codes[StatusCode::kInvalidArgument], 1000);
  EXPECT_GT(tally.codes[StatusCode::kUnimplemented] + tally.accepted, 100u);
}

}  // namespace
}  // namespace spk::protocol

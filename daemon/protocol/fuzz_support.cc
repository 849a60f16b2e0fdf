#include "daemon/protocol/fuzz_support.h"

#include <algorithm>
#include <string_view>

#include "base/check.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/frame_decoder.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/json_message.h"
#include "daemon/protocol/message_assembler.h"
#include "daemon/protocol/operations.h"
#include "daemon/protocol/payload.h"

namespace spk::protocol {
namespace {

// Small limits keep a fuzz run's memory low; the logic is the same.
constexpr uint32_t kFuzzFrameLimit = kMinFrameLimit;

AssemblerLimits FuzzAssemblerLimits() {
  AssemblerLimits limits;
  limits.max_message_bytes = 4 * kFuzzFrameLimit;
  limits.max_buffered_bytes = 8 * kFuzzFrameLimit;
  limits.max_partial_messages = 8;
  limits.max_attachments = 8;
  return limits;
}

std::vector<uint8_t> Bytes(std::span<const uint8_t> span) {
  return std::vector<uint8_t>(span.begin(), span.end());
}

class Exerciser {
 public:
  FuzzOutcome Run(std::span<const uint8_t> data) {
    if (data.empty()) return std::move(outcome_);
    const uint8_t mode = data[0] % 3;
    data = data.subspan(1);
    if (mode == 0) {
      Stream(data);
    } else if (mode == 1) {
      Stream(Reframe(data));
    } else if (!data.empty()) {
      Payload(data[0], data.subspan(1));
    }
    return std::move(outcome_);
  }

 private:
  bool Record(const Status& status) {
    if (status.ok()) {
      ++outcome_.accepted;
    } else {
      outcome_.errors.push_back(status);
    }
    return status.ok();
  }

  // Feeds `stream` to a decoder in chunks of 1..64 bytes chosen by a fixed
  // generator, so chunk boundaries fall everywhere.
  void Stream(std::span<const uint8_t> stream) {
    FrameDecoder decoder(kFuzzFrameLimit);
    uint32_t state = static_cast<uint32_t>(stream.size()) * 2654435761u + 1;
    size_t pos = 0;
    while (pos < stream.size()) {
      state = state * 1664525u + 1013904223u;
      const size_t chunk = std::min<size_t>(1 + (state >> 26), stream.size() - pos);
      const Status status = decoder.Feed(stream.subspan(pos, chunk));
      pos += chunk;
      while (auto frame = decoder.Next()) Frame(*std::move(frame));
      if (!Record(status)) return;
    }
    Record(decoder.Finish());
  }

  // Records of (type, flags, request id, u16 length, payload) become frames
  // with valid checksums.
  static std::vector<uint8_t> Reframe(std::span<const uint8_t> data) {
    std::vector<uint8_t> stream;
    size_t pos = 0;
    while (pos + 5 <= data.size()) {
      FrameHeader header;
      header.type = static_cast<FrameType>(data[pos]);
      header.flags = data[pos + 1];
      header.request_id = data[pos + 2];
      const size_t length = data[pos + 3] | (data[pos + 4] << 8);
      pos += 5;
      const size_t take = std::min(length, data.size() - pos);
      header.payload_length = static_cast<uint32_t>(take);
      const auto encoded = EncodeHeader(header);
      stream.insert(stream.end(), encoded.begin(), encoded.end());
      stream.insert(stream.end(), data.begin() + pos, data.begin() + pos + take);
      pos += take;
    }
    return stream;
  }

  void Frame(protocol::Frame frame) {
    ++outcome_.frames;
    auto message = assembler_.Add(std::move(frame));
    if (!Record(message.status()) || !message->has_value()) return;
    ++outcome_.messages;
    Message(**message);
  }

  void Message(const protocol::Message& message) {
    switch (message.type) {
      case FrameType::kHello:
        Record(ParseClientHello(message.body).status());
        break;
      case FrameType::kHelloReply:
        Record(ParseServerHello(message.body).status());
        break;
      case FrameType::kRequest:
        Request(message);
        break;
      case FrameType::kResponse:
      case FrameType::kProgress:
        Record(ParseJsonObject(message.body, "response").status());
        for (const Attachment& attachment : message.attachments) Attached(attachment);
        break;
      case FrameType::kError:
        Record(ParseErrorPayload(message.body).status());
        break;
      case FrameType::kStreamInput:
      case FrameType::kStreamOutput:
        Chunk(message.body);
        break;
      case FrameType::kCredit:
        Record(DecodeCredit(message.body).status());
        break;
      default:
        break;
    }
  }

  void Attached(const Attachment& attachment) {
    if (attachment.type == FrameType::kTensor) Tensor(attachment.bytes);
    if (attachment.type == FrameType::kSpikes) Spikes(attachment.bytes);
  }

  void Tensor(std::span<const uint8_t> bytes) {
    auto tensor = DecodeTensor(bytes);
    if (!Record(tensor.status())) return;
    SPK_CHECK(EncodeTensor(*tensor) == Bytes(bytes)) << "tensor re-encodes differently";
    SPK_CHECK_EQ(tensor->ToFloat().size(), tensor->element_count());
  }

  void Spikes(std::span<const uint8_t> bytes) {
    auto spikes = DecodeSpikes(bytes);
    if (!Record(spikes.status())) return;
    SPK_CHECK(EncodeSpikes(*spikes) == Bytes(bytes)) << "spikes re-encode differently";
  }

  void Chunk(std::span<const uint8_t> bytes) {
    auto chunk = DecodeStreamChunk(bytes);
    if (!Record(chunk.status())) return;
    SPK_CHECK(EncodeStreamChunk(*chunk) == Bytes(bytes)) << "stream chunk re-encodes differently";
  }

  // Parses with `parse`; on success the request must survive a trip through
  // its serialised form unchanged.
  template <typename Parse>
  void Typed(const nlohmann::json& body, Parse parse) {
    auto request = parse(body);
    if (!Record(request.status())) return;
    const nlohmann::json first = ToJson(*request);
    auto reparsed = ParseJsonObject(SerializeJson(first), "round trip");
    SPK_CHECK_OK(reparsed);
    auto again = parse(*reparsed);
    SPK_CHECK_OK(again);
    SPK_CHECK(ToJson(*again) == first) << "request changes in a round trip: " << first.dump();
  }

  void Request(const protocol::Message& message) {
    auto envelope = ParseRequest(message.body);
    if (!Record(envelope.status())) return;
    const std::string_view op = envelope->operation->name;
    const nlohmann::json& body = envelope->body;
    const size_t attached = message.attachments.size();
    if (op == "version") Typed(body, ParseVersionRequest);
    if (op == "health") Typed(body, ParseHealthRequest);
    if (op == "boards") Typed(body, ParseBoardsRequest);
    if (op == "deployments.list") Typed(body, ParseListDeploymentsRequest);
    if (op == "deployments.describe") Typed(body, ParseDescribeDeploymentRequest);
    if (op == "telemetry.latest") Typed(body, ParseTelemetryLatestRequest);
    if (op == "telemetry.history") Typed(body, ParseTelemetryHistoryRequest);
    if (op == "undeploy") Typed(body, ParseUndeployRequest);
    if (op == "session.open") Typed(body, ParseSessionOpenRequest);
    if (op == "session.close") Typed(body, ParseSessionCloseRequest);
    if (op == "deploy") {
      Typed(body, ParseDeployRequest);
      if (auto request = ParseDeployRequest(body); request.ok()) {
        Record(CheckAttachmentRefs(op, AttachmentRefs(*request), attached));
      }
    }
    if (op == "infer") {
      Typed(body, ParseInferRequest);
      if (auto request = ParseInferRequest(body); request.ok()) {
        Record(CheckAttachmentRefs(op, AttachmentRefs(*request), attached));
      }
    }
    for (const Attachment& attachment : message.attachments) Attached(attachment);
  }

  void Payload(uint8_t selector, std::span<const uint8_t> bytes) {
    switch (selector % 8) {
      case 0:
        Tensor(bytes);
        break;
      case 1:
        Spikes(bytes);
        break;
      case 2:
        Chunk(bytes);
        break;
      case 3:
        Record(DecodeCredit(bytes).status());
        break;
      case 4: {
        protocol::Message message;
        message.body = Bytes(bytes);
        Request(message);
        break;
      }
      case 5:
        Record(ParseErrorPayload(bytes).status());
        break;
      case 6:
        Record(ParseClientHello(bytes).status());
        break;
      case 7:
        Record(ParseServerHello(bytes).status());
        break;
    }
  }

  MessageAssembler assembler_{FuzzAssemblerLimits()};
  FuzzOutcome outcome_;
};

}  // namespace

FuzzOutcome ExerciseProtocol(std::span<const uint8_t> data) { return Exerciser().Run(data); }

bool IsExpectedInputErrorCode(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kDataLoss:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented:
    case StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

}  // namespace spk::protocol

#include "cli/client/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "daemon/protocol/fd_io.h"
#include "daemon/protocol/json_message.h"
#include "daemon/protocol/socket_path.h"

extern char** environ;

namespace spk::client {
namespace {

using protocol::Frame;
using protocol::FrameType;

protocol::EnvironmentMap ProcessEnvironment() {
  protocol::EnvironmentMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

StatusOr<int> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return InvalidArgumentError("socket path is longer than " +
                                std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return InternalError(std::string("socket(AF_UNIX): ") + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EACCES) return PermissionDeniedError(std::strerror(err));
    return UnavailableError(std::strerror(err));
  }
  return fd;
}

}  // namespace

StatusOr<std::unique_ptr<Client>> Client::Connect(const ConnectOptions& options) {
  std::vector<std::string> candidates;
  if (!options.socket.empty()) {
    candidates.push_back(options.socket);
  } else {
    candidates = protocol::ClientSocketCandidates(ProcessEnvironment(), ::getuid());
  }
  std::string tried;
  bool denied = false;
  for (const std::string& path : candidates) {
    StatusOr<int> fd = ConnectUnix(path);
    if (!fd.ok()) {
      denied = denied || fd.status().code() == StatusCode::kPermissionDenied;
      tried += (tried.empty() ? "" : "; ") + path + ": " + std::string(fd.status().message());
      continue;
    }
    std::unique_ptr<Client> client(new Client());
    client->fd_ = *fd;
    client->socket_path_ = path;
    client->timeout_ = options.timeout;
    protocol::ClientHello hello;
    hello.client = options.client_name;
    SPK_RETURN_IF_ERROR(client->Send(protocol::MakeHelloFrame(hello)));
    SPK_ASSIGN_OR_RETURN(Frame reply, protocol::ReadFrame(client->fd_, protocol::kDefaultFrameLimit,
                                                          client->timeout_));
    if (reply.header.type == FrameType::kError) return client->ErrorFrom(reply);
    if (reply.header.type != FrameType::kHelloReply) {
      return DataLossError("handshake: expected HELLO_REPLY from " + path + ", got " +
                           std::string(protocol::FrameTypeName(reply.header.type)));
    }
    SPK_ASSIGN_OR_RETURN(client->hello_, protocol::ParseServerHello(reply.payload));
    return client;
  }
  const std::string message = "cannot connect to spiked (" + tried + ")";
  if (denied) return PermissionDeniedError(message);
  return UnavailableError(message);
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t Client::NextId() {
  // Ids of open sessions stay in use; skip any id with kept frames too.
  while (next_id_ == 0 || kept_.count(next_id_)) ++next_id_;
  return next_id_++;
}

Status Client::Send(const Frame& frame) {
  if (!connection_error_.ok()) return connection_error_;
  Status sent = protocol::WriteFrame(fd_, frame, timeout_);
  if (!sent.ok() && sent.code() != StatusCode::kDeadlineExceeded) connection_error_ = sent;
  return sent;
}

Status Client::SendAttachment(uint64_t id, const Attachment& attachment, bool more) {
  const size_t limit = hello_.limits.max_frame_bytes;
  size_t offset = 0;
  do {
    const size_t n = std::min(limit, attachment.payload.size() - offset);
    const bool last = offset + n == attachment.payload.size();
    uint16_t flags = 0;
    if (!last) flags = protocol::kFlagMore | protocol::kFlagContinued;
    if (last && more) flags = protocol::kFlagMore;
    std::vector<uint8_t> part(attachment.payload.begin() + offset,
                              attachment.payload.begin() + offset + n);
    SPK_RETURN_IF_ERROR(Send(protocol::MakeFrame(attachment.type, id, std::move(part), flags)));
    offset += n;
  } while (offset < attachment.payload.size());
  return Status::Ok();
}

Status Client::ErrorFrom(const Frame& frame) {
  auto parsed = protocol::ParseErrorPayload(frame.payload);
  if (!parsed.ok()) {
    last_error_details_ = nullptr;
    return protocol::StatusFromErrorFrame(frame);
  }
  last_error_details_ = parsed->details;
  if (frame.header.request_id == 0) connection_error_ = parsed->status;
  return parsed->status;
}

StatusOr<Frame> Client::NextFrameFor(uint64_t id, std::chrono::milliseconds timeout) {
  if (auto it = kept_.find(id); it != kept_.end() && !it->second.empty()) {
    Frame frame = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) kept_.erase(it);
    return frame;
  }
  return ReadFrameFor(id, timeout);
}

StatusOr<Frame> Client::ReadFrameFor(uint64_t id, std::chrono::milliseconds timeout) {
  for (;;) {
    if (!connection_error_.ok()) return connection_error_;
    StatusOr<Frame> frame = protocol::ReadFrame(fd_, hello_.limits.max_frame_bytes, timeout);
    if (!frame.ok()) {
      if (frame.status().code() != StatusCode::kDeadlineExceeded) {
        connection_error_ =
            UnavailableError("spiked at " + socket_path_ +
                             " closed the connection: " + std::string(frame.status().message()));
        return connection_error_;
      }
      return frame.status();
    }
    if (frame->header.request_id == 0) {
      if (frame->header.type == FrameType::kError) return ErrorFrom(*frame);
      continue;  // nothing else is sent on id 0 after the handshake
    }
    if (frame->header.request_id == id) return frame;
    kept_[frame->header.request_id].push_back(std::move(frame).value());
  }
}

StatusOr<Reply> Client::FinishMessage(uint64_t id, const Frame& first) {
  Reply reply;
  SPK_ASSIGN_OR_RETURN(reply.body, protocol::ParseJsonObject(first.payload, "response"));
  bool more = first.header.has(protocol::kFlagMore);
  bool continuing = false;
  while (more) {
    SPK_ASSIGN_OR_RETURN(Frame frame, NextFrameFor(id, timeout_));
    if (!protocol::IsAttachmentFrameType(frame.header.type)) {
      return DataLossError("response: expected an attachment frame, got " +
                           std::string(protocol::FrameTypeName(frame.header.type)));
    }
    if (continuing) {
      auto& payload = reply.attachments.back().payload;
      payload.insert(payload.end(), frame.payload.begin(), frame.payload.end());
    } else {
      reply.attachments.push_back({frame.header.type, std::move(frame.payload)});
    }
    continuing = frame.header.has(protocol::kFlagContinued);
    more = frame.header.has(protocol::kFlagMore);
  }
  return reply;
}

StatusOr<Reply> Client::Call(const nlohmann::json& request, std::span<const Attachment> attachments,
                             const ProgressCallback& progress) {
  last_error_details_ = nullptr;
  const uint64_t id = NextId();
  SPK_RETURN_IF_ERROR(Send(protocol::MakeJsonFrame(FrameType::kRequest, id, request,
                                                   attachments.empty() ? 0 : protocol::kFlagMore)));
  for (size_t i = 0; i < attachments.size(); ++i) {
    SPK_RETURN_IF_ERROR(SendAttachment(id, attachments[i], i + 1 < attachments.size()));
  }
  for (;;) {
    SPK_ASSIGN_OR_RETURN(Frame frame, NextFrameFor(id, timeout_));
    switch (frame.header.type) {
      case FrameType::kProgress:
        if (progress) {
          auto body = protocol::ParseJsonObject(frame.payload, "progress");
          if (body.ok()) progress(*body);
        }
        continue;
      case FrameType::kError:
        return ErrorFrom(frame);
      case FrameType::kResponse:
        return FinishMessage(id, frame);
      default:
        return DataLossError("request " + std::to_string(id) + ": unexpected " +
                             std::string(protocol::FrameTypeName(frame.header.type)) +
                             " frame from spiked");
    }
  }
}

namespace {
StatusOr<nlohmann::json> BodyOf(StatusOr<Reply> reply) {
  if (!reply.ok()) return reply.status();
  return std::move(reply->body);
}
}  // namespace

StatusOr<nlohmann::json> Client::Version() {
  return BodyOf(Call(ToJson(protocol::VersionRequest{})));
}

StatusOr<nlohmann::json> Client::Health(const std::string& deployment) {
  protocol::HealthRequest request;
  request.deployment = deployment;
  return BodyOf(Call(ToJson(request)));
}

StatusOr<nlohmann::json> Client::Boards() {
  return BodyOf(Call(ToJson(protocol::BoardsRequest{})));
}

StatusOr<nlohmann::json> Client::ListDeployments() {
  return BodyOf(Call(ToJson(protocol::ListDeploymentsRequest{})));
}

StatusOr<nlohmann::json> Client::DescribeDeployment(const std::string& deployment) {
  protocol::DescribeDeploymentRequest request;
  request.deployment = deployment;
  return BodyOf(Call(ToJson(request)));
}

StatusOr<nlohmann::json> Client::TelemetryLatest(const std::string& board) {
  protocol::TelemetryLatestRequest request;
  request.board = board;
  return BodyOf(Call(ToJson(request)));
}

StatusOr<nlohmann::json> Client::TelemetryHistory(
    const protocol::TelemetryHistoryRequest& request) {
  return BodyOf(Call(ToJson(request)));
}

StatusOr<nlohmann::json> Client::Deploy(const protocol::DeployRequest& request,
                                        std::span<const uint8_t> model_bytes,
                                        const ProgressCallback& progress) {
  protocol::DeployRequest sent = request;
  std::vector<Attachment> attachments;
  if (!model_bytes.empty()) {
    sent.model.path.clear();
    sent.model.attachment = 0;
    attachments.push_back(
        {FrameType::kBlob, std::vector<uint8_t>(model_bytes.begin(), model_bytes.end())});
  }
  return BodyOf(Call(ToJson(sent), attachments, progress));
}

StatusOr<nlohmann::json> Client::Undeploy(const std::string& deployment, bool force) {
  protocol::UndeployRequest request;
  request.deployment = deployment;
  request.force = force;
  return BodyOf(Call(ToJson(request)));
}

Status DecodeInferOutputs(const Reply& reply, InferResult& result) {
  const auto outputs = reply.body.find("outputs");
  if (outputs == reply.body.end() || !outputs->is_array()) return Status::Ok();
  for (const auto& out : *outputs) {
    if (!out.is_object() || !out.contains("attachment") || !out["attachment"].is_number_unsigned())
      continue;
    const size_t index = out["attachment"].get<size_t>();
    const std::string port = out.value("port", "");
    if (index >= reply.attachments.size()) {
      return InvalidArgumentError("infer: output '" + port + "' names attachment " +
                                  std::to_string(index) + " but " +
                                  std::to_string(reply.attachments.size()) + " arrived");
    }
    const Attachment& a = reply.attachments[index];
    if (a.type == FrameType::kTensor) {
      SPK_ASSIGN_OR_RETURN(result.tensors[port], protocol::DecodeTensor(a.payload));
    } else if (a.type == FrameType::kSpikes) {
      SPK_ASSIGN_OR_RETURN(result.spikes[port], protocol::DecodeSpikes(a.payload));
    } else {
      continue;
    }
    if (std::find(result.ports.begin(), result.ports.end(), port) == result.ports.end()) {
      result.ports.push_back(port);
    }
  }
  return Status::Ok();
}

const protocol::Tensor* InferResult::FirstTensor() const {
  for (const std::string& port : ports) {
    if (auto it = tensors.find(port); it != tensors.end()) return &it->second;
  }
  return nullptr;
}

StatusOr<InferResult> Client::Infer(protocol::InferRequest request,
                                    std::span<const InferInput> inputs) {
  request.inputs.clear();
  std::vector<Attachment> attachments;
  for (size_t i = 0; i < inputs.size(); ++i) {
    request.inputs.push_back({inputs[i].port, static_cast<uint32_t>(i)});
    if (const auto* tensor = std::get_if<protocol::Tensor>(&inputs[i].value)) {
      SPK_RETURN_IF_ERROR(tensor->Validate());
      attachments.push_back({FrameType::kTensor, protocol::EncodeTensor(*tensor)});
    } else {
      const auto& spikes = std::get<protocol::SpikeEvents>(inputs[i].value);
      SPK_RETURN_IF_ERROR(spikes.Validate());
      attachments.push_back({FrameType::kSpikes, protocol::EncodeSpikes(spikes)});
    }
  }
  SPK_ASSIGN_OR_RETURN(Reply reply, Call(ToJson(request), attachments));
  InferResult result;
  SPK_RETURN_IF_ERROR(DecodeInferOutputs(reply, result));
  result.body = std::move(reply.body);
  return result;
}

StatusOr<std::unique_ptr<Session>> Client::OpenSession(
    const protocol::SessionOpenRequest& request) {
  last_error_details_ = nullptr;
  const uint64_t id = NextId();
  SPK_RETURN_IF_ERROR(Send(protocol::MakeRequestFrame(id, request)));
  for (;;) {
    SPK_ASSIGN_OR_RETURN(Frame frame, NextFrameFor(id, timeout_));
    if (frame.header.type == FrameType::kProgress) continue;
    if (frame.header.type == FrameType::kError) return ErrorFrom(frame);
    if (frame.header.type != FrameType::kResponse || !frame.header.has(protocol::kFlagOpen)) {
      return DataLossError("session.open: expected a RESPONSE with OPEN, got " +
                           std::string(protocol::FrameTypeName(frame.header.type)));
    }
    SPK_ASSIGN_OR_RETURN(nlohmann::json info,
                         protocol::ParseJsonObject(frame.payload, "session.open"));
    return std::unique_ptr<Session>(new Session(this, id, std::move(info)));
  }
}

std::optional<size_t> ArgMax(std::span<const float> scores) {
  if (scores.empty()) return std::nullopt;
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return best;
}

// Session

Session::Session(Client* client, uint64_t id, nlohmann::json info)
    : client_(client), id_(id), info_(std::move(info)) {
  const auto window = info_.find("input_window");
  credit_ = window != info_.end() && window->is_number_unsigned() ? window->get<uint32_t>() : 1;
  if (credit_ == 0) credit_ = 1;
  window_ = credit_;
}

Session::~Session() {
  if (open_) {
    // Best effort: the server ends the session with CANCELLED.
    client_->Send(protocol::MakeFrame(FrameType::kCancel, id_, {})).IgnoreError();
    client_->kept_.erase(id_);
  }
}

Status Session::Take(protocol::Frame frame) {
  switch (frame.header.type) {
    case FrameType::kCredit: {
      SPK_ASSIGN_OR_RETURN(uint32_t n, protocol::DecodeCredit(frame.payload));
      credit_ += n;
      return Status::Ok();
    }
    case FrameType::kStreamOutput: {
      SPK_ASSIGN_OR_RETURN(protocol::StreamChunk chunk, protocol::DecodeStreamChunk(frame.payload));
      // Acknowledged on arrival, not on Receive: the input CREDIT a pusher
      // waits for comes behind these outputs (see the class comment).
      SPK_RETURN_IF_ERROR(
          client_->Send(protocol::MakeFrame(FrameType::kCredit, id_, protocol::EncodeCredit(1))));
      buffered_bytes_ += frame.payload.size();
      outputs_.push_back({std::move(chunk), frame.payload.size()});
      return Status::Ok();
    }
    case FrameType::kError:
      open_ = false;
      client_->kept_.erase(id_);
      return client_->ErrorFrom(frame);
    case FrameType::kProgress:
      Notice(frame);
      return Status::Ok();
    default:
      return DataLossError("session " + std::to_string(id_) + ": unexpected " +
                           std::string(protocol::FrameTypeName(frame.header.type)));
  }
}

void Session::Notice(const protocol::Frame& frame) {
  auto body = protocol::ParseJsonObject(frame.payload, "session progress");
  if (body.ok()) notices_.push_back(std::move(body).value());
}

Status Session::TakeKept() {
  auto it = client_->kept_.find(id_);
  if (it == client_->kept_.end()) return Status::Ok();
  std::deque<protocol::Frame> kept = std::move(it->second);
  client_->kept_.erase(it);
  for (protocol::Frame& frame : kept) SPK_RETURN_IF_ERROR(Take(std::move(frame)));
  return Status::Ok();
}

Status Session::ReadUntilCredit(uint32_t want) {
  SPK_RETURN_IF_ERROR(TakeKept());
  while (credit_ < want) {
    if (!open_) return FailedPreconditionError("session " + std::to_string(id_) + " is closed");
    if (buffered_bytes_ >= output_buffer_bytes_) {
      return ResourceExhaustedError(
          "session " + std::to_string(id_) + ": " + std::to_string(outputs_.size()) +
          " output chunks (" + std::to_string(buffered_bytes_) +
          " bytes) wait to be received; Receive or TakeArrived them before pushing more");
    }
    SPK_ASSIGN_OR_RETURN(protocol::Frame frame, client_->ReadFrameFor(id_, client_->timeout_));
    SPK_RETURN_IF_ERROR(Take(std::move(frame)));
  }
  return Status::Ok();
}

Status Session::WaitConsumed() { return ReadUntilCredit(window_); }

Status Session::Push(uint16_t port, uint32_t steps,
                     std::variant<protocol::Tensor, protocol::SpikeEvents> body) {
  if (!open_) return FailedPreconditionError("session " + std::to_string(id_) + " is closed");
  SPK_RETURN_IF_ERROR(ReadUntilCredit(1));
  protocol::StreamChunk chunk;
  chunk.first_step = next_step_[port];
  chunk.steps = steps;
  chunk.port = port;
  chunk.body = std::move(body);
  SPK_RETURN_IF_ERROR(chunk.Validate());
  const std::vector<uint8_t> payload = protocol::EncodeStreamChunk(chunk);
  if (payload.size() > client_->hello_.limits.max_frame_bytes) {
    return InvalidArgumentError("session: a chunk of " + std::to_string(payload.size()) +
                                " bytes exceeds the frame limit; push fewer steps at once");
  }
  SPK_RETURN_IF_ERROR(client_->Send(protocol::MakeFrame(FrameType::kStreamInput, id_, payload)));
  --credit_;
  next_step_[port] += steps;
  return Status::Ok();
}

StatusOr<protocol::StreamChunk> Session::Receive(std::chrono::milliseconds timeout) {
  SPK_RETURN_IF_ERROR(TakeKept());
  while (outputs_.empty()) {
    if (!open_) return FailedPreconditionError("session " + std::to_string(id_) + " is closed");
    SPK_ASSIGN_OR_RETURN(protocol::Frame frame, client_->ReadFrameFor(id_, timeout));
    SPK_RETURN_IF_ERROR(Take(std::move(frame)));
  }
  Buffered next = std::move(outputs_.front());
  outputs_.pop_front();
  buffered_bytes_ -= next.bytes;
  return std::move(next.chunk);
}

StatusOr<std::vector<protocol::StreamChunk>> Session::TakeArrived() {
  SPK_RETURN_IF_ERROR(TakeKept());
  std::vector<protocol::StreamChunk> arrived;
  arrived.reserve(outputs_.size());
  for (Buffered& b : outputs_) arrived.push_back(std::move(b.chunk));
  outputs_.clear();
  buffered_bytes_ = 0;
  return arrived;
}

StatusOr<nlohmann::json> Session::Close(bool drain, std::vector<protocol::StreamChunk>* remaining) {
  if (!open_) return FailedPreconditionError("session " + std::to_string(id_) + " is closed");
  if (remaining != nullptr) {
    SPK_ASSIGN_OR_RETURN(*remaining, TakeArrived());
  }
  protocol::SessionCloseRequest request;
  request.drain = drain;
  SPK_RETURN_IF_ERROR(client_->Send(protocol::MakeRequestFrame(id_, request)));
  for (;;) {
    SPK_ASSIGN_OR_RETURN(protocol::Frame frame, client_->NextFrameFor(id_, client_->timeout_));
    switch (frame.header.type) {
      case FrameType::kStreamOutput: {
        SPK_ASSIGN_OR_RETURN(protocol::StreamChunk chunk,
                             protocol::DecodeStreamChunk(frame.payload));
        // Keep granting credit: a drain may hold more than the output window.
        SPK_RETURN_IF_ERROR(
            client_->Send(protocol::MakeFrame(FrameType::kCredit, id_, protocol::EncodeCredit(1))));
        if (remaining != nullptr) remaining->push_back(std::move(chunk));
        continue;
      }
      case FrameType::kCredit:
        continue;
      case FrameType::kProgress:
        Notice(frame);
        continue;
      case FrameType::kError:
        open_ = false;
        return client_->ErrorFrom(frame);
      case FrameType::kResponse: {
        open_ = false;
        client_->kept_.erase(id_);
        return protocol::ParseJsonObject(frame.payload, "session.close");
      }
      default:
        return DataLossError("session " + std::to_string(id_) + ": unexpected " +
                             std::string(protocol::FrameTypeName(frame.header.type)));
    }
  }
}

}  // namespace spk::client

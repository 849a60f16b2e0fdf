#include "daemon/server/server.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <utility>  // Boost 1.74 Asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include <spdlog/spdlog.h>

#include "daemon/protocol/frame_decoder.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/json_message.h"
#include "daemon/protocol/message_assembler.h"
#include "daemon/protocol/operations.h"
#include "daemon/protocol/payload.h"

namespace spk::daemon {
namespace {

namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;
using protocol::Frame;
using protocol::FrameType;

constexpr char kServerName[] = "spiked 0.1.0";
// Input frames a session may have in flight when session.open leaves it to us.
constexpr uint32_t kDefaultInputWindow = 8;

std::string UserName(uint32_t uid, uint32_t* primary_gid) {
  struct passwd pw {};
  struct passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return "";
  }
  if (primary_gid) *primary_gid = pw.pw_gid;
  return pw.pw_name;
}

std::optional<gid_t> GroupId(const std::string& name) {
  struct group gr {};
  struct group* result = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return std::nullopt;
  }
  return gr.gr_gid;
}

// A reply to one request: a JSON frame and its attachments.
struct Reply {
  std::vector<Frame> frames;
};

Reply ErrorReply(uint64_t id, const Status& status) {
  return Reply{{protocol::MakeErrorFrame(id, status)}};
}

// An attachment of a response: its frame type and payload.
struct Attachment {
  FrameType type;
  std::vector<uint8_t> payload;
};

Reply JsonReply(uint64_t id, const nlohmann::json& body, std::vector<Attachment> attachments = {}) {
  Reply reply;
  reply.frames.push_back(protocol::MakeJsonFrame(FrameType::kResponse, id, body,
                                                 attachments.empty() ? 0 : protocol::kFlagMore));
  for (size_t i = 0; i < attachments.size(); ++i) {
    reply.frames.push_back(
        protocol::MakeFrame(attachments[i].type, id, std::move(attachments[i].payload),
                            i + 1 < attachments.size() ? protocol::kFlagMore : 0));
  }
  return reply;
}

// A spike train [T, ...] of 0/1 values as SPIKES events.
protocol::SpikeEvents ToSpikeEvents(const executor::HostValue& value) {
  protocol::SpikeEvents spikes;
  const int64_t steps = value.shape.empty() ? 1 : value.shape[0];
  const int64_t per_step = steps > 0 ? value.num_elements() / steps : 0;
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t i = 0; i < per_step; ++i) {
      if (value.data[static_cast<size_t>(t * per_step + i)] != 0.0f) {
        spikes.events.push_back({static_cast<uint32_t>(t), static_cast<uint32_t>(i), 0});
      }
    }
  }
  return spikes;
}

std::string ShapeText(const std::vector<int64_t>& shape, bool timed) {
  std::string out = timed ? "[T" : "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (timed || i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// A TENSOR attachment as an executor input for a port of `shape`: the
// port's shape (fed every step) or [T, ...shape] (one value per step).
StatusOr<executor::HostValue> ToHostValue(const std::string& port,
                                          const std::vector<int64_t>& shape,
                                          const protocol::Attachment& attachment) {
  if (attachment.type != FrameType::kTensor) {
    return UnimplementedError("infer: input '" + port + "': only TENSOR attachments are " +
                              "served by this build, got " +
                              std::string(protocol::FrameTypeName(attachment.type)));
  }
  SPK_ASSIGN_OR_RETURN(protocol::Tensor tensor, protocol::DecodeTensor(attachment.bytes));
  std::vector<int64_t> got(tensor.shape.begin(), tensor.shape.end());
  executor::HostValue value;
  if (got == shape) {
    value.timed = false;
  } else if (got.size() == shape.size() + 1 && got[0] > 0 &&
             std::equal(shape.begin(), shape.end(), got.begin() + 1)) {
    value.timed = true;
  } else {
    return InvalidArgumentError("infer: input '" + port + "' must be " + ShapeText(shape, false) +
                                " or " + ShapeText(shape, true) +
                                " of u8, i8, i16, i32 or f32, got " +
                                protocol::DescribeShape(tensor));
  }
  value.shape = got;
  value.data = tensor.ToFloat();
  return value;
}

}  // namespace

bool IsAuthorised(uint32_t uid, uint32_t daemon_uid, const std::string& group, std::string* why) {
  if (uid == 0 || uid == daemon_uid) return true;
  if (group.empty()) {
    *why = "write operations are allowed only to root and uid " + std::to_string(daemon_uid) +
           " (server.authorised_group is not set); uid " + std::to_string(uid) + " is neither";
    return false;
  }
  const std::optional<gid_t> gid = GroupId(group);
  uint32_t primary = 0;
  const std::string name = UserName(uid, &primary);
  if (gid && !name.empty()) {
    if (primary == *gid) return true;
    int count = 64;
    std::vector<gid_t> groups(static_cast<size_t>(count));
    if (::getgrouplist(name.c_str(), primary, groups.data(), &count) < 0) {
      groups.resize(static_cast<size_t>(count));
      ::getgrouplist(name.c_str(), primary, groups.data(), &count);
    }
    groups.resize(static_cast<size_t>(std::max(count, 0)));
    if (std::find(groups.begin(), groups.end(), *gid) != groups.end()) return true;
  }
  *why = "needs membership in group '" + group + "'; uid " + std::to_string(uid) +
         (name.empty() ? "" : " (" + name + ")") +
         (gid ? " is not a member" : " is not a member (the group does not exist)");
  return false;
}

struct Server::Impl {
  class Connection;

  Service* service;  // borrowed
  ServerOptions options;
  asio::io_context io;
  asio::local::stream_protocol::acceptor acceptor{io};
  std::unique_ptr<asio::thread_pool> workers;
  std::thread io_thread;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::set<std::shared_ptr<Connection>> connections;  // I/O thread only
  bool accepting = false;                             // I/O thread only
  bool stopping = false;  // I/O thread only: Shutdown began; new requests are refused
  bool bound_path = false;

  std::mutex mu;
  std::condition_variable drained;
  size_t in_flight = 0;  // guarded by mu: requests accepted and not yet answered

  void Accept();
  void Begin() {
    std::lock_guard<std::mutex> lock(mu);
    ++in_flight;
  }
  void End() {
    std::lock_guard<std::mutex> lock(mu);
    --in_flight;
    drained.notify_all();
  }
  // Runs a request on a worker. `stop` (never null) is polled where the
  // operation can stop safely; `progress` sends a PROGRESS frame on the
  // request's id (callable from the worker).
  Reply Execute(const protocol::RequestEnvelope& envelope, const protocol::Message& message,
                const Caller& caller, const protocol::ProtocolVersion& version,
                const std::atomic<int>* stop,
                const std::function<void(const nlohmann::json&)>& progress);
};

class Server::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl* server, Socket socket)
      : server_(server),
        socket_(std::move(socket)),
        decoder_(server->options.max_frame_size),
        assembler_(protocol::AssemblerLimits{
            .max_message_bytes = server->options.max_message_size,
            .max_buffered_bytes = server->options.max_message_size,
            .max_partial_messages = server->options.max_requests_in_flight,
            .max_attachments = 64}) {}

  void Start() {
    struct ucred cred {};
    socklen_t len = sizeof(cred);
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      caller_ = {.uid = cred.uid, .gid = cred.gid, .pid = cred.pid};
    } else {
      // Without credentials nothing can be authorised.
      caller_ = {.uid = 65534, .gid = 65534, .pid = 0};
    }
    authorised_ =
        IsAuthorised(caller_.uid, ::geteuid(), server_->options.authorised_group, &denied_why_);
    spdlog::debug("connection from pid {} uid {}{}", caller_.pid, caller_.uid,
                  authorised_ ? "" : " (read-only)");
    Read();
  }

  // I/O thread: queues frames for writing.
  void Send(std::vector<Frame> frames) {
    if (closed_ || frames.empty()) return;
    for (const Frame& frame : frames) queue_.push_back(protocol::EncodeFrame(frame));
    if (!writing_) Write();
  }

  // Sends an ERROR for the connection and closes once it is written.
  void Fail(const Status& status) {
    spdlog::info("connection from pid {} uid {}: {}", caller_.pid, caller_.uid, status.ToString());
    closing_ = true;
    Send({protocol::MakeErrorFrame(0, status)});
  }

  // Closes once everything queued is written (shutdown).
  void CloseWhenFlushed() {
    closing_ = true;
    if (!writing_) Close();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(Socket::shutdown_both, ec);
    socket_.close(ec);
    // Closing abandons requests and sessions as a CANCEL of each would.
    for (auto& [id, request] : in_flight_) {
      int none = kStopNone;
      request.stop->compare_exchange_strong(none, kStopCancelled);
    }
    in_flight_.clear();
    for (auto& [id, session] : sessions_) server_->service->CloseSession(session.handle);
    sessions_.clear();
    server_->connections.erase(shared_from_this());
  }

  // Shutdown: no new input is run; each session ends after its running
  // step with the output it has, then ERROR UNAVAILABLE.
  void StopSessions() {
    std::vector<uint64_t> ids;
    for (auto& [id, session] : sessions_) ids.push_back(id);
    for (uint64_t id : ids) {
      Session& session = sessions_.at(id);
      session.queue.clear();
      if (!session.busy) FinishStopping(id);
    }
  }

  // `handle`'s deployment moved to handle.board (a failover, or back home);
  // the session goes on there: a PROGRESS on its id says so.
  void SessionMoved(const SessionHandle& handle, const std::string& stage,
                    const std::string& message) {
    for (auto& [id, session] : sessions_) {
      if (session.handle.deployment_id == handle.deployment_id &&
          session.handle.generation == handle.generation) {
        session.handle.board = handle.board;
        Send({protocol::MakeJsonFrame(FrameType::kProgress, id,
                                      {{"stage", stage},
                                       {"session", SessionName(id)},
                                       {"board", handle.board},
                                       {"message", message}})});
        return;
      }
    }
  }

  // A forced undeploy ended `handle`'s session.
  void EndSessionOf(const SessionHandle& handle, const Status& status) {
    for (auto& [id, session] : sessions_) {
      if (session.handle.deployment_id == handle.deployment_id &&
          session.handle.generation == handle.generation) {
        EndSession(id, status);
        return;
      }
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  // A request on a worker. `stop` is shared with the worker: CANCEL, the
  // request's timeout_ms or the connection closing set it.
  struct Request {
    std::string op;
    std::shared_ptr<std::atomic<int>> stop;
    std::unique_ptr<asio::steady_timer> timer;  // timeout_ms
    // Read operations and infer have nothing to undo: stopping them answers
    // at once and the worker's result is dropped. Deploy and undeploy are
    // answered by their worker, which stops at a safe point or finishes.
    bool answer_at_once = true;
  };

  // A frame of a session waiting for the client's output credit; CREDITs
  // for consumed input queue behind the outputs of their chunk so that they
  // keep their order, but cost no credit.
  struct Held {
    Frame frame;
    bool output = true;
    std::optional<Clock::time_point> arrival;  // on a chunk's last frame
  };

  struct Session {
    SessionHandle handle;
    std::vector<Service::PortInfo> inputs;
    std::vector<Service::PortInfo> outputs;
    struct Input {
      protocol::StreamChunk chunk;
      Clock::time_point arrival;
    };
    std::deque<Input> queue;          // input not yet run, in order
    std::vector<uint64_t> next_step;  // per input port: where its next chunk starts
    uint32_t input_window = 8;
    uint32_t input_unconsumed = 0;  // STREAM_INPUT frames not yet credited back
    int64_t output_credit = 16;     // STREAM_OUTPUT frames the client can take now
    std::deque<Held> held;
    bool busy = false;     // a chunk is on a worker
    bool closing = false;  // session.close received: drain, then answer
    uint64_t steps = 0;
    uint64_t chunks = 0;
    hal::RunStats stats;
    std::vector<double> latencies;  // seconds, a ring of the newest kMaxLatencies
    size_t latency_next = 0;
    uint64_t idle_timeout_ms = 0;
    Clock::time_point last_activity;
    std::unique_ptr<asio::steady_timer> idle;
  };
  static constexpr size_t kMaxLatencies = 1 << 16;

  static std::string SessionName(uint64_t id) { return "s-" + std::to_string(id); }

  void Read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buffer_),
                            [this, self](const boost::system::error_code& ec, size_t n) {
                              if (closed_) return;
                              if (ec) {
                                Close();
                                return;
                              }
                              OnData(n);
                              if (!closing_ && !closed_) Read();
                            });
  }

  void OnData(size_t n) {
    if (Status s = decoder_.Feed(std::span<const uint8_t>(buffer_.data(), n)); !s.ok()) {
      // Frames before the bad header are still served.
      Drain();
      Fail(s);
      return;
    }
    Drain();
  }

  void Drain() {
    while (!closing_) {
      std::optional<Frame> frame = decoder_.Next();
      if (!frame) return;
      OnFrame(std::move(*frame));
    }
  }

  void OnFrame(Frame frame) {
    if (!hello_done_) {
      if (frame.header.type != FrameType::kHello) {
        Fail(FailedPreconditionError("expected HELLO first, got " +
                                     std::string(protocol::FrameTypeName(frame.header.type))));
        return;
      }
      auto hello = protocol::ParseClientHello(frame.payload);
      if (!hello.ok()) return Fail(hello.status());
      auto version = protocol::NegotiateVersion(
          hello->versions, {protocol::kOldestProtocolVersion, protocol::kProtocolVersion});
      if (!version.ok()) return Fail(version.status());
      version_ = *version;
      hello_done_ = true;
      protocol::ServerHello reply;
      reply.version = version_;
      reply.server = kServerName;
      reply.limits = {.max_frame_bytes = server_->options.max_frame_size,
                      .max_message_bytes = server_->options.max_message_size,
                      .max_requests_in_flight = server_->options.max_requests_in_flight,
                      .session_idle_timeout_ms = server_->options.session_idle_timeout_ms};
      reply.peer = {
          .uid = caller_.uid, .gid = caller_.gid, .pid = caller_.pid, .authorised = authorised_};
      Send({protocol::MakeHelloReplyFrame(reply)});
      return;
    }
    if (frame.header.type == FrameType::kHello) {
      return Fail(InvalidArgumentError("HELLO sent twice on one connection"));
    }
    auto message = assembler_.Add(std::move(frame));
    if (!message.ok()) return Fail(message.status());
    if (!message->has_value()) return;
    OnMessage(std::move(**message));
  }

  void OnMessage(protocol::Message message) {
    const uint64_t id = message.request_id;
    switch (message.type) {
      case FrameType::kRequest:
        break;
      case FrameType::kCancel:
        if (sessions_.count(id)) {
          EndSession(id, CancelledError("session " + SessionName(id) + " cancelled by the client"));
        } else if (auto it = in_flight_.find(id); it != in_flight_.end()) {
          Stop(id, it->second.stop, kStopCancelled,
               CancelledError(it->second.op + " cancelled by the client"));
        }
        return;  // an unknown id: it finished already
      case FrameType::kStreamInput:
        return OnStreamInput(id, message);
      case FrameType::kCredit:
        return OnCredit(id, message);
      default:
        return Fail(InvalidArgumentError("a client may not send " +
                                         std::string(protocol::FrameTypeName(message.type)) +
                                         " frames"));
    }
    if (auto session = sessions_.find(id); session != sessions_.end()) {
      auto envelope = protocol::ParseRequest(message.body);
      if (envelope.ok() && envelope->operation->name == "session.close") {
        auto close = protocol::ParseSessionCloseRequest(envelope->body);
        if (!close.ok()) {
          Send({protocol::MakeErrorFrame(id, close.status())});
          return;
        }
        Session& s = session->second;
        Touch(id);
        if (!close->drain) {
          s.queue.clear();
          s.held.clear();
        }
        s.closing = true;
        Pump(id);
        return;
      }
      Send({protocol::MakeErrorFrame(
          id, InvalidArgumentError("request id " + std::to_string(id) +
                                   " is an open session; only session.close may use it"))});
      return;
    }
    if (in_flight_.count(id)) {
      return Fail(InvalidArgumentError("request id " + std::to_string(id) +
                                       " is already in use by an unfinished request"));
    }
    if (in_flight_.size() + sessions_.size() >= server_->options.max_requests_in_flight) {
      Send({protocol::MakeErrorFrame(
          id, ResourceExhaustedError("more than server.max_requests_in_flight (" +
                                     std::to_string(server_->options.max_requests_in_flight) +
                                     ") requests in flight on this connection"))});
      return;
    }
    if (server_->stopping) {
      Send({protocol::MakeErrorFrame(id, UnavailableError("spiked is stopping; try again after "
                                                          "it has restarted"))});
      return;
    }
    auto envelope = protocol::ParseRequest(message.body);
    if (!envelope.ok()) {
      Send({protocol::MakeErrorFrame(id, envelope.status())});
      return;
    }
    if (envelope->operation->access == protocol::Access::kWrite && !authorised_) {
      const Status denied =
          PermissionDeniedError(std::string(envelope->operation->name) + " " + denied_why_);
      Send({protocol::MakeErrorFrame(id, denied)});
      const std::string op(envelope->operation->name);
      const Caller caller = caller_;
      Service* service = server_->service;
      asio::post(*server_->workers,
                 [service, caller, op, denied] { service->Audit(caller, op, "", denied); });
      return;
    }
    if (envelope->operation->name == "session.open") {
      auto request = protocol::ParseSessionOpenRequest(envelope->body);
      if (!request.ok()) {
        Send({protocol::MakeErrorFrame(id, request.status())});
        return;
      }
      OpenSession(id, *envelope, *request);
      return;
    }
    if (envelope->operation->name == "session.close") {
      Send({protocol::MakeErrorFrame(
          id, FailedPreconditionError("session.close: request " + std::to_string(id) +
                                      " is not an open session; send it on the session's id"))});
      return;
    }
    std::shared_ptr<std::atomic<int>> stop = Track(id, *envelope);
    server_->Begin();
    auto self = shared_from_this();
    Impl* server = server_;
    const Caller caller = caller_;
    const protocol::ProtocolVersion version = version_;
    asio::post(*server_->workers, [server, self, id, caller, version, stop,
                                   envelope = std::move(envelope).value(),
                                   message = std::move(message)]() mutable {
      auto progress = [server, self, id, stop](const nlohmann::json& body) {
        asio::post(server->io,
                   [self, id, stop,
                    frame = protocol::MakeJsonFrame(FrameType::kProgress, id, body)]() mutable {
                     self->Progress(id, stop, std::move(frame));
                   });
      };
      Reply reply = server->Execute(envelope, message, caller, version, stop.get(), progress);
      asio::post(server->io, [server, self, id, stop, reply = std::move(reply)]() mutable {
        self->Complete(id, stop, std::move(reply));
        server->End();
      });
    });
  }

  // The request's timeout_ms, as far as the I/O thread needs it; the
  // operation's parser reports a malformed value.
  static uint64_t TimeoutOf(const nlohmann::json& body) {
    auto it = body.find("timeout_ms");
    if (it == body.end() || !it->is_number_unsigned()) return 0;
    return std::min<uint64_t>(it->get<uint64_t>(), 86'400'000);
  }

  std::shared_ptr<std::atomic<int>> Track(uint64_t id, const protocol::RequestEnvelope& envelope) {
    Request request;
    request.op = std::string(envelope.operation->name);
    request.stop = std::make_shared<std::atomic<int>>(kStopNone);
    request.answer_at_once = request.op != "deploy" && request.op != "undeploy";
    if (const uint64_t timeout = TimeoutOf(envelope.body); timeout > 0) {
      request.timer = std::make_unique<asio::steady_timer>(server_->io);
      request.timer->expires_after(std::chrono::milliseconds(timeout));
      auto self = shared_from_this();
      request.timer->async_wait([this, self, id, stop = request.stop, op = request.op,
                                 timeout](const boost::system::error_code& ec) {
        if (ec || closed_) return;
        Stop(id, stop, kStopDeadline,
             DeadlineExceededError(op + ": timeout_ms (" + std::to_string(timeout) +
                                   " ms) passed before it finished"));
      });
    }
    auto stop = request.stop;
    in_flight_[id] = std::move(request);
    return stop;
  }

  // CANCEL or timeout_ms of request `id`, if `stop` is still its token.
  void Stop(uint64_t id, const std::shared_ptr<std::atomic<int>>& stop, int why,
            const Status& status) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second.stop != stop) return;
    int none = kStopNone;
    stop->compare_exchange_strong(none, why);
    if (it->second.answer_at_once) {
      in_flight_.erase(it);
      Send({protocol::MakeErrorFrame(id, status)});
    }
  }

  // An interim PROGRESS of request `id`, sent while it is still in flight
  // (posted before its answer, so never after it).
  void Progress(uint64_t id, const std::shared_ptr<std::atomic<int>>& stop, Frame frame) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second.stop != stop) return;
    Send({std::move(frame)});
  }

  // A worker finished request `id`: answers it unless it was answered when
  // it was stopped (and the id perhaps reused since).
  void Complete(uint64_t id, const std::shared_ptr<std::atomic<int>>& stop, Reply reply) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second.stop != stop) return;
    in_flight_.erase(it);
    Send(std::move(reply.frames));
  }

  void Write() {
    if (queue_.empty()) {
      writing_ = false;
      if (closing_) Close();
      return;
    }
    writing_ = true;
    // Everything queued goes out in one gathered write.
    writing_batch_.clear();
    while (!queue_.empty()) {
      writing_batch_.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(writing_batch_.size());
    for (const auto& b : writing_batch_) buffers.push_back(asio::buffer(b));
    auto self = shared_from_this();
    asio::async_write(socket_, buffers, [this, self](const boost::system::error_code& ec, size_t) {
      if (closed_) return;
      if (ec) {
        Close();
        return;
      }
      Write();
    });
  }

  void OpenSession(uint64_t id, const protocol::RequestEnvelope& envelope,
                   const protocol::SessionOpenRequest& request) {
    std::shared_ptr<std::atomic<int>> stop = Track(id, envelope);
    server_->Begin();
    auto self = shared_from_this();
    Impl* server = server_;
    using Ports = std::pair<std::vector<Service::PortInfo>, std::vector<Service::PortInfo>>;
    asio::post(*server_->workers, [server, self, id, request, stop] {
      Service* service = server->service;
      StatusOr<SessionHandle> handle = CancelledError("session.open cancelled");
      StatusOr<Ports> ports = handle.status();
      if (stop->load() == kStopNone) {
        handle = service->OpenSession(request.deployment);
        ports = handle.ok() ? service->SessionPorts(*handle) : StatusOr<Ports>(handle.status());
      }
      Status ok = ports.ok() ? Status::Ok() : ports.status();
      if (ok.ok() && ports->first.size() != 1) {
        ok = UnimplementedError("session.open: sessions on models with " +
                                std::to_string(ports->first.size()) +
                                " inputs are not served by this build yet");
      }
      if (!ok.ok() && handle.ok()) service->CloseSession(*handle);
      service->Audit(self->caller_, "session.open", request.deployment, ok);
      asio::post(server->io, [server, self, id, request, ok, handle, ports, stop] {
        server->End();
        self->Opened(id, request, ok, handle, ports, stop);
      });
    });
  }

  void Opened(
      uint64_t id, const protocol::SessionOpenRequest& request, const Status& ok,
      const StatusOr<SessionHandle>& handle,
      const StatusOr<std::pair<std::vector<Service::PortInfo>, std::vector<Service::PortInfo>>>&
          ports,
      const std::shared_ptr<std::atomic<int>>& stop) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second.stop != stop) {
      // Cancelled, timed out or the connection closed meanwhile.
      if (ok.ok()) server_->service->CloseSession(*handle);
      return;
    }
    in_flight_.erase(it);
    if (!ok.ok()) {
      Send({protocol::MakeErrorFrame(id, ok)});
      return;
    }
    if (server_->stopping) {
      server_->service->CloseSession(*handle);
      Send({protocol::MakeErrorFrame(id, UnavailableError("spiked is stopping"))});
      return;
    }
    Session& session = sessions_[id];
    session.handle = *handle;
    session.inputs = ports->first;
    session.outputs = ports->second;
    session.next_step.assign(session.inputs.size(), 0);
    session.input_window = request.input_window == 0 ? kDefaultInputWindow : request.input_window;
    session.output_credit = request.output_window;
    session.idle_timeout_ms = server_->options.session_idle_timeout_ms;
    Touch(id);
    nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
    for (const auto& p : session.inputs) inputs.push_back(Service::PortJson(p, true));
    for (const auto& p : session.outputs) outputs.push_back(Service::PortJson(p, false));
    Send({protocol::MakeJsonFrame(FrameType::kResponse, id,
                                  {{"session", SessionName(id)},
                                   {"deployment", request.deployment},
                                   {"board", session.handle.board},
                                   {"input_window", session.input_window},
                                   {"output_window", request.output_window},
                                   {"idle_timeout_ms", session.idle_timeout_ms},
                                   {"inputs", inputs},
                                   {"outputs", outputs}},
                                  protocol::kFlagOpen)});
  }

  void OnStreamInput(uint64_t id, const protocol::Message& message) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
      Send({protocol::MakeErrorFrame(id, FailedPreconditionError("request " + std::to_string(id) +
                                                                 " is not an open session"))});
      return;
    }
    Session& s = it->second;
    const std::string name = "session " + SessionName(id);
    Touch(id);
    if (s.closing) {
      EndSession(id, InvalidArgumentError(name + ": STREAM_INPUT after session.close"));
      return;
    }
    if (s.input_unconsumed >= s.input_window) {
      EndSession(id, ResourceExhaustedError(name + ": input window of " +
                                            std::to_string(s.input_window) + " frames exceeded"));
      return;
    }
    auto chunk = protocol::DecodeStreamChunk(message.body);
    if (!chunk.ok()) {
      EndSession(id, chunk.status().WithContext(name));
      return;
    }
    if (chunk->port >= s.inputs.size()) {
      EndSession(id, InvalidArgumentError(name + ": STREAM_INPUT for port " +
                                          std::to_string(chunk->port) + ", the deployment has " +
                                          std::to_string(s.inputs.size()) + " inputs"));
      return;
    }
    uint64_t& next = s.next_step[chunk->port];
    if (chunk->first_step != next) {
      EndSession(
          id, InvalidArgumentError(name + ": STREAM_INPUT for port " + std::to_string(chunk->port) +
                                   " starts at step " + std::to_string(chunk->first_step) +
                                   ", expected " + std::to_string(next)));
      return;
    }
    next += chunk->steps;
    ++s.input_unconsumed;
    s.queue.push_back({std::move(chunk).value(), Clock::now()});
    Pump(id);
  }

  void OnCredit(uint64_t id, const protocol::Message& message) {
    // A CREDIT may cross the end of its session: ignored, like CANCEL.
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    auto credit = protocol::DecodeCredit(message.body);
    if (!credit.ok()) {
      EndSession(id, credit.status());
      return;
    }
    Session& s = it->second;
    Touch(id);
    s.output_credit = std::min<int64_t>(s.output_credit + *credit, int64_t{1} << 32);
    Flush(id, false);
    Pump(id);
  }

  // Notes activity; the idle timer fires idle_timeout_ms after the last.
  void Touch(uint64_t id) {
    Session& s = sessions_.at(id);
    if (s.idle_timeout_ms == 0) return;
    s.last_activity = Clock::now();
    if (s.idle) return;  // armed: it re-arms itself from last_activity
    s.idle = std::make_unique<asio::steady_timer>(server_->io);
    ArmIdle(id, s);
  }

  void ArmIdle(uint64_t id, Session& s) {
    s.idle->expires_at(s.last_activity + std::chrono::milliseconds(s.idle_timeout_ms));
    auto self = shared_from_this();
    s.idle->async_wait(
        [this, self, id, generation = s.handle.generation](const boost::system::error_code& ec) {
          if (ec || closed_) return;
          auto it = sessions_.find(id);
          if (it == sessions_.end() || it->second.handle.generation != generation) return;
          Session& live = it->second;
          const auto due = live.last_activity + std::chrono::milliseconds(live.idle_timeout_ms);
          if (live.busy || Clock::now() < due) {
            // A step running counts as activity.
            if (live.busy) live.last_activity = Clock::now();
            ArmIdle(id, live);
            return;
          }
          EndSession(
              id, DeadlineExceededError("session " + SessionName(id) + ": nothing received for " +
                                        std::to_string(live.idle_timeout_ms) +
                                        " ms (server.session_idle_timeout)"));
        });
  }

  // Runs the next queued chunk of a session on a worker, unless one is
  // running or output is waiting for the client's credit: a client that
  // stops granting credit stops the session's steps, and so its input.
  void Pump(uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    Session& s = it->second;
    if (s.busy || !s.held.empty()) return;
    if (s.queue.empty()) {
      if (s.closing) EndSession(id, Status::Ok());
      return;
    }
    s.busy = true;
    Session::Input input = std::move(s.queue.front());
    s.queue.pop_front();
    server_->Begin();
    auto self = shared_from_this();
    Impl* server = server_;
    asio::post(*server_->workers, [server, self, id, handle = s.handle, inputs = s.inputs,
                                   outputs = s.outputs, input = std::move(input)] {
      std::vector<Frame> frames;
      hal::RunStats stats;
      Status status =
          RunChunk(server->service, id, input.chunk, handle, inputs, outputs, &frames, &stats);
      asio::post(server->io, [server, self, id, generation = handle.generation, status,
                              frames = std::move(frames), stats, arrival = input.arrival,
                              steps = input.chunk.steps]() mutable {
        server->End();
        self->ChunkDone(id, generation, status, std::move(frames), stats, arrival, steps);
      });
    });
  }

  void ChunkDone(uint64_t id, uint64_t generation, const Status& status, std::vector<Frame> frames,
                 const hal::RunStats& stats, Clock::time_point arrival, uint32_t steps) {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second.handle.generation != generation) return;
    Session& s = it->second;
    s.busy = false;
    if (!status.ok()) {
      EndSession(id, status.WithContext("session " + SessionName(id)));
      return;
    }
    s.steps += steps;
    ++s.chunks;
    s.stats.steps += stats.steps;
    s.stats.chip_time_s += stats.chip_time_s;
    s.stats.dynamic_energy_j += stats.dynamic_energy_j;
    s.stats.static_energy_j += stats.static_energy_j;
    for (Frame& f : frames) s.held.push_back({std::move(f), true, std::nullopt});
    // The input frame is consumed: the client may send another.
    s.held.push_back(
        {protocol::MakeFrame(FrameType::kCredit, id, protocol::EncodeCredit(1)), false, arrival});
    if (server_->stopping) {
      FinishStopping(id);
      return;
    }
    s.last_activity = Clock::now();
    Flush(id, false);
    Pump(id);
  }

  // Sends held frames while the client has credit for them (all of them
  // with `ignore_credit`).
  void Flush(uint64_t id, bool ignore_credit) {
    Session& s = sessions_.at(id);
    std::vector<Frame> out;
    while (!s.held.empty()) {
      Held& h = s.held.front();
      if (h.output) {
        if (!ignore_credit && s.output_credit <= 0) break;
        --s.output_credit;
      } else if (s.input_unconsumed > 0) {
        // The client sees its input consumed when the CREDIT is sent.
        --s.input_unconsumed;
      }
      if (h.arrival) {
        const double latency = std::chrono::duration<double>(Clock::now() - *h.arrival).count();
        if (s.latencies.size() < kMaxLatencies) {
          s.latencies.push_back(latency);
        } else {
          s.latencies[s.latency_next] = latency;
          s.latency_next = (s.latency_next + 1) % kMaxLatencies;
        }
      }
      out.push_back(std::move(h.frame));
      s.held.pop_front();
    }
    Send(std::move(out));
  }

  void FinishStopping(uint64_t id) {
    Flush(id, true);
    EndSession(id, UnavailableError("session " + SessionName(id) +
                                    ": spiked is stopping (daemon stopping); open a new "
                                    "session after it restarts"));
  }

  static double Percentile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    const size_t k = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
  }

  static Status RunChunk(Service* service, uint64_t id, const protocol::StreamChunk& chunk,
                         const SessionHandle& handle, const std::vector<Service::PortInfo>& inputs,
                         const std::vector<Service::PortInfo>& outputs, std::vector<Frame>* frames,
                         hal::RunStats* stats) {
    const Service::PortInfo& port = inputs[chunk.port];
    int64_t per_step = 1;
    for (int64_t d : port.shape) per_step *= d;
    std::vector<float> values;
    if (const auto* tensor = std::get_if<protocol::Tensor>(&chunk.body)) {
      std::vector<int64_t> want = {chunk.steps};
      want.insert(want.end(), port.shape.begin(), port.shape.end());
      std::vector<int64_t> got(tensor->shape.begin(), tensor->shape.end());
      if (got != want) {
        return InvalidArgumentError("STREAM_INPUT: input '" + port.name + "' of " +
                                    std::to_string(chunk.steps) + " steps must be " +
                                    ShapeText(port.shape, true) + " with T = steps, got " +
                                    protocol::DescribeShape(*tensor));
      }
      values = tensor->ToFloat();
    } else {
      // Sparse input: each event sets its neuron at its step (1, or the
      // graded payload); every other neuron is 0.
      const auto& spikes = std::get<protocol::SpikeEvents>(chunk.body);
      SPK_RETURN_IF_ERROR(
          spikes.CheckBounds(chunk.steps, static_cast<uint32_t>(per_step), port.name));
      values.assign(static_cast<size_t>(per_step) * chunk.steps, 0.0f);
      for (const protocol::SpikeEvent& e : spikes.events) {
        values[static_cast<size_t>(e.timestep) * static_cast<size_t>(per_step) + e.index] =
            spikes.graded ? static_cast<float>(e.payload) : 1.0f;
      }
    }
    executor::HostValue value;
    value.shape = port.shape;
    std::map<std::string, executor::HostValue> step_inputs;
    for (uint32_t t = 0; t < chunk.steps; ++t) {
      const auto begin = values.begin() + static_cast<std::ptrdiff_t>(t * per_step);
      step_inputs[port.name].shape = port.shape;
      step_inputs[port.name].data.assign(begin, begin + per_step);
      SPK_ASSIGN_OR_RETURN(auto steps, service->SessionPush(handle, step_inputs, stats));
      for (const executor::StreamStep& step : steps) {
        for (size_t o = 0; o < outputs.size(); ++o) {
          auto out = step.outputs.find(outputs[o].name);
          if (out == step.outputs.end()) continue;
          std::vector<uint32_t> shape = {1};
          for (int64_t d : out->second.shape) shape.push_back(static_cast<uint32_t>(d));
          protocol::StreamChunk result{
              .first_step = static_cast<uint64_t>(step.step),
              .steps = 1,
              .port = static_cast<uint16_t>(o),
              .body = protocol::Tensor::FromValues<float>(shape, out->second.data)};
          frames->push_back(protocol::MakeFrame(FrameType::kStreamOutput, id,
                                                protocol::EncodeStreamChunk(result)));
        }
      }
    }
    return Status::Ok();
  }

  // Ends a session, answering on its id: the totals for a session.close,
  // or the ERROR that ended it. Releases the deployment.
  void EndSession(uint64_t id, const Status& status) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    Session& s = it->second;
    if (s.idle) s.idle->cancel();
    server_->service->CloseSession(s.handle);
    if (status.ok()) {
      const double dynamic = s.stats.dynamic_energy_j, fixed = s.stats.static_energy_j;
      Send({protocol::MakeJsonFrame(
          FrameType::kResponse, id,
          {{"session", SessionName(id)},
           {"steps", s.steps},
           {"chunks", s.chunks},
           {"chip_steps", s.stats.steps},
           {"chip_seconds", s.stats.chip_time_s},
           {"energy_joules", {{"dynamic", dynamic}, {"static", fixed}, {"total", dynamic + fixed}}},
           {"latency_seconds",
            {{"p50", Percentile(s.latencies, 0.5)}, {"p99", Percentile(s.latencies, 0.99)}}}})});
    } else {
      spdlog::debug("session {} ends: {}", SessionName(id), status.ToString());
      Send({protocol::MakeErrorFrame(id, status)});
    }
    sessions_.erase(it);
  }

  Impl* server_;  // borrowed: the server outlives its connections
  Socket socket_;
  std::array<uint8_t, 65536> buffer_{};
  protocol::FrameDecoder decoder_;
  protocol::MessageAssembler assembler_;
  Caller caller_;
  bool authorised_ = false;
  std::string denied_why_;
  bool hello_done_ = false;
  protocol::ProtocolVersion version_;
  std::map<uint64_t, Request> in_flight_;
  std::map<uint64_t, Session> sessions_;
  std::deque<std::vector<uint8_t>> queue_;
  std::vector<std::vector<uint8_t>> writing_batch_;  // what the write in progress sends
  bool writing_ = false;
  bool closing_ = false;  // close once the queue is written
  bool closed_ = false;
};

void Server::Impl::Accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, Socket socket) {
    if (!accepting) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of descriptors or memory: retrying at once would only spin.
      spdlog::warn("accept: {}; retrying in 100 ms", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
      timer->async_wait([this, timer](const boost::system::error_code&) {
        if (accepting) Accept();
      });
      return;
    }
    auto connection = std::make_shared<Connection>(this, std::move(socket));
    if (connections.size() >= options.max_connections) {
      // Best effort: tell the peer why before closing.
      connections.insert(connection);
      connection->Fail(ResourceExhaustedError("spiked serves at most server.max_connections (" +
                                              std::to_string(options.max_connections) +
                                              ") connections; try again later"));
    } else {
      connections.insert(connection);
      connection->Start();
    }
    Accept();
  });
}

Reply Server::Impl::Execute(const protocol::RequestEnvelope& envelope,
                            const protocol::Message& message, const Caller& caller,
                            const protocol::ProtocolVersion& version, const std::atomic<int>* stop,
                            const std::function<void(const nlohmann::json&)>& progress) {
  const uint64_t id = message.request_id;
  const std::string_view op = envelope.operation->name;
  // Stopped while it waited for a worker: nothing was done.
  if (stop->load() == kStopCancelled) {
    return ErrorReply(id, CancelledError(std::string(op) + " cancelled by the client"));
  }
  if (stop->load() == kStopDeadline) {
    return ErrorReply(
        id, DeadlineExceededError(std::string(op) + ": timeout_ms passed before it started"));
  }
  const auto& body = envelope.body;
  auto result = [&](const StatusOr<nlohmann::json>& r) {
    return r.ok() ? JsonReply(id, *r) : ErrorReply(id, r.status());
  };
  const std::vector<uint32_t> no_refs;
  if (op != "deploy" && op != "infer") {
    if (Status s = protocol::CheckAttachmentRefs(op, no_refs, message.attachments.size());
        !s.ok()) {
      return ErrorReply(id, s);
    }
  }
  if (op == "version") {
    auto request = protocol::ParseVersionRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    nlohmann::json out = service->Version();
    out["protocol"] = version.ToString();
    out["protocol_min"] = protocol::kOldestProtocolVersion.ToString();
    out["protocol_max"] = protocol::kProtocolVersion.ToString();
    return JsonReply(id, out);
  }
  if (op == "health") {
    auto request = protocol::ParseHealthRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    return result(service->Health(request->deployment));
  }
  if (op == "boards") {
    auto request = protocol::ParseBoardsRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    return JsonReply(id, service->Boards());
  }
  if (op == "deployments.list") {
    auto request = protocol::ParseListDeploymentsRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    return result(service->ListDeployments());
  }
  if (op == "deployments.describe") {
    auto request = protocol::ParseDescribeDeploymentRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    return result(service->DescribeDeployment(request->deployment));
  }
  if (op == "telemetry.latest") {
    auto request = protocol::ParseTelemetryLatestRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    return result(service->TelemetryLatest(request->board));
  }
  if (op == "telemetry.history") {
    auto request = protocol::ParseTelemetryHistoryRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    return result(service->TelemetryHistory(request->board, request->since, request->until,
                                            request->max_samples));
  }
  if (op == "deploy") {
    auto request = protocol::ParseDeployRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    if (Status s = protocol::CheckAttachmentRefs(op, protocol::AttachmentRefs(*request),
                                                 message.attachments.size());
        !s.ok()) {
      return ErrorReply(id, s);
    }
    DeployArgs args;
    args.name = request->name;
    args.path = request->model.path;
    if (request->model.attachment) {
      args.bytes = message.attachments[*request->model.attachment].bytes;
      args.filename = request->model.filename;
    }
    args.board = request->board;
    args.chip_profile = request->chip_profile;
    args.cores = request->partition.cores;
    args.chip = request->partition.chip;
    args.exclusive = request->partition.exclusive;
    args.opt_level = request->opt_level;
    args.ssa = request->ssa;
    args.timesteps = request->timesteps;
    args.replace = request->replace;
    args.failover = request->failover == protocol::FailoverPolicy::kEmulator
                        ? state::FailoverPolicy::kEmulator
                        : state::FailoverPolicy::kNone;
    args.stop = stop;
    if (request->progress) {
      const auto start = std::chrono::steady_clock::now();
      args.progress = [&progress, start](const std::string& stage, const std::string& text) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        progress({{"stage", stage}, {"message", text}, {"elapsed_seconds", elapsed}});
      };
    }
    auto deployed = service->Deploy(args, caller);
    const std::string target = !args.name.empty()   ? args.name
                               : !args.path.empty() ? args.path
                                                    : args.filename;
    service->Audit(caller, "deploy", target, deployed.status());
    if (!deployed.ok()) spdlog::info("deploy {}: {}", target, deployed.status().ToString());
    return result(deployed);
  }
  if (op == "undeploy") {
    auto request = protocol::ParseUndeployRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    auto undeployed = service->Undeploy(request->deployment, request->force);
    service->Audit(caller, "undeploy", request->deployment, undeployed.status());
    return result(undeployed);
  }
  if (op == "infer") {
    auto request = protocol::ParseInferRequest(body);
    if (!request.ok()) return ErrorReply(id, request.status());
    if (Status s = protocol::CheckAttachmentRefs(op, protocol::AttachmentRefs(*request),
                                                 message.attachments.size());
        !s.ok()) {
      return ErrorReply(id, s);
    }
    auto shapes = service->InputShapes(request->deployment);
    if (!shapes.ok()) return ErrorReply(id, shapes.status());
    std::map<std::string, executor::HostValue> inputs;
    for (const protocol::InputBinding& binding : request->inputs) {
      std::string port = binding.port;
      if (port.empty()) {
        if (shapes->size() != 1) {
          return ErrorReply(id, InvalidArgumentError("infer: the deployment has " +
                                                     std::to_string(shapes->size()) +
                                                     " inputs; name each one's 'port'"));
        }
        port = shapes->begin()->first;
      }
      auto shape = shapes->find(port);
      if (shape == shapes->end()) {
        return ErrorReply(
            id, InvalidArgumentError("infer: the deployment has no input '" + port + "'"));
      }
      auto value = ToHostValue(port, shape->second, message.attachments[binding.attachment]);
      if (!value.ok()) return ErrorReply(id, value.status());
      inputs[port] = std::move(value).value();
    }
    auto outcome = service->Infer(request->deployment, inputs,
                                  request->report == protocol::ReportLevel::kDetailed);
    if (!outcome.ok()) return ErrorReply(id, outcome.status());
    const executor::InferenceResult& r = outcome->result;
    nlohmann::json outputs = nlohmann::json::array();
    std::vector<Attachment> attachments;
    auto add_tensor = [&](const std::string& name, const executor::HostValue& value) {
      std::vector<uint32_t> shape(value.shape.begin(), value.shape.end());
      attachments.push_back(
          {FrameType::kTensor,
           protocol::EncodeTensor(protocol::Tensor::FromValues<float>(shape, value.data))});
      outputs.push_back(
          {{"port", name}, {"attachment", attachments.size() - 1}, {"kind", "tensor"}});
    };
    if (request->outputs != protocol::OutputSelection::kSpikes) {
      for (const auto& [name, value] : r.outputs) add_tensor(name, value);
    }
    if (request->outputs != protocol::OutputSelection::kScores) {
      // The chip's output ports; a port that carries graded values rather
      // than spikes comes as a [T, ...] tensor.
      for (const auto& [name, value] : r.ports) {
        if (!outcome->spike_ports.count(name)) {
          if (request->outputs == protocol::OutputSelection::kSpikes || !r.outputs.count(name)) {
            add_tensor(name, value);
          }
          continue;
        }
        attachments.push_back({FrameType::kSpikes, protocol::EncodeSpikes(ToSpikeEvents(value))});
        std::vector<int64_t> shape(value.shape.begin() + 1, value.shape.end());
        int64_t neurons = 1;
        for (int64_t d : shape) neurons *= d;
        outputs.push_back({{"port", name},
                           {"attachment", attachments.size() - 1},
                           {"kind", "spikes"},
                           {"shape", shape},
                           {"neurons", neurons}});
      }
    }
    nlohmann::json out = {{"deployment", outcome->deployment},
                          {"board", outcome->board},
                          {"timesteps", outcome->timesteps},
                          {"steps", r.chip.steps},
                          {"outputs", outputs},
                          {"latency_seconds", outcome->wall_s},
                          {"chip_seconds", r.chip.chip_time_s},
                          {"modelled_latency_seconds", r.latency_s},
                          {"energy_joules",
                           {{"dynamic", r.chip.dynamic_energy_j},
                            {"static", r.chip.static_energy_j},
                            {"total", r.energy_j}}}};
    if (!outcome->report.is_null()) out["report"] = outcome->report;
    return JsonReply(id, out, std::move(attachments));
  }
  return ErrorReply(id, UnimplementedError(std::string(op) + ": not served by this build"));
}

StatusOr<std::unique_ptr<Server>> Server::Create(Service* service, ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->service = service;
  impl->options = std::move(options);

  const ServerOptions& o = impl->options;
  boost::system::error_code ec;
  if (o.inherited_fd >= 0) {
    int type = 0, listening = 0;
    socklen_t len = sizeof(type);
    if (::getsockopt(o.inherited_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM ||
        (len = sizeof(listening),
         ::getsockopt(o.inherited_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) ||
        listening == 0) {
      return UnavailableError("socket from systemd (fd " + std::to_string(o.inherited_fd) +
                              ") is not a listening stream socket; check the .socket unit's "
                              "ListenStream=");
    }
    impl->acceptor.assign(asio::local::stream_protocol(), o.inherited_fd, ec);
    if (ec)
      return UnavailableError("socket from systemd (fd " + std::to_string(o.inherited_fd) +
                              "): " + ec.message());
    return std::unique_ptr<Server>(new Server(std::move(impl)));
  }
  namespace fs = std::filesystem;
  const fs::path path(o.socket_path);
  std::error_code fec;
  if (!fs::exists(path.parent_path(), fec)) {
    fs::create_directories(path.parent_path(), fec);
    if (fec) {
      return UnavailableError("server.socket " + o.socket_path + ": cannot create " +
                              path.parent_path().string() + ": " + fec.message());
    }
    ::chmod(path.parent_path().c_str(), 0750);
  }
  if (fs::is_socket(path, fec)) {
    // A live daemon answers; a stale socket from a crash does not.
    Socket probe(impl->io);
    probe.connect(asio::local::stream_protocol::endpoint(o.socket_path), ec);
    if (!ec) {
      return FailedPreconditionError("server.socket " + o.socket_path +
                                     ": another spiked is already listening there");
    }
    fs::remove(path, fec);
  } else if (fs::exists(path, fec)) {
    return FailedPreconditionError("server.socket " + o.socket_path +
                                   " exists and is not a socket; remove it first");
  }
  asio::local::stream_protocol::endpoint endpoint(o.socket_path);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (ec) return UnavailableError("server.socket " + o.socket_path + ": bind: " + ec.message());
  impl->bound_path = true;
  if (!o.socket_group.empty()) {
    auto gid = GroupId(o.socket_group);
    if (!gid) return NotFoundError("server.socket_group '" + o.socket_group + "' does not exist");
    if (::chown(o.socket_path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
      return UnavailableError("server.socket " + o.socket_path + ": chown to group '" +
                              o.socket_group + "': " + std::strerror(errno));
    }
  }
  if (::chmod(o.socket_path.c_str(), o.socket_mode) != 0) {
    return UnavailableError("server.socket " + o.socket_path + ": chmod: " + std::strerror(errno));
  }
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return UnavailableError("server.socket " + o.socket_path + ": listen: " + ec.message());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

void Server::Reload(const ServerOptions& options) {
  asio::post(impl_->io, [impl = impl_.get(), options] {
    impl->options.authorised_group = options.authorised_group;
    impl->options.max_connections = options.max_connections;
    impl->options.max_requests_in_flight = options.max_requests_in_flight;
    impl->options.max_frame_size = options.max_frame_size;
    impl->options.max_message_size = options.max_message_size;
    impl->options.session_idle_timeout_ms = options.session_idle_timeout_ms;
  });
}

const std::string& Server::socket_path() const { return impl_->options.socket_path; }

void Server::Start() {
  // A deployment that moved boards tells its session, wherever it is.
  impl_->service->SetSessionMovedCallback([impl = impl_.get()](const SessionHandle& handle,
                                                               const std::string& stage,
                                                               const std::string& message) {
    asio::post(impl->io, [impl, handle, stage, message] {
      auto connections = impl->connections;
      for (auto& c : connections) c->SessionMoved(handle, stage, message);
    });
  });
  // A forced undeploy ends its session on whichever connection holds it.
  impl_->service->SetSessionEndedCallback(
      [impl = impl_.get()](const SessionHandle& handle, const Status& status) {
        asio::post(impl->io, [impl, handle, status] {
          auto connections = impl->connections;
          for (auto& c : connections) c->EndSessionOf(handle, status);
        });
      });
  impl_->workers = std::make_unique<asio::thread_pool>(std::max(1, impl_->options.workers));
  impl_->work.emplace(impl_->io.get_executor());
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->accepting = true;
    impl->Accept();
  });
  impl_->io_thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

size_t Server::Shutdown(std::chrono::milliseconds drain) {
  if (!impl_->io_thread.joinable()) return 0;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->accepting = false;
    impl->stopping = true;
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    auto connections = impl->connections;
    for (auto& c : connections) c->StopSessions();
  });
  size_t left = 0;
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->drained.wait_for(lock, drain, [this] { return impl_->in_flight == 0; });
    left = impl_->in_flight;
  }
  // Let the last replies reach their sockets, then close what is left.
  std::atomic<bool> flushed{false};
  asio::post(impl_->io, [impl = impl_.get()] {
    auto connections = impl->connections;
    for (auto& c : connections) c->CloseWhenFlushed();
  });
  for (int i = 0; i < 200 && !flushed.load(); ++i) {
    asio::post(impl_->io, [impl = impl_.get(), &flushed] {
      if (impl->connections.empty()) flushed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::atomic<bool> closed{false};
  asio::post(impl_->io, [impl = impl_.get(), &closed] {
    auto connections = impl->connections;
    for (auto& c : connections) c->Close();
    closed = true;
  });
  while (!closed.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->workers->stop();
  impl_->workers->join();
  impl_->service->SetSessionEndedCallback(nullptr);
  impl_->service->SetSessionMovedCallback(nullptr);
  impl_->work.reset();
  impl_->io.stop();
  impl_->io_thread.join();
  if (impl_->bound_path) {
    std::error_code ec;
    std::filesystem::remove(impl_->options.socket_path, ec);
  }
  return left;
}

}  // namespace spk::daemon

// spk::client: the C++ client library of spiked (docs/protocol.md), used by
// spikectl and by applications. It owns one connection to the daemon and
// speaks the protocol through daemon/protocol (framing, payloads, handshake);
// nothing here re-implements the wire format.
//
// Calls block. A Client runs one request at a time; a streaming Session
// borrows its Client's connection, and frames that arrive for another request
// id are kept until someone asks for them, so a session can stay open while
// other calls are made on the same client.
//
// Errors are Status values:
//   UNAVAILABLE        no daemon at the socket, or it closed the connection
//   DEADLINE_EXCEEDED  the client's own timeout passed
//   anything else      the code and message the daemon sent in its ERROR
//                      frame; last_error_details() holds its "details"
//
// Responses are returned as their JSON objects: the protocol's responses are
// open (later minor versions add fields), and callers such as `spikectl
// --json` pass them on unchanged. Binary attachments are decoded.
//
// Thread safety: a Client (and its Sessions) is used by one thread at a time.
#ifndef SPK_CLI_CLIENT_CLIENT_H_
#define SPK_CLI_CLIENT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/operations.h"
#include "daemon/protocol/payload.h"

namespace spk::client {

struct ConnectOptions {
  // Empty: the search order of docs/protocol.md, "Finding the socket".
  std::string socket;
  std::string client_name = "spk-client 0.1.0";
  // Bounds every blocking read or write of one frame; a long compile keeps
  // the connection alive with PROGRESS frames only if it asked for them, so
  // callers deploying large models should raise it.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

// An attachment as it travels: TENSOR, SPIKES or BLOB bytes, joined if it
// was split over frames.
struct Attachment {
  protocol::FrameType type = protocol::FrameType::kTensor;
  std::vector<uint8_t> payload;
};

struct Reply {
  nlohmann::json body;
  std::vector<Attachment> attachments;
};

// PROGRESS payloads of a request, as they arrive.
using ProgressCallback = std::function<void(const nlohmann::json& progress)>;

// One input of an infer request.
struct InferInput {
  std::string port;  // empty: the deployment's only input
  std::variant<protocol::Tensor, protocol::SpikeEvents> value;
};

struct InferResult {
  nlohmann::json body;                              // the response: latency, energy, outputs[]...
  std::map<std::string, protocol::Tensor> tensors;  // by output port
  std::map<std::string, protocol::SpikeEvents> spikes;  // by output port
  // The decoded output ports in the order the response lists them (the
  // deployment's port order); the maps above are sorted by name instead.
  std::vector<std::string> ports;

  // The first tensor output in response order (what a prediction is read
  // from); null when no tensor came back.
  const protocol::Tensor* FirstTensor() const;
};

class Session;

class Client {
 public:
  // Connects (trying each candidate socket in turn) and performs the
  // handshake. UNAVAILABLE names every path tried and why each failed.
  static StatusOr<std::unique_ptr<Client>> Connect(const ConnectOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const protocol::ServerHello& hello() const { return hello_; }
  const std::string& socket_path() const { return socket_path_; }
  // "details" of the last ERROR a call returned; null if none.
  const nlohmann::json& last_error_details() const { return last_error_details_; }

  // Any request: `request` is the JSON body with "op". Attachments follow it.
  StatusOr<Reply> Call(const nlohmann::json& request, std::span<const Attachment> attachments = {},
                       const ProgressCallback& progress = nullptr);

  StatusOr<nlohmann::json> Version();
  StatusOr<nlohmann::json> Health(const std::string& deployment = "");
  StatusOr<nlohmann::json> Boards();
  StatusOr<nlohmann::json> ListDeployments();
  StatusOr<nlohmann::json> DescribeDeployment(const std::string& deployment);
  StatusOr<nlohmann::json> TelemetryLatest(const std::string& board = "");
  StatusOr<nlohmann::json> TelemetryHistory(const protocol::TelemetryHistoryRequest& request);
  // With `model_bytes`, the model travels as a BLOB attachment (request.model
  // then needs no path); otherwise the daemon opens request.model.path.
  // `progress` gets the PROGRESS frames when request.progress is set.
  StatusOr<nlohmann::json> Deploy(const protocol::DeployRequest& request,
                                  std::span<const uint8_t> model_bytes = {},
                                  const ProgressCallback& progress = nullptr);
  StatusOr<nlohmann::json> Undeploy(const std::string& deployment, bool force = false);
  // request.inputs is filled from `inputs` (one attachment each).
  StatusOr<InferResult> Infer(protocol::InferRequest request, std::span<const InferInput> inputs);

  // Opens a streaming session on this connection.
  StatusOr<std::unique_ptr<Session>> OpenSession(const protocol::SessionOpenRequest& request);

 private:
  friend class Session;
  Client() = default;

  uint64_t NextId();
  Status Send(const protocol::Frame& frame);
  // Sends one attachment, split into CONTINUED frames above the frame limit.
  Status SendAttachment(uint64_t id, const Attachment& attachment, bool more);
  // The next frame for `id`, from the kept frames or the socket. Frames for
  // other ids are kept; a connection ERROR (id 0) fails every waiter.
  StatusOr<protocol::Frame> NextFrameFor(uint64_t id, std::chrono::milliseconds timeout);
  // As NextFrameFor, but only from the socket (kept frames are not looked at).
  StatusOr<protocol::Frame> ReadFrameFor(uint64_t id, std::chrono::milliseconds timeout);
  // Reads the rest of a message whose JSON frame is `first`.
  StatusOr<Reply> FinishMessage(uint64_t id, const protocol::Frame& first);
  Status ErrorFrom(const protocol::Frame& frame);

  int fd_ = -1;
  std::string socket_path_;
  std::chrono::milliseconds timeout_{0};
  protocol::ServerHello hello_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::deque<protocol::Frame>> kept_;
  nlohmann::json last_error_details_;
  Status connection_error_ = Status::Ok();  // set once the connection is lost
};

// A streaming session (docs/protocol.md, "Streaming sessions"). Push sends
// STREAM_INPUT within the server's input window, waiting for CREDIT when the
// window is full; Receive returns the next STREAM_OUTPUT chunk. Close drains
// and returns the session's totals. Borrows its Client, which must outlive it.
//
// Every output chunk is acknowledged with a CREDIT as soon as it is read off
// the connection, also while Push or WaitConsumed wait for input credit: the
// server sends an input frame's CREDIT only after that frame's outputs, and
// sends no more than output_window unacknowledged outputs, so a client that
// kept them unacknowledged while waiting would wait forever. Chunks read that
// way are buffered for Receive, up to output_buffer_bytes of payload; beyond
// that Push and WaitConsumed stop reading and return RESOURCE_EXHAUSTED
// instead of growing the buffer, and work again once the application has
// received some of them. The session stays open.
class Session {
 public:
  ~Session();  // cancels a session that was not closed
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const nlohmann::json& info() const { return info_; }  // the session.open response
  uint64_t id() const { return id_; }

  // Payload bytes of output chunks the session buffers while it waits for
  // input credit; a session starts with kDefaultOutputBufferBytes.
  static constexpr size_t kDefaultOutputBufferBytes = size_t{64} << 20;
  void set_output_buffer_bytes(size_t bytes) { output_buffer_bytes_ = bytes; }
  size_t buffered_outputs() const { return outputs_.size(); }

  // Sends a chunk of `steps` timesteps for input port `port`; first_step is
  // kept per port by the session. RESOURCE_EXHAUSTED when it would have to
  // wait for credit while output_buffer_bytes of outputs wait to be received.
  Status Push(uint16_t port, uint32_t steps,
              std::variant<protocol::Tensor, protocol::SpikeEvents> body);
  // The next output chunk; DEADLINE_EXCEEDED after `timeout`, or the
  // session's ERROR if the server ended it.
  StatusOr<protocol::StreamChunk> Receive(std::chrono::milliseconds timeout);
  // Waits until the server has consumed every pushed chunk (its credits
  // are back); the outputs those chunks produced are then in TakeArrived.
  // RESOURCE_EXHAUSTED as Push.
  Status WaitConsumed();
  // Output chunks that have already arrived, without blocking.
  StatusOr<std::vector<protocol::StreamChunk>> TakeArrived();
  // The PROGRESS notices of the session read so far (a failover to an
  // emulated board and back: {"stage", "board", "message"}), oldest first;
  // the session goes on after each.
  std::vector<nlohmann::json> TakeNotices() { return std::exchange(notices_, {}); }
  // session.close; with `drain`, outputs still due are collected into
  // `remaining` (may be null) before the totals are returned.
  StatusOr<nlohmann::json> Close(bool drain = true,
                                 std::vector<protocol::StreamChunk>* remaining = nullptr);

 private:
  friend class Client;
  Session(Client* client, uint64_t id, nlohmann::json info);
  // Handles one frame of the session: credit counted, output acknowledged
  // and buffered, ERROR returned (ending the session).
  Status Take(protocol::Frame frame);
  // Keeps a PROGRESS frame's notice for TakeNotices.
  void Notice(const protocol::Frame& frame);
  // Takes the session's frames the Client kept while serving other calls.
  Status TakeKept();
  // Reads session frames until `credit_ >= want`.
  Status ReadUntilCredit(uint32_t want);

  Client* client_;  // not owned
  uint64_t id_;
  nlohmann::json info_;
  uint32_t credit_ = 0;
  uint32_t window_ = 0;  // the granted input window: credit_ when nothing is in flight
  std::map<uint16_t, uint64_t> next_step_;
  struct Buffered {
    protocol::StreamChunk chunk;
    size_t bytes;
  };
  std::deque<Buffered> outputs_;  // acknowledged, not yet received, in arrival order
  size_t buffered_bytes_ = 0;
  size_t output_buffer_bytes_ = kDefaultOutputBufferBytes;
  std::vector<nlohmann::json> notices_;
  bool open_ = true;
};

// The outputs of an infer response, decoded: "scores" tensors and spikes by
// port. INVALID_ARGUMENT if the response names a missing attachment.
Status DecodeInferOutputs(const Reply& reply, InferResult& result);

// The index of the largest score (first on ties); nullopt for no scores.
std::optional<size_t> ArgMax(std::span<const float> scores);

}  // namespace spk::client

#endif  // SPK_CLI_CLIENT_CLIENT_H_

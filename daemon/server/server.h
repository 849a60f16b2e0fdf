// The Server: spiked's local socket, on Boost.Asio.
//
// One I/O thread runs the acceptor and every connection; the blocking work
// of a request (deploy, infer, anything that touches a board or the store)
// runs on a small worker pool, so one slow request never stalls the others,
// and its reply is posted back to the I/O thread, which serialises what each
// connection writes. Per connection: the handshake, then frames through the
// protocol's FrameDecoder and MessageAssembler, several requests in flight by
// id. A header error loses the framing: the peer gets an ERROR frame naming
// the fault and the connection is closed. Other faults (bad JSON, unknown
// operation, wrong shapes) are answered on the request's id and the
// connection goes on. Other connections are never disturbed.
//
// Authorisation: SO_PEERCRED on every connection. Write operations
// (protocol::Access::kWrite) are allowed to root, the daemon's own uid and
// members of server.authorised_group; others get PERMISSION_DENIED saying
// which group is needed. Denied requests and every deploy, undeploy and
// session.open are written to the audit log.
//
// Streaming sessions live on their connection: session.open's id stays open,
// STREAM_INPUT frames on it are checked against the input window on arrival
// and run in order on a worker (one at a time per session); their
// STREAM_OUTPUT frames and the CREDIT that returns the input frame are sent
// while the client has output credit, and the next frame runs only when they
// are all sent. A session ends on session.close (drained, with totals),
// CANCEL, its idle timeout, a forced undeploy or its board's removal
// (through the Service's session-ended callback) or Shutdown; closing the
// connection closes its sessions.
//
// Requests on workers share a stop flag with the I/O thread, set by CANCEL,
// timeout_ms or the connection closing (docs/protocol.md, "Requests,
// responses and cancellation").
//
// Thread safety: Start, Shutdown and the destructor are called from one
// thread (main's). Everything else runs on the server's own threads.
#ifndef SPK_DAEMON_SERVER_SERVER_H_
#define SPK_DAEMON_SERVER_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "daemon/service/service.h"

namespace spk::daemon {

struct ServerOptions {
  std::string socket_path;
  int inherited_fd = -1;  // a listening socket from systemd; -1: bind socket_path
  uint32_t socket_mode = 0660;
  std::string socket_group;      // empty: leave the daemon's group
  std::string authorised_group;  // empty: only root and the daemon's uid may write
  uint32_t max_connections = 256;
  uint32_t max_requests_in_flight = 64;
  uint32_t max_frame_size = 16u << 20;
  uint64_t max_message_size = 256ull << 20;
  uint64_t session_idle_timeout_ms = 300'000;
  int workers = 4;
};

class Server {
 public:
  // Binds (or adopts) the socket. FAILED_PRECONDITION when another spiked
  // answers on the path, UNAVAILABLE when the socket cannot be made (naming
  // the path and the reason), NOT_FOUND for an unknown socket group.
  static StatusOr<std::unique_ptr<Server>> Create(Service* service, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the I/O thread and the workers and begins accepting.
  void Start();
  // Stops accepting and refuses new requests with UNAVAILABLE; ends every
  // session after its running step (its held output sent, then UNAVAILABLE);
  // waits up to `drain` for requests in flight to finish and be answered,
  // then closes every connection and stops the threads. Returns how many
  // requests were still in flight.
  size_t Shutdown(std::chrono::milliseconds drain);

  // Applies the live keys of a reloaded configuration (authorised group,
  // limits) to connections accepted from now on.
  void Reload(const ServerOptions& options);

  const std::string& socket_path() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True when `uid` may use write operations: root, `daemon_uid`, or a member
// (primary or supplementary) of `group`. On false, `why` says what is needed.
bool IsAuthorised(uint32_t uid, uint32_t daemon_uid, const std::string& group, std::string* why);

}  // namespace spk::daemon

#endif  // SPK_DAEMON_SERVER_SERVER_H_

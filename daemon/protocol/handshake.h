// The handshake that opens every connection: the client's HELLO names the
// protocol versions it speaks, the server's HELLO_REPLY names the version
// chosen, the server's own version and the limits the client must respect.
//
// A protocol version is MAJOR.MINOR. The header carries only the major (a new
// major may change the framing); minors only add (docs/protocol.md,
// "Versioning"), so the chosen version is the highest both sides speak.
//
// Thread safety: plain values and pure functions.
#ifndef SPK_DAEMON_PROTOCOL_HANDSHAKE_H_
#define SPK_DAEMON_PROTOCOL_HANDSHAKE_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "daemon/protocol/frame.h"

namespace spk::protocol {

struct ProtocolVersion {
  uint32_t major = 0;
  uint32_t minor = 0;

  // "1.0"; INVALID_ARGUMENT for anything else ("1", "1.x", "-1.0").
  static StatusOr<ProtocolVersion> Parse(std::string_view text);
  std::string ToString() const;
  friend auto operator<=>(const ProtocolVersion&, const ProtocolVersion&) = default;
};

// What this build speaks.
inline constexpr ProtocolVersion kProtocolVersion{kFrameVersion, 0};
inline constexpr ProtocolVersion kOldestProtocolVersion{kFrameVersion, 0};

struct VersionRange {
  ProtocolVersion min;
  ProtocolVersion max;
};

// The highest version in both ranges. FAILED_PRECONDITION when they do not
// overlap, naming both ranges:
//   "protocol: client speaks 2.0..2.1, spiked speaks 1.0..1.3; ..."
StatusOr<ProtocolVersion> NegotiateVersion(const VersionRange& client, const VersionRange& server);

struct ClientHello {
  std::string client;  // "spikectl 0.1.0": for logs
  VersionRange versions{kOldestProtocolVersion, kProtocolVersion};
};

// Limits the server enforces on this connection.
struct ServerLimits {
  uint32_t max_frame_bytes = kDefaultFrameLimit;
  uint64_t max_message_bytes = 256ull << 20;
  uint32_t max_requests_in_flight = 64;
  uint64_t session_idle_timeout_ms = 300'000;  // 0: sessions never idle out
};

// The connecting process as the server saw it (SO_PEERCRED).
struct PeerInfo {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  bool authorised = false;  // may use write operations
};

struct ServerHello {
  ProtocolVersion version;  // chosen
  std::string server;       // "spiked 0.1.0"
  ServerLimits limits;
  PeerInfo peer;
};

nlohmann::json ToJson(const ClientHello& hello);
nlohmann::json ToJson(const ServerHello& hello);
// INVALID_ARGUMENT naming the bad field ("hello: field 'max_version' ...").
StatusOr<ClientHello> ParseClientHello(std::span<const uint8_t> payload);
StatusOr<ServerHello> ParseServerHello(std::span<const uint8_t> payload);

Frame MakeHelloFrame(const ClientHello& hello);
Frame MakeHelloReplyFrame(const ServerHello& hello);

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_HANDSHAKE_H_

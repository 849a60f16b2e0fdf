// Where spiked listens when not told, and where clients look for it. Shared
// by the daemon's configuration and every client so that both sides agree
// without configuration (docs/configuration.md, "server.socket").
//
// The environment is passed in as a map, never read here, so callers and
// tests decide what it holds.
//
// Thread safety: pure functions.
#ifndef SPK_DAEMON_PROTOCOL_SOCKET_PATH_H_
#define SPK_DAEMON_PROTOCOL_SOCKET_PATH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace spk::protocol {

using EnvironmentMap = std::map<std::string, std::string, std::less<>>;

// The environment variable that names the socket, for the daemon
// (SPIKED_<SECTION>_<KEY> of server.socket) and for clients alike.
inline constexpr char kSocketEnvVar[] = "SPIKED_SERVER_SOCKET";
inline constexpr char kSystemSocketPath[] = "/run/spiked/spiked.sock";

// The daemon's default socket, first that applies:
//   $RUNTIME_DIRECTORY/spiked.sock    systemd RuntimeDirectory= (first entry)
//   /run/spiked/spiked.sock           root, or a systemd system service
//                                     ($NOTIFY_SOCKET or $LISTEN_FDS set and
//                                     no $XDG_RUNTIME_DIR)
//   $XDG_RUNTIME_DIR/spiked/spiked.sock
//   /tmp/spiked-<uid>/spiked.sock
std::string DefaultSocketPath(const EnvironmentMap& env, uint32_t uid);

// The last resort of a user without $XDG_RUNTIME_DIR (or home, for the
// state): /tmp/spiked-<uid>. The daemon creates it 0700 and refuses one
// that another user owns or may enter.
std::string PrivateTmpDir(uint32_t uid);

// Where a client should try to connect, in order: only $SPIKED_SERVER_SOCKET
// when set; otherwise the caller's own daemon (the default above, if it is
// not the system path) and then the system daemon's /run/spiked/spiked.sock.
std::vector<std::string> ClientSocketCandidates(const EnvironmentMap& env, uint32_t uid);

// True when the process runs as a systemd service: $NOTIFY_SOCKET or
// $LISTEN_FDS is set.
bool UnderSystemd(const EnvironmentMap& env);

// The value of `name` if set, non-empty and an absolute path (the XDG rule:
// relative values are ignored); for colon-separated lists (systemd's
// *_DIRECTORY), the first entry.
std::string AbsoluteDirFromEnv(const EnvironmentMap& env, const std::string& name);

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_SOCKET_PATH_H_

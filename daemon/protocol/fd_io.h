// Blocking frame I/O over a file descriptor, for simple clients and tests
// (the daemon itself uses Asio). Every call is bounded by a timeout enforced
// with poll(2), whether the descriptor is blocking or not.
//
// ReadFrame reads exactly one frame and nothing beyond it, so it can be
// mixed with other readers of the same descriptor. It validates the header
// before reading the payload: an oversized frame is refused without reading
// its payload.
//
// Errors:
//   DEADLINE_EXCEEDED  the timeout passed (how many bytes had moved is said)
//   UNAVAILABLE        the peer closed the connection at a frame boundary,
//                      or reset it
//   DATA_LOSS          the peer closed it in the middle of a frame
//   header errors      as DecodeHeader returns them
//   INTERNAL           an unexpected errno, named
//
// Writes use send(MSG_NOSIGNAL) on sockets, so a closed peer is
// UNAVAILABLE rather than SIGPIPE; on a pipe the caller must ignore SIGPIPE.
//
// Thread safety: calls on distinct descriptors are independent; concurrent
// calls on one descriptor interleave bytes and must be serialised by the
// caller.
#ifndef SPK_DAEMON_PROTOCOL_FD_IO_H_
#define SPK_DAEMON_PROTOCOL_FD_IO_H_

#include <chrono>
#include <cstdint>
#include <span>

#include "base/status.h"
#include "daemon/protocol/frame.h"

namespace spk::protocol {

// A negative timeout waits without limit.
inline constexpr std::chrono::milliseconds kNoTimeout{-1};

Status WriteFrame(int fd, const Frame& frame, std::chrono::milliseconds timeout);

StatusOr<Frame> ReadFrame(int fd, uint32_t frame_limit, std::chrono::milliseconds timeout);

// Writes all of `bytes` (e.g. several encoded frames at once).
Status WriteAll(int fd, std::span<const uint8_t> bytes, std::chrono::milliseconds timeout);

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_FD_IO_H_

#include "daemon/protocol/fd_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <string_view>

namespace spk::protocol {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes written per write(2) to a non-socket: POLLOUT on a pipe promises
// room for this much, so a blocking pipe cannot stall past the deadline.
constexpr size_t kPipeChunk = 4096;

class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds timeout)
      : timeout_(timeout),
        end_(Clock::now() + (timeout.count() < 0 ? Clock::duration() : timeout)) {}

  // Milliseconds left for poll(2): -1 for no limit, 0 once expired.
  int PollTimeout() const {
    if (timeout_.count() < 0) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end_ - Clock::now()).count();
    if (left <= 0) return 0;
    return left > INT_MAX ? INT_MAX : static_cast<int>(left);
  }
  long long timeout_ms() const { return timeout_.count(); }

 private:
  std::chrono::milliseconds timeout_;
  Clock::time_point end_;
};

std::string Errno(int error) { return std::string(std::strerror(error)); }

enum class WaitResult { kReady, kTimedOut, kClosedFd, kFailed };

// Waits until `fd` is ready for `events` or the deadline passes.
// On kFailed, *error is poll's errno.
WaitResult Wait(int fd, short events, const Deadline& deadline, int* error) {
  for (;;) {
    pollfd pfd{fd, events, 0};
    const int timeout = deadline.PollTimeout();
    const int n = timeout == 0 ? 0 : ::poll(&pfd, 1, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = errno;
      return WaitResult::kFailed;
    }
    if (n == 0) return WaitResult::kTimedOut;
    // POLLHUP / POLLERR: the next read or write reports what happened.
    return (pfd.revents & POLLNVAL) ? WaitResult::kClosedFd : WaitResult::kReady;
  }
}

// The error for a wait that did not end ready; `progress` says how far the
// transfer got ("reading frame header (10 of 24 bytes)").
Status WaitError(WaitResult result, int error, int fd, const Deadline& deadline,
                 const std::string& progress) {
  switch (result) {
    case WaitResult::kTimedOut:
      return DeadlineExceededError(progress + ": timed out after " +
                                   std::to_string(deadline.timeout_ms()) + " ms");
    case WaitResult::kClosedFd:
      return InternalError(progress + ": fd " + std::to_string(fd) + " is not open");
    default:
      return InternalError(progress + ": poll: " + Errno(error));
  }
}

std::string Progress(std::string_view verb, std::string_view what, size_t done, size_t total) {
  return std::string(verb) + " " + std::string(what) + " (" + std::to_string(done) + " of " +
         std::to_string(total) + " bytes)";
}

// Reads exactly `size` bytes of `what`. `eof_is_clean`: the peer may close
// before the first byte (a frame boundary).
Status ReadExact(int fd, uint8_t* data, size_t size, const Deadline& deadline,
                 std::string_view what, bool eof_is_clean) {
  size_t got = 0;
  bool is_socket = true;
  while (got < size) {
    int poll_error = 0;
    const WaitResult wait = Wait(fd, POLLIN, deadline, &poll_error);
    if (wait != WaitResult::kReady) {
      return WaitError(wait, poll_error, fd, deadline, Progress("reading", what, got, size));
    }
    ssize_t n = is_socket ? ::recv(fd, data + got, size - got, MSG_DONTWAIT) : -1;
    if (n < 0 && (!is_socket || errno == ENOTSOCK)) {
      is_socket = false;
      n = ::read(fd, data + got, size - got);
    }
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      if (got == 0 && eof_is_clean) return UnavailableError("connection closed by peer");
      return DataLossError("connection closed by peer while " +
                           Progress("reading", what, got, size));
    }
    const int error = errno;
    if (error == EINTR || error == EAGAIN || error == EWOULDBLOCK) continue;
    if (error == ECONNRESET || error == EPIPE) {
      return UnavailableError("connection reset by peer while " +
                              Progress("reading", what, got, size));
    }
    return InternalError(Progress("reading", what, got, size) + ": " + Errno(error));
  }
  return Status::Ok();
}

}  // namespace

Status WriteAll(int fd, std::span<const uint8_t> bytes, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  size_t sent = 0;
  bool is_socket = true;
  while (sent < bytes.size()) {
    int poll_error = 0;
    const WaitResult wait = Wait(fd, POLLOUT, deadline, &poll_error);
    if (wait != WaitResult::kReady) {
      return WaitError(wait, poll_error, fd, deadline,
                       Progress("writing", "frames", sent, bytes.size()));
    }
    const size_t left = bytes.size() - sent;
    ssize_t n = is_socket ? ::send(fd, bytes.data() + sent, left, MSG_DONTWAIT | MSG_NOSIGNAL) : -1;
    if (n < 0 && (!is_socket || errno == ENOTSOCK)) {
      is_socket = false;
      n = ::write(fd, bytes.data() + sent, left < kPipeChunk ? left : kPipeChunk);
    }
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    const int error = errno;
    if (error == EINTR || error == EAGAIN || error == EWOULDBLOCK) continue;
    if (error == EPIPE || error == ECONNRESET) {
      return UnavailableError("connection closed by peer while " +
                              Progress("writing", "frames", sent, bytes.size()));
    }
    return InternalError(Progress("writing", "frames", sent, bytes.size()) + ": " + Errno(error));
  }
  return Status::Ok();
}

Status WriteFrame(int fd, const Frame& frame, std::chrono::milliseconds timeout) {
  return WriteAll(fd, EncodeFrame(frame), timeout);
}

StatusOr<Frame> ReadFrame(int fd, uint32_t frame_limit, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  std::array<uint8_t, kHeaderSize> header_bytes{};
  SPK_RETURN_IF_ERROR(
      ReadExact(fd, header_bytes.data(), header_bytes.size(), deadline, "frame header", true));
  SPK_ASSIGN_OR_RETURN(FrameHeader header, DecodeHeader(header_bytes, frame_limit));
  Frame frame;
  frame.header = header;
  frame.payload.resize(header.payload_length);
  SPK_RETURN_IF_ERROR(ReadExact(fd, frame.payload.data(), frame.payload.size(), deadline,
                                std::string(FrameTypeName(header.type)) + " frame payload", false));
  return frame;
}

}  // namespace spk::protocol

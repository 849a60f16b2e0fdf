// FrameDecoder: turns a byte stream, arriving in chunks of any size, into
// whole frames.
//
// Each header is validated as soon as its 24 bytes are in (see DecodeHeader),
// so a frame over the limit is refused before any of its payload is buffered:
// the connection can answer with an error and close without reading it.
// The first error is sticky: a stream with a bad header has lost framing,
// and the only recovery is to close the connection.
//
// Thread safety: none; one decoder per connection, used by one thread.
#ifndef SPK_DAEMON_PROTOCOL_FRAME_DECODER_H_
#define SPK_DAEMON_PROTOCOL_FRAME_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>

#include "base/status.h"
#include "daemon/protocol/frame.h"

namespace spk::protocol {

class FrameDecoder {
 public:
  // `frame_limit`: the largest payload accepted, in bytes.
  explicit FrameDecoder(uint32_t frame_limit = kDefaultFrameLimit);

  // Consumes `data`; completed frames are queued for Next(). Returns the
  // header's error (see DecodeHeader) prefixed with the frame's number and
  // stream offset, and the same error on every later call.
  Status Feed(std::span<const uint8_t> data);

  // The oldest completed frame, if any.
  std::optional<Frame> Next();

  // Call at end of stream: OK at a frame boundary, DATA_LOSS saying how much
  // of the last frame arrived otherwise.
  Status Finish() const;

  // True when no partial frame is buffered.
  bool at_boundary() const { return header_fill_ == 0; }
  const Status& status() const { return status_; }
  uint64_t bytes_consumed() const { return offset_; }

 private:
  Status Fail(Status status);

  uint32_t frame_limit_;
  Status status_;
  uint64_t offset_ = 0;        // stream bytes consumed so far
  uint64_t frame_offset_ = 0;  // stream offset of the frame being read
  uint64_t frames_ = 0;        // frames completed so far
  std::array<uint8_t, kHeaderSize> header_bytes_{};
  size_t header_fill_ = 0;  // header bytes buffered; kHeaderSize once decoded
  Frame current_;
  std::deque<Frame> ready_;
};

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_FRAME_DECODER_H_

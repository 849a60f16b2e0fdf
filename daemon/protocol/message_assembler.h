// MessageAssembler: groups decoded frames into messages.
//
// A message is one JSON frame (REQUEST, RESPONSE, ...) followed, while the
// frames carry kFlagMore, by attachment frames (TENSOR, SPIKES, BLOB) with
// the same request id. An attachment larger than one frame is split over
// consecutive frames marked kFlagContinued; the assembler concatenates them.
// Frames of different requests may interleave, so a large upload does not
// hold up the other requests of a connection. Standalone frames (CANCEL,
// CREDIT, STREAM_*) form a message by themselves; a CANCEL also drops any
// partial message of its request.
//
// Memory is bounded: the bytes held in partial messages and their number
// are limited, and exceeding either is an error naming the request.
//
// Thread safety: none; one assembler per connection, used by one thread.
#ifndef SPK_DAEMON_PROTOCOL_MESSAGE_ASSEMBLER_H_
#define SPK_DAEMON_PROTOCOL_MESSAGE_ASSEMBLER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "base/status.h"
#include "daemon/protocol/frame.h"

namespace spk::protocol {

struct Attachment {
  FrameType type = FrameType::kBlob;
  std::vector<uint8_t> bytes;  // payloads of its frames, concatenated
};

struct Message {
  FrameType type = FrameType::kRequest;
  uint64_t request_id = 0;
  uint16_t flags = 0;         // of the first frame, without kFlagMore
  std::vector<uint8_t> body;  // payload of the first frame (all of a
                              // continued stream frame's payloads)
  std::vector<Attachment> attachments;
};

struct AssemblerLimits {
  uint64_t max_message_bytes = 256ull << 20;   // one message, all frames
  uint64_t max_buffered_bytes = 256ull << 20;  // all partial messages
  size_t max_partial_messages = 64;
  size_t max_attachments = 64;  // per message
};

class MessageAssembler {
 public:
  explicit MessageAssembler(AssemblerLimits limits = {});

  // Takes the next decoded frame. Returns the message it completes, or
  // nullopt while the message waits for more frames. INVALID_ARGUMENT for a
  // frame that breaks the message rules (an attachment with no JSON frame
  // before it, a JSON frame inside a message, a continued attachment that
  // changes type, a limit exceeded), naming the request id; the connection
  // should then be closed.
  StatusOr<std::optional<Message>> Add(Frame frame);

  // Drops a partial message (the server gave up on the request).
  void Discard(uint64_t request_id);

  size_t partial_messages() const { return partial_.size(); }
  uint64_t buffered_bytes() const { return buffered_bytes_; }

 private:
  struct Partial {
    Message message;
    uint64_t bytes = 0;
    bool continuing = false;  // the last frame had kFlagContinued
  };

  Status Append(Partial& partial, uint64_t more_bytes);

  AssemblerLimits limits_;
  std::map<uint64_t, Partial> partial_;
  uint64_t buffered_bytes_ = 0;
};

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_MESSAGE_ASSEMBLER_H_

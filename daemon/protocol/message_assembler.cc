#include "daemon/protocol/message_assembler.h"

#include <string>

namespace spk::protocol {
namespace {

std::string Where(uint64_t request_id) { return "request " + std::to_string(request_id) + ": "; }

std::string Name(FrameType type) { return std::string(FrameTypeName(type)); }

void AppendBytes(std::vector<uint8_t>* to, std::vector<uint8_t>&& from) {
  if (to->empty()) {
    *to = std::move(from);
  } else {
    to->insert(to->end(), from.begin(), from.end());
  }
}

}  // namespace

MessageAssembler::MessageAssembler(AssemblerLimits limits) : limits_(limits) {}

void MessageAssembler::Discard(uint64_t request_id) {
  auto it = partial_.find(request_id);
  if (it == partial_.end()) return;
  buffered_bytes_ -= it->second.bytes;
  partial_.erase(it);
}

Status MessageAssembler::Append(Partial& partial, uint64_t more_bytes) {
  const uint64_t id = partial.message.request_id;
  if (partial.bytes + more_bytes > limits_.max_message_bytes) {
    return InvalidArgumentError(Where(id) + "message exceeds the limit of " +
                                std::to_string(limits_.max_message_bytes) + " bytes");
  }
  if (buffered_bytes_ + more_bytes > limits_.max_buffered_bytes) {
    return ResourceExhaustedError(Where(id) + "partial messages on this connection exceed " +
                                  std::to_string(limits_.max_buffered_bytes) + " bytes");
  }
  partial.bytes += more_bytes;
  buffered_bytes_ += more_bytes;
  return Status::Ok();
}

StatusOr<std::optional<Message>> MessageAssembler::Add(Frame frame) {
  const FrameHeader header = frame.header;
  const uint64_t id = header.request_id;
  auto it = partial_.find(id);

  if (header.type == FrameType::kCancel) {
    Discard(id);
    Message message;
    message.type = header.type;
    message.request_id = id;
    return std::optional<Message>(std::move(message));
  }

  if (it == partial_.end()) {
    if (IsAttachmentFrameType(header.type)) {
      return InvalidArgumentError(Where(id) + Name(header.type) +
                                  " frame does not follow a JSON frame with flag MORE");
    }
    Message message;
    message.type = header.type;
    message.request_id = id;
    message.flags = header.flags & ~(kFlagMore | kFlagContinued);
    message.body = std::move(frame.payload);
    if (!header.has(kFlagMore)) return std::optional<Message>(std::move(message));
    if (partial_.size() >= limits_.max_partial_messages) {
      return ResourceExhaustedError(Where(id) + "more than " +
                                    std::to_string(limits_.max_partial_messages) +
                                    " messages are partly received on this connection");
    }
    Partial partial;
    partial.message = std::move(message);
    partial.continuing = header.has(kFlagContinued);
    SPK_RETURN_IF_ERROR(Append(partial, partial.message.body.size()));
    partial_.emplace(id, std::move(partial));
    return std::optional<Message>();
  }

  Partial& partial = it->second;
  Status status = Append(partial, frame.payload.size());
  if (status.ok()) {
    if (IsStreamDataFrameType(partial.message.type)) {
      if (header.type != partial.message.type) {
        status =
            InvalidArgumentError(Where(id) + "expected the continuation of a " +
                                 Name(partial.message.type) + " frame, got " + Name(header.type));
      } else {
        AppendBytes(&partial.message.body, std::move(frame.payload));
      }
    } else if (!IsAttachmentFrameType(header.type)) {
      status = InvalidArgumentError(Where(id) + Name(header.type) +
                                    " frame arrived where an attachment of the " +
                                    Name(partial.message.type) + " was expected");
    } else if (partial.continuing) {
      Attachment& last = partial.message.attachments.back();
      if (header.type != last.type) {
        status = InvalidArgumentError(Where(id) + "continued " + Name(last.type) +
                                      " attachment continues as " + Name(header.type));
      } else {
        AppendBytes(&last.bytes, std::move(frame.payload));
      }
    } else if (partial.message.attachments.size() >= limits_.max_attachments) {
      status = InvalidArgumentError(Where(id) + "more than " +
                                    std::to_string(limits_.max_attachments) + " attachments");
    } else {
      partial.message.attachments.push_back({header.type, std::move(frame.payload)});
    }
  }
  if (!status.ok()) {
    Discard(id);
    return status;
  }
  partial.continuing = header.has(kFlagContinued);
  if (header.has(kFlagMore)) return std::optional<Message>();

  Message message = std::move(partial.message);
  Discard(id);
  return std::optional<Message>(std::move(message));
}

}  // namespace spk::protocol

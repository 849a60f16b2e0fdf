#include "daemon/protocol/frame_decoder.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/check.h"

namespace spk::protocol {

FrameDecoder::FrameDecoder(uint32_t frame_limit) : frame_limit_(frame_limit) {}

Status FrameDecoder::Fail(Status status) {
  status_ = status.WithContext("frame #" + std::to_string(frames_ + 1) + " at stream offset " +
                               std::to_string(frame_offset_));
  return status_;
}

Status FrameDecoder::Feed(std::span<const uint8_t> data) {
  if (!status_.ok()) return status_;
  while (!data.empty()) {
    if (header_fill_ < kHeaderSize) {
      const size_t take = std::min(kHeaderSize - header_fill_, data.size());
      std::memcpy(header_bytes_.data() + header_fill_, data.data(), take);
      header_fill_ += take;
      offset_ += take;
      data = data.subspan(take);
      if (header_fill_ < kHeaderSize) break;
      auto header = DecodeHeader(header_bytes_, frame_limit_);
      if (!header.ok()) return Fail(header.status());
      current_.header = *header;
      current_.payload.clear();
      // Bounded by frame_limit_, checked above. Pages of a large
      // reservation stay untouched until payload bytes arrive.
      current_.payload.reserve(current_.header.payload_length);
    }
    const size_t need = current_.header.payload_length - current_.payload.size();
    const size_t take = std::min(need, data.size());
    current_.payload.insert(current_.payload.end(), data.begin(), data.begin() + take);
    offset_ += take;
    data = data.subspan(take);
    if (current_.payload.size() == current_.header.payload_length) {
      ready_.push_back(std::move(current_));
      current_ = Frame();
      header_fill_ = 0;
      ++frames_;
      frame_offset_ = offset_;
    }
  }
  return Status::Ok();
}

std::optional<Frame> FrameDecoder::Next() {
  if (ready_.empty()) return std::nullopt;
  Frame frame = std::move(ready_.front());
  ready_.pop_front();
  return frame;
}

Status FrameDecoder::Finish() const {
  if (!status_.ok()) return status_;
  if (header_fill_ == 0) return Status::Ok();
  const std::string where = "frame #" + std::to_string(frames_ + 1) + " at stream offset " +
                            std::to_string(frame_offset_);
  if (header_fill_ < kHeaderSize) {
    return DataLossError("stream ended inside " + where + ": got " + std::to_string(header_fill_) +
                         " of " + std::to_string(kHeaderSize) + " header bytes");
  }
  return DataLossError("stream ended inside " + where + ": got " +
                       std::to_string(current_.payload.size()) + " of " +
                       std::to_string(current_.header.payload_length) + " payload bytes of a " +
                       std::string(FrameTypeName(current_.header.type)) + " frame");
}

}  // namespace spk::protocol

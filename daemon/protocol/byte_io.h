// Little-endian byte writing and bounds-checked reading for the protocol's
// binary layouts. Internal to daemon/protocol.
//
// Thread safety: ByteReader and ByteWriter are used by one thread at a time.
#ifndef SPK_DAEMON_PROTOCOL_BYTE_IO_H_
#define SPK_DAEMON_PROTOCOL_BYTE_IO_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace spk::protocol::internal {

inline uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t LoadU64(const uint8_t* p) {
  return static_cast<uint64_t>(LoadU32(p)) | (static_cast<uint64_t>(LoadU32(p + 4)) << 32);
}
inline void StoreU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void StoreU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void StoreU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Appends little-endian values to a byte vector.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}  // borrows out
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) {
    uint8_t b[2];
    StoreU16(b, v);
    out_->insert(out_->end(), b, b + 2);
  }
  void U32(uint32_t v) {
    uint8_t b[4];
    StoreU32(b, v);
    out_->insert(out_->end(), b, b + 4);
  }
  void U64(uint64_t v) {
    uint8_t b[8];
    StoreU64(b, v);
    out_->insert(out_->end(), b, b + 8);
  }
  void Bytes(std::span<const uint8_t> bytes) {
    out_->insert(out_->end(), bytes.begin(), bytes.end());
  }

 private:
  std::vector<uint8_t>* out_;  // not owned
};

// Reads little-endian values; each read returns false instead of running
// past the end, so callers turn a short payload into their own error.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool U8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = data_[pos_++];
    return true;
  }
  bool U16(uint16_t* v) {
    return Fixed(2, [&](const uint8_t* p) { *v = LoadU16(p); });
  }
  bool U32(uint32_t* v) {
    return Fixed(4, [&](const uint8_t* p) { *v = LoadU32(p); });
  }
  bool U64(uint64_t* v) {
    return Fixed(8, [&](const uint8_t* p) { *v = LoadU64(p); });
  }
  // The rest of the data, consumed.
  std::span<const uint8_t> Rest() {
    auto rest = data_.subspan(pos_);
    pos_ = data_.size();
    return rest;
  }

 private:
  template <typename F>
  bool Fixed(size_t n, F&& load) {
    if (remaining() < n) return false;
    load(data_.data() + pos_);
    pos_ += n;
    return true;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace spk::protocol::internal

#endif  // SPK_DAEMON_PROTOCOL_BYTE_IO_H_

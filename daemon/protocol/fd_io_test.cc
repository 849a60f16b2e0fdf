#include "daemon/protocol/fd_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// Both ends of a connected Unix stream socket pair, closed on destruction.
class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  ~SocketPair() {
    CloseA();
    CloseB();
  }
  int a() const { return fds_[0]; }
  int b() const { return fds_[1]; }
  void CloseA() { Close(0); }
  void CloseB() { Close(1); }

 private:
  void Close(int i) {
    if (fds_[i] >= 0) ::close(fds_[i]);
    fds_[i] = -1;
  }
  int fds_[2] = {-1, -1};
};

std::vector<uint8_t> Pattern(size_t size) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(i * 31 + 7);
  return out;
}

TEST(FdIoTest, FramesCrossASocketPair) {
  SocketPair pair;
  const Frame request = MakeFrame(FrameType::kRequest, 1, Pattern(100), kFlagMore);
  const Frame blob = MakeFrame(FrameType::kBlob, 1, Pattern(3000));
  ASSERT_TRUE(WriteFrame(pair.a(), request, milliseconds(1000)).ok());
  ASSERT_TRUE(WriteFrame(pair.a(), blob, milliseconds(1000)).ok());
  auto first = ReadFrame(pair.b(), kDefaultFrameLimit, milliseconds(1000));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->header, request.header);
  EXPECT_EQ(first->payload, request.payload);
  auto second = ReadFrame(pair.b(), kDefaultFrameLimit, kNoTimeout);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->payload, blob.payload);
}

TEST(FdIoTest, LargeFrameLargerThanTheSocketBuffer) {
  SocketPair pair;
  const Frame big = MakeFrame(FrameType::kBlob, 2, Pattern(8 << 20));
  Status written;
  std::thread writer([&] { written = WriteFrame(pair.a(), big, milliseconds(10000)); });
  auto read = ReadFrame(pair.b(), kDefaultFrameLimit, milliseconds(10000));
  writer.join();
  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->payload, big.payload);
}

TEST(FdIoTest, ReadTimesOut) {
  SocketPair pair;
  const auto start = std::chrono::steady_clock::now();
  auto read = ReadFrame(pair.b(), kDefaultFrameLimit, milliseconds(50));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(read.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(read.status().message(), "reading frame header (0 of 24 bytes): timed out after 50 ms");
  EXPECT_GE(elapsed, milliseconds(45));
}

TEST(FdIoTest, ReadTimesOutInsideAPayload) {
  SocketPair pair;
  const auto bytes = EncodeFrame(MakeFrame(FrameType::kBlob, 3, Pattern(100)));
  ASSERT_TRUE(
      WriteAll(pair.a(), std::span<const uint8_t>(bytes).first(kHeaderSize + 40), milliseconds(100))
          .ok());
  auto read = ReadFrame(pair.b(), kDefaultFrameLimit, milliseconds(50));
  EXPECT_EQ(read.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(read.status().message(),
            "reading BLOB frame payload (40 of 100 bytes): timed out after 50 ms");
}

TEST(FdIoTest, PeerClosingAtABoundaryIsUnavailable) {
  SocketPair pair;
  pair.CloseA();
  auto read = ReadFrame(pair.b(), kDefaultFrameLimit, milliseconds(1000));
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(read.status().message(), "connection closed by peer");
}

TEST(FdIoTest, PeerClosingMidFrameIsDataLoss) {
  SocketPair pair;
  const auto bytes = EncodeFrame(MakeFrame(FrameType::kBlob, 3, Pattern(100)));
  ASSERT_TRUE(WriteAll(pair.a(), std::span<const uint8_t>(bytes).first(10), kNoTimeout).ok());
  pair.CloseA();
  auto read = ReadFrame(pair.b(), kDefaultFrameLimit, milliseconds(1000));
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(read.status().message(),
            "connection closed by peer while reading frame header (10 of 24 bytes)");
}

TEST(FdIoTest, OversizedFrameIsRefusedWithoutReadingItsPayload) {
  SocketPair pair;
  FrameHeader header;
  header.type = FrameType::kBlob;
  header.request_id = 1;
  header.payload_length = 1 << 20;
  const auto encoded = EncodeHeader(header);
  ASSERT_TRUE(WriteAll(pair.a(), encoded, kNoTimeout).ok());
  const std::vector<uint8_t> start_of_payload(500, 0xAB);
  ASSERT_TRUE(WriteAll(pair.a(), start_of_payload, kNoTimeout).ok());

  auto read = ReadFrame(pair.b(), kMinFrameLimit, milliseconds(1000));
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr("payload_length 1048576 exceeds the frame limit of 65536 bytes"));
  // The payload bytes are still in the socket, unread.
  std::vector<uint8_t> left(1000);
  EXPECT_EQ(::recv(pair.b(), left.data(), left.size(), MSG_DONTWAIT), 500);
}

TEST(FdIoTest, WritingToAClosedPeerIsUnavailableNotSigpipe) {
  SocketPair pair;
  pair.CloseB();
  const Status status =
      WriteFrame(pair.a(), MakeFrame(FrameType::kBlob, 1, Pattern(10)), milliseconds(1000));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("connection closed by peer"));
}

TEST(FdIoTest, WriteTimesOutWhenThePeerDoesNotRead) {
  SocketPair pair;
  const Status status =
      WriteFrame(pair.a(), MakeFrame(FrameType::kBlob, 1, Pattern(16 << 20)), milliseconds(50));
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(status.message()), HasSubstr("timed out after 50 ms"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("writing frames ("));
}

TEST(FdIoTest, WorksOverAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const Frame frame = MakeFrame(FrameType::kTensor, 4, Pattern(20000), kFlagMore);
  Status written;
  std::thread writer([&] { written = WriteFrame(fds[1], frame, milliseconds(5000)); });
  auto read = ReadFrame(fds[0], kDefaultFrameLimit, milliseconds(5000));
  writer.join();
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->payload, frame.payload);
}

TEST(FdIoTest, ClosedDescriptorIsInternal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  auto read = ReadFrame(fds[0], kDefaultFrameLimit, milliseconds(100));
  EXPECT_EQ(read.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace spk::protocol

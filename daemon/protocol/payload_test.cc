#include "daemon/protocol/payload.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/protocol/byte_io.h"

namespace spk::protocol {
namespace {

using ::testing::HasSubstr;

// Raw tensor bytes with an arbitrary header, for malformed cases.
std::vector<uint8_t> RawTensor(uint8_t dtype, std::vector<uint32_t> dims, size_t data_bytes,
                               uint16_t reserved = 0) {
  std::vector<uint8_t> out;
  internal::ByteWriter w(&out);
  w.U8(dtype);
  w.U8(static_cast<uint8_t>(dims.size()));
  w.U16(reserved);
  for (uint32_t d : dims) w.U32(d);
  out.resize(out.size() + data_bytes, 0);
  return out;
}

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_EQ(DTypeName(DType::kI16), "i16");
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(static_cast<DType>(0)), 0u);
  auto dtype = DTypeFromName("u8");
  ASSERT_TRUE(dtype.ok());
  EXPECT_EQ(*dtype, DType::kU8);
  EXPECT_EQ(DTypeFromName("f64").status().message(),
            "dtype 'f64' is unknown (known: u8, i8, i16, i32, f32)");
}

template <typename T>
void ExpectRoundTrip(std::vector<uint32_t> shape, std::vector<T> values) {
  const Tensor tensor = Tensor::FromValues<T>(shape, values);
  ASSERT_TRUE(tensor.Validate().ok()) << tensor.Validate();
  auto decoded = DecodeTensor(EncodeTensor(tensor));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, tensor);
  auto back = decoded->Values<T>();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, values);
}

TEST(TensorTest, RoundTripsEveryDType) {
  ExpectRoundTrip<uint8_t>({2, 2}, {0, 1, 200, 255});
  ExpectRoundTrip<int8_t>({3}, {-128, 0, 127});
  ExpectRoundTrip<int16_t>({1, 2}, {-300, 30000});
  ExpectRoundTrip<int32_t>({2, 1, 2}, {-1, 0, 1 << 30, -(1 << 30)});
  ExpectRoundTrip<float>({2}, {0.5f, -1e20f});
  ExpectRoundTrip<float>({}, {3.0f});       // scalar
  ExpectRoundTrip<int32_t>({4, 0, 2}, {});  // empty
}

TEST(TensorTest, EncodingIsCompact) {
  const std::vector<int8_t> values = {1, 2, 3, 4, 5, 6};
  const auto bytes = EncodeTensor(Tensor::FromValues<int8_t>({2, 3}, values));
  // 4 header bytes + 2 dims + 6 data bytes.
  EXPECT_EQ(bytes.size(), 4u + 8u + 6u);
  EXPECT_EQ(bytes[0], static_cast<uint8_t>(DType::kI8));
  EXPECT_EQ(bytes[1], 2);
}

TEST(TensorTest, Conversions) {
  const std::vector<int8_t> i8 = {-1, 5};
  EXPECT_EQ(*Tensor::FromValues<int8_t>({2}, i8).ToInt32(), (std::vector<int32_t>{-1, 5}));
  const std::vector<uint8_t> u8 = {255};
  EXPECT_EQ(*Tensor::FromValues<uint8_t>({1}, u8).ToInt32(), (std::vector<int32_t>{255}));
  const std::vector<int16_t> i16 = {-300};
  EXPECT_EQ(Tensor::FromValues<int16_t>({1}, i16).ToFloat(), (std::vector<float>{-300.0f}));
  const std::vector<float> f32 = {1.5f};
  const Tensor floats = Tensor::FromValues<float>({1}, f32);
  EXPECT_EQ(floats.ToFloat(), f32);
  EXPECT_EQ(floats.ToInt32().status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(floats.Values<int32_t>().status().message(), "tensor: dtype is f32, expected i32");
  EXPECT_EQ(DescribeShape(floats), "[1] f32");
}

TEST(TensorTest, MalformedPayloadsNameTheField) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* message;
  };
  std::vector<uint8_t> short_dims = RawTensor(4, {2, 3}, 0);
  short_dims.resize(4 + 6);
  const Case cases[] = {
      {{4, 1}, "tensor: payload is 2 bytes, shorter than the 4-byte tensor header"},
      {RawTensor(9, {1}, 1), "tensor: dtype 9 is unknown (known: 1 u8, 2 i8, 3 i16, 4 i32, 5 f32)"},
      {RawTensor(0, {1}, 1), "tensor: dtype 0 is unknown (known: 1 u8, 2 i8, 3 i16, 4 i32, 5 f32)"},
      {RawTensor(1, std::vector<uint32_t>(9, 1), 1), "tensor: rank 9 exceeds the maximum of 8"},
      {RawTensor(1, {1}, 1, 7), "tensor: reserved field must be 0, got 7"},
      {short_dims, "tensor: payload ends inside dims: rank 2 needs 8 bytes of dims, 6 present"},
      {RawTensor(4, {2, 3}, 20), "tensor: shape [2, 3] of i32 needs 24 data bytes, payload has 20"},
      {RawTensor(4, {2, 3}, 28), "tensor: shape [2, 3] of i32 needs 24 data bytes, payload has 28"},
      {RawTensor(1, {0, 5}, 1), "tensor: shape [0, 5] of u8 needs 0 data bytes, payload has 1"},
      {RawTensor(5, std::vector<uint32_t>(8, 0xFFFFFFFF), 4),
       "tensor: shape [4294967295, 4294967295, 4294967295, 4294967295, 4294967295, 4294967295, "
       "4294967295, 4294967295] of f32 is too large to address"},
      {RawTensor(2, {65536, 65536, 4096}, 16),
       "tensor: shape [65536, 65536, 4096] of i8 needs 17592186044416 data bytes, payload has "
       "16"},
      {RawTensor(4, {65536, 65536, 65536, 65536}, 16),
       "tensor: shape [65536, 65536, 65536, 65536] of i32 is too large to address"},
  };
  for (const Case& c : cases) {
    auto decoded = DecodeTensor(c.bytes);
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(decoded.status().message(), c.message);
  }
}

TEST(TensorTest, ValidateCatchesAnInconsistentValue) {
  Tensor tensor;
  tensor.dtype = DType::kI16;
  tensor.shape = {3};
  tensor.data = {1, 2, 3};
  EXPECT_EQ(tensor.Validate().message(),
            "tensor: shape [3] of i16 needs 6 data bytes, payload has 3");
}

TEST(SpikesTest, RoundTripsBinaryAndGraded) {
  SpikeEvents binary;
  binary.events = {{0, 3, 0}, {0, 7, 0}, {2, 1, 0}, {9, 4000000000u, 0}};
  auto decoded = DecodeSpikes(EncodeSpikes(binary));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, binary);
  EXPECT_EQ(EncodeSpikes(binary).size(), 8u + 4 * 8);

  SpikeEvents graded;
  graded.graded = true;
  graded.events = {{1, 2, -5}, {1, 3, 1 << 20}};
  auto graded_decoded = DecodeSpikes(EncodeSpikes(graded));
  ASSERT_TRUE(graded_decoded.ok()) << graded_decoded.status();
  EXPECT_EQ(*graded_decoded, graded);
  EXPECT_EQ(EncodeSpikes(graded).size(), 8u + 2 * 12);

  auto empty = DecodeSpikes(EncodeSpikes(SpikeEvents()));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->events.empty());
}

std::vector<uint8_t> RawSpikes(uint8_t kind, uint32_t count, std::vector<uint32_t> words,
                               uint8_t reserved = 0) {
  std::vector<uint8_t> out;
  internal::ByteWriter w(&out);
  w.U8(kind);
  w.U8(reserved);
  w.U16(0);
  w.U32(count);
  for (uint32_t word : words) w.U32(word);
  return out;
}

TEST(SpikesTest, MalformedPayloadsNameTheField) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* message;
  };
  const Case cases[] = {
      {{0, 0, 0}, "spikes: payload is 3 bytes, shorter than the 8-byte spikes header"},
      {RawSpikes(2, 0, {}), "spikes: kind 2 is unknown (known: 0 binary, 1 graded)"},
      {RawSpikes(0, 0, {}, 1), "spikes: reserved bytes must be 0"},
      {RawSpikes(0, 2, {0, 1}), "spikes: count 2 of binary events needs 16 bytes, payload has 8"},
      {RawSpikes(1, 1, {0, 1}), "spikes: count 1 of graded events needs 12 bytes, payload has 8"},
      {RawSpikes(0, 0xFFFFFFFF, {0, 1}),
       "spikes: count 4294967295 of binary events needs 34359738360 bytes, payload has 8"},
      {RawSpikes(0, 2, {5, 1, 4, 1}),
       "spikes: event 1 has timestep 4 after timestep 5; events must be sorted by timestep"},
  };
  for (const Case& c : cases) {
    auto decoded = DecodeSpikes(c.bytes);
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(decoded.status().message(), c.message);
  }
}

TEST(SpikesTest, CheckBoundsNamesEventAndPort) {
  SpikeEvents spikes;
  spikes.events = {{0, 3, 0}, {4, 1, 0}};
  EXPECT_TRUE(spikes.CheckBounds(5, 4, "image").ok());
  EXPECT_EQ(spikes.CheckBounds(4, 4, "image").message(),
            "spikes: event 1 has timestep 4, port 'image' takes 4 steps here");
  EXPECT_EQ(spikes.CheckBounds(5, 3, "image").message(),
            "spikes: event 0 has index 3, port 'image' has 3 neurons");
  SpikeEvents payload_on_binary;
  payload_on_binary.events = {{0, 0, 3}};
  EXPECT_EQ(payload_on_binary.Validate().message(),
            "spikes: event 0 has a payload but the events are not graded");
}

TEST(StreamChunkTest, RoundTripsTensorAndSpikes) {
  StreamChunk tensor_chunk;
  tensor_chunk.first_step = 1ull << 40;
  tensor_chunk.steps = 2;
  tensor_chunk.port = 3;
  const std::vector<uint8_t> values = {1, 0, 1, 1, 0, 0};
  tensor_chunk.body = Tensor::FromValues<uint8_t>({2, 3}, values);
  auto decoded = DecodeStreamChunk(EncodeStreamChunk(tensor_chunk));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, tensor_chunk);

  StreamChunk spike_chunk;
  spike_chunk.first_step = 10;
  spike_chunk.steps = 5;
  SpikeEvents spikes;
  spikes.events = {{0, 1, 0}, {4, 2, 0}};
  spike_chunk.body = spikes;
  auto spikes_decoded = DecodeStreamChunk(EncodeStreamChunk(spike_chunk));
  ASSERT_TRUE(spikes_decoded.ok()) << spikes_decoded.status();
  EXPECT_EQ(*spikes_decoded, spike_chunk);
}

std::vector<uint8_t> RawChunk(uint64_t first, uint32_t steps, uint8_t encoding,
                              const std::vector<uint8_t>& body, uint8_t reserved = 0) {
  std::vector<uint8_t> out;
  internal::ByteWriter w(&out);
  w.U64(first);
  w.U32(steps);
  w.U16(0);
  w.U8(encoding);
  w.U8(reserved);
  w.Bytes(body);
  return out;
}

TEST(StreamChunkTest, MalformedPayloadsNameTheField) {
  const std::vector<uint8_t> values = {1, 0, 1};
  const auto tensor_3 = EncodeTensor(Tensor::FromValues<uint8_t>({3}, values));
  SpikeEvents late;
  late.events = {{7, 0, 0}};
  struct Case {
    std::vector<uint8_t> bytes;
    const char* message;
  };
  const Case cases[] = {
      {std::vector<uint8_t>(15, 0),
       "stream chunk: payload is 15 bytes, shorter than the 16-byte chunk header"},
      {RawChunk(0, 3, 1, tensor_3, 1), "stream chunk: reserved byte must be 0"},
      {RawChunk(0, 3, 3, tensor_3),
       "stream chunk: encoding 3 is unknown (known: 1 tensor, 2 spikes)"},
      {RawChunk(0, 0, 1, tensor_3), "stream chunk: steps must be at least 1"},
      {RawChunk(~0ull, 3, 1, tensor_3), "stream chunk: first_step + steps overflows"},
      {RawChunk(0, 2, 1, tensor_3),
       "stream chunk: tensor shape [3] must have the step count 2 as its leading dimension"},
      {RawChunk(0, 3, 1, {9, 9}),
       "stream chunk: tensor: payload is 2 bytes, shorter than the 4-byte tensor header"},
      {RawChunk(0, 5, 2, EncodeSpikes(late)),
       "stream chunk: spike timestep 7 is outside the chunk's 5 steps"},
  };
  for (const Case& c : cases) {
    auto decoded = DecodeStreamChunk(c.bytes);
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(decoded.status().message(), c.message);
  }
}

TEST(CreditTest, RoundTripAndLength) {
  auto credit = DecodeCredit(EncodeCredit(70000));
  ASSERT_TRUE(credit.ok());
  EXPECT_EQ(*credit, 70000u);
  EXPECT_EQ(DecodeCredit(std::vector<uint8_t>{1, 2}).status().message(),
            "credit: payload must be 4 bytes, got 2");
}

}  // namespace
}  // namespace spk::protocol

#include "cli/spikectl/input.h"

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spk::spikectl {
namespace {

using protocol::DType;
using protocol::Tensor;

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

// An .npy file as numpy writes it: magic, version, header length, header.
std::vector<uint8_t> Npy(int major, const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const uint32_t len = static_cast<uint32_t>(header.size());
  out.push_back(len & 0xff);
  out.push_back((len >> 8) & 0xff);
  if (major >= 2) {
    out.push_back((len >> 16) & 0xff);
    out.push_back(len >> 24);
  }
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <typename T>
std::vector<uint8_t> Raw(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

TEST(NpyTest, Float32Version1) {
  auto t = ParseNpy(Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
                        Raw<float>({1, 2, 3, 4, 5, 6.5f})),
                    "x.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, DType::kF32);
  EXPECT_EQ(t->shape, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(t->ToFloat(), (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
}

TEST(NpyTest, Float64Version2BecomesF32) {
  auto t = ParseNpy(Npy(2, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3,)}",
                        Raw<double>({0.25, -1, 3})),
                    "x.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, DType::kF32);
  EXPECT_EQ(t->ToFloat(), (std::vector<float>{0.25f, -1, 3}));
}

TEST(NpyTest, IntegersAndBool) {
  auto u8 = ParseNpy(Npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", {7, 200}),
                     "u8.npy");
  ASSERT_TRUE(u8.ok()) << u8.status();
  EXPECT_EQ(u8->dtype, DType::kU8);
  auto b = ParseNpy(Npy(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", {0, 1, 5}),
                    "b.npy");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->data, (std::vector<uint8_t>{0, 1, 1}));
  auto i64 = ParseNpy(Npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                          Raw<int64_t>({-5, 70000})),
                      "i.npy");
  ASSERT_TRUE(i64.ok()) << i64.status();
  EXPECT_EQ(i64->dtype, DType::kI32);
  EXPECT_EQ(*i64->Values<int32_t>(), (std::vector<int32_t>{-5, 70000}));
  auto scalar = ParseNpy(
      Npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }", Raw<int32_t>({42})),
      "s.npy");
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_TRUE(scalar->shape.empty());
}

TEST(NpyTest, RefusesWhatItCannotRead) {
  const auto header = [](const std::string& descr, const std::string& fortran,
                         const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + "}";
  };
  EXPECT_EQ(ParseNpy(Bytes("PK\x03\x04 not numpy"), "a.npy").status().code(),
            StatusCode::kInvalidArgument);
  auto fortran = ParseNpy(Npy(1, header("<f4", "True", "(1,)"), Raw<float>({1})), "f.npy");
  EXPECT_NE(fortran.status().message().find("Fortran"), std::string::npos) << fortran.status();
  auto big = ParseNpy(Npy(1, header(">f4", "False", "(1,)"), Raw<float>({1})), "b.npy");
  EXPECT_NE(big.status().message().find("big-endian"), std::string::npos) << big.status();
  auto complex = ParseNpy(Npy(1, header("<c8", "False", "(1,)"), Raw<float>({1, 2})), "c.npy");
  EXPECT_NE(complex.status().message().find("not supported"), std::string::npos);
  auto short_data =
      ParseNpy(Npy(1, header("<f4", "False", "(2, 2)"), Raw<float>({1, 2, 3})), "s.npy");
  EXPECT_NE(short_data.status().message().find("needs 16 data bytes, file has 12"),
            std::string::npos)
      << short_data.status();
  auto huge =
      ParseNpy(Npy(1, header("<f4", "False", "(4294967295, 4294967295, 4294967295)"), {}), "h.npy");
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  auto too_big =
      ParseNpy(Npy(1, header("<i8", "False", "(1,)"), Raw<int64_t>({1ll << 40})), "i.npy");
  EXPECT_NE(too_big.status().message().find("does not fit"), std::string::npos);
  std::vector<uint8_t> truncated = Npy(1, header("<f4", "False", "(1,)"), {});
  truncated.resize(20);
  EXPECT_EQ(ParseNpy(truncated, "t.npy").status().code(), StatusCode::kInvalidArgument);
}

TEST(NpyTest, EncodeRoundTrips) {
  const std::vector<float> values = {1, 2, 3, 4};
  const Tensor t = Tensor::FromValues<float>({1, 4}, std::span<const float>(values));
  auto back = ParseNpy(EncodeNpy(t), "rt.npy");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, t);
  const std::vector<int16_t> one = {9};
  const Tensor v = Tensor::FromValues<int16_t>({1}, std::span<const int16_t>(one));
  auto back1 = ParseNpy(EncodeNpy(v), "rt1.npy");
  ASSERT_TRUE(back1.ok()) << back1.status();
  EXPECT_EQ(*back1, v);
}

TEST(JsonInputTest, NestedArrayAndObject) {
  auto t = ParseJsonTensor("[[0, 0.5], [1, true]]", "x.json");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (std::vector<uint32_t>{2, 2}));
  EXPECT_EQ(t->ToFloat(), (std::vector<float>{0, 0.5f, 1, 1}));
  auto o = ParseJsonTensor(R"({"shape": [1, 3], "dtype": "i16", "data": [1, -2, 3]})", "o.json");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->dtype, DType::kI16);
  EXPECT_EQ(o->shape, (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(*o->Values<int16_t>(), (std::vector<int16_t>{1, -2, 3}));
}

TEST(JsonInputTest, Errors) {
  EXPECT_NE(ParseJsonTensor("[[1, 2], [3]]", "r.json").status().message().find("ragged"),
            std::string::npos);
  EXPECT_NE(ParseJsonTensor("[1, \"a\"]", "s.json").status().message().find("expected numbers"),
            std::string::npos);
  EXPECT_NE(ParseJsonTensor("{\"shape\": [2], \"data\": [1, 2, 3]}", "c.json")
                .status()
                .message()
                .find("needs 2 values"),
            std::string::npos);
  EXPECT_NE(ParseJsonTensor("{\"dtype\": \"u8\", \"data\": [1.5]}", "d.json")
                .status()
                .message()
                .find("is not a u8"),
            std::string::npos);
  EXPECT_EQ(ParseJsonTensor("[1,", "bad.json").status().code(), StatusCode::kInvalidArgument);
}

TEST(RawInputTest, NeedsExactSize) {
  auto t = ParseRaw(Raw<int32_t>({1, 2, 3, 4}), DType::kI32, {2, 2}, "r.bin");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Values<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));
  auto bad = ParseRaw(Raw<int32_t>({1, 2, 3}), DType::kI32, {2, 2}, "r.bin");
  EXPECT_NE(bad.status().message().find("needs 16 bytes, file has 12"), std::string::npos)
      << bad.status();
}

TEST(ShapeTest, Forms) {
  EXPECT_EQ(*ParseShape("1,1,8,8"), (std::vector<uint32_t>{1, 1, 8, 8}));
  EXPECT_EQ(*ParseShape("[2, 3]"), (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(*ParseShape("28x28"), (std::vector<uint32_t>{28, 28}));
  EXPECT_FALSE(ParseShape("1,a").ok());
  EXPECT_FALSE(ParseShape("1,2,3,4,5,6,7,8,9").ok());
}

TEST(ReadInputTest, PicksFormatByExtensionAndReshapes) {
  const std::string dir = ::testing::TempDir();
  const std::string json = dir + "/in.json";
  std::ofstream(json) << "[1, 2, 3, 4]";
  InputSpec spec;
  spec.path = json;
  spec.shape = std::vector<uint32_t>{2, 2};
  auto t = ReadInput(spec);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (std::vector<uint32_t>{2, 2}));
  spec.shape = std::vector<uint32_t>{3};
  EXPECT_NE(ReadInput(spec).status().message().find("cannot reshape"), std::string::npos);

  const std::string raw = dir + "/in.bin";
  std::ofstream(raw, std::ios::binary) << "abcd";
  InputSpec r;
  r.path = raw;
  EXPECT_NE(ReadInput(r).status().message().find("--dtype and --shape"), std::string::npos);
  r.dtype = DType::kU8;
  r.shape = std::vector<uint32_t>{4};
  auto bytes = ReadInput(r);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->data, (std::vector<uint8_t>{'a', 'b', 'c', 'd'}));

  InputSpec missing;
  missing.path = dir + "/does-not-exist.npy";
  EXPECT_EQ(ReadInput(missing).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace spk::spikectl

#include "compiler/ir/types.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "compiler/ir/attributes.h"
#include "compiler/ir/constant.h"

namespace spk::compiler::ir {
namespace {

TEST(TypeTest, PrintsTimeAsLeadingT) {
  EXPECT_EQ(Type::Timed(ElementType::kSpike, {1, 128}).ToString(), "spike[T,1,128]");
  EXPECT_EQ(Type::Untimed(ElementType::kF32, {128, 64}).ToString(), "f32[128,64]");
  EXPECT_EQ(Type::Untimed(ElementType::kI8, {}).ToString(), "i8[]");
  EXPECT_EQ(Type::Timed(ElementType::kState, {}).ToString(), "state[T]");
}

TEST(TypeTest, RanksCountTimeOnlyInFullRank) {
  Type t = Type::Timed(ElementType::kGraded, {1, 4, 8});
  EXPECT_EQ(t.rank(), 3);
  EXPECT_EQ(t.full_rank(), 4);
  EXPECT_EQ(t.num_elements(), 32);
}

TEST(TypeTest, EqualityIncludesTimeAndElement) {
  EXPECT_EQ(Type::Timed(ElementType::kF32, {2}), Type::Timed(ElementType::kF32, {2}));
  EXPECT_NE(Type::Timed(ElementType::kF32, {2}), Type::Untimed(ElementType::kF32, {2}));
  EXPECT_NE(Type::Timed(ElementType::kF32, {2}), Type::Timed(ElementType::kSpike, {2}));
}

TEST(TypeTest, ElementNamesRoundTrip) {
  for (int i = 0; i < kNumElementTypes; ++i) {
    auto e = static_cast<ElementType>(i);
    EXPECT_EQ(ElementTypeFromName(ElementTypeName(e)), e);
  }
  EXPECT_FALSE(ElementTypeFromName("f64").has_value());
}

TEST(TypeTest, CheckedNumElementsRejectsOverflowAndNegatives) {
  EXPECT_EQ(CheckedNumElements({}), 1);
  EXPECT_EQ(CheckedNumElements({3, 0, 5}), 0);
  EXPECT_FALSE(CheckedNumElements({-1}).has_value());
  EXPECT_FALSE(CheckedNumElements({int64_t{1} << 30, int64_t{1} << 30}).has_value());
}

std::string Double(double v) {
  std::string s;
  AppendDouble(s, v);
  return s;
}
std::string Float(float v) {
  std::string s;
  AppendFloat(s, v);
  return s;
}

TEST(NumberFormatTest, FloatsAreShortestAndNeverLookLikeIntegers) {
  EXPECT_EQ(Double(2.0), "2.0");
  EXPECT_EQ(Double(0.1), "0.1");
  EXPECT_EQ(Double(1e-5), "1e-05");
  EXPECT_EQ(Double(-0.0), "-0.0");
  EXPECT_EQ(Double(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(Double(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(Double(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(Double(1e300), "1e+300");
  EXPECT_EQ(Float(0.1f), "0.1");
  EXPECT_EQ(Float(16777216.0f), "16777216.0");
  EXPECT_EQ(Float(std::numeric_limits<float>::denorm_min()), "1e-45");
}

TEST(AttrDictTest, KeepsNamesSortedAndUnique) {
  AttrDict d;
  d.Set("v_threshold", Attribute::Float(1.0));
  d.Set("tau", Attribute::Float(2.0));
  d.Set("tau", Attribute::Float(3.0));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.begin()->first, "tau");
  EXPECT_EQ(d.GetFloat("tau"), 3.0);
  EXPECT_FALSE(d.GetInt("tau").has_value());  // wrong kind reads as absent
  EXPECT_TRUE(d.Erase("tau"));
  EXPECT_FALSE(d.Erase("tau"));
  EXPECT_EQ(d.size(), 1u);
}

TEST(AttributeTest, FloatEqualityIsBitwise) {
  EXPECT_EQ(Attribute::Float(std::nan("")), Attribute::Float(std::nan("")));
  EXPECT_FALSE(Attribute::Float(0.0) == Attribute::Float(-0.0));
  EXPECT_FALSE(Attribute::Int(1) == Attribute::Float(1.0));
  EXPECT_EQ(Attribute::FloatList({0.5, -0.0}), Attribute::FloatList({0.5, -0.0}));
  EXPECT_FALSE(Attribute::String("w") == Attribute::Ref("w"));
}

TEST(TensorDataTest, TypedViewsAndWidening) {
  TensorData d(std::vector<int16_t>{-3, 7});
  EXPECT_EQ(d.element(), ElementType::kI16);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.GetAsInt(0), -3);
  EXPECT_EQ(d.GetAsDouble(1), 7.0);
  TensorData z = TensorData::Zeros(ElementType::kF32, 3);
  EXPECT_EQ(z.f32().size(), 3u);
  EXPECT_FALSE(TensorData(std::vector<float>{0.0f}) == TensorData(std::vector<float>{-0.0f}));
}

}  // namespace
}  // namespace spk::compiler::ir

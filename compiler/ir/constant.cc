#include "compiler/ir/constant.h"

#include <algorithm>
#include <bit>

#include "base/check.h"

namespace spk::compiler::ir {

TensorData TensorData::Zeros(ElementType type, size_t size) {
  switch (type) {
    case ElementType::kI8:
      return TensorData(std::vector<int8_t>(size));
    case ElementType::kI16:
      return TensorData(std::vector<int16_t>(size));
    case ElementType::kI32:
      return TensorData(std::vector<int32_t>(size));
    default:
      SPK_CHECK(type == ElementType::kF32) << "not a constant element type";
      return TensorData(std::vector<float>(size));
  }
}

ElementType TensorData::element() const {
  switch (rep_.index()) {
    case 1:
      return ElementType::kI8;
    case 2:
      return ElementType::kI16;
    case 3:
      return ElementType::kI32;
    default:
      return ElementType::kF32;
  }
}

size_t TensorData::size() const {
  return std::visit([](const auto& v) { return v.size(); }, rep_);
}

std::span<const float> TensorData::f32() const { return std::get<0>(rep_); }
std::span<const int8_t> TensorData::i8() const { return std::get<1>(rep_); }
std::span<const int16_t> TensorData::i16() const { return std::get<2>(rep_); }
std::span<const int32_t> TensorData::i32() const { return std::get<3>(rep_); }
std::span<float> TensorData::mutable_f32() { return std::get<0>(rep_); }
std::span<int8_t> TensorData::mutable_i8() { return std::get<1>(rep_); }
std::span<int16_t> TensorData::mutable_i16() { return std::get<2>(rep_); }
std::span<int32_t> TensorData::mutable_i32() { return std::get<3>(rep_); }

double TensorData::GetAsDouble(size_t i) const {
  return std::visit([i](const auto& v) { return static_cast<double>(v[i]); }, rep_);
}

int64_t TensorData::GetAsInt(size_t i) const {
  SPK_CHECK(rep_.index() != 0) << "GetAsInt on f32 data";
  return std::visit([i](const auto& v) { return static_cast<int64_t>(v[i]); }, rep_);
}

bool operator==(const TensorData& a, const TensorData& b) {
  if (a.rep_.index() != b.rep_.index()) return false;
  if (a.rep_.index() == 0) {
    auto x = a.f32();
    auto y = b.f32();
    return std::equal(x.begin(), x.end(), y.begin(), y.end(), [](float p, float q) {
      return std::bit_cast<uint32_t>(p) == std::bit_cast<uint32_t>(q);
    });
  }
  return a.rep_ == b.rep_;
}

}  // namespace spk::compiler::ir

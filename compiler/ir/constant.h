// Module-level constant tensors: weights, biases, BatchNorm statistics,
// quantized weights and sparse index arrays.
//
// A constant is named ("blocks.0.attn.q_linear.weight") and ops refer to it by
// that name through a constant-reference attribute, so large tensors are
// stored once, contiguously, and never copied by rewrites of the ops that use
// them. Data is row-major in one std::vector of the element type: float for
// f32, int8/int16/int32 for the integer types.
//
// Thread safety: plain values.
#ifndef SPK_COMPILER_IR_CONSTANT_H_
#define SPK_COMPILER_IR_CONSTANT_H_

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "compiler/ir/types.h"

namespace spk::compiler::ir {

class TensorData {
 public:
  TensorData() = default;  // empty f32
  explicit TensorData(std::vector<float> v) : rep_(std::move(v)) {}
  explicit TensorData(std::vector<int8_t> v) : rep_(std::move(v)) {}
  explicit TensorData(std::vector<int16_t> v) : rep_(std::move(v)) {}
  explicit TensorData(std::vector<int32_t> v) : rep_(std::move(v)) {}

  // Zero-filled data of a constant element type.
  static TensorData Zeros(ElementType type, size_t size);

  ElementType element() const;
  size_t size() const;

  // Typed views; the element type must match (checked).
  std::span<const float> f32() const;
  std::span<const int8_t> i8() const;
  std::span<const int16_t> i16() const;
  std::span<const int32_t> i32() const;
  std::span<float> mutable_f32();
  std::span<int8_t> mutable_i8();
  std::span<int16_t> mutable_i16();
  std::span<int32_t> mutable_i32();

  // Element i widened, for code that handles every element type alike.
  double GetAsDouble(size_t i) const;
  int64_t GetAsInt(size_t i) const;  // integer types only

  // Exact: floats compare by bits.
  friend bool operator==(const TensorData& a, const TensorData& b);

 private:
  std::variant<std::vector<float>, std::vector<int8_t>, std::vector<int16_t>, std::vector<int32_t>>
      rep_;
};

class Constant {
 public:
  // The type must be untimed with a constant element type, and the data must
  // match it; Module::AddConstant checks this for callers.
  Constant(std::string name, Type type, TensorData data)
      : name_(std::move(name)), type_(std::move(type)), data_(std::move(data)) {}

  const std::string& name() const { return name_; }
  const Type& type() const { return type_; }
  const TensorData& data() const { return data_; }
  TensorData& mutable_data() { return data_; }

 private:
  std::string name_;
  Type type_;
  TensorData data_;
};

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_CONSTANT_H_

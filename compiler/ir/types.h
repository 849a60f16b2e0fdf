// Value types of the spike IR.
//
// A type is an element kind plus a static shape. Values that change from one
// timestep to the next carry a leading time dimension, written `T`; its extent
// is the module's `timesteps` attribute, so passes never care how many steps
// there are. In memory the time dimension is a flag (`timed`) and `dims` holds
// the shape of one timestep:
//
//   spike[T,1,128]   timed:   binary spikes, per step a [1,128] tensor
//   f32[128,64]      untimed: a real tensor, e.g. a weight
//
// Element kinds:
//   spike   binary events (0/1)
//   graded  integer payloads: spike counts, synaptic currents, graded spikes
//   f32     real values: pre-neuron currents, float heads
//   state   neuron state read out as a value (membrane voltage)
//   i8, i16, i32  integer tensors (quantized weights, sparse indices)
//
// Thread safety: plain value.
#ifndef SPK_COMPILER_IR_TYPES_H_
#define SPK_COMPILER_IR_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spk::compiler::ir {

enum class ElementType : uint8_t { kSpike, kGraded, kF32, kState, kI8, kI16, kI32 };

inline constexpr int kNumElementTypes = 7;

std::string_view ElementTypeName(ElementType type);
std::optional<ElementType> ElementTypeFromName(std::string_view name);

// Element types that module-level constants may have.
inline bool IsConstantElementType(ElementType type) {
  return type == ElementType::kF32 || type == ElementType::kI8 || type == ElementType::kI16 ||
         type == ElementType::kI32;
}
inline bool IsIntegerTensorType(ElementType type) {
  return type == ElementType::kI8 || type == ElementType::kI16 || type == ElementType::kI32;
}

// Upper bound on elements of one tensor; larger shapes are rejected on input
// so that shape arithmetic cannot overflow.
inline constexpr int64_t kMaxElements = int64_t{1} << 40;

class Type {
 public:
  Type() = default;  // untimed f32 scalar
  Type(ElementType element, bool timed, std::vector<int64_t> dims)
      : element_(element), timed_(timed), dims_(std::move(dims)) {}

  static Type Timed(ElementType element, std::vector<int64_t> dims) {
    return Type(element, true, std::move(dims));
  }
  static Type Untimed(ElementType element, std::vector<int64_t> dims) {
    return Type(element, false, std::move(dims));
  }

  ElementType element() const { return element_; }
  bool timed() const { return timed_; }
  // Shape of one timestep (without T).
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t dim(int i) const { return dims_[static_cast<size_t>(i)]; }
  int rank() const { return static_cast<int>(dims_.size()); }
  // Rank including T: what a PyTorch dim index counts.
  int full_rank() const { return rank() + (timed_ ? 1 : 0); }
  // Elements of one timestep; saturates at kMaxElements + 1.
  int64_t num_elements() const;

  Type WithElement(ElementType element) const { return Type(element, timed_, dims_); }
  Type WithDims(std::vector<int64_t> dims) const { return Type(element_, timed_, std::move(dims)); }
  Type WithTimed(bool timed) const { return Type(element_, timed, dims_); }

  // "spike[T,1,128]", "f32[]".
  std::string ToString() const;

  friend bool operator==(const Type& a, const Type& b) = default;

 private:
  ElementType element_ = ElementType::kF32;
  bool timed_ = false;
  std::vector<int64_t> dims_;
};

// Product of dims; nullopt if any dim is negative or the product exceeds
// kMaxElements.
std::optional<int64_t> CheckedNumElements(const std::vector<int64_t>& dims);

// "[1,128]"
std::string FormatDims(const std::vector<int64_t>& dims);

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_TYPES_H_

#include "compiler/ir/types.h"

#include <array>

namespace spk::compiler::ir {
namespace {

constexpr std::array<std::string_view, kNumElementTypes> kElementNames = {
    "spike", "graded", "f32", "state", "i8", "i16", "i32"};

}  // namespace

std::string_view ElementTypeName(ElementType type) {
  return kElementNames[static_cast<size_t>(type)];
}

std::optional<ElementType> ElementTypeFromName(std::string_view name) {
  for (size_t i = 0; i < kElementNames.size(); ++i) {
    if (kElementNames[i] == name) return static_cast<ElementType>(i);
  }
  return std::nullopt;
}

std::optional<int64_t> CheckedNumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > kMaxElements) return std::nullopt;
    if (d != 0 && n > kMaxElements / d) return std::nullopt;
    n *= d;
  }
  return n;
}

int64_t Type::num_elements() const { return CheckedNumElements(dims_).value_or(kMaxElements + 1); }

std::string FormatDims(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

std::string Type::ToString() const {
  std::string out(ElementTypeName(element_));
  out += "[";
  if (timed_) out += dims_.empty() ? "T" : "T,";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(dims_[i]);
  }
  return out + "]";
}

}  // namespace spk::compiler::ir

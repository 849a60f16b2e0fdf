#include "compiler/ir/layout.h"

#include <utility>

namespace spk::compiler::ir {

std::vector<int> StepPermutation(const Operation& op) {
  return StepPermutation(op.operand(0)->type(), op.name(), op.attrs());
}

std::vector<int> StepPermutation(const Type& t, std::string_view kind, const AttrDict& attrs) {
  const int shift = t.timed() ? 1 : 0;
  const int r = t.full_rank();
  std::vector<int> perm(t.dims().size());
  for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int>(k);
  if (kind == "permute") {
    const auto* dims = attrs.GetIntList("dims");
    if (dims == nullptr) return perm;
    for (size_t k = shift; k < dims->size(); ++k) {
      perm[k - shift] = static_cast<int>(((*dims)[k] % r + r) % r) - shift;
    }
  } else if (kind == "transpose") {
    auto d0 = attrs.GetInt("dim0"), d1 = attrs.GetInt("dim1");
    const int a = static_cast<int>((*d0 + r) % r) - shift;
    const int b = static_cast<int>((*d1 + r) % r) - shift;
    std::swap(perm[a], perm[b]);
  }
  return perm;
}

bool IsIdentityPermutation(const std::vector<int>& perm) {
  for (size_t k = 0; k < perm.size(); ++k) {
    if (perm[k] != static_cast<int>(k)) return false;
  }
  return true;
}

std::vector<uint32_t> PermuteMap(const std::vector<int64_t>& in_dims,
                                 const std::vector<int>& perm) {
  const size_t rank = in_dims.size();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t k = rank; k-- > 1;) in_strides[k - 1] = in_strides[k] * in_dims[k];
  std::vector<int64_t> out_dims(rank);
  for (size_t k = 0; k < rank; ++k) out_dims[k] = in_dims[perm[k]];
  int64_t total = 1;
  for (int64_t d : out_dims) total *= d;
  std::vector<uint32_t> map(static_cast<size_t>(total));
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < total; ++o) {
    int64_t in = 0;
    for (size_t k = 0; k < rank; ++k) in += idx[k] * in_strides[perm[k]];
    map[static_cast<size_t>(o)] = static_cast<uint32_t>(in);
    for (size_t k = rank; k-- > 0;) {
      if (++idx[k] < out_dims[k]) break;
      idx[k] = 0;
    }
  }
  return map;
}

}  // namespace spk::compiler::ir

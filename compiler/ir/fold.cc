#include "compiler/ir/fold.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "compiler/ir/ops_util.h"

namespace spk::compiler::ir::internal {
namespace {

template <typename T>
std::vector<T> PermuteData(std::span<const T> in, const std::vector<int64_t>& in_dims,
                           const std::vector<int>& perm) {
  size_t rank = perm.size();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * in_dims[i];
  std::vector<int64_t> out_dims(rank), step(rank);
  for (size_t i = 0; i < rank; ++i) {
    out_dims[i] = in_dims[static_cast<size_t>(perm[i])];
    step[i] = in_strides[static_cast<size_t>(perm[i])];
  }
  std::vector<T> out(in.size());
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  for (size_t o = 0; o < out.size(); ++o) {
    out[o] = in[static_cast<size_t>(offset)];
    for (size_t a = rank; a-- > 0;) {
      if (++index[a] < out_dims[a]) {
        offset += step[a];
        break;
      }
      offset -= step[a] * (out_dims[a] - 1);
      index[a] = 0;
    }
  }
  return out;
}

// Walks a broadcast result in row-major order, calling fn(out_index,
// a_offset, b_offset).
template <typename Fn>
void ForEachBroadcast(const std::vector<int64_t>& out_dims, const std::vector<int64_t>& a_dims,
                      const std::vector<int64_t>& b_dims, Fn fn) {
  size_t rank = out_dims.size();
  auto strides = [&](const std::vector<int64_t>& dims) {
    std::vector<int64_t> s(rank, 0);
    int64_t stride = 1;
    for (size_t i = dims.size(); i-- > 0;) {
      size_t axis = rank - dims.size() + i;
      s[axis] = dims[i] == 1 ? 0 : stride;
      stride *= dims[i];
    }
    return s;
  };
  std::vector<int64_t> sa = strides(a_dims), sb = strides(b_dims);
  auto total = CheckedNumElements(out_dims).value_or(0);
  std::vector<int64_t> index(rank, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < total; ++o) {
    fn(static_cast<size_t>(o), static_cast<size_t>(oa), static_cast<size_t>(ob));
    for (size_t a = rank; a-- > 0;) {
      if (++index[a] < out_dims[a]) {
        oa += sa[a];
        ob += sb[a];
        break;
      }
      oa -= sa[a] * (out_dims[a] - 1);
      ob -= sb[a] * (out_dims[a] - 1);
      index[a] = 0;
    }
  }
}

template <typename FloatOp, typename IntOp>
StatusOr<TensorData> FoldBinary(const Operation& op, std::span<const Constant* const> operands,
                                FloatOp float_op, IntOp int_op) {
  const Type& out_type = op.result(0)->type();
  const Constant& a = *operands[0];
  const Constant& b = *operands[1];
  if (out_type.element() == ElementType::kF32) {
    std::vector<float> out(static_cast<size_t>(out_type.num_elements()));
    ForEachBroadcast(out_type.dims(), a.type().dims(), b.type().dims(),
                     [&](size_t o, size_t ia, size_t ib) {
                       out[o] = float_op(static_cast<float>(a.data().GetAsDouble(ia)),
                                         static_cast<float>(b.data().GetAsDouble(ib)));
                     });
    return TensorData(std::move(out));
  }
  if (out_type.element() != ElementType::kI32 || !IsIntegerTensorType(a.type().element()) ||
      !IsIntegerTensorType(b.type().element())) {
    return UnimplementedError("no fold for this element type");
  }
  std::vector<int32_t> out(static_cast<size_t>(out_type.num_elements()));
  bool overflow = false;
  ForEachBroadcast(
      out_type.dims(), a.type().dims(), b.type().dims(), [&](size_t o, size_t ia, size_t ib) {
        int64_t v = int_op(a.data().GetAsInt(ia), b.data().GetAsInt(ib));
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
          overflow = true;
        }
        out[o] = static_cast<int32_t>(v);
      });
  if (overflow) return UnimplementedError("result leaves the int32 range");
  return TensorData(std::move(out));
}

}  // namespace

TensorData PermuteTensor(const TensorData& in, const std::vector<int64_t>& in_dims,
                         const std::vector<int>& perm) {
  switch (in.element()) {
    case ElementType::kI8:
      return TensorData(PermuteData(in.i8(), in_dims, perm));
    case ElementType::kI16:
      return TensorData(PermuteData(in.i16(), in_dims, perm));
    case ElementType::kI32:
      return TensorData(PermuteData(in.i32(), in_dims, perm));
    default:
      return TensorData(PermuteData(in.f32(), in_dims, perm));
  }
}

StatusOr<TensorData> FoldSameData(const Operation& op, std::span<const Constant* const> operands) {
  if (operands[0]->type().element() != op.result(0)->type().element()) {
    return UnimplementedError("element type changes");
  }
  return operands[0]->data();
}

StatusOr<TensorData> FoldTranspose(const Operation& op, std::span<const Constant* const> operands) {
  const Type& in = operands[0]->type();
  int rank = in.rank();
  auto d0 = NormalizeDim(op.attrs().GetInt("dim0").value_or(0), rank);
  auto d1 = NormalizeDim(op.attrs().GetInt("dim1").value_or(0), rank);
  if (!d0 || !d1) return UnimplementedError("bad dims");
  std::vector<int> perm(static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = i;
  std::swap(perm[static_cast<size_t>(*d0)], perm[static_cast<size_t>(*d1)]);
  return PermuteTensor(operands[0]->data(), in.dims(), perm);
}

StatusOr<TensorData> FoldPermute(const Operation& op, std::span<const Constant* const> operands) {
  const Type& in = operands[0]->type();
  const std::vector<int64_t>* dims = op.attrs().GetIntList("dims");
  if (dims == nullptr || static_cast<int>(dims->size()) != in.rank()) {
    return UnimplementedError("bad dims");
  }
  std::vector<int> perm;
  for (int64_t d : *dims) {
    auto n = NormalizeDim(d, in.rank());
    if (!n) return UnimplementedError("bad dims");
    perm.push_back(*n);
  }
  return PermuteTensor(operands[0]->data(), in.dims(), perm);
}

StatusOr<TensorData> FoldMulScalar(const Operation& op, std::span<const Constant* const> operands) {
  auto scalar = op.attrs().GetFloat("scalar");
  if (!scalar || op.result(0)->type().element() != ElementType::kF32) {
    return UnimplementedError("not a float result");
  }
  auto s = static_cast<float>(*scalar);
  const TensorData& in = operands[0]->data();
  std::vector<float> out(in.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(in.GetAsDouble(i)) * s;
  return TensorData(std::move(out));
}

StatusOr<TensorData> FoldAdd(const Operation& op, std::span<const Constant* const> operands) {
  return FoldBinary(
      op, operands, [](float x, float y) { return x + y; },
      [](int64_t x, int64_t y) { return x + y; });
}

StatusOr<TensorData> FoldMul(const Operation& op, std::span<const Constant* const> operands) {
  return FoldBinary(
      op, operands, [](float x, float y) { return x * y; },
      [](int64_t x, int64_t y) { return x * y; });
}

}  // namespace spk::compiler::ir::internal

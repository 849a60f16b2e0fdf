#include "daemon/executor/host_ops.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include <nlohmann/json.hpp>

namespace spk::executor {
namespace {

using hal::format::HostSegment;
using hal::format::HostTensor;

std::string ShapeText(const std::vector<int64_t>& shape, bool timed) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k) {
    if (k) s += ",";
    s += (timed && k == 0) ? "T=" + std::to_string(shape[k]) : std::to_string(shape[k]);
  }
  return s + "]";
}

std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t k = shape.size(); k-- > 1;) strides[k - 1] = strides[k] * shape[k];
  return strides;
}

// Segment context for error messages.
class OpBase : public HostOp {
 protected:
  Status Error(const std::string& what) const {
    return InvalidArgumentError("host segment '" + name_ + "': " + what);
  }
};

StatusOr<nlohmann::json> ParseAttributes(const HostSegment& s) {
  if (s.attributes.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(s.attributes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("host segment '" + s.name + "': attributes are not a JSON object");
  }
  return j;
}

StatusOr<std::vector<int64_t>> IntList(const HostSegment& s, const nlohmann::json& attrs,
                                       const char* key) {
  if (!attrs.contains(key) || !attrs[key].is_array()) {
    return InvalidArgumentError("host segment '" + s.name + "': attribute '" + key +
                                "' must be a list of ints");
  }
  std::vector<int64_t> out;
  for (const auto& v : attrs[key]) {
    if (!v.is_number_integer()) {
      return InvalidArgumentError("host segment '" + s.name + "': attribute '" + key +
                                  "' must be a list of ints");
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

// Normalises a dim index against a rank (negative counts from the end).
StatusOr<int64_t> NormDim(int64_t d, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  if (d < 0) d += r;
  if (d < 0 || d >= r) return InvalidArgumentError("dim " + std::to_string(d) + " out of range");
  return d;
}

class LinearOp final : public OpBase {
 public:
  static StatusOr<std::unique_ptr<HostOp>> Make(const HostSegment& s) {
    auto op = std::make_unique<LinearOp>();
    op->name_ = s.name;
    const HostTensor* weight = nullptr;
    for (const auto& t : s.tensors) {
      if (t.name == "weight") weight = &t;
      if (t.name == "bias") op->bias_ = t.data;
    }
    if (weight == nullptr || weight->shape.size() != 2) {
      return op->Error("linear needs a 2-D tensor 'weight'");
    }
    op->out_ = weight->shape[0];
    op->in_ = weight->shape[1];
    if (weight->data.size() != static_cast<size_t>(op->out_ * op->in_)) {
      return op->Error("weight holds " + std::to_string(weight->data.size()) + " values, not " +
                       std::to_string(op->out_ * op->in_));
    }
    if (!op->bias_.empty() && op->bias_.size() != static_cast<size_t>(op->out_)) {
      return op->Error("bias has " + std::to_string(op->bias_.size()) + " values for " +
                       std::to_string(op->out_) + " outputs");
    }
    op->weight_ = weight->data;
    return std::unique_ptr<HostOp>(std::move(op));
  }

  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    const HostValue& x = *in[0];
    if (x.shape.empty() || x.shape.back() != in_) {
      return Error("linear over " + std::to_string(in_) + " features applied to " +
                   ShapeText(x.shape, x.timed));
    }
    HostValue y;
    y.timed = x.timed;
    y.shape = x.shape;
    y.shape.back() = out_;
    int64_t rows = x.num_elements() / in_;
    y.data.assign(static_cast<size_t>(rows * out_), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data.data() + r * in_;
      float* yr = y.data.data() + r * out_;
      for (int64_t o = 0; o < out_; ++o) {
        const float* w = weight_.data() + o * in_;
        float acc = bias_.empty() ? 0.0f : bias_[static_cast<size_t>(o)];
        for (int64_t i = 0; i < in_; ++i) acc += w[i] * xr[i];
        yr[o] = acc;
      }
    }
    return y;
  }

 private:
  int64_t in_ = 0, out_ = 0;
  std::vector<float> weight_, bias_;
};

// Broadcasting element-wise ops.
class BinaryOp final : public OpBase {
 public:
  BinaryOp(std::string name, bool mul) : mul_(mul) { name_ = std::move(name); }

  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    const HostValue& a = *in[0];
    const HostValue& b = *in[1];
    size_t rank = std::max(a.shape.size(), b.shape.size());
    auto padded = [&](const HostValue& v) {
      std::vector<int64_t> s(rank - v.shape.size(), 1);
      s.insert(s.end(), v.shape.begin(), v.shape.end());
      return s;
    };
    std::vector<int64_t> sa = padded(a), sb = padded(b), out(rank);
    for (size_t k = 0; k < rank; ++k) {
      if (sa[k] != sb[k] && sa[k] != 1 && sb[k] != 1) {
        return Error("shapes " + ShapeText(a.shape, a.timed) + " and " +
                     ShapeText(b.shape, b.timed) + " do not broadcast");
      }
      out[k] = std::max(sa[k], sb[k]);
    }
    HostValue y;
    y.timed = a.timed || b.timed;
    y.shape = out;
    y.data.resize(static_cast<size_t>(y.num_elements()));
    auto st_a = Strides(sa), st_b = Strides(sb), st_o = Strides(out);
    for (int64_t i = 0; i < y.num_elements(); ++i) {
      int64_t ia = 0, ib = 0, rem = i;
      for (size_t k = 0; k < rank; ++k) {
        int64_t c = rem / st_o[k];
        rem %= st_o[k];
        if (sa[k] != 1) ia += c * st_a[k];
        if (sb[k] != 1) ib += c * st_b[k];
      }
      float x = a.data[static_cast<size_t>(ia)], z = b.data[static_cast<size_t>(ib)];
      y.data[static_cast<size_t>(i)] = mul_ ? x * z : x + z;
    }
    return y;
  }

 private:
  bool mul_;
};

class MulScalarOp final : public OpBase {
 public:
  MulScalarOp(std::string name, float scalar) : scalar_(scalar) { name_ = std::move(name); }
  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    HostValue y = *in[0];
    for (float& v : y.data) v *= scalar_;
    return y;
  }

 private:
  float scalar_;
};

class ReduceOp final : public OpBase {
 public:
  ReduceOp(std::string name, std::vector<int64_t> dims, bool keepdim, bool mean)
      : dims_(std::move(dims)), keepdim_(keepdim), mean_(mean) {
    name_ = std::move(name);
  }

  bool pointwise_in_time() const override {
    return std::find(dims_.begin(), dims_.end(), 0) == dims_.end();
  }

  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    const HostValue& x = *in[0];
    std::vector<bool> reduce(x.shape.size(), false);
    for (int64_t d : dims_) {
      auto nd = NormDim(d, x.shape.size());
      if (!nd.ok()) return Error(std::string(nd.status().message()));
      reduce[static_cast<size_t>(*nd)] = true;
    }
    HostValue y;
    y.timed = x.timed && !reduce[0];
    std::vector<int64_t> kept_shape;
    for (size_t k = 0; k < x.shape.size(); ++k) {
      if (!reduce[k]) {
        y.shape.push_back(x.shape[k]);
        kept_shape.push_back(x.shape[k]);
      } else {
        kept_shape.push_back(1);
        if (keepdim_) y.shape.push_back(1);
      }
    }
    int64_t out_n =
        std::accumulate(kept_shape.begin(), kept_shape.end(), int64_t{1}, std::multiplies<>());
    y.data.assign(static_cast<size_t>(out_n), 0.0f);
    auto st_x = Strides(x.shape), st_o = Strides(kept_shape);
    int64_t count = x.num_elements() / std::max<int64_t>(out_n, 1);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      int64_t o = 0, rem = i;
      for (size_t k = 0; k < x.shape.size(); ++k) {
        int64_t c = rem / st_x[k];
        rem %= st_x[k];
        if (!reduce[k]) o += c * st_o[k];
      }
      y.data[static_cast<size_t>(o)] += x.data[static_cast<size_t>(i)];
    }
    if (mean_ && count > 0) {
      for (float& v : y.data) v /= static_cast<float>(count);
    }
    return y;
  }

 private:
  std::vector<int64_t> dims_;
  bool keepdim_;
  bool mean_;
};

class ReshapeOp final : public OpBase {
 public:
  ReshapeOp(std::string name, std::vector<int64_t> shape) : shape_(std::move(shape)) {
    name_ = std::move(name);
  }
  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    const HostValue& x = *in[0];
    HostValue y;
    y.timed = x.timed;
    if (x.timed) y.shape.push_back(x.shape[0]);
    y.shape.insert(y.shape.end(), shape_.begin(), shape_.end());
    if (y.num_elements() != x.num_elements()) {
      return Error("cannot reshape " + ShapeText(x.shape, x.timed) + " to per-step " +
                   ShapeText(shape_, false));
    }
    y.data = x.data;
    return y;
  }

 private:
  std::vector<int64_t> shape_;
};

class PermuteOp final : public OpBase {
 public:
  PermuteOp(std::string name, std::vector<int64_t> dims) : dims_(std::move(dims)) {
    name_ = std::move(name);
  }
  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    const HostValue& x = *in[0];
    if (dims_.size() != x.shape.size()) {
      return Error("permute of " + std::to_string(dims_.size()) + " dims applied to " +
                   ShapeText(x.shape, x.timed));
    }
    std::vector<int64_t> perm;
    std::vector<bool> used(x.shape.size(), false);
    for (int64_t d : dims_) {
      auto nd = NormDim(d, x.shape.size());
      if (!nd.ok() || used[static_cast<size_t>(*nd)]) return Error("dims are not a permutation");
      used[static_cast<size_t>(*nd)] = true;
      perm.push_back(*nd);
    }
    if (x.timed && perm[0] != 0) return Error("permute may not move T");
    HostValue y;
    y.timed = x.timed;
    for (int64_t p : perm) y.shape.push_back(x.shape[static_cast<size_t>(p)]);
    y.data.resize(x.data.size());
    auto st_x = Strides(x.shape), st_y = Strides(y.shape);
    for (int64_t i = 0; i < y.num_elements(); ++i) {
      int64_t src = 0, rem = i;
      for (size_t k = 0; k < y.shape.size(); ++k) {
        int64_t c = rem / st_y[k];
        rem %= st_y[k];
        src += c * st_x[static_cast<size_t>(perm[k])];
      }
      y.data[static_cast<size_t>(i)] = x.data[static_cast<size_t>(src)];
    }
    return y;
  }

 private:
  std::vector<int64_t> dims_;
};

class MatmulOp final : public OpBase {
 public:
  MatmulOp(std::string name, bool transpose_b, float scale)
      : transpose_b_(transpose_b), scale_(scale) {
    name_ = std::move(name);
  }
  StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
    const HostValue& a = *in[0];
    const HostValue& b = *in[1];
    if (a.shape.size() < 2 || a.shape.size() != b.shape.size()) {
      return Error("matmul needs two tensors of equal rank >= 2, got " +
                   ShapeText(a.shape, a.timed) + " and " + ShapeText(b.shape, b.timed));
    }
    size_t r = a.shape.size();
    int64_t m = a.shape[r - 2], k = a.shape[r - 1];
    int64_t kb = transpose_b_ ? b.shape[r - 1] : b.shape[r - 2];
    int64_t n = transpose_b_ ? b.shape[r - 2] : b.shape[r - 1];
    if (k != kb || !std::equal(a.shape.begin(), a.shape.end() - 2, b.shape.begin())) {
      return Error("matmul of " + ShapeText(a.shape, a.timed) + " and " +
                   ShapeText(b.shape, b.timed) + " does not fit");
    }
    HostValue y;
    y.timed = a.timed || b.timed;
    y.shape.assign(a.shape.begin(), a.shape.end() - 2);
    y.shape.push_back(m);
    y.shape.push_back(n);
    int64_t batch = a.num_elements() / (m * k);
    y.data.assign(static_cast<size_t>(batch * m * n), 0.0f);
    for (int64_t bi = 0; bi < batch; ++bi) {
      const float* pa = a.data.data() + bi * m * k;
      const float* pb = b.data.data() + bi * k * n;
      float* py = y.data.data() + bi * m * n;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t kk = 0; kk < k; ++kk) {
          float av = pa[i * k + kk];
          if (av == 0.0f) continue;  // spikes are mostly zero
          for (int64_t j = 0; j < n; ++j) {
            py[i * n + j] += av * (transpose_b_ ? pb[j * k + kk] : pb[kk * n + j]);
          }
        }
      }
    }
    if (scale_ != 1.0f) {
      for (float& v : y.data) v *= scale_;
    }
    return y;
  }

 private:
  bool transpose_b_;
  float scale_;
};

}  // namespace

int64_t HostValue::num_elements() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

HostValue HostValue::Step(int64_t t) const {
  HostValue v;
  v.timed = true;
  v.shape = shape;
  v.shape[0] = 1;
  int64_t n = v.num_elements();
  v.data.assign(data.begin() + t * n, data.begin() + (t + 1) * n);
  return v;
}

StatusOr<std::unique_ptr<HostOp>> HostOp::Create(const HostSegment& s) {
  SPK_ASSIGN_OR_RETURN(nlohmann::json attrs, ParseAttributes(s));
  auto arity = [&](size_t n) -> Status {
    if (s.inputs.size() != n || s.outputs.size() != 1) {
      return InvalidArgumentError("host segment '" + s.name + "': " + s.op + " takes " +
                                  std::to_string(n) + " input(s) and 1 output, has " +
                                  std::to_string(s.inputs.size()) + " and " +
                                  std::to_string(s.outputs.size()));
    }
    return Status();
  };
  auto number = [&](const char* key, double dflt) -> StatusOr<double> {
    if (!attrs.contains(key)) return dflt;
    if (!attrs[key].is_number()) {
      return InvalidArgumentError("host segment '" + s.name + "': attribute '" + key +
                                  "' must be a number");
    }
    return attrs[key].get<double>();
  };
  auto flag = [&](const char* key) {
    return attrs.contains(key) && attrs[key].is_boolean() && attrs[key].get<bool>();
  };
  if (s.op == "linear") {
    SPK_RETURN_IF_ERROR(arity(1));
    return LinearOp::Make(s);
  }
  if (s.op == "add" || s.op == "mul") {
    SPK_RETURN_IF_ERROR(arity(2));
    return std::unique_ptr<HostOp>(std::make_unique<BinaryOp>(s.name, s.op == "mul"));
  }
  if (s.op == "mul_scalar") {
    SPK_RETURN_IF_ERROR(arity(1));
    SPK_ASSIGN_OR_RETURN(double scalar, number("scalar", 1.0));
    return std::unique_ptr<HostOp>(
        std::make_unique<MulScalarOp>(s.name, static_cast<float>(scalar)));
  }
  if (s.op == "sum" || s.op == "mean") {
    SPK_RETURN_IF_ERROR(arity(1));
    SPK_ASSIGN_OR_RETURN(auto dims, IntList(s, attrs, "dims"));
    return std::unique_ptr<HostOp>(
        std::make_unique<ReduceOp>(s.name, std::move(dims), flag("keepdim"), s.op == "mean"));
  }
  if (s.op == "reshape") {
    SPK_RETURN_IF_ERROR(arity(1));
    SPK_ASSIGN_OR_RETURN(auto shape, IntList(s, attrs, "shape"));
    return std::unique_ptr<HostOp>(std::make_unique<ReshapeOp>(s.name, std::move(shape)));
  }
  if (s.op == "permute") {
    SPK_RETURN_IF_ERROR(arity(1));
    SPK_ASSIGN_OR_RETURN(auto dims, IntList(s, attrs, "dims"));
    return std::unique_ptr<HostOp>(std::make_unique<PermuteOp>(s.name, std::move(dims)));
  }
  if (s.op == "transpose") {
    SPK_RETURN_IF_ERROR(arity(1));
    if (!attrs.contains("dim0") || !attrs.contains("dim1") || !attrs["dim0"].is_number_integer() ||
        !attrs["dim1"].is_number_integer()) {
      return InvalidArgumentError("host segment '" + s.name + "': transpose needs int dim0, dim1");
    }
    // Expressed as a permutation once the rank is known: stored as a swap.
    int64_t d0 = attrs["dim0"].get<int64_t>(), d1 = attrs["dim1"].get<int64_t>();
    class TransposeOp final : public OpBase {
     public:
      TransposeOp(std::string name, int64_t d0, int64_t d1) : d0_(d0), d1_(d1) {
        name_ = std::move(name);
      }
      StatusOr<HostValue> Apply(std::span<const HostValue* const> in) const override {
        size_t rank = in[0]->shape.size();
        auto a = NormDim(d0_, rank);
        auto b = NormDim(d1_, rank);
        if (!a.ok() || !b.ok()) return Error("transpose dims out of range");
        std::vector<int64_t> perm(rank);
        std::iota(perm.begin(), perm.end(), 0);
        std::swap(perm[static_cast<size_t>(*a)], perm[static_cast<size_t>(*b)]);
        return PermuteOp(name_, perm).Apply(in);
      }

     private:
      int64_t d0_, d1_;
    };
    return std::unique_ptr<HostOp>(std::make_unique<TransposeOp>(s.name, d0, d1));
  }
  if (s.op == "matmul") {
    SPK_RETURN_IF_ERROR(arity(2));
    SPK_ASSIGN_OR_RETURN(double scale, number("scale", 1.0));
    return std::unique_ptr<HostOp>(
        std::make_unique<MatmulOp>(s.name, flag("transpose_b"), static_cast<float>(scale)));
  }
  return InvalidArgumentError("host segment '" + s.name + "': unknown op '" + s.op +
                              "' (this runtime knows linear, matmul, add, mul, mul_scalar, sum, "
                              "mean, reshape, permute, transpose)");
}

}  // namespace spk::executor

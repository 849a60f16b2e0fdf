#include "compiler/lowering/reference.h"

#include <algorithm>
#include <cmath>

namespace spk::compiler::lowering {
namespace {

using Steps = std::vector<std::vector<double>>;

int64_t ShiftExp(int64_t sum, int64_t e) {
  if (e >= 0) return sum * (int64_t{1} << e);
  return sum >> -e;  // arithmetic: floors
}

int64_t TruncMul(int64_t x, int64_t factor) {  // sign(x*f) * (|x*f| >> 12)
  int64_t t = x * factor;
  return t < 0 ? -((-t) >> 12) : t >> 12;
}

}  // namespace

StatusOr<ReferenceTrace> RunReference(const ir::Module& module,
                                      const std::map<std::string, std::vector<float>>& inputs,
                                      int64_t steps) {
  ReferenceTrace trace;
  auto& vals = trace.values;
  const auto n_steps = static_cast<size_t>(steps);
  for (const auto& owned : module.ops()) {
    const ir::Operation& op = *owned;
    const std::string& n = op.name();
    if (n == "output") continue;
    const ir::AttrDict& a = op.attrs();
    auto weights = [&](const char* name) -> const ir::Constant* {
      const std::string* ref = a.GetRef(name);
      return ref == nullptr ? nullptr : module.FindConstant(*ref);
    };
    Steps out(n_steps);
    const size_t size = static_cast<size_t>(op.result(0)->type().num_elements());
    if (n == "input") {
      auto it = inputs.find(*a.GetString("name"));
      if (it == inputs.end() || it->second.size() != size) {
        return InvalidArgumentError("reference: no data of the right size for input '" +
                                    *a.GetString("name") + "'");
      }
      double scale = a.GetFloat("scale").value_or(0.0);
      std::vector<double> x(it->second.begin(), it->second.end());
      if (op.result(0)->type().element() == ir::ElementType::kGraded && scale > 0) {
        for (double& v : x) v = std::round(v * scale);
      }
      for (auto& s : out) s = x;
    } else if (n == "repeat_t" || n == "reshape" || n == "flatten") {
      out = vals.at(op.operand(0));
    } else if (n == "add") {
      const Steps& x = vals.at(op.operand(0));
      const Steps& y = vals.at(op.operand(1));
      for (size_t t = 0; t < n_steps; ++t) {
        if (x[t].size() != size || y[t].size() != size) {
          return UnimplementedError("reference: add with broadcasting");
        }
        out[t].resize(size);
        for (size_t i = 0; i < size; ++i) out[t][i] = x[t][i] + y[t][i];
        // A sum of currents into one group saturates like a_in.
        if (op.operand(0)->type().element() == ir::ElementType::kGraded &&
            op.operand(0)->def()->name().starts_with("syn_")) {
          for (double& v : out[t]) v = std::clamp(v, -32768.0, 32767.0);
        }
      }
    } else if (n == "linear" || n == "syn_dense") {
      const ir::Constant* w = weights("weight");
      const ir::Constant* b = weights("bias");
      const auto rows = static_cast<size_t>(w->type().dim(0));
      const auto cols = static_cast<size_t>(w->type().dim(1));
      const int64_t e = a.GetInt("weight_exp").value_or(0);
      const auto delay = static_cast<size_t>(a.GetInt("delay").value_or(0));
      const Steps& x = vals.at(op.operand(0));
      for (size_t t = 0; t < n_steps; ++t) {
        out[t].assign(size, 0.0);
        const bool syn = n == "syn_dense";
        if (syn && t < 1 + delay) continue;
        const std::vector<double>& in = x[syn ? t - 1 - delay : t];
        for (size_t base = 0, ob = 0; base < in.size(); base += cols, ob += rows) {
          for (size_t o = 0; o < rows; ++o) {
            if (syn) {
              int64_t acc = 0;
              for (size_t i = 0; i < cols; ++i) {
                acc += w->data().GetAsInt(o * cols + i) * static_cast<int64_t>(in[base + i]);
              }
              out[t][ob + o] = static_cast<double>(ShiftExp(acc, e));
            } else {
              float acc = 0;  // float32, as PyTorch
              for (size_t i = 0; i < cols; ++i) {
                acc += w->data().f32()[o * cols + i] * static_cast<float>(in[base + i]);
              }
              if (b != nullptr) acc += b->data().f32()[o];
              out[t][ob + o] = acc;
            }
          }
        }
        if (syn) {
          for (double& v : out[t]) v = std::clamp(v, -32768.0, 32767.0);
        }
      }
    } else if (n == "lif" || n == "if_neuron") {
      const Steps& x = vals.at(op.operand(0));
      auto tau = static_cast<float>(a.GetFloat("tau").value_or(1.0));
      auto vth = static_cast<float>(*a.GetFloat("v_threshold"));
      bool decay_input = a.GetBool("decay_input").value_or(true);
      std::vector<float> v(size, 0.0f);
      for (size_t t = 0; t < n_steps; ++t) {
        out[t].resize(size);
        for (size_t i = 0; i < size; ++i) {
          auto xi = static_cast<float>(x[t][i]);
          float h = n == "if_neuron" ? v[i] + xi
                    : decay_input    ? v[i] + (xi - v[i]) / tau
                                     : v[i] - v[i] / tau + xi;
          bool s = h >= vth;
          out[t][i] = s ? 1.0 : 0.0;
          v[i] = s ? 0.0f : h;
        }
      }
    } else if (n == "cuba_lif") {
      const Steps& x = vals.at(op.operand(0));
      const int64_t du = *a.GetInt("du"), dv = *a.GetInt("dv"), vth = *a.GetInt("vth");
      const int64_t bexp = a.GetInt("bias_exp").value_or(0);
      const ir::Constant* bm = weights("bias_mant");
      std::vector<int64_t> u(size, 0), v(size, 0);
      constexpr int64_t kVMax = (int64_t{1} << 23) - 1;
      for (size_t t = 0; t < n_steps; ++t) {
        out[t].resize(size);
        for (size_t i = 0; i < size; ++i) {
          int64_t b = bm == nullptr ? 0 : bm->data().GetAsInt(i);
          b = bexp >= 0 ? b * (int64_t{1} << bexp) : b >> -bexp;
          auto ain = static_cast<int64_t>(std::clamp(x[t][i], -32768.0, 32767.0));
          u[i] = TruncMul(u[i], 4096 - (du + 1)) + ain * 64;
          if (u[i] > (int64_t{1} << 23)) {
            u[i] -= int64_t{1} << 24;
          } else if (u[i] <= -(int64_t{1} << 23)) {
            u[i] += int64_t{1} << 24;
          }
          v[i] = std::clamp(TruncMul(v[i], 4096 - dv) + u[i] + b, -kVMax, kVMax);
          bool s = v[i] > vth * 64;
          out[t][i] = s ? 1.0 : 0.0;
          if (s) v[i] = 0;
        }
      }
    } else {
      return UnimplementedError("reference: op '" + n + "' is not supported");
    }
    vals[op.result(0)] = std::move(out);
  }
  return trace;
}

}  // namespace spk::compiler::lowering

#include "compiler/lowering/reference.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "compiler/ir/layout.h"

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

// For each element of `out` (NumPy broadcasting), the element of `in` it reads.
std::vector<size_t> BroadcastIndex(const std::vector<int64_t>& in,
                                   const std::vector<int64_t>& out) {
  size_t n = 1;
  for (int64_t d : out) n *= static_cast<size_t>(d);
  std::vector<size_t> src(n);
  std::vector<int64_t> idx(out.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    size_t from = 0;
    for (size_t a = 0; a < in.size(); ++a) {
      const size_t r = out.size() - in.size() + a;
      from = from * static_cast<size_t>(in[a]) + static_cast<size_t>(in[a] == 1 ? 0 : idx[r]);
    }
    src[i] = from;
    for (size_t k = out.size(); k-- > 0;) {
      if (++idx[k] < out[k]) break;
      idx[k] = 0;
    }
  }
  return src;
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
    // Host layout ops (an output reading a neuron through them) compute what
    // their frontend namesakes do.
    const std::string* host_op = op.name() == "host" ? op.attrs().GetString("op") : nullptr;
    const bool host_layout =
        host_op != nullptr &&
        (*host_op == "reshape" || *host_op == "transpose" || *host_op == "permute");
    const std::string& n = host_layout ? *host_op : op.name();
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
      const bool per_step = it != inputs.end() && op.result(0)->type().timed() &&
                            it->second.size() == size * n_steps && n_steps > 1;
      if (it == inputs.end() || (it->second.size() != size && !per_step)) {
        return InvalidArgumentError("reference: no data of the right size for input '" +
                                    *a.GetString("name") + "'");
      }
      double scale = a.GetFloat("scale").value_or(0.0);
      for (size_t t = 0; t < n_steps; ++t) {
        const auto first = it->second.begin() + static_cast<ptrdiff_t>(per_step ? t * size : 0);
        out[t].assign(first, first + static_cast<ptrdiff_t>(size));
        if (op.result(0)->type().element() == ir::ElementType::kGraded && scale > 0) {
          for (double& v : out[t]) v = std::round(v * scale);
        }
      }
    } else if (n == "repeat_t" || n == "reshape" || n == "flatten") {
      out = vals.at(op.operand(0));
    } else if (n == "transpose" || n == "permute") {
      const ir::Type& in = op.operand(0)->type();
      const std::vector<uint32_t> src = ir::PermuteMap(in.dims(), ir::StepPermutation(in, n, a));
      const Steps& x = vals.at(op.operand(0));
      for (size_t t2 = 0; t2 < n_steps; ++t2) {
        out[t2].resize(size);
        for (size_t i = 0; i < size; ++i) out[t2][i] = x[t2][src[i]];
      }
    } else if (n == "mul_scalar") {
      const auto s = static_cast<float>(*a.GetFloat("scalar"));
      out = vals.at(op.operand(0));
      for (auto& step : out) {
        for (double& v : step) v = static_cast<float>(v) * s;  // float32, as PyTorch
      }
    } else if (n == "matmul") {
      // Batch dims equal (no broadcasting); float32 accumulation.
      const auto& ad = op.operand(0)->type().dims();
      const auto& bd = op.operand(1)->type().dims();
      const bool tb = a.GetBool("transpose_b").value_or(false);
      const size_t r = ad.size();
      if (r < 2 || bd.size() != r) return UnimplementedError("reference: matmul broadcasting");
      const auto M = static_cast<size_t>(ad[r - 2]), K = static_cast<size_t>(ad[r - 1]);
      const auto N = static_cast<size_t>(tb ? bd[r - 2] : bd[r - 1]);
      const size_t batches = size / (M * N);
      const Steps& x = vals.at(op.operand(0));
      const Steps& y = vals.at(op.operand(1));
      for (size_t t = 0; t < n_steps; ++t) {
        out[t].assign(size, 0.0);
        for (size_t bi = 0; bi < batches; ++bi) {
          for (size_t i = 0; i < M; ++i) {
            for (size_t j = 0; j < N; ++j) {
              float acc = 0;
              for (size_t k = 0; k < K; ++k) {
                const double yv = tb ? y[t][bi * N * K + j * K + k] : y[t][bi * K * N + k * N + j];
                acc += static_cast<float>(x[t][bi * M * K + i * K + k]) * static_cast<float>(yv);
              }
              out[t][bi * M * N + i * N + j] = acc;
            }
          }
        }
      }
    } else if (n == "and2") {
      // Each port through a weight-1 table (one step, plus its `delays`).
      const auto* delays = a.GetIntList("delays");
      std::vector<std::vector<size_t>> src;
      for (size_t k = 0; k < 2; ++k) {
        src.push_back(BroadcastIndex(op.operand(k)->type().dims(), op.result(0)->type().dims()));
      }
      for (size_t t = 0; t < n_steps; ++t) {
        out[t].assign(size, 0.0);
        bool live = true;
        std::vector<const std::vector<double>*> in(2);
        for (size_t k = 0; k < 2; ++k) {
          const size_t lag = 1 + static_cast<size_t>(delays ? (*delays)[k] : 0);
          live = live && t >= lag;
          if (live) in[k] = &vals.at(op.operand(k))[t - lag];
        }
        if (!live) continue;
        for (size_t i = 0; i < size; ++i) {
          out[t][i] = ((*in[0])[src[0][i]] != 0 && (*in[1])[src[1][i]] != 0) ? 1.0 : 0.0;
        }
      }
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

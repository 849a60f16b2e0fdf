#include "compiler/lowering/compose.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "compiler/ir/layout.h"
#include "compiler/lowering/lowering.h"

namespace spk::compiler::lowering {
namespace {

// Where each element of the layer's result lands in the neuron's input, and
// the factor it arrives with (1 / n after a mean over n elements).
struct Placement {
  std::vector<uint32_t> pos;
  std::vector<double> factor;
};

// Per-step dims a `mean` reduces, or an error at the op.
StatusOr<std::vector<bool>> MeanDims(const ir::Operation& op) {
  const ir::Type& t = op.operand(0)->type();
  std::vector<bool> reduced(t.dims().size(), false);
  const auto* dims = op.attrs().GetIntList("dims");
  if (dims == nullptr || dims->empty()) {
    return InvalidArgumentError("'mean' op without dims cannot be composed into synapses");
  }
  const int r = t.full_rank();
  for (int64_t d : *dims) {
    const int k = static_cast<int>((d % r + r) % r) - (t.timed() ? 1 : 0);
    if (k < 0) {
      return InvalidArgumentError(
          "'mean' op over time feeds a neuron; a neuron can only sum within a timestep");
    }
    reduced[static_cast<size_t>(k)] = true;
  }
  return reduced;
}

StatusOr<Placement> Place(const ir::Value& start, std::span<ir::Operation* const> path) {
  const size_t n = static_cast<size_t>(start.type().num_elements());
  Placement p;
  p.pos.resize(n);
  std::iota(p.pos.begin(), p.pos.end(), 0u);
  p.factor.assign(n, 1.0);
  for (const ir::Operation* op : path) {
    const std::vector<int64_t>& in_dims = op->operand(0)->type().dims();
    if (IsLayoutOp(*op)) {
      const std::vector<int> perm = ir::StepPermutation(*op);
      if (ir::IsIdentityPermutation(perm)) continue;
      const std::vector<uint32_t> out_to_in = ir::PermuteMap(in_dims, perm);
      std::vector<uint32_t> in_to_out(out_to_in.size());
      for (size_t j = 0; j < out_to_in.size(); ++j)
        in_to_out[out_to_in[j]] = static_cast<uint32_t>(j);
      for (uint32_t& q : p.pos) q = in_to_out[q];
      continue;
    }
    if (op->name() != "mean") {
      return InvalidArgumentError("'" + op->name() + "' op between a layer and a neuron cannot " +
                                  "be composed into synapses");
    }
    SPK_ASSIGN_OR_RETURN(const std::vector<bool> reduced, MeanDims(*op));
    double count = 1;
    for (size_t k = 0; k < in_dims.size(); ++k) {
      if (reduced[k]) count *= static_cast<double>(in_dims[k]);
    }
    // Row-major index over the dims kept (a kept-but-reduced dim has size 1).
    for (size_t i = 0; i < n; ++i) {
      uint64_t rest = p.pos[i], out = 0, stride = 1;
      for (size_t k = in_dims.size(); k-- > 0;) {
        const uint64_t extent = static_cast<uint64_t>(in_dims[k]);
        const uint64_t idx = rest % extent;
        rest /= extent;
        if (!reduced[k]) {
          out += idx * stride;
          stride *= extent;
        }
      }
      p.pos[i] = static_cast<uint32_t>(out);
      p.factor[i] /= count;
    }
  }
  return p;
}

struct Entry {
  uint32_t target, source;
  float weight;
};

// Calls emit(output element, input element, weight index) for every synapse
// of a linear layer over the last dim.
template <typename Emit>
void LinearSynapses(const ir::Operation& layer, int64_t out_features, int64_t in_features,
                    Emit&& emit) {
  const int64_t rows = layer.result(0)->type().num_elements() / out_features;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out_features; ++o) {
      for (int64_t i = 0; i < in_features; ++i) {
        emit(r * out_features + o, r * in_features + i, o * in_features + i);
      }
    }
  }
}

// The same for a conv2d over per-step [B, C, H, W].
template <typename Emit>
void ConvSynapses(const ir::Operation& layer, const std::vector<int64_t>& wdims, Emit&& emit) {
  const std::vector<int64_t>& in = layer.operand(0)->type().dims();
  const std::vector<int64_t>& out = layer.result(0)->type().dims();
  auto pair = [&](const char* name, int64_t fallback) {
    const auto* v = layer.attrs().GetIntList(name);
    return v != nullptr && v->size() == 2 ? std::pair{(*v)[0], (*v)[1]}
                                          : std::pair{fallback, fallback};
  };
  const auto [sy, sx] = pair("stride", 1);
  const auto [py, px] = pair("padding", 0);
  const int64_t groups = layer.attrs().GetInt("groups").value_or(1);
  const int64_t batch = in[0], cin = in[1], hin = in[2], win = in[3];
  const int64_t cout = out[1], hout = out[2], wout = out[3];
  const int64_t cpg = wdims[1], kh = wdims[2], kw = wdims[3], opg = cout / groups;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t c0 = (co / opg) * cpg;
      for (int64_t y = 0; y < hout; ++y) {
        for (int64_t x = 0; x < wout; ++x) {
          const int64_t o = ((b * cout + co) * hout + y) * wout + x;
          for (int64_t c = 0; c < cpg; ++c) {
            for (int64_t ky = 0; ky < kh; ++ky) {
              const int64_t iy = y * sy - py + ky;
              if (iy < 0 || iy >= hin) continue;
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t ix = x * sx - px + kx;
                if (ix < 0 || ix >= win) continue;
                emit(o, ((b * cin + c0 + c) * hin + iy) * win + ix,
                     ((co * cpg + c) * kh + ky) * kw + kx);
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool IsComposable(const ir::Operation& op) {
  if (IsLayoutOp(op)) return true;
  return op.name() == "mean" && MeanDims(op).ok();
}

namespace {

// Merges entries into a table by target (several result elements reach one
// target after a mean: their synapses from one source add up).
void Merge(std::vector<Entry>& entries, ComposedTable& t) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.target != b.target ? a.target < b.target : a.source < b.source;
  });
  t.rows.assign(static_cast<size_t>(t.targets) + 1, 0);
  for (size_t i = 0; i < entries.size();) {
    double sum = 0;
    size_t j = i;
    for (; j < entries.size() && entries[j].target == entries[i].target &&
           entries[j].source == entries[i].source;
         ++j) {
      sum += entries[j].weight;
    }
    if (sum != 0) {
      t.cols.push_back(entries[i].source);
      t.weights.push_back(static_cast<float>(sum));
      ++t.rows[entries[i].target + 1];
    }
    i = j;
  }
  std::partial_sum(t.rows.begin(), t.rows.end(), t.rows.begin());
}

int64_t Targets(const ir::Value& start, std::span<ir::Operation* const> path) {
  return path.empty() ? start.type().num_elements() : path.back()->result(0)->type().num_elements();
}

}  // namespace

StatusOr<ComposedTable> ComposeTable(const ir::Module& module, const ir::Operation& layer,
                                     std::span<ir::Operation* const> path, size_t max_entries) {
  SPK_ASSIGN_OR_RETURN(const Placement place, Place(*layer.result(0), path));
  const ir::Constant* w = module.FindConstant(*layer.attrs().GetRef("weight"));
  const std::span<const float> wv = w->data().f32();
  const std::vector<int64_t>& wdims = w->type().dims();

  ComposedTable t;
  t.sources = layer.operand(0)->type().num_elements();
  t.targets = Targets(*layer.result(0), path);
  const bool conv = layer.name() == "conv2d";
  const size_t synapses = static_cast<size_t>(layer.result(0)->type().num_elements()) *
                          static_cast<size_t>(conv ? wdims[1] * wdims[2] * wdims[3] : wdims[1]);
  if (synapses > max_entries) {
    return ResourceExhaustedError("composing '" + layer.name() + "' with the " +
                                  std::to_string(path.size()) + " op(s) after it needs " +
                                  std::to_string(synapses) + " synapses, more than the " +
                                  std::to_string(max_entries) + " a composed table may hold");
  }
  std::vector<Entry> entries;
  entries.reserve(synapses);
  auto emit = [&](int64_t o, int64_t in, int64_t wi) {
    const auto oi = static_cast<size_t>(o);
    const double v = wv[static_cast<size_t>(wi)] * place.factor[oi];
    if (v != 0) {
      entries.push_back({place.pos[oi], static_cast<uint32_t>(in), static_cast<float>(v)});
    }
  };
  if (conv) {
    ConvSynapses(layer, wdims, emit);
  } else {
    LinearSynapses(layer, wdims[0], wdims[1], emit);
  }
  Merge(entries, t);

  t.bias.assign(static_cast<size_t>(t.targets), 0.0);
  if (const std::string* ref = layer.attrs().GetRef("bias")) {
    const std::span<const float> b = module.FindConstant(*ref)->data().f32();
    const std::vector<int64_t>& od = layer.result(0)->type().dims();
    // Elements per output channel within a step: a conv's map, a linear's 1.
    const int64_t inner = conv ? od[2] * od[3] : 1;
    for (size_t o = 0; o < place.pos.size(); ++o) {
      const size_t ch = static_cast<size_t>(static_cast<int64_t>(o) / inner) % b.size();
      t.bias[place.pos[o]] += place.factor[o] * b[ch];
    }
  }
  return t;
}

StatusOr<ComposedTable> ComposeIdentity(const ir::Value& value, std::span<const double> bias,
                                        std::span<ir::Operation* const> path) {
  SPK_ASSIGN_OR_RETURN(const Placement place, Place(value, path));
  ComposedTable t;
  t.sources = value.type().num_elements();
  t.targets = Targets(value, path);
  std::vector<Entry> entries;
  entries.reserve(place.pos.size());
  t.bias.assign(static_cast<size_t>(t.targets), 0.0);
  for (size_t o = 0; o < place.pos.size(); ++o) {
    entries.push_back(
        {place.pos[o], static_cast<uint32_t>(o), static_cast<float>(place.factor[o])});
    t.bias[place.pos[o]] += place.factor[o] * bias[o];
  }
  Merge(entries, t);
  return t;
}

}  // namespace spk::compiler::lowering

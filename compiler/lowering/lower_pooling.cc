// lower-pooling: pooling of spikes -> sparse synapse tables.
//
// max_pool2d of spikes is an OR over each window: a cuba_lif group with
// du = dv = 4095 (nothing carried over) and vth = 0 fed by weight-1 synapses
// from each window (one spike gives v = 64 > 0). avg_pool2d of spikes is the
// window count times 1/k^2: a relay group (graded payload = count, recorded
// as quant.payload_max = k^2) fed the same way, then mul_scalar(1/k^2), which
// quantize folds into the next layer's weights or lower-host runs on the
// host. The table is a syn_sparse over the flattened [C*H*W] features (CSR by
// source, built here) between reshapes, which codegen folds into index maps.
// Pooling anything but spikes stays for the other passes (quantize reports
// max pooling of currents); avg_pool2d with count_include_pad = false and
// padding has no single divisor: an error.
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "compiler/lowering/lowering.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::lowering {
namespace {

using ir::ElementType;
using ir::Operation;
using ir::Value;

std::vector<int64_t> Pair(const ir::AttrDict& a, const char* name, std::vector<int64_t> fallback) {
  const auto* v = a.GetIntList(name);
  return v == nullptr ? fallback : *v;
}

class LowerPoolingPass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "lower-pooling";
  static constexpr std::string_view kSummary =
      "max/avg pooling of spikes -> OR / count groups fed by sparse weight-1 synapses";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    bool failed = false;
    for (Operation* op : module.OpsSnapshot()) {
      const bool is_max = op->name() == "max_pool2d";
      if (!is_max && op->name() != "avg_pool2d") continue;
      Value* x = op->operand(0);
      if (x->type().element() != ElementType::kSpike || !x->type().timed()) continue;
      const ir::AttrDict& a = op->attrs();
      std::vector<int64_t> k = *a.GetIntList("kernel_size");
      std::vector<int64_t> s = Pair(a, "stride", k);
      std::vector<int64_t> p = Pair(a, "padding", {0, 0});
      if (!is_max && !a.GetBool("count_include_pad").value_or(true) && (p[0] || p[1])) {
        ctx.diags.Error(op->DiagLocation(),
                        "'avg_pool2d' op with count_include_pad = false and padding has no "
                        "single divisor; it cannot be lowered");
        failed = true;
        continue;
      }
      const ir::Type& in = x->type();
      const ir::Type& out = op->result(0)->type();
      const int64_t b = in.dim(0), c = in.dim(1), h = in.dim(2), w = in.dim(3);
      const int64_t oh = out.dim(2), ow = out.dim(3);
      // CSR by source: for each input element, the windows it falls in.
      std::vector<std::vector<int32_t>> targets(static_cast<size_t>(c * h * w));
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t y = 0; y < oh; ++y) {
          for (int64_t xo = 0; xo < ow; ++xo) {
            auto o = static_cast<int32_t>((ch * oh + y) * ow + xo);
            for (int64_t ky = 0; ky < k[0]; ++ky) {
              for (int64_t kx = 0; kx < k[1]; ++kx) {
                int64_t iy = y * s[0] - p[0] + ky, ix = xo * s[1] - p[1] + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                targets[static_cast<size_t>((ch * h + iy) * w + ix)].push_back(o);
              }
            }
          }
        }
      }
      std::vector<int32_t> row_ptr{0}, col;
      for (const auto& t : targets) {
        col.insert(col.end(), t.begin(), t.end());
        row_ptr.push_back(static_cast<int32_t>(col.size()));
      }
      std::string base = op->loc().module_path.empty() ? "pool" : op->loc().module_path;
      const auto nnz = static_cast<int64_t>(col.size());
      auto add = [&](const std::string& suffix, ir::TensorData data, int64_t n, ElementType e) {
        return passes::AddUniqueConstant(module, base + suffix, ir::Type::Untimed(e, {n}),
                                         std::move(data))
            ->name();
      };
      ir::AttrDict syn;
      syn.Set("row_ptr", ir::Attribute::Ref(add(".row_ptr", ir::TensorData(row_ptr), c * h * w + 1,
                                                ElementType::kI32)));
      syn.Set("col", ir::Attribute::Ref(add(".col", ir::TensorData(col), nnz, ElementType::kI32)));
      syn.Set("weight",
              ir::Attribute::Ref(add(".ones", ir::TensorData(std::vector<int16_t>(col.size(), 1)),
                                     nnz, ElementType::kI16)));
      syn.Set("out_features", ir::Attribute::Int(c * oh * ow));
      syn.Set("weight_exp", ir::Attribute::Int(0));

      auto make = [&](std::string_view name, Value* v, ir::AttrDict attrs) {
        auto made = module.CreateInferred(name, std::span<Value* const>(&v, 1), std::move(attrs),
                                          op->loc(), op);
        SPK_CHECK_OK(made.status());
        return (*made)->result(0);
      };
      ir::AttrDict flat;
      flat.Set("shape", ir::Attribute::IntList({b, c * h * w}));
      Value* v = make("reshape", x, flat);
      v = make("syn_sparse", v, std::move(syn));
      ir::AttrDict neuron;
      if (is_max) {
        neuron.Set("du", ir::Attribute::Int(4095));
        neuron.Set("dv", ir::Attribute::Int(4095));
        neuron.Set("vth", ir::Attribute::Int(0));
        v = make("cuba_lif", v, std::move(neuron));
      } else {
        neuron.Set("quant.payload_min", ir::Attribute::Float(0));
        neuron.Set("quant.payload_max", ir::Attribute::Float(static_cast<double>(k[0] * k[1])));
        v = make("relay", v, std::move(neuron));
      }
      ir::AttrDict back;
      back.Set("shape", ir::Attribute::IntList(out.dims()));
      v = make("reshape", v, back);
      if (!is_max) {
        ir::AttrDict scale;
        scale.Set("scalar", ir::Attribute::Float(1.0 / static_cast<double>(k[0] * k[1])));
        v = make("mul_scalar", v, std::move(scale));
      }
      ctx.diags.Remark(op->DiagLocation(), "'" + op->name() + "' op of spikes lowered to " +
                                               (is_max ? "an OR group" : "a count (relay) group") +
                                               " of " + std::to_string(c * oh * ow) + " neurons, " +
                                               std::to_string(nnz) + " synapses");
      passes::ReplaceOpWith(op, v);
    }
    if (failed) return InvalidArgumentError("lower-pooling: unsupported pooling");
    return Status::Ok();
  }
};

}  // namespace

void RegisterLowerPoolingPass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(LowerPoolingPass::kName),
                                  .summary = std::string(LowerPoolingPass::kSummary),
                                  .create = [] { return std::make_unique<LowerPoolingPass>(); },
                                  .slots = {{passes::kStageNeuronLowering, 0}}}));
}

}  // namespace spk::compiler::lowering

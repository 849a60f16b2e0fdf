// fold-batch-norm: folds an inference BatchNorm into the linear or conv that
// feeds it, so the chip sees one weighted layer with a bias.
//
// For each output channel c, in float32 and in this order (the order of
// torch.nn.utils.fusion, so results match PyTorch's own fused modules):
//   inv[c]   = 1 / sqrt(var[c] + eps)
//   W'[c,..] = W[c,..] * (gamma[c] * inv[c])
//   b'[c]    = (b[c] - mean[c]) * inv[c] * gamma[c] + beta[c]
// with gamma = 1, beta = 0 and b = 0 where absent. The folded weights are new
// constants (the old ones may be shared); dce removes what is left unused.
//
// A BatchNorm that cannot be folded (its input is not a linear/conv, the
// layer's output is used elsewhere too, or BN does not normalise the layer's
// output features) stays as it is, with a remark at its location.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::passes {
namespace {

std::vector<float> ValuesOr(const ir::Module& module, const ir::Operation& op,
                            std::string_view attr, size_t n, float fallback) {
  const std::string* name = op.attrs().GetRef(attr);
  if (name == nullptr) return std::vector<float>(n, fallback);
  auto data = module.FindConstant(*name)->data().f32();
  return std::vector<float>(data.begin(), data.end());
}

std::string BiasBaseName(const std::string& weight_name) {
  constexpr std::string_view kSuffix = ".weight";
  if (weight_name.size() > kSuffix.size() &&
      weight_name.compare(weight_name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    return weight_name.substr(0, weight_name.size() - kSuffix.size()) + ".bias";
  }
  return weight_name + ".bias";
}

class FoldBatchNormPass : public Pass {
 public:
  static constexpr std::string_view kName = "fold-batch-norm";
  static constexpr std::string_view kSummary =
      "fold inference BatchNorm into the preceding linear/conv weights and bias";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, PassContext& ctx) override {
    for (ir::Operation* bn : module.OpsSnapshot()) {
      if (bn->name() != "batch_norm") continue;
      ir::Operation* layer = bn->operand(0)->def();
      if (std::string reason = WhyNot(*layer); !reason.empty()) {
        ctx.diags.Remark(bn->DiagLocation(), "'batch_norm' op not folded: " + reason);
        continue;
      }
      Fold(module, bn, layer);
    }
    return Status::Ok();
  }

 private:
  static std::string WhyNot(const ir::Operation& layer) {
    const std::string& kind = layer.name();
    if (kind != "linear" && kind != "conv1d" && kind != "conv2d") {
      return "its input comes from '" + kind +
             "', not from linear, conv1d or conv2d; it stays a separate op";
    }
    if (layer.result(0)->uses().size() != 1) {
      return "the result of '" + kind + "' is also used by other ops";
    }
    const ir::Type& x = layer.result(0)->type();
    if (kind == "linear" && x.rank() != 2) {
      return "it normalises dim 1 of " + x.ToString() + ", which is not the output features of '" +
             kind + "'";
    }
    return "";
  }

  static void Fold(ir::Module& module, ir::Operation* bn, ir::Operation* layer) {
    const ir::Constant& weight = *module.FindConstant(*layer->attrs().GetRef("weight"));
    const ir::Type& wtype = weight.type();
    auto channels = static_cast<size_t>(wtype.dim(0));
    size_t per_channel = weight.data().size() / std::max<size_t>(channels, 1);

    std::vector<float> mean = ValuesOr(module, *bn, "mean", channels, 0.0f);
    std::vector<float> var = ValuesOr(module, *bn, "var", channels, 1.0f);
    std::vector<float> gamma = ValuesOr(module, *bn, "weight", channels, 1.0f);
    std::vector<float> beta = ValuesOr(module, *bn, "bias", channels, 0.0f);
    std::vector<float> bias = ValuesOr(module, *layer, "bias", channels, 0.0f);
    auto eps = static_cast<float>(*bn->attrs().GetFloat("eps"));

    std::vector<float> new_weight(weight.data().size());
    std::vector<float> new_bias(channels);
    auto w = weight.data().f32();
    for (size_t c = 0; c < channels; ++c) {
      float inv = 1.0f / std::sqrt(var[c] + eps);
      float scale = gamma[c] * inv;
      for (size_t k = 0; k < per_channel; ++k) {
        new_weight[c * per_channel + k] = w[c * per_channel + k] * scale;
      }
      new_bias[c] = (bias[c] - mean[c]) * inv * gamma[c] + beta[c];
    }

    const std::string* old_bias = layer->attrs().GetRef("bias");
    std::string bias_base = old_bias != nullptr ? *old_bias : BiasBaseName(weight.name());
    ir::Constant* w2 = AddUniqueConstant(module, weight.name() + ".folded", wtype,
                                         ir::TensorData(std::move(new_weight)));
    ir::Constant* b2 = AddUniqueConstant(
        module, bias_base + ".folded",
        ir::Type::Untimed(ir::ElementType::kF32, {static_cast<int64_t>(channels)}),
        ir::TensorData(std::move(new_bias)));
    layer->mutable_attrs().Set("weight", ir::Attribute::Ref(w2->name()));
    layer->mutable_attrs().Set("bias", ir::Attribute::Ref(b2->name()));
    ReplaceOpWith(bn, layer->result(0));
  }
};

}  // namespace

void RegisterFoldBatchNormPass(PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(FoldBatchNormPass::kName),
                                  .summary = std::string(FoldBatchNormPass::kSummary),
                                  .create = [] { return std::make_unique<FoldBatchNormPass>(); },
                                  // Required by lowering (the chip has no BatchNorm): -O0 too.
                                  .slots = {{kStageFold, 0}}}));
}

}  // namespace spk::compiler::passes

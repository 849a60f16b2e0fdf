// lower-neurons: the LIF -> CUBA parameter mapping.
//
// Each SpikingJelly `lif` (hard reset to 0) and `if_neuron` gets the CUBA LIF
// parameters it maps to, as annotations that `quantize` turns into a
// `cuba_lif` op once the voltage scale is chosen:
//   cuba.du = 4095              u is cleared every step: u = a_in << 6
//   cuba.dv = round(4096 / tau) the membrane leak (0 for if_neuron)
//   cuba.gain = 1 / tau         the input scaling of decay_input (else 1)
// since H = V (1 - 1/tau) + X/tau is v' = v (4096 - dv)/4096 + u with
// u = S X / tau. A reset value other than 0 cannot be mapped (the chip resets
// v to 0 and has no voltage offset for the threshold): an error at the op.
#include <cmath>
#include <memory>
#include <sstream>
#include <string>

#include "base/check.h"
#include "compiler/lowering/lowering.h"

namespace spk::compiler::lowering {
namespace {

class LowerNeuronsPass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "lower-neurons";
  static constexpr std::string_view kSummary =
      "map lif/if_neuron parameters onto CUBA LIF (du, dv, input gain)";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    bool failed = false;
    for (ir::Operation* op : module.OpsSnapshot()) {
      const bool is_lif = op->name() == "lif";
      if (!is_lif && op->name() != "if_neuron") continue;
      const ir::AttrDict& a = op->attrs();
      double v_reset = a.GetFloat("v_reset").value_or(0.0);
      if (v_reset != 0.0) {
        std::ostringstream msg;
        msg << "'" << op->name() << "' op v_reset = " << v_reset
            << " cannot be lowered: the chip resets the membrane to 0";
        ctx.diags.Error(op->DiagLocation(), msg.str());
        failed = true;
        continue;
      }
      int64_t dv = 0;
      double gain = 1.0;
      if (is_lif) {
        double tau = *a.GetFloat("tau");
        if (!(tau >= 1.0)) {  // the verifier checks this too; keep the pass safe alone
          ctx.diags.Error(op->DiagLocation(), "'lif' op tau must be >= 1 to be lowered");
          failed = true;
          continue;
        }
        dv = std::llround(4096.0 / tau);
        if (dv > 4095) {
          // tau = 1 forgets all of V each step; 4095 keeps 1/4096 of it.
          dv = 4095;
          ctx.diags.Remark(op->DiagLocation(),
                           "'lif' op tau = 1 maps to dv = 4095 (keeps 1/4096 of v per step)");
        }
        if (a.GetBool("decay_input").value_or(true)) gain = 1.0 / tau;
      }
      ir::AttrDict& m = op->mutable_attrs();
      m.Set("cuba.du", ir::Attribute::Int(4095));
      m.Set("cuba.dv", ir::Attribute::Int(dv));
      m.Set("cuba.gain", ir::Attribute::Float(gain));
    }
    if (failed) return InvalidArgumentError("lower-neurons: unsupported neuron parameters");
    return Status::Ok();
  }
};

}  // namespace

void RegisterLowerNeuronsPass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(LowerNeuronsPass::kName),
                                  .summary = std::string(LowerNeuronsPass::kSummary),
                                  .create = [] { return std::make_unique<LowerNeuronsPass>(); },
                                  // Lowering is mandatory: -O0 too.
                                  .slots = {{passes::kStageNeuronLowering, 0}}}));
}

}  // namespace spk::compiler::lowering

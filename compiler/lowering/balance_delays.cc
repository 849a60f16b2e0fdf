// balance-delays: per-synapse delays so that every table into one neuron group
// delivers the same model timestep (docs/lowering.md#delays).
//
// Pipeline depth, in chip steps after the model input: an input is 0; a
// neuron group is 1 + max over its tables of (source depth + delay); layout
// ops keep their operand's depth; a host op that feeds the chip is 1 + the
// deepest of its operands (its result enters as a graded input port the next
// step), one that only feeds outputs keeps that depth. A table from a
// shallower source gets delay = (deepest source) - (its source): Loihi 2
// synapses delay up to 62 steps. A longer gap is an error naming both tables.
// Neurons, host ops and outputs are annotated `pipeline.depth`, the module
// `pipeline.max_depth` (codegen aligns output ports with it).
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "compiler/lowering/lowering.h"

namespace spk::compiler::lowering {
namespace {

using ir::Operation;
using ir::Value;

constexpr int64_t kMaxDelay = 62;

// The add tree of tables that feeds a neuron: its syn_* leaves.
void Tables(Value* v, std::vector<Operation*>& out) {
  Operation* d = v->def();
  if (IsSynapseOp(*d)) {
    out.push_back(d);
  } else if (d->name() == "add") {
    for (Value* o : d->operands()) Tables(o, out);
  }
}

std::string Describe(const Operation& op) {
  std::string s = "'" + op.name() + "'";
  ir::Location loc = op.DiagLocation();
  std::string pos = ir::FormatFilePosition(loc);
  if (!pos.empty()) s += " at " + pos;
  if (!loc.module_path.empty()) s += " [" + loc.module_path + "]";
  return s;
}

class BalanceDelaysPass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "balance-delays";
  static constexpr std::string_view kSummary =
      "set syn_* delays so all tables into a neuron group deliver the same model step";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    std::map<const Value*, int64_t> depth;
    auto depth_of = [&](const Value* v) {
      auto it = depth.find(v);
      return it == depth.end() ? int64_t{0} : it->second;
    };
    bool failed = false;
    int64_t max_depth = 0;
    for (Operation* op : module.OpsSnapshot()) {
      if (op->num_results() == 0) {
        if (op->name() == "output") {
          op->mutable_attrs().Set("pipeline.depth", ir::Attribute::Int(depth_of(op->operand(0))));
        }
        continue;
      }
      int64_t d = 0;
      if (IsNeuronOp(*op) && op->name() != "and2") {
        std::vector<Operation*> tables;
        Tables(op->operand(0), tables);
        Operation* deepest = nullptr;
        for (Operation* t : tables) {
          if (deepest == nullptr || depth_of(t->operand(0)) > depth_of(deepest->operand(0))) {
            deepest = t;
          }
        }
        int64_t arrive = deepest ? depth_of(deepest->operand(0)) : 0;
        for (Operation* t : tables) {
          int64_t delay = arrive - depth_of(t->operand(0));
          if (delay > kMaxDelay) {
            ctx.diags.Error(t->DiagLocation(),
                            "'" + t->name() + "' op needs a delay of " + std::to_string(delay) +
                                " steps to meet " + Describe(*deepest) + " at " + Describe(*op) +
                                "; synapses delay at most " + std::to_string(kMaxDelay));
            failed = true;
          } else if (delay > 0) {
            t->mutable_attrs().Set("delay", ir::Attribute::Int(delay));
          } else {
            t->mutable_attrs().Erase("delay");
          }
        }
        d = arrive + 1;
      } else if (op->name() == "and2") {
        // The ports' fan-in synapses (codegen makes them) carry the delays.
        const int64_t d0 = depth_of(op->operand(0)), d1 = depth_of(op->operand(1));
        const int64_t arrive = std::max(d0, d1);
        if (arrive - std::min(d0, d1) > kMaxDelay) {
          ctx.diags.Error(op->DiagLocation(),
                          "'and2' op ports arrive " + std::to_string(arrive - std::min(d0, d1)) +
                              " steps apart (" + Describe(*op->operand(0)->def()) + " and " +
                              Describe(*op->operand(1)->def()) + "); synapses delay at most " +
                              std::to_string(kMaxDelay));
          failed = true;
        } else if (d0 != d1) {
          op->mutable_attrs().Set("delays", ir::Attribute::IntList({arrive - d0, arrive - d1}));
        } else {
          op->mutable_attrs().Erase("delays");
        }
        d = arrive + 1;
      } else if (op->name() == "host") {
        for (Value* v : op->operands()) d = std::max(d, depth_of(v));
        bool feeds_chip = false;
        for (const Value::Use& u : op->result(0)->uses()) {
          feeds_chip |= u.user->name() != "host" && u.user->name() != "output";
        }
        if (feeds_chip) d += 1;
      } else {
        for (Value* v : op->operands()) d = std::max(d, depth_of(v));
      }
      for (size_t i = 0; i < op->num_results(); ++i) depth[op->result(i)] = d;
      if (IsNeuronOp(*op) || op->name() == "host") {
        op->mutable_attrs().Set("pipeline.depth", ir::Attribute::Int(d));
      }
      max_depth = std::max(max_depth, d);
    }
    module.mutable_attrs().Set("pipeline.max_depth", ir::Attribute::Int(max_depth));
    if (failed) return InvalidArgumentError("balance-delays: paths cannot be balanced");
    return Status::Ok();
  }
};

}  // namespace

void RegisterBalanceDelaysPass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(BalanceDelaysPass::kName),
                                  .summary = std::string(BalanceDelaysPass::kSummary),
                                  .create = [] { return std::make_unique<BalanceDelaysPass>(); },
                                  .slots = {{kStageBalance, 0}}}));
}

}  // namespace spk::compiler::lowering

// lower-attention: spiking attention -> and2 groups, weight-1 synapses and
// host matmuls (docs/lowering.md#attention).
//
//   mul(spike a, spike b)            -> and2(a, b): a dendritic AND; the ports
//                                       broadcast by fan-out (SDSA's q * kv).
//   lif(sum(events, one non-T dim))  -> the summed dim moved last by a
//                                       transpose, then a linear with weights
//                                       1 over it (quantize makes it a table):
//                                       SDSA's sum over tokens of k * v.
//   lif(... matmul(spikes) ...)      -> Spikformer SSA: the float cone feeding
//                                       the neuron (q @ k^T, * scale, @ v and
//                                       layout ops) runs as host ops; its
//                                       result enters the chip as a graded
//                                       port (`port.scale`, payload range
//                                       annotated) through an identity table.
// The SSA choice and its cost (host multiply-adds per step; the same number
// of and2 compartments an on-chip AND expansion would need) is a remark.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
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

struct Interval {
  double lo = 0, hi = 0;
};

bool IsSpikeLeaf(const Value& v) {
  if (v.type().element() != ElementType::kSpike && v.type().element() != ElementType::kGraded) {
    return false;
  }
  const Operation& d = *v.def();
  const std::string& n = d.name();
  if (n == "lif" || n == "if_neuron" || n == "input" || IsNeuronOp(d)) return true;
  return IsLayoutOp(d) && IsSpikeLeaf(*d.operand(0));
}

class LowerAttentionPass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "lower-attention";
  static constexpr std::string_view kSummary =
      "spike products -> and2, token sums -> weight-1 synapses, SSA matmuls -> host ops";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    module_ = &module;
    ctx_ = &ctx;
    for (Operation* op : module.OpsSnapshot()) {
      if (op->name() == "mul" && op->operand(0)->type().element() == ElementType::kSpike &&
          op->operand(1)->type().element() == ElementType::kSpike &&
          op->result(0)->type().timed()) {
        Value* ports[2] = {op->operand(0), op->operand(1)};
        auto made = module.CreateInferred("and2", ports, {}, op->loc(), op);
        SPK_CHECK_OK(made.status());
        passes::ReplaceOpWith(op, (*made)->result(0));
      }
    }
    for (Operation* op : module.OpsSnapshot()) {
      if (op->name() != "lif" && op->name() != "if_neuron") continue;
      Value* in = op->operand(0);
      if (in->def()->name() == "sum" && in->uses().size() == 1) LowerTokenSum(op, in->def());
      if (ConeHasMatmul(op->operand(0))) LowerHostCone(op);
    }
    if (failed_) return InvalidArgumentError("lower-attention: attention cannot be lowered");
    return Status::Ok();
  }

 private:
  Value* Make(std::string_view name, std::vector<Value*> operands, ir::AttrDict attrs,
              const Operation* at) {
    auto made = module_->CreateInferred(name, operands, std::move(attrs), at->loc(),
                                        const_cast<Operation*>(at));
    SPK_CHECK_OK(made.status());
    return (*made)->result(0);
  }

  std::string Base(const Operation& op, const char* fallback) const {
    return op.loc().module_path.empty() ? fallback : op.loc().module_path;
  }

  // sum over one non-time dim of events, feeding a neuron.
  void LowerTokenSum(Operation* neuron, Operation* sum) {
    Value* x = sum->operand(0);
    const ir::Type& t = x->type();
    const auto* dims = sum->attrs().GetIntList("dims");
    if (!t.timed() ||
        !(t.element() == ElementType::kSpike || t.element() == ElementType::kGraded) ||
        dims->size() != 1) {
      return;
    }
    int64_t d = (*dims)[0] < 0 ? (*dims)[0] + t.full_rank() : (*dims)[0];
    if (d == 0) return;
    const int64_t last = t.full_rank() - 1;
    const int64_t n = t.dim(static_cast<int>(d - 1));
    Value* v = x;
    auto swap = [&](Value* value) {
      ir::AttrDict a;
      a.Set("dim0", ir::Attribute::Int(d));
      a.Set("dim1", ir::Attribute::Int(last));
      return Make("transpose", {value}, std::move(a), sum);
    };
    if (d != last) v = swap(v);
    ir::Constant* ones = passes::AddUniqueConstant(
        *module_, Base(*sum, "sum") + ".ones", ir::Type::Untimed(ElementType::kF32, {1, n}),
        ir::TensorData(std::vector<float>(static_cast<size_t>(n), 1.0f)));
    ir::AttrDict la;
    la.Set("weight", ir::Attribute::Ref(ones->name()));
    v = Make("linear", {v}, std::move(la), sum);
    if (d != last) v = swap(v);
    if (v->type().dims() != sum->result(0)->type().dims()) {
      ir::AttrDict ra;
      ra.Set("shape", ir::Attribute::IntList(sum->result(0)->type().dims()));
      v = Make("reshape", {v}, std::move(ra), sum);
    }
    // The neuron reads f32 now; its type is unchanged (spike result).
    neuron->SetOperand(0, v);
    // The remark reads the op's location, so it comes before the op may go.
    ctx_->diags.Remark(sum->DiagLocation(), "'sum' op of events into '" + neuron->name() +
                                                "' lowered to weight-1 synapses over " +
                                                std::to_string(n) + " inputs");
    passes::EraseIfDead(sum);
  }

  bool ConeHasMatmul(Value* v) {
    if (IsSpikeLeaf(*v) || v->def()->name() == "const") return false;
    Operation* d = v->def();
    if (d->name() == "matmul") return true;
    if (d->name() == "linear" || d->name() == "conv2d" || d->name() == "lif") return false;
    for (Value* o : d->operands()) {
      if (ConeHasMatmul(o)) return true;
    }
    return false;
  }

  void Cone(Value* v, std::set<Operation*>& out) {
    if (IsSpikeLeaf(*v) || out.count(v->def())) return;
    out.insert(v->def());
    for (Value* o : v->def()->operands()) Cone(o, out);
  }

  std::optional<Interval> Bound(const Value* v, const std::map<const Value*, Interval>& known) {
    if (auto it = known.find(v); it != known.end()) return it->second;
    if (IsSpikeLeaf(*v) && v->type().element() == ElementType::kSpike) return Interval{0, 1};
    return std::nullopt;
  }

  void LowerHostCone(Operation* neuron) {
    std::set<Operation*> cone;
    Cone(neuron->operand(0), cone);
    std::map<const Value*, Interval> bounds;
    double macs = 0;
    int matmuls = 0;
    Operation* root = neuron->operand(0)->def();
    Operation* root_host = nullptr;
    for (Operation* op : module_->OpsSnapshot()) {
      if (!cone.count(op)) continue;
      const std::string& n = op->name();
      std::vector<Interval> in;
      for (Value* o : op->operands()) {
        auto b = Bound(o, bounds);
        if (!b) {
          ctx_->diags.Error(op->DiagLocation(), "'" + n + "' op in the attention cone of '" +
                                                    neuron->name() +
                                                    "' reads a value of unknown range");
          failed_ = true;
          return;
        }
        in.push_back(*b);
      }
      Interval r;
      if (n == "matmul") {
        const bool tb = op->attrs().GetBool("transpose_b").value_or(false);
        const ir::Type& bt = op->operand(1)->type();
        double k = static_cast<double>(bt.dim(bt.rank() - (tb ? 1 : 2)));
        double p[4] = {in[0].lo * in[1].lo, in[0].lo * in[1].hi, in[0].hi * in[1].lo,
                       in[0].hi * in[1].hi};
        r = {k * std::min(0.0, *std::min_element(p, p + 4)),
             k * std::max(0.0, *std::max_element(p, p + 4))};
        macs += static_cast<double>(op->result(0)->type().num_elements()) * k;
        ++matmuls;
      } else if (n == "mul_scalar") {
        double s = *op->attrs().GetFloat("scalar");
        r = {std::min(in[0].lo * s, in[0].hi * s), std::max(in[0].lo * s, in[0].hi * s)};
      } else if (n == "add") {
        r = {in[0].lo + in[1].lo, in[0].hi + in[1].hi};
      } else if (IsLayoutOp(*op)) {
        r = in[0];
      } else {
        ctx_->diags.Error(op->DiagLocation(), "'" + n + "' op in the attention cone of '" +
                                                  neuron->name() + "' has no host lowering here");
        failed_ = true;
        return;
      }
      const bool is_root = op == root;
      Operation* h = ConvertToHost(*module_, op, is_root, ctx_->diags);
      SPK_CHECK(h != nullptr);
      bounds[h->result(0)] = r;
      if (is_root) root_host = h;
    }
    SPK_CHECK(root_host != nullptr);
    // Graded port: payload = round(x * port.scale), a power of two keeping
    // payloads within 15 bits (and at most 256 steps per unit).
    Interval r = bounds[root_host->result(0)];
    double mag = std::max({std::fabs(r.lo), std::fabs(r.hi), 1e-30});
    double scale =
        std::ldexp(1.0, std::clamp(static_cast<int>(std::floor(std::log2(32767 / mag))), -16, 8));
    ir::AttrDict& ha = root_host->mutable_attrs();
    ha.Set("port.scale", ir::Attribute::Float(scale));
    ha.Set("quant.payload_min", ir::Attribute::Float(std::floor(r.lo * scale)));
    ha.Set("quant.payload_max", ir::Attribute::Float(std::ceil(r.hi * scale)));
    // Identity table into the neuron.
    const int64_t d = root_host->result(0)->type().dims().back();
    std::vector<float> eye(static_cast<size_t>(d * d), 0.0f);
    for (int64_t i = 0; i < d; ++i) eye[static_cast<size_t>(i * d + i)] = 1.0f;
    ir::Constant* w = passes::AddUniqueConstant(*module_, Base(*neuron, "attn") + ".identity",
                                                ir::Type::Untimed(ElementType::kF32, {d, d}),
                                                ir::TensorData(std::move(eye)));
    ir::AttrDict la;
    la.Set("weight", ir::Attribute::Ref(w->name()));
    neuron->SetOperand(0, Make("linear", {root_host->result(0)}, std::move(la), neuron));
    char numbers[160];
    std::snprintf(numbers, sizeof numbers,
                  "%d host matmul(s), %.0f multiply-adds per step (an on-chip AND expansion "
                  "would need %.0f and2 compartments); result enters as graded port, scale %g",
                  matmuls, macs, macs, scale);
    ctx_->diags.Remark(neuron->DiagLocation(), "spike matmuls feeding '" + neuron->name() +
                                                   "' run on the host: " + numbers);
  }

  ir::Module* module_ = nullptr;
  passes::PassContext* ctx_ = nullptr;
  bool failed_ = false;
};

}  // namespace

void RegisterLowerAttentionPass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(LowerAttentionPass::kName),
                                  .summary = std::string(LowerAttentionPass::kSummary),
                                  .create = [] { return std::make_unique<LowerAttentionPass>(); },
                                  // Before quantize, which lowers what it leaves.
                                  .slots = {{passes::kStageNeuronLowering, 0}}}));
}

}  // namespace spk::compiler::lowering

// lower-attention: spiking attention -> and2 groups, weight-1 synapses and
// host matmuls (docs/lowering.md#attention).
//
//   mul(spike a, spike b)            -> and2(a, b): a dendritic AND; the ports
//                                       broadcast by fan-out (SDSA's q * kv).
//   lif(sum(events, one non-T dim))  -> the summed dim moved last by a
//                                       transpose, then a linear with weights
//                                       1 over it (quantize makes it a table):
//                                       SDSA's sum over tokens of k * v.
//   lif(... matmul(spikes) ...)      -> Spikformer SSA, one of two ways:
//     chip: every product term of binary spikes is an AND, so
//       scale * sum_{j,e} q[i,e] k[j,e] v[j,c] = scale * sum_{j,e} q[i,e] & k[j,e] & v[j,c]
//       becomes and2 layers (ports broadcast through layout ops) and a table
//       of weights `scale` summing the last layer into the neuron;
//     host: the float cone feeding the neuron (q @ k^T, * scale, @ v and
//       layout ops) runs as host ops; its result enters the chip as a graded
//       port (`port.scale`, payload range annotated) through an identity table.
//   The option `lower-attention.ssa` (auto, host, chip) chooses; auto expands
//   when the expansion fits the target (PassContext::target). A remark gives
//   the choice and the cost of both ways.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
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

// The attention cone as an einsum of binary spikes: a value is
//   scale * sum over the labels not in `out` of prod_f factors[f]
// where each factor is a chip value whose per-step dims carry `labels`.
struct Factor {
  Value* value = nullptr;
  std::vector<int> labels;  // one per per-step dim of value
};
struct Term {
  std::vector<Factor> factors;
  std::vector<int> out;  // labels of the value's per-step dims
  double scale = 1;
};

// The cost of one spike-matmul cone either way.
struct Cost {
  int matmuls = 0;
  double macs = 0;                  // host multiply-adds per step
  std::vector<int64_t> and2_sizes;  // compartments per and2 layer, in order
  int64_t synapses = 0;             // port fan-ins (2 per and2) + the sum table
  int64_t sum_fanin = 0;            // sum-table synapses per neuron
  int64_t max_axons = 0;            // the most inputs of a group no split reduces
  std::string max_axons_layer;
  int64_t cores = 0;  // lower bound on the cores the expansion adds
  int64_t compartments() const {
    return std::accumulate(and2_sizes.begin(), and2_sizes.end(), int64_t{0});
  }
};

int64_t CeilDiv(int64_t a, int64_t b) { return b <= 0 ? 0 : (a + b - 1) / b; }

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
      "spike products -> and2, token sums -> weight-1 synapses, SSA matmuls -> and2 layers or "
      "host ops";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    module_ = &module;
    ctx_ = &ctx;
    mode_ = ctx.Option("lower-attention.ssa", "auto");
    if (mode_ != "auto" && mode_ != "host" && mode_ != "chip") {
      return InvalidArgumentError("lower-attention: option ssa must be auto, host or chip, got '" +
                                  mode_ + "'");
    }
    // What the rest of the model needs at least (auto's budget): its neurons.
    if (ctx.target.known()) {
      int64_t neurons = 0;
      for (const auto& op : module.ops()) {
        if (op->name() == "lif" || op->name() == "if_neuron") {
          neurons += op->result(0)->type().num_elements();
        }
      }
      budget_ = static_cast<int64_t>(ctx.target.cores) -
                CeilDiv(neurons, static_cast<int64_t>(ctx.target.neurons_per_core));
    }
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
      if (ConeHasMatmul(op->operand(0))) LowerSpikeMatmuls(op);
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

  // --- SSA: the choice ---

  void LowerSpikeMatmuls(Operation* neuron) {
    Value* root = neuron->operand(0);
    while (IsLayoutOp(*root->def())) root = root->def()->operand(0);
    Cost cost = HostCost(root);
    std::optional<Term> term;
    next_label_ = 0;
    label_size_.clear();
    if (!IsSpikeLeaf(*root)) term = BuildTerm(root);
    if (term && term->factors.size() < 2) term.reset();
    if (term) {
      std::optional<std::vector<int>> order = NeuronOrder(*term, neuron->operand(0), root);
      direct_ = order.has_value();
      flat_ = direct_ ? *std::move(order) : term->out;
      ChipCost(*term, *neuron, cost);
    }

    std::string why;
    bool chip = false;
    const passes::TargetInfo& target = ctx_->target;
    if (mode_ == "host") {
      why = "--ssa=host";
    } else if (!term) {
      why = "not a product of binary spikes the AND expansion covers";
      if (mode_ == "chip") {
        ctx_->diags.Error(neuron->DiagLocation(),
                          "spike matmuls feeding '" + neuron->name() +
                              "' cannot be expanded on the chip (--ssa=chip): " + why);
        failed_ = true;
        return;
      }
    } else if (!target.known()) {
      chip = mode_ == "chip";
      why = chip ? "--ssa=chip; no target given, capacity not checked"
                 : "no target given to weigh the expansion against";
    } else {
      std::string misfit = Misfit(cost);
      if (misfit.empty()) {
        chip = true;
        budget_ -= cost.cores;
        why = mode_ == "chip" ? "--ssa=chip" : "fits " + target.name;
      } else if (mode_ == "chip") {
        ctx_->diags.Error(neuron->DiagLocation(),
                          "the on-chip SSA expansion feeding '" + neuron->name() + "' [" +
                              Base(*neuron, "?") + "] does not fit " + target.name +
                              " (--ssa=chip): " + misfit + "; " + ChipNumbers(cost) +
                              " (use --ssa=host or a larger board)");
        failed_ = true;
        return;
      } else {
        why = "the expansion does not fit " + target.name + ": " + misfit;
      }
    }
    if (chip) {
      ExpandOnChip(neuron, root, *term, cost, why);
    } else {
      LowerHostCone(neuron, cost, term ? ChipNumbers(cost) : "", why);
    }
  }

  // Host matmuls and multiply-adds per step of the cone under `root`.
  Cost HostCost(Value* root) {
    std::set<Operation*> cone;
    Cone(root, cone);
    Cost c;
    for (Operation* op : cone) {
      if (op->name() != "matmul") continue;
      const bool tb = op->attrs().GetBool("transpose_b").value_or(false);
      const ir::Type& bt = op->operand(1)->type();
      const double k = static_cast<double>(bt.dim(bt.rank() - (tb ? 1 : 2)));
      c.macs += static_cast<double>(op->result(0)->type().num_elements()) * k;
      ++c.matmuls;
    }
    return c;
  }

  // Why the expansion does not fit the target, or empty: a group the
  // partitioner cannot split whose inputs exceed a core's axons, or more
  // cores than the rest of the model leaves at least. An estimate: the
  // driver falls back to the host under auto when the plan still fails.
  std::string Misfit(const Cost& c) const {
    const passes::TargetInfo& t = ctx_->target;
    if (t.input_axons_per_core > 0 && c.max_axons > static_cast<int64_t>(t.input_axons_per_core)) {
      return c.max_axons_layer + " reads " + std::to_string(c.max_axons) +
             " and2 neurons, a core takes " + std::to_string(t.input_axons_per_core) +
             " input axons";
    }
    if (c.cores > budget_) {
      return "needs at least " + std::to_string(c.cores) + " cores, " +
             std::to_string(std::max<int64_t>(budget_, 0)) + " of " + std::to_string(t.cores) +
             " are left";
    }
    return "";
  }

  std::string ChipNumbers(const Cost& c) const {
    std::string layers;
    for (int64_t n : c.and2_sizes) layers += (layers.empty() ? "" : " + ") + std::to_string(n);
    return "the expansion needs " + std::to_string(c.compartments()) + " and2 compartments (" +
           layers + ") and " + std::to_string(c.synapses) + " synapses";
  }

  // --- SSA on the chip ---

  int NewLabel(int64_t size) {
    label_size_.push_back(size);
    return next_label_++;
  }

  static void Rename(Term& t, int from, int to) {
    for (Factor& f : t.factors) std::replace(f.labels.begin(), f.labels.end(), from, to);
    std::replace(t.out.begin(), t.out.end(), from, to);
  }

  // The cone under `v` as an einsum of spike leaves, or nullopt where it is
  // something else (a reshape between the matmuls, graded leaves, broadcast
  // batch dims): those stay on the host.
  std::optional<Term> BuildTerm(Value* v) {
    if (IsSpikeLeaf(*v)) {
      if (v->type().element() != ElementType::kSpike || !v->type().timed()) return std::nullopt;
      Term t;
      Factor f{v, {}};
      for (int64_t d : v->type().dims()) f.labels.push_back(NewLabel(d));
      t.out = f.labels;
      t.factors.push_back(std::move(f));
      return t;
    }
    Operation* d = v->def();
    const std::string& n = d->name();
    const int off = v->type().timed() ? 1 : 0;
    if (n == "mul_scalar") {
      auto t = BuildTerm(d->operand(0));
      if (t) t->scale *= *d->attrs().GetFloat("scalar");
      return t;
    }
    if (n == "transpose") {
      auto t = BuildTerm(d->operand(0));
      if (!t) return t;
      const int r = d->operand(0)->type().full_rank();
      int64_t a = *d->attrs().GetInt("dim0"), b = *d->attrs().GetInt("dim1");
      a = (a < 0 ? a + r : a) - off;
      b = (b < 0 ? b + r : b) - off;
      std::swap(t->out[static_cast<size_t>(a)], t->out[static_cast<size_t>(b)]);
      return t;
    }
    if (n == "permute") {
      auto t = BuildTerm(d->operand(0));
      if (!t) return t;
      const auto& dims = *d->attrs().GetIntList("dims");
      const int r = d->operand(0)->type().full_rank();
      std::vector<int> out;
      for (size_t k = static_cast<size_t>(off); k < dims.size(); ++k) {
        const int64_t p = dims[k] < 0 ? dims[k] + r : dims[k];
        out.push_back(t->out[static_cast<size_t>(p - off)]);
      }
      t->out = std::move(out);
      return t;
    }
    if (n != "matmul") return std::nullopt;
    auto a = BuildTerm(d->operand(0));
    auto b = a ? BuildTerm(d->operand(1)) : std::nullopt;
    if (!b) return std::nullopt;
    const size_t r = a->out.size();
    if (r < 2 || b->out.size() != r) return std::nullopt;
    if (d->attrs().GetBool("transpose_b").value_or(false)) std::swap(b->out[r - 1], b->out[r - 2]);
    for (size_t k = 0; k + 2 < r; ++k) {  // batch dims: the same, no broadcasting
      if (label_size_[a->out[k]] != label_size_[b->out[k]]) return std::nullopt;
      Rename(*b, b->out[k], a->out[k]);
    }
    if (label_size_[a->out[r - 1]] != label_size_[b->out[r - 2]]) return std::nullopt;
    const int contracted = a->out[r - 1];
    Rename(*b, b->out[r - 2], contracted);
    Term t;
    t.factors = std::move(a->factors);
    t.factors.insert(t.factors.end(), b->factors.begin(), b->factors.end());
    t.out = a->out;
    t.out.back() = b->out[r - 1];
    t.scale = a->scale * b->scale;
    return t;
  }

  // The neuron's input in flat order as labels of the cone's result: the
  // layout ops between them (transposes, permutes, reshapes that split no
  // label) only reorder the labels. Nullopt for anything else.
  std::optional<std::vector<int>> NeuronOrder(const Term& t, Value* in, Value* root) const {
    std::vector<Operation*> chain;
    for (Value* c = in; c != root; c = c->def()->operand(0)) chain.push_back(c->def());
    std::vector<std::vector<int>> dims;  // labels per per-step dim
    for (int l : t.out) dims.push_back({l});
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const Operation& op = **it;
      const ir::Type& type = op.operand(0)->type();
      const int off = type.timed() ? 1 : 0;
      const int r = type.full_rank();
      auto step_dim = [&](int64_t d) { return static_cast<size_t>((d < 0 ? d + r : d) - off); };
      if (op.name() == "transpose") {
        const size_t a = step_dim(*op.attrs().GetInt("dim0")),
                     b = step_dim(*op.attrs().GetInt("dim1"));
        if (a >= dims.size() || b >= dims.size()) return std::nullopt;
        std::swap(dims[a], dims[b]);
      } else if (op.name() == "permute") {
        const auto& perm = *op.attrs().GetIntList("dims");
        std::vector<std::vector<int>> out;
        for (size_t k = static_cast<size_t>(off); k < perm.size(); ++k) {
          const size_t p = step_dim(perm[k]);
          if (p >= dims.size()) return std::nullopt;
          out.push_back(dims[p]);
        }
        dims = std::move(out);
      } else {  // reshape, flatten: the same flat order, regrouped
        std::vector<int> flat;
        for (const auto& d : dims) flat.insert(flat.end(), d.begin(), d.end());
        std::vector<std::vector<int>> out;
        size_t k = 0;
        for (int64_t size : op.result(0)->type().dims()) {
          std::vector<int> group;
          int64_t n = 1;
          while (n < size && k < flat.size()) {
            n *= label_size_[static_cast<size_t>(flat[k])];
            group.push_back(flat[k++]);
          }
          if (n != size) return std::nullopt;  // a label split across dims
          out.push_back(std::move(group));
        }
        for (; k < flat.size(); ++k) {
          if (label_size_[static_cast<size_t>(flat[k])] != 1 || out.empty()) return std::nullopt;
          out.back().push_back(flat[k]);
        }
        dims = std::move(out);
      }
    }
    std::vector<int> order;
    for (const auto& d : dims) order.insert(order.end(), d.begin(), d.end());
    return order;
  }

  // The labels in the order the last and2 layer lays them out, given the
  // neuron's order `flat`: its rows (every label but its last, L), then L,
  // then the summed labels. So each neuron's terms are contiguous (tight
  // footprints), a row's terms are a row of the sum table (block-diagonal
  // weights over L), and the neuron is laid out as the model has it.
  std::vector<int> LabelOrder(const Term& t) const {
    std::vector<int> order = flat_;
    for (const Factor& f : t.factors) {
      for (int l : f.labels) {
        if (std::find(order.begin(), order.end(), l) == order.end()) order.push_back(l);
      }
    }
    return order;
  }

  std::vector<int> Rows() const { return {flat_.begin(), flat_.end() - 1}; }

  static std::vector<int> Union(const std::vector<int>& order, const std::vector<int>& a,
                                const std::vector<int>& b) {
    std::vector<int> u;
    for (int l : order) {
      if (std::count(a.begin(), a.end(), l) || std::count(b.begin(), b.end(), l)) u.push_back(l);
    }
    return u;
  }

  int64_t Size(const std::vector<int>& labels) const {
    int64_t n = 1;
    for (int l : labels) n *= label_size_[static_cast<size_t>(l)];
    return n;
  }

  // The and2 layers, greedily: each ANDs the pair of operands that spans the
  // fewest compartments per row of the neuron (labels other than the rows'),
  // then the fewest in all (the last one spans every label, in `order`).
  // Every product term needs its own AND in the last layer (the terms are
  // summed, and a sum of spikes is no longer binary), so only the first
  // layer can be chosen. For SSA q & k (N d per query and head) wins over
  // k & v (N d^2, none of it per query): a row of the last layer then reads
  // one query's block of the first, so both split by query.
  struct Step {
    size_t a = 0, b = 0;
    std::vector<int> labels;
  };
  std::vector<Step> Plan(const Term& t) const {
    const std::vector<int> order = LabelOrder(t);
    std::vector<std::vector<int>> items;
    for (const Factor& f : t.factors) items.push_back(f.labels);
    const std::vector<int> rows = Rows();
    std::vector<Step> steps;
    while (items.size() > 1) {
      Step best;
      std::pair<int64_t, int64_t> best_size{-1, -1};
      for (size_t i = 0; i < items.size(); ++i) {
        for (size_t j = i + 1; j < items.size(); ++j) {
          std::vector<int> u = Union(order, items[i], items[j]);
          std::vector<int> per_row;
          for (int l : u) {
            if (std::find(rows.begin(), rows.end(), l) == rows.end()) per_row.push_back(l);
          }
          const std::pair<int64_t, int64_t> size{Size(per_row), Size(u)};
          if (best_size.first < 0 || size < best_size) {
            best = {i, j, u};
            best_size = size;
          }
        }
      }
      items.erase(items.begin() + static_cast<ptrdiff_t>(best.b));
      items[best.a] = best.labels;
      steps.push_back(best);
    }
    return steps;
  }

  // The expansion as the partitioner will plan it (footprints): an and2
  // reads two neurons, so its layers split as finely as needed and bind no
  // input axons; a group of the neuron lies within one row of the sum table
  // (per-token dense tables) and reads that row's terms, width * fanin, so
  // no split goes below that. Cores, a lower bound per layer: by neurons,
  // synapse memory and output axons (each and2 feeds at least one core);
  // the sum's by input axons (each core takes at most that many terms) and
  // its dense rows' memory.
  void ChipCost(const Term& t, const Operation& neuron, Cost& c) const {
    const passes::TargetInfo& target = ctx_->target;
    auto cores = [](int64_t need, uint64_t per_core) {
      return per_core == 0 ? 0 : CeilDiv(need, static_cast<int64_t>(per_core));
    };
    for (const Step& s : Plan(t)) {
      const int64_t n = Size(s.labels);
      c.and2_sizes.push_back(n);
      c.synapses += 2 * n;
      c.cores += std::max({cores(n, target.neurons_per_core),
                           cores(2 * n * static_cast<int64_t>(target.bits_per_sparse_synapse),
                                 target.synapse_bits_per_core),
                           cores(n, target.output_axons_per_core)});
    }
    const int64_t last = c.and2_sizes.back();
    const int64_t width = label_size_[static_cast<size_t>(flat_.back())];
    const int64_t rows = Size(Rows());
    c.sum_fanin = last / std::max<int64_t>(Size(t.out), 1);
    c.synapses += last;
    c.max_axons = width * c.sum_fanin;
    c.max_axons_layer = "a row of the sum into '" + neuron.name() + "' (" + std::to_string(width) +
                        " neurons x " + std::to_string(c.sum_fanin) + " terms)";
    c.cores += std::max(cores(last, target.input_axons_per_core),
                        cores(rows * width * width * c.sum_fanin *
                                  static_cast<int64_t>(target.bits_per_dense_synapse),
                              target.synapse_bits_per_core));
  }

  // A port of an and2 laid out as `target` labels: the operand's dims
  // permuted into target order, then size-1 dims for the labels it lacks
  // (NumPy broadcasting fans it out).
  Value* Port(Value* v, const std::vector<int>& labels, const std::vector<int>& target,
              const Operation* at) {
    std::vector<int> sorted;
    for (int l : target) {
      if (std::count(labels.begin(), labels.end(), l)) sorted.push_back(l);
    }
    if (sorted != labels) {
      std::vector<int64_t> perm = {0};
      for (int l : sorted) {
        perm.push_back(std::find(labels.begin(), labels.end(), l) - labels.begin() + 1);
      }
      ir::AttrDict a;
      a.Set("dims", ir::Attribute::IntList(perm));
      v = Make("permute", {v}, std::move(a), at);
    }
    if (sorted != target) {
      std::vector<int64_t> shape;
      for (int l : target) {
        shape.push_back(std::count(labels.begin(), labels.end(), l) ? label_size_[l] : 1);
      }
      ir::AttrDict a;
      a.Set("shape", ir::Attribute::IntList(shape));
      v = Make("reshape", {v}, std::move(a), at);
    }
    return v;
  }

  void ExpandOnChip(Operation* neuron, Value* root, const Term& t, const Cost& cost,
                    const std::string& why) {
    const std::string base = Base(*neuron, "attn");
    std::vector<Factor> items = t.factors;
    int k = 0;
    for (const Step& s : Plan(t)) {
      ir::Location loc = neuron->loc();
      loc.module_path = base + ".and" + std::to_string(++k);
      loc.op_name.clear();
      Value* ports[2] = {Port(items[s.a].value, items[s.a].labels, s.labels, neuron),
                         Port(items[s.b].value, items[s.b].labels, s.labels, neuron)};
      // The compile report groups the layers of one attention by this.
      ir::AttrDict attrs;
      attrs.Set("attn.ssa", ir::Attribute::String(base));
      auto made = module_->CreateInferred("and2", ports, std::move(attrs), loc, neuron);
      SPK_CHECK_OK(made.status());
      items.erase(items.begin() + static_cast<ptrdiff_t>(s.b));
      items[s.a] = {(*made)->result(0), s.labels};
    }
    // The sum over the contracted labels: a table over each row,
    // (L, summed...) -> L, weight `scale` on its own L's terms (quantize folds
    // the scale into the table as it folds mul_scalar).
    const Factor& last = items.front();
    const int64_t fanin = cost.sum_fanin;
    const int64_t width = label_size_[static_cast<size_t>(flat_.back())];
    std::vector<int64_t> shape;
    for (int l : Rows()) shape.push_back(label_size_[static_cast<size_t>(l)]);
    shape.push_back(width * fanin);
    ir::AttrDict ra;
    ra.Set("shape", ir::Attribute::IntList(shape));
    Value* v = Make("reshape", {last.value}, std::move(ra), neuron);
    std::vector<float> weights(static_cast<size_t>(width * width * fanin), 0.0f);
    for (int64_t c = 0; c < width; ++c) {
      std::fill_n(weights.begin() + (c * width + c) * fanin, fanin, static_cast<float>(t.scale));
    }
    ir::Constant* w = passes::AddUniqueConstant(
        *module_, base + ".and_sum", ir::Type::Untimed(ElementType::kF32, {width, fanin * width}),
        ir::TensorData(std::move(weights)));
    ir::AttrDict la;
    la.Set("weight", ir::Attribute::Ref(w->name()));
    v = Make("linear", {v}, std::move(la), neuron);
    if (direct_) {
      // Already in the neuron's order.
      const std::vector<int64_t>& dims = neuron->operand(0)->type().dims();
      if (v->type().dims() != dims) {
        ir::AttrDict na;
        na.Set("shape", ir::Attribute::IntList(dims));
        v = Make("reshape", {v}, std::move(na), neuron);
      }
    } else {
      // In the cone's order: the layout ops between the cone and the neuron
      // again, on the f32 sum (their old results may be graded).
      std::vector<Operation*> chain;
      for (Value* c = neuron->operand(0); c != root; c = c->def()->operand(0)) {
        chain.push_back(c->def());
      }
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        auto made = module_->CreateInferred((*it)->name(), std::span<Value* const>(&v, 1),
                                            (*it)->attrs(), (*it)->loc(), neuron);
        SPK_CHECK_OK(made.status());
        v = (*made)->result(0);
      }
    }
    Operation* old = neuron->operand(0)->def();
    neuron->SetOperand(0, v);
    passes::EraseIfDead(old);
    std::string layers;
    for (size_t i = 0; i < cost.and2_sizes.size(); ++i) {
      layers += (i ? ", " : "") + base + ".and" + std::to_string(i + 1) + " " +
                std::to_string(cost.and2_sizes[i]);
    }
    char host[96];
    std::snprintf(host, sizeof host, "%d host matmul(s), %.0f multiply-adds per step", cost.matmuls,
                  cost.macs);
    ctx_->diags.Remark(neuron->DiagLocation(),
                       "spike matmuls feeding '" + neuron->name() + "' expanded on the chip (" +
                           why + "): " + std::to_string(cost.compartments()) +
                           " and2 compartments (" + layers + "), " + std::to_string(cost.synapses) +
                           " synapses, " + std::to_string(cost.and2_sizes.size()) +
                           " step(s) of delay; on the host: " + host);
  }

  // --- SSA on the host ---

  void LowerHostCone(Operation* neuron, const Cost& cost, const std::string& chip_numbers,
                     const std::string& why) {
    std::set<Operation*> cone;
    Cone(neuron->operand(0), cone);
    std::map<const Value*, Interval> bounds;
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
      h->mutable_attrs().Set("attn.ssa", ir::Attribute::String(Base(*neuron, "attn")));
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
                  "%d host matmul(s), %.0f multiply-adds per step; result enters as graded "
                  "port, scale %g",
                  cost.matmuls, cost.macs, scale);
    ctx_->diags.Remark(neuron->DiagLocation(),
                       "spike matmuls feeding '" + neuron->name() + "' run on the host (" + why +
                           "): " + numbers +
                           (chip_numbers.empty() ? "" : "; on the chip " + chip_numbers));
  }

  ir::Module* module_ = nullptr;
  passes::PassContext* ctx_ = nullptr;
  bool failed_ = false;
  std::string mode_;    // auto, host, chip
  int64_t budget_ = 0;  // cores left for expansions (auto and chip, known target)
  int next_label_ = 0;
  std::vector<int64_t> label_size_;
  // The current attention's neuron order as labels (its input's flat order),
  // and whether the layout ops before the neuron read as that order.
  std::vector<int> flat_;
  bool direct_ = false;
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

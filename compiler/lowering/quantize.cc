// quantize: float layers feeding mapped neurons -> integer synapse tables and
// `cuba_lif` groups (docs/lowering.md#quantization).
//
// For a neuron annotated by lower-neurons, fed by `linear`/`conv2d` layers or
// an `add` of them (layout ops between the layers and the neuron move behind
// it; neurons are element-wise), whose inputs are events or the model's f32
// input:
//   - the model input becomes a graded input port: `input` keeps its name,
//     gains `scale` (a power of two, payload = round(x * scale)) and
//     `repeat_t` goes away;
//   - an input that is an `add` of events (a residual sum of spikes) is
//     distributed: W (a + b) = W a + W b, one table per summand into the
//     same group;
//   - one voltage scale S per neuron group (chip v = S * real V) is chosen,
//     the largest (-O0/-O1: powers of two; -O2+: also 32 mantissas per
//     octave, minimising the weight error; layers of 131,072 weights or more
//     rank those on a sample and quantize the best two in full, unless
//     option quantize.search=full) for which every table's weights
//     fit the 8-bit hardware range with a weight_exp in -8..7, the worst-case
//     a_in over all tables fits 16 bits, vth fits 17 bits and the bias fits
//     bias_mant (13 bits) << bias_exp (0..7).
// The group records S and the relative weight error as `quant.scale` and
// `quant.error`, and a remark says the same.
//
// -O3 splits the weights of a layer whose 8-bit error exceeds 0.01% into
// two tables from the same source: the 8-bit weights as above, and their
// rounding residue as 8-bit weights at a 2^7 finer weight_exp, both summed
// into a_in by the chip. About 15 bits of weight precision for twice the
// synapse memory (docs/lowering.md#quantization).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"
#include "compiler/ir/layout.h"
#include "compiler/lowering/compose.h"
#include "compiler/lowering/lowering.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::lowering {
namespace {

using ir::ElementType;
using ir::Operation;
using ir::Value;

constexpr double kAinMax = 32767, kAinMin = -32768;
constexpr int64_t kVthMax = (1 << 17) - 1;
// Layers with at least this many weights search their scales on two threads.
constexpr uint64_t kParallelWeights = 1 << 16;
// Layers with at least this many weights rank the candidate scales on an
// evenly spaced sample of kSampleWeights weights, then quantize only the
// best ranked kFinalists in full (Spikformer-4-384: the same image as the
// full scan with 4,096 and 2).
constexpr uint64_t kSampledWeights = 1 << 17;
constexpr uint64_t kSampleWeights = 1 << 12;
constexpr int kFinalists = 2;
constexpr int kBiasExpMax = 7;
constexpr double kBiasMantMax = 4095;

struct Range {
  double lo = 0, hi = 0;
};

bool IsEvents(const ir::Type& t) {
  return t.element() == ElementType::kSpike || t.element() == ElementType::kGraded;
}

// One synapse table to build: a weighted layer applied to one event source.
struct Table {
  Operation* layer = nullptr;  // linear or conv2d (weights, attributes)
  Value* source = nullptr;     // events the table reads
  // Set when the layer reaches the neuron through layout ops or means: the
  // layer and that way as one sparse table (its weights replace the layer's).
  std::shared_ptr<const ComposedTable> composed;
  // Names the table's constants: the layer's weight, or the stream's.
  std::string base;
  const Operation* origin = nullptr;  // the layer, or the stream's add
  Range range;                        // payload bounds of `source`
  double in_scale = 1.0;              // payload = real value * in_scale
  // Chosen by the search:
  int weight_exp = 0;
  std::vector<int16_t> wq;
};

// The low half of a split table: the residue of the 8-bit weights.
struct LowTable {
  bool used = false;
  int weight_exp = 0;
  std::vector<int16_t> wq;
};

constexpr double kSplitAboveError = 1e-4;

// Synapses of one layer a composed table may expand to before merging (the
// residual streams of the Spike-driven Transformers we compile need well
// under a million); beyond it the compile fails with the number.
constexpr size_t kMaxComposedSynapses = size_t{1} << 25;

struct Choice {
  bool ok = false;
  double scale = 0;
  double error = 0;
  int64_t vth = 0;
  int bias_exp = 0;
  std::vector<int16_t> bias_mant;
  std::vector<int> weight_exps;
  std::vector<std::vector<int16_t>> wq;
  double ain_lo = 0, ain_hi = 0;  // worst-case a_in over all tables
};

// A weighted layer of a neuron's input and the ops from its result to the
// neuron's input (layout ops, means), in order.
struct Term {
  Operation* layer = nullptr;
  Value* stream = nullptr;  // instead of a layer: a stream a relay carries
  std::vector<Operation*> path;
};

struct Stream {
  Value* relay = nullptr;  // graded payloads, in the stream's shape
  double payload_scale = 1;
  std::vector<double> bias;  // per element: the bias its readers add
  std::string name;
};
std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

class QuantizePass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "quantize";
  static constexpr std::string_view kSummary =
      "quantize the layers feeding mapped neurons into syn_* tables and cuba_lif groups";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    module_ = &module;
    ctx_ = &ctx;
    const std::string search = ctx.Option("quantize.search", "auto");
    if (search != "auto" && search != "full") {
      return InvalidArgumentError("quantize: option search must be auto or full, got '" + search +
                                  "'");
    }
    sample_large_ = search == "auto";
    for (Operation* op : module.OpsSnapshot()) {
      if (IsStreamAdd(*op)) {
        LowerStream(op);
        continue;
      }
      if (op->name() != "lif" && op->name() != "if_neuron") continue;
      if (!op->attrs().Has("cuba.dv")) {
        Error(*op, "has no CUBA mapping; run lower-neurons before quantize");
        continue;
      }
      LowerNeuron(op);
    }
    // An f32 input that became a graded port may not be read as float too
    // (two inputs of one name): report its other readers.
    for (auto& [input, port] : ports_) {
      (void)port;
      for (const Value::Use& use : input->result(0)->uses()) {
        Error(*use.user, "reads the model input '" + *input->attrs().GetString("name") +
                             "' as float while synapses read it as a graded port");
      }
    }
    if (failed_) return InvalidArgumentError("quantize: some neurons cannot be lowered");
    return Status::Ok();
  }

 private:
  void Error(const Operation& op, const std::string& what) {
    ctx_->diags.Error(op.DiagLocation(), "'" + op.name() + "' op " + what);
    failed_ = true;
  }

  // Bounds of an event value's payload, or nullopt with an error.
  std::optional<Range> EventRange(Value* v, const Operation& user) {
    if (v->type().element() == ElementType::kSpike) return Range{0, 1};
    Operation* d = v->def();
    if (IsLayoutOp(*d)) return EventRange(d->operand(0), user);
    {  // graded inputs and relays record their payload range
      auto lo = d->attrs().GetFloat("quant.payload_min");
      auto hi = d->attrs().GetFloat("quant.payload_max");
      if (lo && hi) return Range{*lo, *hi};
    }
    if (d->name() == "add") {
      auto a = EventRange(d->operand(0), user);
      auto b = a ? EventRange(d->operand(1), user) : std::nullopt;
      if (!b) return std::nullopt;
      return Range{a->lo + b->lo, a->hi + b->hi};
    }
    if (d->name() == "sum" && d->operand(0)->type().element() == ElementType::kSpike) {
      const ir::Type& t = d->operand(0)->type();
      double n = 1;
      for (int64_t dim : *d->attrs().GetIntList("dims")) {
        int64_t k = dim < 0 ? dim + t.full_rank() : dim;
        if (t.timed() && k == 0) return std::nullopt;
        n *= static_cast<double>(t.dim(static_cast<int>(k - (t.timed() ? 1 : 0))));
      }
      return Range{0, n};
    }
    Error(user, "reads a graded value from '" + d->name() +
                    "' whose payload range is unknown; cannot bound the synaptic input");
    return std::nullopt;
  }

  // The events a layer's input `x` stands for, converting the model's f32
  // input into a graded input port. Appends one (source, range) per summand
  // of an add of events.
  bool CollectSources(Value* x, const Operation& user, std::vector<Table>& out, Operation* layer,
                      double gain = 1.0) {
    // mul_scalar(events) by a positive scalar folds into the weights.
    if (x->def()->name() == "mul_scalar" && IsEvents(x->def()->operand(0)->type()) &&
        *x->def()->attrs().GetFloat("scalar") > 0) {
      return CollectSources(x->def()->operand(0), user, out, layer,
                            gain * *x->def()->attrs().GetFloat("scalar"));
    }
    if (IsEvents(x->type())) {
      Operation* d = x->def();
      if (d->name() == "add" && IsEvents(d->operand(0)->type()) &&
          IsEvents(d->operand(1)->type()) && d->operand(0)->type() == d->operand(1)->type() &&
          d->operand(0)->type().dims() == x->type().dims()) {
        return CollectSources(d->operand(0), user, out, layer, gain) &&
               CollectSources(d->operand(1), user, out, layer, gain);
      }
      auto r = EventRange(x, user);
      if (!r) return false;
      Table t;
      t.layer = layer;
      t.source = x;
      t.range = *r;
      if (d->name() == "input") t.in_scale = d->attrs().GetFloat("scale").value_or(1.0);
      if (d->name() == "host") t.in_scale = d->attrs().GetFloat("port.scale").value_or(1.0);
      t.in_scale /= gain;
      out.push_back(std::move(t));
      return true;
    }
    // A float x: layout ops over mul_scalar(events) (a pooled count) or over
    // the repeated model input. The layout chain is rebuilt on the events.
    std::vector<Operation*> chain;
    Value* base = x;
    while (IsLayoutOp(*base->def())) {
      chain.push_back(base->def());
      base = base->def()->operand(0);
    }
    if (!chain.empty() && base->def()->name() == "mul_scalar" &&
        IsEvents(base->def()->operand(0)->type())) {
      Value* v = Rebuild(chain, base->def()->operand(0));
      return CollectSources(v, user, out, layer, gain * *base->def()->attrs().GetFloat("scalar"));
    }
    Value* graded = GradedInput(x, user);
    if (graded == nullptr) return false;
    Operation* in = graded->def();
    while (in->name() != "input") in = in->operand(0)->def();
    Table t;
    t.layer = layer;
    t.source = graded;
    t.range = Range{*in->attrs().GetFloat("quant.payload_min"),
                    *in->attrs().GetFloat("quant.payload_max")};
    t.in_scale = *in->attrs().GetFloat("scale");
    out.push_back(std::move(t));
    return true;
  }

  // x = layout*(repeat_t(input f32)): the same chain on a graded input port.
  Value* GradedInput(Value* x, const Operation& user) {
    std::vector<Operation*> chain;
    Value* v = x;
    while (IsLayoutOp(*v->def())) {
      chain.push_back(v->def());
      v = v->def()->operand(0);
    }
    Operation* rep = v->def();
    if (rep->name() == "repeat_t") {
      // The input may be reshaped before it is repeated (x.flatten(1) first).
      std::vector<Operation*> before;
      Value* u = rep->operand(0);
      while (IsLayoutOp(*u->def())) {
        before.push_back(u->def());
        u = u->def()->operand(0);
      }
      if (u->def()->name() == "input") return Rebuild(chain, Rebuild(before, InputPort(u->def())));
    }
    Error(user, "reads a float value from '" + rep->name() +
                    "'; only events or the model input can feed synapses");
    return nullptr;
  }

  // The layout ops of `chain` (outermost first) applied to `v` instead.
  Value* Rebuild(const std::vector<Operation*>& chain, Value* v) {
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      Operation* c = *it;
      auto made = module_->CreateInferred(c->name(), std::span<Value* const>(&v, 1), c->attrs(),
                                          c->loc(), c);
      SPK_CHECK_OK(made.status());
      v = (*made)->result(0);
    }
    return v;
  }

  // The graded, timed replacement of an f32 model input (made once).
  Value* InputPort(Operation* input) {
    auto it = ports_.find(input);
    if (it != ports_.end()) return it->second;
    double lo = 0, hi = 1;
    if (const auto* r = module_->attrs().GetFloatList("spk.input_range"); r && r->size() == 2) {
      lo = (*r)[0];
      hi = (*r)[1];
    }
    double mag = std::max({std::fabs(lo), std::fabs(hi), 1e-30});
    // The largest power of two that keeps payloads within 8 bits.
    double scale =
        std::ldexp(1.0, std::clamp(static_cast<int>(std::floor(std::log2(255.0 / mag))), -16, 16));
    ir::AttrDict attrs = input->attrs();
    attrs.Set("scale", ir::Attribute::Float(scale));
    attrs.Set("quant.payload_min", ir::Attribute::Float(std::round(lo * scale)));
    attrs.Set("quant.payload_max", ir::Attribute::Float(std::round(hi * scale)));
    const ir::Type& t = input->result(0)->type();
    Operation* port =
        module_->CreateOp("input", {}, {ir::Type::Timed(ElementType::kGraded, t.dims())},
                          std::move(attrs), input->loc(), input);
    ports_[input] = port->result(0);
    return port->result(0);
  }

  // The tables of `terms` into a group over `pre`'s elements, and the bias
  // they bring. Composed tables when `composed`. False after an error.
  bool BuildTables(const std::vector<Term>& terms, const ir::Type& pre, bool composed,
                   std::vector<Table>& tables, std::vector<double>& bias) {
    bias.assign(static_cast<size_t>(pre.num_elements()), 0.0);
    for (const Term& term : terms) {
      const size_t first = tables.size();
      StatusOr<ComposedTable> c = InvalidArgumentError("");
      if (term.stream != nullptr) {
        // A stream a relay carries: its payloads, with the stream's bias.
        const Stream& st = streams_.at(term.stream);
        auto r = EventRange(st.relay, *term.stream->def());
        if (!r) return false;
        Table t;
        t.source = st.relay;
        t.range = *r;
        t.in_scale = st.payload_scale;
        t.origin = term.stream->def();
        t.base = st.name;
        tables.push_back(std::move(t));
        c = ComposeIdentity(*term.stream, st.bias, term.path);
      } else {
        Operation* layer = term.layer;
        if (layer->name() == "conv2d") {
          const auto* dil = layer->attrs().GetIntList("dilation");
          if (dil != nullptr &&
              std::any_of(dil->begin(), dil->end(), [](int64_t d) { return d != 1; })) {
            Error(*layer, "with dilation cannot become a syn_conv2d table");
            return false;
          }
        }
        if (!CollectSources(layer->operand(0), *layer, tables, layer)) return false;
        for (size_t i = first; i < tables.size(); ++i) {
          tables[i].origin = layer;
          tables[i].base = *layer->attrs().GetRef("weight");
        }
        if (!composed) {
          AddBias(*layer, pre, bias);
          continue;
        }
        c = ComposeTable(*module_, *layer, term.path, kMaxComposedSynapses);
      }
      if (!c.ok()) {
        ctx_->diags.Error(tables[first].origin->DiagLocation(), std::string(c.status().message()));
        failed_ = true;
        return false;
      }
      auto shared = std::make_shared<const ComposedTable>(std::move(c).value());
      for (size_t i = first; i < tables.size(); ++i) tables[i].composed = shared;
      for (size_t i = 0; i < bias.size(); ++i) bias[i] += shared->bias[i];
    }
    return true;
  }

  // The tables' synapse ops and the add tree summing them (the group's
  // operand), with the low halves of a split.
  Value* EmitTables(const std::vector<Table>& tables, const Choice& best,
                    const std::vector<LowTable>& low, Operation* before) {
    Value* sum = nullptr;
    auto accumulate = [&](Value* syn) {
      if (sum == nullptr) {
        sum = syn;
        return;
      }
      Value* ops[2] = {sum, syn};
      auto add = module_->CreateInferred("add", ops, {}, before->loc(), before);
      SPK_CHECK_OK(add.status());
      sum = (*add)->result(0);
    };
    for (size_t i = 0; i < tables.size(); ++i) {
      const bool split = !low.empty() && low[i].used;
      if (tables[i].composed) {
        accumulate(EmitComposed(tables[i], best.wq[i], best.weight_exps[i], before, ".q"));
        if (split) {
          accumulate(EmitComposed(tables[i], low[i].wq, low[i].weight_exp, before, ".qlo"));
        }
        continue;
      }
      accumulate(
          EmitTable(tables[i], best.wq[i], best.weight_exps[i], before, table_weights_, ".q"));
      if (split) {
        accumulate(
            EmitTable(tables[i], low[i].wq, low[i].weight_exp, before, low_weights_, ".qlo"));
      }
    }
    return sum;
  }

  static std::string SplitNote(const std::vector<LowTable>& low, double error_8bit) {
    const size_t split = static_cast<size_t>(
        std::count_if(low.begin(), low.end(), [](const LowTable& l) { return l.used; }));
    if (split == 0) return "";
    return "; " + std::to_string(split) + " split into high and low 8-bit tables (8-bit error " +
           Fmt(100 * error_8bit) + "%)";
  }

  // An f32 add of layer results read by more than one neuron, or read
  // through a mean (a Spike-driven Transformer's membrane shortcut): it
  // becomes a relay group whose graded payloads carry the sum, and each
  // reader reads the relay. Composing the whole sum into every reader
  // instead would make the deep readers read every layer before them, more
  // input axons than a core has; the relay costs one step of delay and a
  // rounding of the sum to the payload's 16 bits.
  bool IsStreamAdd(const Operation& op) {
    if (op.name() != "add" || op.result(0)->type().element() != ElementType::kF32) return false;
    // Neurons reading the sum through layout ops (direct) or also means.
    int direct = 0, through_mean = 0, others = 0;
    std::vector<std::pair<const Value*, bool>> work = {{op.result(0), false}};
    while (!work.empty()) {
      const auto [v, meaned] = work.back();
      work.pop_back();
      for (const Value::Use& use : v->uses()) {
        const Operation& u = *use.user;
        if (IsLayoutOp(u) || (u.name() == "mean" && IsComposable(u))) {
          work.push_back({u.result(0), meaned || u.name() == "mean"});
        } else if (u.name() == "lif" || u.name() == "if_neuron") {
          ++(meaned ? through_mean : direct);
        } else {
          ++others;
        }
      }
    }
    // One neuron reading it directly composes it; no neuron: the host's.
    if (direct + through_mean == 0 || (direct == 1 && through_mean == 0 && others == 0)) {
      return false;
    }
    return IsStreamTree(*op.result(0));
  }

  // Whether `v` is a sum of layers and streams through composable ops.
  bool IsStreamTree(const Value& v) const {
    const Operation& d = *v.def();
    if (d.name() == "linear" || d.name() == "conv2d" || streams_.count(&v) > 0) return true;
    if (d.name() == "add") {
      return d.operand(0)->type().dims() == v.type().dims() &&
             d.operand(1)->type().dims() == v.type().dims() && IsStreamTree(*d.operand(0)) &&
             IsStreamTree(*d.operand(1));
    }
    return v.type().element() == ElementType::kF32 && IsComposable(d) &&
           IsStreamTree(*d.operand(0));
  }

  void LowerStream(Operation* add) {
    composed_index_.clear();
    Value* value = add->result(0);
    std::vector<Term> terms;
    std::vector<Operation*> above;
    if (!CollectTerms(value, *add, above, terms)) return;
    const bool composed = std::any_of(terms.begin(), terms.end(), [](const Term& t) {
      return !t.path.empty() || t.stream != nullptr;
    });
    std::vector<Table> tables;
    std::vector<double> bias;
    if (!BuildTables(terms, value->type(), composed, tables, bias)) return;
    // The relay adds no bias: its readers add the stream's.
    const std::vector<double> none(bias.size(), 0.0);
    Choice best = Search(tables, none, 1.0, std::numeric_limits<double>::quiet_NaN());
    if (!best.ok) {
      Error(*add,
            "(a stream of real values) cannot be quantized: no payload scale fits its "
            "weights and a 16-bit payload");
      return;
    }
    const double error_8bit = best.error;
    std::vector<LowTable> low;
    if (ctx_->opt_level >= 3 && best.error > kSplitAboveError) low = Split(tables, best, 1.0);
    Value* sum = EmitTables(tables, best, low, add);
    ir::AttrDict attrs;
    attrs.Set("quant.payload_min", ir::Attribute::Float(best.ain_lo));
    attrs.Set("quant.payload_max", ir::Attribute::Float(best.ain_hi));
    attrs.Set("quant.scale", ir::Attribute::Float(best.scale));
    attrs.Set("quant.error", ir::Attribute::Float(std::round(best.error * 1e6) / 1e6));
    Value* relay = Create("relay", sum, std::move(attrs), add->loc(), add);
    if (composed) {
      ir::AttrDict shape;
      shape.Set("shape", ir::Attribute::IntList(value->type().dims()));
      relay = Create("reshape", relay, std::move(shape), add->loc(), add);
    }
    const std::string& path = add->loc().module_path;
    // payload = a_in = real * S / 64 (gain 1).
    streams_[value] = Stream{relay, best.scale / 64.0, std::move(bias),
                             (path.empty() ? std::string("stream") : path + ".stream")};
    ctx_->diags.Remark(add->DiagLocation(),
                       "'add' op of real values read by several neurons carried by a relay "
                       "group: payload scale " +
                           Fmt(best.scale / 64.0) + ", weight error " + Fmt(100 * best.error) +
                           "% over " + std::to_string(tables.size()) + " table(s)" +
                           SplitNote(low, error_8bit));
  }

  void LowerNeuron(Operation* neuron) {
    composed_index_.clear();  // keyed by tables that live only in this call
    // Layout ops between the weighted layers and the neuron move behind it
    // (whoever else reads them keeps the float value).
    std::vector<Operation*> post;
    Value* in = neuron->operand(0);
    while (IsLayoutOp(*in->def())) {
      post.push_back(in->def());
      in = in->def()->operand(0);
    }
    std::vector<Term> terms;
    std::vector<Operation*> above;
    if (!CollectTerms(in, *neuron, above, terms)) return;
    // Layers that reach the neuron through layout ops or means, and streams,
    // compose with them into sparse tables; then every table is composed, so
    // that all of them deliver the neuron's flat order.
    const bool composed = std::any_of(terms.begin(), terms.end(), [](const Term& t) {
      return !t.path.empty() || t.stream != nullptr;
    });
    const ir::Type& pre = in->type();
    std::vector<Table> tables;
    std::vector<double> bias;
    if (!BuildTables(terms, pre, composed, tables, bias)) return;

    const ir::AttrDict& na = neuron->attrs();
    double gain = *na.GetFloat("cuba.gain");
    double vthr = *na.GetFloat("v_threshold");
    Choice best = Search(tables, bias, gain, vthr);
    if (!best.ok) {
      Error(*neuron,
            "cannot be quantized: no voltage scale fits weights, a_in (16 bits), vth "
            "(17 bits) and bias (13 bits << 7) at once");
      return;
    }

    const double error_8bit = best.error;
    std::vector<LowTable> low;
    if (ctx_->opt_level >= 3 && best.error > kSplitAboveError) {
      low = Split(tables, best, gain);
    }
    Value* sum = EmitTables(tables, best, low, neuron);
    ir::AttrDict attrs;
    attrs.Set("du", ir::Attribute::Int(*na.GetInt("cuba.du")));
    attrs.Set("dv", ir::Attribute::Int(*na.GetInt("cuba.dv")));
    attrs.Set("vth", ir::Attribute::Int(best.vth));
    if (std::any_of(best.bias_mant.begin(), best.bias_mant.end(),
                    [](int16_t b) { return b != 0; })) {
      std::string base = tables.front().base;
      if (base.size() > 7 && base.ends_with(".weight")) base.resize(base.size() - 7);
      ir::Constant* c = passes::AddUniqueConstant(
          *module_, base + ".bias_mant",
          ir::Type::Untimed(ElementType::kI16, {static_cast<int64_t>(best.bias_mant.size())}),
          ir::TensorData(best.bias_mant));
      attrs.Set("bias_mant", ir::Attribute::Ref(c->name()));
      if (best.bias_exp != 0) attrs.Set("bias_exp", ir::Attribute::Int(best.bias_exp));
    }
    attrs.Set("quant.scale", ir::Attribute::Float(best.scale));
    attrs.Set("quant.error", ir::Attribute::Float(std::round(best.error * 1e6) / 1e6));
    Value* s = Create("cuba_lif", sum, std::move(attrs), neuron->loc(), neuron);
    if (composed) {
      ir::AttrDict shape;
      shape.Set("shape", ir::Attribute::IntList(pre.dims()));
      s = Create("reshape", s, std::move(shape), neuron->loc(), neuron);
    }
    for (auto it = post.rbegin(); it != post.rend(); ++it) {
      s = Create((*it)->name(), s, (*it)->attrs(), (*it)->loc(), neuron);
    }
    const bool reordered = composed || std::any_of(post.begin(), post.end(), [](Operation* p) {
                             return !ir::IsIdentityPermutation(ir::StepPermutation(*p));
                           });
    if (reordered && !neuron->loc().module_path.empty()) {
      // The neuron's spikes in the source model's order are these, not the
      // group's: a probe of the layer reads here (driver AddNeuronProbes).
      s->def()->mutable_attrs().Set("probe.neuron",
                                    ir::Attribute::String(neuron->loc().module_path));
    }
    ctx_->diags.Remark(neuron->DiagLocation(),
                       "'" + neuron->name() + "' op lowered to cuba_lif: scale " + Fmt(best.scale) +
                           ", vth " + std::to_string(best.vth) + ", weight error " +
                           Fmt(100 * best.error) + "% over " + std::to_string(tables.size()) +
                           " table(s)" +
                           (composed ? " composed through layout ops and means" : "") +
                           SplitNote(low, error_8bit));
    Value* old_in = neuron->operand(0);
    passes::ReplaceOpWith(neuron, s);
    passes::EraseIfDead(old_in->def());
    for (auto& [input, port] : ports_) {
      (void)port;
      for (ir::Value::Use use : std::vector<ir::Value::Use>(input->result(0)->uses())) {
        passes::EraseIfDead(use.user);
      }
    }
    for (auto it = ports_.begin(); it != ports_.end();) {
      if (it->first->result(0)->unused()) {
        module_->EraseOp(it->first);
        it = ports_.erase(it);
      } else {
        ++it;
      }
    }
  }

  Value* Create(std::string_view name, Value* x, ir::AttrDict attrs, const ir::Location& loc,
                Operation* before) {
    auto made = module_->CreateInferred(name, std::span<Value* const>(&x, 1), std::move(attrs), loc,
                                        before);
    SPK_CHECK_OK(made.status());
    return (*made)->result(0);
  }

  // The layers summed into `v`; `above` holds the composable ops between v
  // and the neuron's input, innermost last.
  bool CollectTerms(Value* v, const Operation& neuron, std::vector<Operation*>& above,
                    std::vector<Term>& out) {
    Operation* d = v->def();
    if (streams_.count(v) > 0) {
      out.push_back({nullptr, v, std::vector<Operation*>(above.rbegin(), above.rend())});
      return true;
    }
    if (d->name() == "linear" || d->name() == "conv2d") {
      out.push_back({d, nullptr, std::vector<Operation*>(above.rbegin(), above.rend())});
      return true;
    }
    if (d->name() == "add" && d->operand(0)->type().dims() == v->type().dims() &&
        d->operand(1)->type().dims() == v->type().dims()) {
      return CollectTerms(d->operand(0), neuron, above, out) &&
             CollectTerms(d->operand(1), neuron, above, out);
    }
    if (v->type().element() == ElementType::kF32 && IsComposable(*d)) {
      above.push_back(d);
      const bool ok = CollectTerms(d->operand(0), neuron, above, out);
      above.pop_back();
      return ok;
    }
    ctx_->diags.Error(d->DiagLocation(),
                      "'" + d->name() + "' op feeds '" + neuron.name() +
                          "' but is not a linear, conv2d, an add of them, a layout op or a mean "
                          "over per-step dims; it cannot be lowered to synapses" +
                          (d->name() == "max_pool2d"
                               ? " (max pooling of currents: pool the spikes after the neuron)"
                               : ""));
    failed_ = true;
    return false;
  }

  void AddBias(const Operation& layer, const ir::Type& pre, std::vector<double>& bias) {
    const std::string* ref = layer.attrs().GetRef("bias");
    if (ref == nullptr) return;
    auto b = module_->FindConstant(*ref)->data().f32();
    const int64_t n = static_cast<int64_t>(bias.size());
    const int64_t o = static_cast<int64_t>(b.size());
    int64_t inner = 1;  // elements per channel within a step
    if (layer.name() == "conv2d") inner = pre.dims().back() * pre.dim(pre.rank() - 2);
    for (int64_t i = 0; i < n; ++i)
      bias[static_cast<size_t>(i)] += b[static_cast<size_t>((i / inner) % o)];
  }

  std::span<const float> Weights(const Table& t) const {
    return module_->FindConstant(*t.layer->attrs().GetRef("weight"))->data().f32();
  }

  int64_t Fanin(const Table& t) const {  // weights per target (row length)
    const ir::Type& wt = module_->FindConstant(*t.layer->attrs().GetRef("weight"))->type();
    return wt.num_elements() / wt.dim(0);
  }

  // What the search needs of a table that does not depend on the scale,
  // gathered once: the search evaluates over a hundred scales, and every
  // pass over the weights costs (a Spikformer has millions).
  // A table's real weights by target (row): uniform rows of `fanin` for a
  // layer's own weights, `rows` offsets for a composed table.
  struct Rows {
    std::span<const float> w;
    std::span<const uint32_t> rows;
    size_t fanin = 1;
    size_t count() const { return rows.empty() ? w.size() / fanin : rows.size() - 1; }
    size_t begin(size_t r) const { return rows.empty() ? r * fanin : rows[r]; }
    size_t end(size_t r) const { return rows.empty() ? (r + 1) * fanin : rows[r + 1]; }
  };

  Rows RowsOf(const Table& t) const {
    if (t.composed) return Rows{t.composed->weights, t.composed->rows, 1};
    return Rows{Weights(t), {}, static_cast<size_t>(Fanin(t))};
  }

  struct TableStats {
    Rows w;
    double maxabs = 0;
    bool mixed = false, neg = false;
  };

  std::vector<TableStats> Stats(const std::vector<Table>& tables, double* ref2) const {
    std::vector<TableStats> stats;
    *ref2 = 0;
    for (const Table& t : tables) {
      TableStats st;
      st.w = RowsOf(t);
      bool pos = false;
      for (float x : st.w.w) {
        st.maxabs = std::max(st.maxabs, std::fabs(static_cast<double>(x)));
        pos |= x > 0;
        st.neg |= x < 0;
        *ref2 += static_cast<double>(x) * x;
      }
      st.mixed = pos && st.neg;
      stats.push_back(st);
    }
    return stats;
  }

  // std::round (half away from zero) without the libm call, which dominated
  // the search; exact for |r| < 2^52 (the rest, never seen, go to libm).
  static double Round(double r) {
    if (!(std::fabs(r) < 0x1p52)) return std::round(r);
    const double t = static_cast<double>(static_cast<int64_t>(r));
    const double f = r - t;  // exact
    return f >= 0.5 ? t + 1 : (f <= -0.5 ? t - 1 : t);
  }

  // Quantizes everything for one voltage scale; ok = false if it does not
  // fit. The integer weights are kept only with `keep` (the search keeps
  // only its winner's). Cheap checks run before the pass over the weights,
  // and the pass stops (ok = false) as soon as a_in cannot fit or the
  // squared error passes `give_up_err2`: both only grow.
  Choice Evaluate(const std::vector<TableStats>& stats, const std::vector<Table>& tables,
                  double ref2, const std::vector<double>& bias, double bias_maxabs, double gain,
                  double vthr, double scale, bool keep,
                  double give_up_err2 = std::numeric_limits<double>::infinity()) const {
    Choice c;
    c.scale = scale;
    std::vector<double> ks;
    for (size_t ti = 0; ti < tables.size(); ++ti) {
      const TableStats& st = stats[ti];
      double k = scale * gain / (64.0 * tables[ti].in_scale);  // real weight -> a_in per payload
      const double limit = st.mixed ? 254 : 255;
      int e = 0;
      if (st.maxabs > 0) {
        e = static_cast<int>(std::ceil(std::log2(st.maxabs * k / limit)));
        e = std::max(e, -8);
        if (e > 7) return c;
        if (st.maxabs * k / std::ldexp(1.0, e) > limit + 1e-9) ++e;
        if (e > 7) return c;
      }
      c.weight_exps.push_back(e);
      ks.push_back(k);
    }
    // Threshold: fire on H >= Vth is v > S*Vth - 1; the chip compares v > vth << 6.
    if (!std::isnan(vthr)) {  // NaN: a relay, which has no threshold
      const double vt = scale * vthr / 64.0;
      c.vth = static_cast<int64_t>(std::ceil(vt - 1e-9)) - 1;
      if (c.vth < 0 || c.vth > kVthMax) return c;
    }
    // The largest |b * scale * gain| is that of the largest |b|: each
    // rounded product is monotone in b.
    const double bmax = std::fabs(bias_maxabs * scale * gain);
    c.bias_exp =
        bmax > kBiasMantMax ? static_cast<int>(std::ceil(std::log2(bmax / kBiasMantMax))) : 0;
    if (c.bias_exp > kBiasExpMax) return c;

    double err2 = 0, ain_hi = 0, ain_lo = 0;
    for (size_t ti = 0; ti < tables.size(); ++ti) {
      const TableStats& st = stats[ti];
      const Table& t = tables[ti];
      const int e = c.weight_exps[ti];
      const double step = std::ldexp(1.0, e) / ks[ti];  // real weight per integer weight
      const double scale_ain = std::ldexp(1.0, e);      // exact: |e| <= 8, so no libm call per row
      const double lo_q = st.mixed ? -256.0 : (st.neg ? -255.0 : 0.0);
      const double hi_q = st.mixed ? 254.0 : (st.neg ? 0.0 : 255.0);
      std::vector<int16_t> q;
      if (keep) q.resize(st.w.w.size());
      // Worst case a_in per target, then over targets.
      double hi = 0, lo = 0;
      for (size_t row = 0; row < st.w.count(); ++row) {
        double rh = 0, rl = 0;
        for (size_t i = st.w.begin(row); i < st.w.end(row); ++i) {
          const double r = st.w.w[i] / step;
          double v = st.mixed ? 2 * Round(r / 2) : Round(r);
          v = std::clamp(v, lo_q, hi_q);
          if (keep) q[i] = static_cast<int16_t>(v);
          const double d = st.w.w[i] - v * step;
          err2 += d * d;
          rh += std::max(v * t.range.lo, v * t.range.hi);
          rl += std::min(v * t.range.lo, v * t.range.hi);
        }
        hi = std::max(hi, std::floor(rh * scale_ain));
        lo = std::min(lo, std::floor(rl * scale_ain));
        if (ain_hi + hi > kAinMax || ain_lo + lo < kAinMin || err2 > give_up_err2) return c;
      }
      ain_hi += hi;
      ain_lo += lo;
      if (keep) c.wq.push_back(std::move(q));
    }
    if (ain_hi > kAinMax || ain_lo < kAinMin) return c;
    c.ain_lo = ain_lo;
    c.ain_hi = ain_hi;
    c.error = ref2 > 0 ? std::sqrt(err2 / ref2) : 0;
    c.ok = true;
    if (!keep) return c;  // only the winner's mantissas are used
    c.bias_mant.resize(bias.size());
    for (size_t i = 0; i < bias.size(); ++i) {
      double m = std::round(bias[i] * scale * gain / std::ldexp(1.0, c.bias_exp));
      c.bias_mant[i] = static_cast<int16_t>(std::clamp(m, -4096.0, 4095.0));
    }
    return c;
  }

  // A large layer's scan: the same 64 candidates, ranked by their error on
  // an evenly spaced sample of every table (a_in, which needs whole rows,
  // is not judged there), then the kFinalists best quantized in full with
  // every check, against the power-of-two `seed`. The error is smooth in
  // the scale, so the sample's best few hold the full scan's winner or one
  // within a hair of it (Spikformer-4-384: the same image), for about 3
  // passes over a layer's weights instead of 10 to 35. Option
  // quantize.search=full turns it off.
  template <typename Better>
  Choice Finalists(const std::vector<Table>& tables, const std::vector<TableStats>& stats,
                   double ref2, const std::vector<double>& bias, double bias_maxabs, double gain,
                   double vthr, uint64_t weights, int k_seed, Choice seed,
                   const Better& better) const {
    const uint64_t stride = (weights + kSampleWeights - 1) / kSampleWeights;
    std::vector<std::vector<float>> picked(stats.size());
    std::vector<TableStats> sample = stats;
    double sample_ref2 = 0;
    for (size_t ti = 0; ti < stats.size(); ++ti) {
      const std::span<const float> w = stats[ti].w.w;
      for (size_t i = stride / 2; i < w.size(); i += stride) {
        picked[ti].push_back(w[i]);
        sample_ref2 += static_cast<double>(w[i]) * w[i];
      }
      // One weight per row: the rows' a_in bound is never what rules a
      // sampled candidate out. Exponents still follow the whole table.
      sample[ti].w = Rows{picked[ti], {}, 1};
    }
    constexpr double kNever = std::numeric_limits<double>::infinity();
    struct Ranked {
      double error;
      double scale;
    };
    std::vector<Ranked> ranked;
    for (int k : {k_seed, k_seed - 1}) {
      for (int j = 31; j >= 0; --j) {
        const double scale = std::ldexp(1.0 + j / 32.0, k);
        if (scale == seed.scale) continue;
        const Choice c = Evaluate(sample, tables, sample_ref2, bias, bias_maxabs, gain, vthr, scale,
                                  false, kNever);
        if (c.ok) ranked.push_back({c.error, scale});
      }
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
      return a.error < b.error || (a.error == b.error && a.scale > b.scale);
    });
    Choice best = std::move(seed);
    for (size_t i = 0; i < ranked.size() && i < kFinalists; ++i) {
      const double bound = (best.error + 1e-12) * (1 + 1e-9);
      // Kept weights: the winner then needs no further pass.
      Choice c = Evaluate(stats, tables, ref2, bias, bias_maxabs, gain, vthr, ranked[i].scale, true,
                          bound * bound * ref2);
      if (better(c, best)) best = std::move(c);
    }
    return best;
  }

  Choice Search(std::vector<Table>& tables, const std::vector<double>& bias, double gain,
                double vthr) const {
    double ref2 = 0;
    const std::vector<TableStats> stats = Stats(tables, &ref2);
    double bias_maxabs = 0;
    for (double b : bias) bias_maxabs = std::max(bias_maxabs, std::fabs(b));
    auto evaluate = [&](double scale, bool keep, double give_up_err2) {
      return Evaluate(stats, tables, ref2, bias, bias_maxabs, gain, vthr, scale, keep,
                      give_up_err2);
    };
    constexpr double kNever = std::numeric_limits<double>::infinity();
    Choice best;
    int k_best = 0;
    for (int k = 40; k >= -20; --k) {  // largest power of two that fits
      Choice c = evaluate(std::ldexp(1.0, k), false, kNever);
      if (c.ok) {
        best = std::move(c);
        k_best = k;
        break;
      }
    }
    if (best.ok && ctx_->opt_level >= 2) {
      // -O2+: 32 mantissas per octave over the two octaves below the limit;
      // keep the smallest weight error (ties within 1e-12: the larger
      // scale). Scanning from the largest scale down meets small errors
      // first (the error mostly falls as the scale grows, until a_in no
      // longer fits), so the early stop cuts the rest short.
      auto better = [](const Choice& c, const Choice& than) {
        return c.ok && (c.error < than.error - 1e-12 ||
                        (std::fabs(c.error - than.error) <= 1e-12 && c.scale > than.scale));
      };
      auto scan = [&](int k, Choice b) {
        for (int j = 31; j >= 0; --j) {
          const double bound = (b.error + 1e-12) * (1 + 1e-9);
          Choice c = evaluate(std::ldexp(1.0 + j / 32.0, k), false, bound * bound * ref2);
          if (better(c, b)) b = std::move(c);
        }
        return b;
      };
      uint64_t weights = 0;
      for (const TableStats& st : stats) weights += st.w.w.size();
      if (sample_large_ && weights >= kSampledWeights) {
        best = Finalists(tables, stats, ref2, bias, bias_maxabs, gain, vthr, weights, k_best,
                         std::move(best), better);
        if (!best.ok || best.wq.size() == tables.size()) return best;  // a finalist, kept
        return evaluate(best.scale, true, kNever);
      }
      // The octaves on two threads when the layer is large enough to pay
      // for one, each bounded by the power-of-two seed; the winners then
      // meet by the same rule, so the choice does not depend on timing.
      Choice lower;
      std::thread worker;
      if (weights >= kParallelWeights) {
        worker = std::thread([&, seed = best] { lower = scan(k_best - 1, seed); });
      }
      best = scan(k_best, std::move(best));
      if (worker.joinable()) {
        worker.join();
        if (better(lower, best)) best = std::move(lower);
      } else {
        best = scan(k_best - 1, std::move(best));
      }
    }
    // The winner again, now keeping its integer weights.
    return best.ok ? evaluate(best.scale, true, kNever) : best;
  }

  // The low tables of a split for `best` (its weights kept), or none when
  // the a_in bound no longer fits with them. Updates best.error.
  std::vector<LowTable> Split(const std::vector<Table>& tables, Choice& best, double gain) const {
    std::vector<LowTable> low(tables.size());
    double err2 = 0, ref2 = 0, ain_hi = 0, ain_lo = 0;
    for (size_t ti = 0; ti < tables.size(); ++ti) {
      const Table& t = tables[ti];
      const Rows rows = RowsOf(t);
      const std::span<const float> w = rows.w;
      const double k = best.scale * gain / (64.0 * t.in_scale);
      const int e = best.weight_exps[ti];
      const int e2 = std::max(e - 7, -8);
      const double step = std::ldexp(1.0, e) / k, step2 = std::ldexp(1.0, e2) / k;
      LowTable& l = low[ti];
      l.weight_exp = e2;
      l.wq.resize(w.size());
      const std::vector<int16_t>& q = best.wq[ti];
      // The residue has both signs: the hardware drops the low bit of
      // mixed-sign weights, so it is rounded to even.
      double hi = 0, lo = 0;
      for (size_t row = 0; row < rows.count(); ++row) {
        double rh = 0, rl = 0, lh = 0, ll = 0;
        for (size_t i = rows.begin(row); i < rows.end(row); ++i) {
          const double residue = w[i] - q[i] * step;
          const double v = std::clamp(2 * Round(residue / step2 / 2), -256.0, 254.0);
          l.wq[i] = static_cast<int16_t>(v);
          l.used |= v != 0;
          const double d = residue - v * step2;
          err2 += d * d;
          ref2 += static_cast<double>(w[i]) * w[i];
          rh += std::max(q[i] * t.range.lo, q[i] * t.range.hi);
          rl += std::min(q[i] * t.range.lo, q[i] * t.range.hi);
          lh += std::max(v * t.range.lo, v * t.range.hi);
          ll += std::min(v * t.range.lo, v * t.range.hi);
        }
        hi = std::max(hi, std::floor(std::ldexp(rh, e)) + std::floor(std::ldexp(lh, e2)));
        lo = std::min(lo, std::floor(std::ldexp(rl, e)) + std::floor(std::ldexp(ll, e2)));
      }
      ain_hi += hi;
      ain_lo += lo;
    }
    if (ain_hi > kAinMax || ain_lo < kAinMin) return {};
    best.error = ref2 > 0 ? std::sqrt(err2 / ref2) : 0;
    best.ain_lo = ain_lo;
    best.ain_hi = ain_hi;
    return low;
  }

  // Tables of one layer (distributed over an add) share their weights:
  // `names` maps the layer to the constant made for the first.
  Value* EmitTable(const Table& t, const std::vector<int16_t>& wq, int e, Operation* before,
                   std::map<const Operation*, std::string>& names, const char* suffix) {
    auto [it, fresh] = names.try_emplace(t.layer);
    if (fresh) {
      const ir::Constant& w = *module_->FindConstant(*t.layer->attrs().GetRef("weight"));
      it->second =
          passes::AddUniqueConstant(*module_, w.name() + suffix,
                                    w.type().WithElement(ElementType::kI16), ir::TensorData(wq))
              ->name();
    }
    ir::AttrDict attrs;
    attrs.Set("weight", ir::Attribute::Ref(it->second));
    attrs.Set("weight_exp", ir::Attribute::Int(e));
    std::string kind = "syn_dense";
    if (t.layer->name() == "conv2d") {
      kind = "syn_conv2d";
      for (const char* a : {"stride", "padding", "groups"}) {
        if (const ir::Attribute* v = t.layer->attrs().Find(a)) attrs.Set(a, *v);
      }
    }
    return Create(kind, t.source, std::move(attrs), t.layer->loc(), before);
  }

  // A composed table as syn_sparse (CSR by source) over the flattened source.
  // Tables of one composition (an add of events, the high and low halves)
  // share the index constants.
  Value* EmitComposed(const Table& t, const std::vector<int16_t>& wq, int e, Operation* before,
                      const char* suffix) {
    const ComposedTable& c = *t.composed;
    const std::string base = t.base + ".composed";
    std::vector<int32_t> row_ptr(static_cast<size_t>(c.sources) + 1, 0);
    for (uint32_t src : c.cols) ++row_ptr[src + 1];
    for (size_t i = 1; i < row_ptr.size(); ++i) row_ptr[i] += row_ptr[i - 1];
    std::vector<int32_t> next(row_ptr.begin(), row_ptr.end() - 1), col(c.cols.size());
    std::vector<int16_t> w(c.cols.size());
    for (size_t target = 0; target + 1 < c.rows.size(); ++target) {
      for (uint32_t i = c.rows[target]; i < c.rows[target + 1]; ++i) {
        const auto at = static_cast<size_t>(next[c.cols[i]]++);
        col[at] = static_cast<int32_t>(target);
        w[at] = wq[i];
      }
    }
    auto [it, fresh] = composed_index_.try_emplace(&c);
    if (fresh) {
      auto i32 = [](size_t n) {
        return ir::Type::Untimed(ElementType::kI32, {static_cast<int64_t>(n)});
      };
      const ir::Type row_ptr_type = i32(row_ptr.size()), col_type = i32(col.size());
      it->second.first = passes::AddUniqueConstant(*module_, base + ".row_ptr", row_ptr_type,
                                                   ir::TensorData(std::move(row_ptr)))
                             ->name();
      it->second.second = passes::AddUniqueConstant(*module_, base + ".col", col_type,
                                                    ir::TensorData(std::move(col)))
                              ->name();
    }
    const ir::Type w_type = ir::Type::Untimed(ElementType::kI16, {static_cast<int64_t>(w.size())});
    const std::string weights =
        passes::AddUniqueConstant(*module_, base + suffix, w_type, ir::TensorData(std::move(w)))
            ->name();
    ir::AttrDict flat;
    flat.Set("shape", ir::Attribute::IntList({c.sources}));
    Value* source = Create("reshape", t.source, std::move(flat), t.origin->loc(), before);
    ir::AttrDict attrs;
    attrs.Set("row_ptr", ir::Attribute::Ref(it->second.first));
    attrs.Set("col", ir::Attribute::Ref(it->second.second));
    attrs.Set("weight", ir::Attribute::Ref(weights));
    attrs.Set("out_features", ir::Attribute::Int(c.targets));
    attrs.Set("weight_exp", ir::Attribute::Int(e));
    return Create("syn_sparse", source, std::move(attrs), t.origin->loc(), before);
  }

  ir::Module* module_ = nullptr;
  passes::PassContext* ctx_ = nullptr;
  bool failed_ = false;
  bool sample_large_ = true;            // option search=auto: rank large layers' scales on a sample
  std::map<Operation*, Value*> ports_;  // f32 input -> graded input port
  std::map<const Operation*, std::string> table_weights_;  // layer -> quantized weights
  std::map<const Operation*, std::string> low_weights_;    // layer -> low halves of a split
  // composed table -> its row_ptr and col constants
  std::map<const ComposedTable*, std::pair<std::string, std::string>> composed_index_;
  std::map<const Value*, Stream> streams_;  // stream add -> the relay carrying it
};

}  // namespace

void RegisterQuantizePass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(QuantizePass::kName),
                                  .summary = std::string(QuantizePass::kSummary),
                                  .create = [] { return std::make_unique<QuantizePass>(); },
                                  .slots = {{passes::kStageQuantize, 0}}}));
}

}  // namespace spk::compiler::lowering

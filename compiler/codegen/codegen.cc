#include "compiler/codegen/codegen.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "compiler/ir/attributes.h"
#include "compiler/ir/layout.h"
#include "hal/format/board_image_validate.h"

namespace spk::compiler::codegen {
namespace {

using hal::format::BoardImage;
using hal::format::InputPort;
using hal::format::NeuronGroup;
using hal::format::NeuronModel;
using hal::format::OutputPort;
using hal::format::OutputSource;
using hal::format::SourceKind;
using hal::format::SpikeKind;
using hal::format::SynapseFormat;
using hal::format::SynapseSource;
using hal::format::SynapseTable;
using ir::ElementType;
using ir::Operation;
using ir::Value;

using IndexMap = std::shared_ptr<const std::vector<uint32_t>>;  // null = identity

// Where the elements of an IR value live.
struct Ref {
  enum Kind { kNone, kPort, kLayer, kHost, kSyn };
  Kind kind = kNone;
  uint32_t index = 0;          // port, layer or host value index
  IndexMap map;                // element i of the value is element map[i] of the base
  std::vector<uint32_t> syns;  // kSyn: synapse ops whose outputs sum here
  bool tiled = false;          // map is exactly the tiling of layer `index` (see Tiling)
};

// A box of a [C, H, W] feature map.
struct Box {
  uint32_t c0 = 0, cn = 0, y0 = 0, yn = 0, x0 = 0, xn = 0;
};

// A conv map too large for whole-channel groups is laid out in tiles: tile
// (cb, ty, tx) holds channels [cb * tc, +tc) x rows [ty * th, +th) x columns
// [tx * tw, +tw), CHW within the tile, tiles in (cb, ty, tx) order. Each
// group is one tile, so a group's inputs are its receptive field in the
// maps it reads, not those maps whole.
struct Tiling {
  uint32_t c = 0, h = 0, w = 0;     // the map
  uint32_t tc = 0, th = 0, tw = 0;  // one tile
  uint32_t Volume() const { return tc * th * tw; }
  uint32_t Neuron(uint32_t ci, uint32_t y, uint32_t x) const {
    const uint32_t tile = ((ci / tc) * (h / th) + y / th) * (w / tw) + x / tw;
    return tile * Volume() + ((ci % tc) * th + y % th) * tw + x % tw;
  }
  Box TileBox(uint32_t tile) const {
    const uint32_t nx = w / tw, ny = h / th;
    return Box{tile / (nx * ny) * tc, tc, tile / nx % ny * th, th, tile % nx * tw, tw};
  }
};

struct Syn {
  const Operation* op = nullptr;
  Ref source;
  uint64_t in_elements = 0;  // per step
  uint32_t extra_delay = 0;  // the op's `delay` attribute
  // An and2 port reading a chip value directly: weight-1 fan-out from input
  // element i to the and2 neurons identity_targets[i] (NumPy broadcasting).
  // `op` is then the and2 op.
  bool identity = false;
  std::vector<std::vector<uint32_t>> identity_targets;
  // The op's constants, looked up once: fan-outs are walked per source
  // element, millions of times on a published-size model.
  const ir::Constant* weight = nullptr;
  const ir::Constant* row_ptr = nullptr;  // syn_sparse
  const ir::Constant* col = nullptr;      // syn_sparse
};

struct Layer {
  const Operation* op = nullptr;
  std::string name;
  NeuronModel model = NeuronModel::kCubaLif;
  SpikeKind output = SpikeKind::kBinary;
  uint32_t size = 0;
  uint32_t unit = 1;
  bool one_unit_groups = false;                      // per-token layers: a group within one row
  std::vector<std::pair<uint32_t, uint8_t>> inputs;  // (syn, target port)
  uint32_t depth = 0;
  std::vector<uint32_t> group_ids;
  std::vector<std::pair<uint32_t, uint32_t>> slices;  // (offset, count) per group
  std::optional<Tiling> tiling;
  IndexMap perm;                     // tiled: model element -> neuron
  std::vector<uint32_t> element_of;  // tiled: neuron -> model element
};

// [lo, hi) rows or columns of a map; may reach past its edges (padding).
struct Span {
  int64_t lo = 0, hi = 0;
  uint64_t Clipped(int64_t n) const {
    return static_cast<uint64_t>(std::max<int64_t>(0, std::min(hi, n) - std::max<int64_t>(lo, 0)));
  }
};

struct Port {
  InputPort port;
  uint32_t depth = 0;
};

struct HostValue {
  std::string name;
  uint32_t depth = 0;       // chip steps until its step 0 exists
  int feedback_port = -1;   // input port index once a synapse reads it
  float port_scale = 1.0f;  // the op's `port.scale`: payload = round(x * scale)
  std::vector<int64_t> dims;
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// JSON number text; nullopt for values JSON cannot hold.
std::optional<std::string> JsonNumber(double v) {
  if (!std::isfinite(v)) return std::nullopt;
  std::string s;
  ir::AppendDouble(s, v);
  return s;
}

std::vector<uint32_t> ToU32(const std::vector<int64_t>& dims) {
  std::vector<uint32_t> out;
  for (int64_t d : dims) out.push_back(static_cast<uint32_t>(d));
  if (out.empty()) out.push_back(1);
  return out;
}

uint64_t Elements(const ir::Type& type) { return static_cast<uint64_t>(type.num_elements()); }

IndexMap Compose(const IndexMap& base, std::vector<uint32_t> step) {
  if (base) {
    for (uint32_t& i : step) i = (*base)[i];
  }
  bool identity = true;
  for (size_t i = 0; i < step.size() && identity; ++i) identity = step[i] == i;
  if (identity) return nullptr;
  return std::make_shared<const std::vector<uint32_t>>(std::move(step));
}

// A slice of an op's weights: (synapse, kind, and four numbers saying which).
using SharedKey = std::array<uint32_t, 6>;

class Codegen {
 public:
  Codegen(const ir::Module& module, const CodegenOptions& options, ir::DiagnosticEngine& diags)
      : module_(module), options_(options), diags_(diags) {}

  StatusOr<CodegenResult> Run();

 private:
  void Error(const Operation& op, std::string message) {
    diags_.Error(op.DiagLocation(), "'" + op.name() + "' op " + std::move(message));
  }
  std::vector<int64_t> IntsOf(const Operation& op, std::string_view ref) const;
  void Walk();
  void SetRowUnits();
  bool ConvOk(const Syn& syn) const;
  std::pair<Span, Span> ReceptiveField(const Operation& op, const Box& out) const;
  std::pair<uint32_t, uint32_t> InputChannels(const Operation& op, const Box& out) const;
  void ChooseTiling(const Operation& op, Layer& layer);
  struct MapPlan {
    std::optional<Tiling> tiling;
  };
  const MapPlan& PlanMap(const Operation& op) const;
  struct Reader {
    std::optional<Tiling> tiling;  // a conv into a tiled map; else one core per neuron x cores
    int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
    uint64_t cores = 1;
  };
  std::vector<Reader> Readers(const Operation& op) const;
  uint64_t TileOutputAxons(const std::vector<Reader>& readers, uint32_t H, uint32_t W, uint32_t tc,
                           uint32_t th, uint32_t tw) const;
  void VisitLayout(const Operation& op);
  void VisitSyn(const Operation& op);
  void VisitNeuron(const Operation& op);
  void VisitHost(const Operation& op);
  void VisitOutput(const Operation& op);
  std::string UniqueName(std::string base);
  uint32_t SourceDepth(const Ref& ref) const;
  std::optional<Ref> ChipSource(const Operation& op, const Value* v);
  std::vector<partition::LayerDemand> Demands() const;
  void EmitTables(uint32_t syn_index, const Layer& target, uint8_t port, uint32_t layer_index);
  // Fan-out of element `i` of a synapse's input: (output element, weight).
  void FanOut(const Syn& syn, uint64_t i, std::vector<std::pair<uint32_t, int16_t>>& out) const;
  std::vector<hal::format::OutputSegment> Segments(const Ref& ref, uint64_t count) const;
  int AddOutputPort(std::string name, const Value* v, const Ref& ref, float scale);
  std::pair<SynapseSource, std::vector<std::pair<uint32_t, uint32_t>>> SourceGroups(
      const Ref& ref) const;

  const ir::Module& module_;
  const CodegenOptions& options_;
  ir::DiagnosticEngine& diags_;

  std::unordered_map<const Value*, Ref> refs_;
  std::vector<Syn> syns_;
  std::vector<Layer> layers_;
  std::vector<Port> ports_;
  std::vector<HostValue> host_values_;
  std::vector<const Operation*> host_ops_;
  std::set<std::string> names_;
  std::unordered_map<const Value*, std::string> chip_reads_;    // value -> host-read port
  std::vector<std::pair<size_t, const Value*>> output_values_;  // port -> value it reads
  bool unimplemented_ = false;
  BoardImage image_;
  std::vector<LayerInfo> infos_;
  std::map<SharedKey, uint32_t> shared_weights_;  // weight slice -> the table holding it
  mutable std::map<const Operation*, MapPlan> map_plans_;
};

std::string Codegen::UniqueName(std::string base) {
  std::string name = base;
  for (int i = 1; !names_.insert(name).second; ++i) name = base + "." + std::to_string(i);
  return name;
}

std::vector<int64_t> Codegen::IntsOf(const Operation& op, std::string_view ref) const {
  std::vector<int64_t> out;
  const std::string* name = op.attrs().GetRef(ref);
  if (name == nullptr) return out;
  const ir::Constant* c = module_.FindConstant(*name);
  if (c == nullptr || !ir::IsIntegerTensorType(c->data().element())) return out;
  out.reserve(c->data().size());
  for (size_t i = 0; i < c->data().size(); ++i) out.push_back(c->data().GetAsInt(i));
  return out;
}

uint32_t Codegen::SourceDepth(const Ref& ref) const {
  switch (ref.kind) {
    case Ref::kPort:
      return ports_[ref.index].depth;
    case Ref::kLayer:
      return layers_[ref.index].depth;
    default:
      return 0;
  }
}

void Codegen::VisitLayout(const Operation& op) {
  const Value* in = op.operand(0);
  auto it = refs_.find(in);
  if (it == refs_.end()) return;
  Ref ref = it->second;
  if (ref.kind == Ref::kSyn) {
    Error(op,
          "between a synapse and its neuron is not supported; lowering should reshape "
          "the synapse instead");
    return;
  }
  const std::vector<int> perm = ir::StepPermutation(op);
  if (!ir::IsIdentityPermutation(perm)) {
    ref.map = Compose(ref.map, ir::PermuteMap(in->type().dims(), perm));
    ref.tiled = false;
  }
  refs_[op.result()] = std::move(ref);
}

std::optional<Ref> Codegen::ChipSource(const Operation& op, const Value* v) {
  auto it = refs_.find(v);
  if (it == refs_.end()) {
    Error(op, "reads a value codegen cannot place on the chip (from '" + v->def()->name() + "')");
    return std::nullopt;
  }
  Ref ref = it->second;
  if (ref.kind == Ref::kHost) {
    HostValue& hv = host_values_[ref.index];
    if (hv.feedback_port < 0) {
      // The executor feeds a host value back into the chip through an input
      // port of the same name, one step after its inputs exist.
      Port p;
      p.port.name = hv.name;
      p.port.shape = ToU32(hv.dims);
      p.port.kind = SpikeKind::kGraded;
      p.port.scale = hv.port_scale;
      p.depth = hv.depth + 1;
      hv.feedback_port = static_cast<int>(ports_.size());
      ports_.push_back(std::move(p));
    }
    return Ref{Ref::kPort, static_cast<uint32_t>(hv.feedback_port), ref.map, {}};
  }
  if (ref.kind != Ref::kPort && ref.kind != Ref::kLayer) {
    Error(op, "input must come from a neuron, an input port or a host value");
    return std::nullopt;
  }
  return ref;
}

void Codegen::VisitSyn(const Operation& op) {
  std::optional<Ref> src = ChipSource(op, op.operand(0));
  if (!src) return;
  Syn syn;
  syn.op = &op;
  syn.source = *src;
  syn.in_elements = Elements(op.operand(0)->type());
  if (auto d = op.attrs().GetInt("delay"); d && *d > 0) {
    syn.extra_delay = static_cast<uint32_t>(*d);  // SynapseTable.delay
  }
  if (op.name() == "syn_conv2d" && op.operand(0)->type().dims().size() != 4) {
    Error(op, "expects a [B, C, H, W] input");
    return;
  }
  auto constant = [&](std::string_view attr) {
    const std::string* name = op.attrs().GetRef(attr);
    return name ? module_.FindConstant(*name) : nullptr;
  };
  syn.weight = constant("weight");
  syn.row_ptr = constant("row_ptr");
  syn.col = constant("col");
  refs_[op.result()] = Ref{Ref::kSyn, 0, nullptr, {static_cast<uint32_t>(syns_.size())}};
  syns_.push_back(std::move(syn));
}

void Codegen::VisitNeuron(const Operation& op) {
  Layer layer;
  layer.op = &op;
  const std::string base = op.loc().module_path.empty()
                               ? op.name() + "_" + std::to_string(layers_.size())
                               : op.loc().module_path;
  layer.name = UniqueName(base);
  const std::string& n = op.name();
  layer.model = n == "cuba_lif"     ? NeuronModel::kCubaLif
                : n == "accumulate" ? NeuronModel::kAccumulator
                : n == "and2"       ? NeuronModel::kAnd2
                                    : NeuronModel::kRelay;
  layer.output = n == "relay" ? SpikeKind::kGraded : SpikeKind::kBinary;
  layer.size = static_cast<uint32_t>(Elements(op.result()->type()));
  bool ok = true;
  bool have_depth = false;
  // balance-delays' extra steps on each and2 port's fan-in (the tables
  // codegen makes for ports reading chip values carry them).
  std::vector<uint32_t> port_delays(op.num_operands(), 0);
  if (n == "and2") {
    if (const auto* d = op.attrs().GetIntList("delays")) {
      for (size_t k = 0; k < d->size() && k < port_delays.size(); ++k) {
        port_delays[k] = static_cast<uint32_t>((*d)[k]);
      }
    }
  }
  for (size_t k = 0; k < op.num_operands(); ++k) {
    auto it = refs_.find(op.operand(k));
    if (n == "and2" && it != refs_.end() && it->second.kind != Ref::kSyn) {
      // A chip value as an and2 port: a weight-1 table, broadcasting.
      std::optional<Ref> src = ChipSource(op, op.operand(k));
      if (!src) {
        ok = false;
        continue;
      }
      Syn syn;
      syn.op = &op;
      syn.identity = true;
      syn.source = *src;
      syn.in_elements = Elements(op.operand(k)->type());
      syn.identity_targets.resize(syn.in_elements);
      syn.extra_delay = port_delays[k];
      const auto& rd = op.result()->type().dims();
      const auto& od = op.operand(k)->type().dims();
      std::vector<int64_t> idx(rd.size(), 0);
      for (uint32_t j = 0; j < layer.size; ++j) {
        uint64_t in = 0;
        for (size_t a = 0; a < od.size(); ++a) {
          const size_t r = rd.size() - od.size() + a;
          in = in * static_cast<uint64_t>(od[a]) + static_cast<uint64_t>(od[a] == 1 ? 0 : idx[r]);
        }
        syn.identity_targets[in].push_back(j);
        for (size_t a = rd.size(); a-- > 0;) {
          if (++idx[a] < rd[a]) break;
          idx[a] = 0;
        }
      }
      const uint32_t s = static_cast<uint32_t>(syns_.size());
      const uint32_t depth = SourceDepth(syn.source) + 1 + syn.extra_delay;
      syns_.push_back(std::move(syn));
      layer.inputs.push_back({s, static_cast<uint8_t>(k)});
      if (have_depth && depth != layer.depth) {
        diags_.Warning(op.DiagLocation(), "'and2' op: ports of synaptic depth " +
                                              std::to_string(layer.depth) + " and " +
                                              std::to_string(depth) + " meet unbalanced");
      }
      layer.depth = std::max(layer.depth, depth);
      have_depth = true;
      continue;
    }
    if (port_delays[k] > 0) {
      diags_.Error(op.DiagLocation(),
                   "'and2' op has a delay on a port fed by synapse ops; only ports reading "
                   "chip values can be delayed (UNIMPLEMENTED)");
      unimplemented_ = true;
      ok = false;
      continue;
    }
    if (it == refs_.end() || it->second.kind != Ref::kSyn) {
      Error(op, "operand " + std::to_string(k) +
                    " must be the output of synapse ops (syn_*), got '" +
                    op.operand(k)->def()->name() + "'");
      ok = false;
      continue;
    }
    for (uint32_t s : it->second.syns) {
      const Syn& syn = syns_[s];
      layer.inputs.push_back({s, static_cast<uint8_t>(k)});
      const uint32_t depth = SourceDepth(syn.source) + 1 + syn.extra_delay;
      if (have_depth && depth != layer.depth) {
        diags_.Warning(op.DiagLocation(),
                       "'" + n + "' op: inputs of synaptic depth " + std::to_string(layer.depth) +
                           " and " + std::to_string(depth) +
                           " meet unbalanced; the deeper one sets the output delay");
      }
      layer.depth = std::max(layer.depth, depth);
      have_depth = true;
      if (syn.op->name() == "syn_conv2d") {
        const auto& d = syn.op->result()->type().dims();
        if (d.size() == 4 && d[0] == 1) layer.unit = static_cast<uint32_t>(d[2] * d[3]);
      }
    }
  }
  if (!ok) return;
  ChooseTiling(op, layer);
  refs_[op.result()] = Ref{
      Ref::kLayer, static_cast<uint32_t>(layers_.size()), layer.perm, {}, layer.tiling.has_value()};
  layers_.push_back(std::move(layer));
}

bool Codegen::ConvOk(const Syn& syn) const {
  if (syn.identity || syn.op->name() != "syn_conv2d") return false;
  const auto& d = syn.op->operand(0)->type().dims();
  if (d.size() != 4 || d[0] != 1) return false;
  if (!syn.source.map) return true;
  if (!syn.source.tiled) return false;
  const Tiling& t = *layers_[syn.source.index].tiling;
  return t.c == d[1] && t.h == d[2] && t.w == d[3];
}

namespace {

// The syn ops whose outputs sum into operand `v` of a neuron op.
void SynsInto(const Value* v, std::vector<const Operation*>& out) {
  const Operation* d = v->def();
  if (d == nullptr) return;
  if (d->name() == "add") {
    SynsInto(d->operand(0), out);
    SynsInto(d->operand(1), out);
  } else {
    out.push_back(d);
  }
}

}  // namespace

// How the neurons of `op` are laid out, from the IR alone (so that a map's
// producers can count the cores its tiles reach): memoized.
const Codegen::MapPlan& Codegen::PlanMap(const Operation& op) const {
  if (auto it = map_plans_.find(&op); it != map_plans_.end()) return it->second;
  MapPlan plan;
  const auto& lim = options_.chip.core;
  auto cap = [](uint64_t v) { return v == 0 ? std::numeric_limits<uint64_t>::max() : v; };
  const uint64_t size = static_cast<uint64_t>(op.result()->type().num_elements());
  // Conv inputs: every operand a sum of syn_conv2d reading a [1, C, H, W] map.
  std::vector<const Operation*> syns;
  for (size_t k = 0; k < op.num_operands(); ++k) SynsInto(op.operand(k), syns);
  bool conv_inputs = op.name() != "and2" && !syns.empty();
  for (const Operation* syn : syns) {
    conv_inputs = conv_inputs && syn->name() == "syn_conv2d" &&
                  syn->operand(0)->type().dims().size() == 4 &&
                  syn->operand(0)->type().dims()[0] == 1;
  }
  const auto& od = op.result()->type().dims();
  std::vector<int64_t> dims;  // the map, [1, C, H, W]
  if (conv_inputs && od.size() == 4 && od[0] == 1) {
    dims = od;
  } else {
    conv_inputs = false;
    // A map the convolutions reading it see (a pooled map, flattened).
    std::vector<const Value*> pending = {op.result()};
    while (!pending.empty() && dims.empty()) {
      const Value* cur = pending.back();
      pending.pop_back();
      for (const auto& use : cur->uses()) {
        const Operation& user = *use.user;
        if ((user.name() == "reshape" || user.name() == "flatten") &&
            ir::IsIdentityPermutation(ir::StepPermutation(user))) {
          pending.push_back(user.result());
        } else if (user.name() == "syn_conv2d") {
          const auto& d = user.operand(0)->type().dims();
          if (d.size() == 4 && d[0] == 1 && static_cast<uint64_t>(d[1] * d[2] * d[3]) == size) {
            dims = d;
            break;
          }
        }
      }
    }
  }
  if (dims.empty()) return map_plans_.emplace(&op, plan).first->second;
  const uint32_t C = static_cast<uint32_t>(dims[1]), H = static_cast<uint32_t>(dims[2]),
                 W = static_cast<uint32_t>(dims[3]);
  struct In {
    uint64_t cin, cg, kh, kw, sh, sw, hin, win;
  };
  std::vector<In> ins;
  for (const Operation* syn : syns) {
    if (!conv_inputs) break;
    const auto& d = syn->operand(0)->type().dims();
    const auto& kd = module_.FindConstant(*syn->attrs().GetRef("weight"))->type().dims();
    const auto* st = syn->attrs().GetIntList("stride");
    ins.push_back({static_cast<uint64_t>(d[1]), static_cast<uint64_t>(kd[1]),
                   static_cast<uint64_t>(kd[2]), static_cast<uint64_t>(kd[3]),
                   static_cast<uint64_t>(st ? (*st)[0] : 1),
                   static_cast<uint64_t>(st ? (*st)[1] : 1), static_cast<uint64_t>(d[2]),
                   static_cast<uint64_t>(d[3])});
  }
  // A map read through sparse tables (a pooling): each target reads at most
  // its fan-in of source neurons, a bound on a tile's input axons.
  uint64_t sparse_fan_in = 0;
  for (const Operation* syn : syns) {
    if (conv_inputs || syn->name() != "syn_sparse") continue;
    const ir::Constant* col = module_.FindConstant(*syn->attrs().GetRef("col"));
    if (col == nullptr) continue;
    std::vector<uint32_t> per_target(
        static_cast<size_t>(syn->attrs().GetInt("out_features").value_or(0)), 0);
    for (size_t k = 0; k < col->data().size(); ++k) {
      const int64_t c = col->data().GetAsInt(k);
      if (c >= 0 && static_cast<size_t>(c) < per_target.size())
        ++per_target[static_cast<size_t>(c)];
    }
    uint32_t most = 0;
    for (uint32_t n : per_target) most = std::max(most, n);
    sparse_fan_in += most;
  }
  const std::vector<Reader> readers = Readers(op);
  // Whole channels fit: channel-slice groups, as small maps always had.
  bool whole = uint64_t{H} * W <= cap(lim.neurons) &&
               TileOutputAxons(readers, H, W, 1, H, W) <= cap(lim.output_axons);
  for (const In& in : ins) whole = whole && in.cin * in.hin * in.win <= cap(lim.input_axons);
  if (!whole) {
    auto divisors = [](uint32_t n) {
      std::vector<uint32_t> d;
      for (uint32_t k = 1; k <= n; ++k) {
        if (n % k == 0) d.push_back(k);
      }
      return d;
    };
    for (uint32_t th : divisors(H)) {
      for (uint32_t tw : divisors(W)) {
        for (uint32_t tc : divisors(C)) {
          const uint64_t vol = uint64_t{tc} * th * tw;
          if (vol > cap(lim.neurons) ||
              TileOutputAxons(readers, H, W, tc, th, tw) > cap(lim.output_axons)) {
            continue;
          }
          uint64_t axons = 0, bits = 0;
          for (const In& in : ins) {
            // A table's window holds every channel of its source box: count
            // them all (a grouped conv's tile reads only its groups' channels,
            // but the boxes of its sources may hold more).
            axons += in.cin * std::min(in.hin, (th - 1) * in.sh + in.kh) *
                     std::min(in.win, (tw - 1) * in.sw + in.kw);
            bits += uint64_t{tc} * in.cg * in.kh * in.kw * lim.synapse_bits_dense;
          }
          axons += vol * sparse_fan_in;
          if (axons > cap(lim.input_axons) || bits > cap(lim.synapse_memory_bits)) continue;
          // The largest tile; of equals, the one with most channels.
          const auto key = [](const Tiling& t) {
            return std::tuple(t.Volume(), t.tc, std::min(t.th, t.tw));
          };
          const Tiling t{C, H, W, tc, th, tw};
          if (!plan.tiling || key(t) > key(*plan.tiling)) plan.tiling = t;
        }
      }
    }
  }
  return map_plans_.emplace(&op, plan).first->second;
}

// Who reads the neurons of `op`, for counting a tile's output axons: the
// convolutions (with their own tilings) and everything else.
std::vector<Codegen::Reader> Codegen::Readers(const Operation& op) const {
  const uint64_t bits = options_.chip.core.synapse_memory_bits;
  std::vector<Reader> out;
  std::vector<const Value*> pending = {op.result()};
  while (!pending.empty()) {
    const Value* cur = pending.back();
    pending.pop_back();
    for (const auto& use : cur->uses()) {
      const Operation& user = *use.user;
      const std::string& n = user.name();
      if (n == "reshape" || n == "flatten" || n == "permute" || n == "transpose") {
        pending.push_back(user.result());
        continue;
      }
      Reader r;
      // A pooling's windows straddle the tiles of its output: a neuron on a
      // tile's edge reaches two (up to four at corners; two on average at most).
      if (n == "syn_sparse") r.cores = 2;
      if (n == "syn_conv2d") {
        // The neuron op the conv feeds (directly or through adds).
        const Operation* target = nullptr;
        for (const Value* v = user.result(); target == nullptr && !v->uses().empty();) {
          const Operation* next = v->uses().front().user;
          if (next->name() == "add") {
            v = next->result();
          } else {
            target = next;
          }
        }
        const auto& kd = module_.FindConstant(*user.attrs().GetRef("weight"))->type().dims();
        const auto* st = user.attrs().GetIntList("stride");
        const auto* pd = user.attrs().GetIntList("padding");
        const MapPlan* consumer = target != nullptr ? &PlanMap(*target) : nullptr;
        if (consumer != nullptr && consumer->tiling) {
          r.tiling = consumer->tiling;
          r.kh = kd[2];
          r.kw = kd[3];
          r.sh = st ? (*st)[0] : 1;
          r.sw = st ? (*st)[1] : 1;
          r.ph = pd ? (*pd)[0] : 0;
          r.pw = pd ? (*pd)[1] : 0;
        } else if (bits != 0) {
          // Split by whole output channels: a core per block of kernels.
          const uint64_t kernel = static_cast<uint64_t>(kd[0] * kd[1] * kd[2] * kd[3]) *
                                  options_.chip.core.synapse_bits_dense;
          r.cores = (kernel + bits - 1) / bits;
        }
      }
      out.push_back(r);
    }
  }
  return out;
}

namespace {

// Of rows [p0, p0 + pn) of a conv's input, how many (row, reading tile)
// pairs there are when the output's rows are cut into tiles of `tile`:
// each row counted once per tile whose receptive field holds it.
uint64_t RowsReadByTiles(int64_t p0, int64_t pn, uint32_t tile, uint32_t out_n, int64_t k,
                         int64_t stride, int64_t pad) {
  uint64_t n = 0;
  for (uint32_t t0 = 0; t0 < out_n; t0 += tile) {
    const int64_t lo = int64_t{t0} * stride - pad;
    const int64_t hi = int64_t{t0 + tile - 1} * stride - pad + k;
    n += static_cast<uint64_t>(std::max<int64_t>(0, std::min(hi, p0 + pn) - std::max(lo, p0)));
  }
  return n;
}

}  // namespace

// Output axons of the worst tile of `tc x th x tw` neurons of a map H x W
// (th = H, tw = W: a whole channel): each neuron once per core reading it.
uint64_t Codegen::TileOutputAxons(const std::vector<Reader>& readers, uint32_t H, uint32_t W,
                                  uint32_t tc, uint32_t th, uint32_t tw) const {
  uint64_t axons = 0;
  const uint64_t vol = uint64_t{tc} * th * tw;
  for (const Reader& r : readers) {
    if (!r.tiling) {
      axons += vol * r.cores;
      continue;
    }
    const Tiling& t = *r.tiling;
    auto worst = [&](uint32_t n, uint32_t p, uint32_t tile, uint32_t out_n, int64_t k,
                     int64_t stride, int64_t pad) {
      uint64_t most = 0;
      for (uint32_t p0 = 0; p0 < n; p0 += p) {
        most = std::max(most, RowsReadByTiles(p0, p, tile, out_n, k, stride, pad));
      }
      return most;
    };
    axons += uint64_t{tc} * (t.c / t.tc) * worst(H, th, t.th, t.h, r.kh, r.sh, r.ph) *
             worst(W, tw, t.tw, t.w, r.kw, r.sw, r.pw);
  }
  return axons;
}

void Codegen::ChooseTiling(const Operation& op, Layer& layer) {
  const MapPlan& plan = PlanMap(op);
  if (!plan.tiling) return;
  const Tiling best = *plan.tiling;
  const uint32_t C = best.c, H = best.h, W = best.w;
  if (uint64_t{C} * H * W != layer.size) return;
  diags_.Remark(op.DiagLocation(),
                "'" + op.name() + "' op: map of " + std::to_string(C) + "x" + std::to_string(H) +
                    "x" + std::to_string(W) + " laid out in " +
                    std::to_string(layer.size / best.Volume()) + " tiles of " +
                    std::to_string(best.tc) + "x" + std::to_string(best.th) + "x" +
                    std::to_string(best.tw) + " (channels x rows x columns)");
  layer.tiling = best;
  layer.unit = best.Volume();
  std::vector<uint32_t> perm(layer.size);
  for (uint32_t ci = 0, i = 0; ci < C; ++ci) {
    for (uint32_t y = 0; y < H; ++y) {
      for (uint32_t x = 0; x < W; ++x) perm[i++] = best.Neuron(ci, y, x);
    }
  }
  layer.element_of.resize(layer.size);
  for (uint32_t i = 0; i < layer.size; ++i) layer.element_of[perm[i]] = i;
  layer.perm = std::make_shared<const std::vector<uint32_t>>(std::move(perm));
}

int Codegen::AddOutputPort(std::string name, const Value* v, const Ref& ref, float scale) {
  OutputPort p;
  p.name = std::move(name);
  p.shape = ToU32(v->type().dims());
  const ElementType e = v->type().element();
  p.source = e == ElementType::kSpike   ? OutputSource::kSpikes
             : e == ElementType::kState ? OutputSource::kVoltage
                                        : OutputSource::kPayload;
  p.delay = layers_[ref.index].depth;
  p.scale = scale;
  // Segments need the partition; they are filled in once groups exist.
  output_values_.push_back({image_.outputs.size(), v});
  image_.outputs.push_back(std::move(p));
  return static_cast<int>(image_.outputs.size() - 1);
}

void Codegen::VisitHost(const Operation& op) {
  hal::format::HostSegment seg;
  seg.op = *op.attrs().GetString("op");
  const std::string base = op.loc().module_path.empty()
                               ? "host_" + seg.op + "_" + std::to_string(host_ops_.size())
                               : op.loc().module_path;
  seg.name = UniqueName(base);
  if (op.num_results() != 1) {
    Error(op, "has " + std::to_string(op.num_results()) +
                  " results; host segments produce exactly one value");
    return;
  }
  uint32_t depth = 0;
  for (size_t k = 0; k < op.num_operands(); ++k) {
    const Value* v = op.operand(k);
    auto it = refs_.find(v);
    if (it == refs_.end() || it->second.kind == Ref::kSyn) {
      Error(op, "operand " + std::to_string(k) + " comes from '" + v->def()->name() +
                    "', which the host cannot read");
      continue;
    }
    const Ref& ref = it->second;
    if (ref.kind == Ref::kHost) {
      seg.inputs.push_back(host_values_[ref.index].name);
      depth = std::max(depth, host_values_[ref.index].depth);
    } else if (ref.kind == Ref::kPort) {
      if (ref.map) {
        Error(op, "reads a rearranged model input; lower the layout op onto the host");
        continue;
      }
      seg.inputs.push_back(ports_[ref.index].port.name);
      depth = std::max(depth, ports_[ref.index].depth);
    } else {
      auto [pos, fresh] = chip_reads_.try_emplace(v);
      if (fresh) {
        pos->second = UniqueName(layers_[ref.index].name + ".out");
        AddOutputPort(pos->second, v, ref, 1.0f);
      }
      seg.inputs.push_back(pos->second);
      depth = std::max(depth, layers_[ref.index].depth);
    }
  }
  // Name the result after the model output it becomes, if any.
  const Value* result = op.result();
  std::string out_name;
  for (const auto& use : result->uses()) {
    if (use.user->name() == "output") {
      if (const std::string* s = use.user->attrs().GetString("name")) out_name = *s;
      break;
    }
  }
  // Model output names were reserved up front for exactly this use.
  if (out_name.empty()) out_name = UniqueName(seg.name + ".out");
  seg.outputs.push_back(out_name);

  std::string json = "{";
  bool first = true;
  for (const auto& [key, attr] : op.attrs()) {
    if (key == "op" || key.find('.') != std::string::npos) continue;
    if (attr.kind() == ir::AttrKind::kConstRef) {
      const ir::Constant* c = module_.FindConstant(attr.AsRef());
      if (c == nullptr) continue;
      hal::format::HostTensor tensor;
      tensor.name = key;
      tensor.shape = ToU32(c->type().dims());
      tensor.data.reserve(c->data().size());
      for (size_t i = 0; i < c->data().size(); ++i) {
        tensor.data.push_back(static_cast<float>(c->data().GetAsDouble(i)));
      }
      seg.tensors.push_back(std::move(tensor));
      continue;
    }
    std::string value;
    switch (attr.kind()) {
      case ir::AttrKind::kInt:
        value = std::to_string(attr.AsInt());
        break;
      case ir::AttrKind::kBool:
        value = attr.AsBool() ? "true" : "false";
        break;
      case ir::AttrKind::kString:
        value = Quote(attr.AsString());
        break;
      case ir::AttrKind::kFloat: {
        auto s = JsonNumber(attr.AsFloat());
        if (!s) Error(op, "attribute '" + key + "' is not finite");
        value = s.value_or("0");
        break;
      }
      case ir::AttrKind::kIntList:
        value = "[";
        for (size_t i = 0; i < attr.AsIntList().size(); ++i) {
          value += (i ? "," : "") + std::to_string(attr.AsIntList()[i]);
        }
        value += "]";
        break;
      case ir::AttrKind::kFloatList:
        value = "[";
        for (size_t i = 0; i < attr.AsFloatList().size(); ++i) {
          auto s = JsonNumber(attr.AsFloatList()[i]);
          if (!s) Error(op, "attribute '" + key + "' is not finite");
          value += (i ? "," : "") + s.value_or("0");
        }
        value += "]";
        break;
      case ir::AttrKind::kConstRef:
        break;
    }
    json += (first ? "" : ",") + Quote(key) + ":" + value;
    first = false;
  }
  seg.attributes = json + "}";

  HostValue hv;
  hv.name = out_name;
  hv.depth = depth;
  hv.dims = result->type().dims();
  hv.port_scale = static_cast<float>(op.attrs().GetFloat("port.scale").value_or(1.0));
  refs_[result] = Ref{Ref::kHost, static_cast<uint32_t>(host_values_.size()), nullptr, {}};
  host_values_.push_back(std::move(hv));
  host_ops_.push_back(&op);
  LayerInfo info;
  info.name = seg.name;
  info.op = "host:" + seg.op;
  info.loc = op.loc();
  info.on_host = true;
  if (const std::string* a = op.attrs().GetString("attn.ssa")) info.attention = *a;
  info.depth = depth;
  infos_.push_back(std::move(info));
  image_.host_segments.push_back(std::move(seg));
}

void Codegen::VisitOutput(const Operation& op) {
  const Value* v = op.operand(0);
  auto it = refs_.find(v);
  const std::string* name = op.attrs().GetString("name");
  if (it == refs_.end() || name == nullptr) {
    Error(op, "reads a value codegen cannot place");
    return;
  }
  const Ref& ref = it->second;
  if (ref.kind == Ref::kHost) return;  // the host segment's result carries the name
  if (ref.kind != Ref::kLayer) {
    Error(op,
          "must read a neuron or host value; synapse outputs and model inputs cannot be "
          "read back directly");
    return;
  }
  names_.insert(*name);
  const float scale = static_cast<float>(op.attrs().GetFloat("scale").value_or(1.0));
  AddOutputPort(*name, v, ref, scale);
}

void Codegen::Walk() {
  // Output port and host value names come from the model; reserve them first.
  for (const auto& op : module_.ops()) {
    if (op->name() == "input" || op->name() == "output") {
      if (const std::string* s = op->attrs().GetString("name")) names_.insert(*s);
    }
  }
  for (const auto& holder : module_.ops()) {
    const Operation& op = *holder;
    const std::string& n = op.name();
    if (n == "input") {
      Port p;
      p.port.name = *op.attrs().GetString("name");
      p.port.shape = ToU32(op.result()->type().dims());
      p.port.kind = op.result()->type().element() == ElementType::kSpike ? SpikeKind::kBinary
                                                                         : SpikeKind::kGraded;
      p.port.scale = static_cast<float>(op.attrs().GetFloat("scale").value_or(1.0));
      refs_[op.result()] = Ref{Ref::kPort, static_cast<uint32_t>(ports_.size()), nullptr, {}};
      ports_.push_back(std::move(p));
    } else if (n == "reshape" || n == "flatten" || n == "permute" || n == "transpose" ||
               n == "repeat_t") {
      VisitLayout(op);
    } else if (n == "syn_dense" || n == "syn_sparse" || n == "syn_conv2d") {
      VisitSyn(op);
    } else if (n == "add") {
      // A sum of synaptic currents: several tables into the same neurons.
      auto a = refs_.find(op.operand(0)), b = refs_.find(op.operand(1));
      if (a == refs_.end() || b == refs_.end() || a->second.kind != Ref::kSyn ||
          b->second.kind != Ref::kSyn || op.operand(0)->type() != op.operand(1)->type()) {
        Error(op, "on the chip must add two synapse outputs of the same shape");
        continue;
      }
      Ref sum = a->second;
      sum.syns.insert(sum.syns.end(), b->second.syns.begin(), b->second.syns.end());
      refs_[op.result()] = std::move(sum);
    } else if (n == "cuba_lif" || n == "accumulate" || n == "and2" || n == "relay") {
      VisitNeuron(op);
    } else if (n == "host") {
      VisitHost(op);
    } else if (n == "output") {
      VisitOutput(op);
    } else if (n == "const") {
      // Only host ops read constants, through attributes.
    } else {
      Error(op, "is not a lowered op; run the lowering passes before codegen");
    }
  }
}

// Whether a synapse can use its structured table format for `layer_src`.
bool DenseOk(const Syn& syn) {
  if (syn.identity) return false;
  const auto& d = syn.op->operand(0)->type().dims();
  uint64_t rows = 1;
  for (size_t k = 0; k + 1 < d.size(); ++k) rows *= static_cast<uint64_t>(d[k]);
  return syn.op->name() == "syn_dense" && rows == 1 && !syn.source.map;
}

// A per-token layer (syn_dense over rows of a layer's own neurons): tables
// between groups that each lie within one row, of the same row, are the
// weights themselves, dense, instead of a sparse table replicating them per
// row (8 bits per synapse instead of 24).
struct RowShape {
  uint64_t rows = 0, in = 0, out = 0;
};
std::optional<RowShape> RowDense(const Syn& syn) {
  if (syn.identity || syn.op->name() != "syn_dense" || syn.source.map ||
      (syn.source.kind != Ref::kLayer && syn.source.kind != Ref::kPort)) {
    return std::nullopt;
  }
  const auto& d = syn.op->operand(0)->type().dims();
  const auto& od = syn.op->result()->type().dims();
  RowShape r{1, static_cast<uint64_t>(d.back()), static_cast<uint64_t>(od.back())};
  for (size_t k = 0; k + 1 < d.size(); ++k) r.rows *= static_cast<uint64_t>(d[k]);
  if (r.rows <= 1) return std::nullopt;
  return r;
}

void Codegen::SetRowUnits() {
  // Each layer's rows as the target of per-token tables. A group of one unit
  // dividing every row lies within a row. (Sources need no alignment: a
  // table reads the window of its source that holds the row.)
  std::vector<uint64_t> unit(layers_.size(), 0);
  for (uint32_t l = 0; l < layers_.size(); ++l) {
    for (const auto& [s, port] : layers_[l].inputs) {
      if (const auto r = RowDense(syns_[s])) unit[l] = std::gcd(unit[l], r->out);
    }
  }
  // A layer a conv2d table reads is split by whole channels of that map too
  // (a pooled map flattened and reshaped back is still one).
  for (const Syn& syn : syns_) {
    if (!ConvOk(syn) || syn.source.kind != Ref::kLayer) continue;
    Layer& src = layers_[syn.source.index];
    if (src.tiling) continue;
    const auto& d = syn.op->operand(0)->type().dims();
    const uint64_t hw = static_cast<uint64_t>(d[2] * d[3]);
    if (src.unit == 1 && src.size % hw == 0 && src.size == syn.in_elements) {
      src.unit = static_cast<uint32_t>(hw);
    }
  }
  const uint64_t bits = options_.chip.core.synapse_memory_bits;
  for (uint32_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    if (unit[l] == 0 || layer.unit != 1 || layer.size % unit[l] != 0) continue;
    // One unit's dense tables must fit a core: halve it while it divides.
    uint64_t in_per_row = 0;
    for (const auto& [s, port] : layer.inputs) {
      if (const auto r = RowDense(syns_[s])) in_per_row += r->in;
    }
    uint64_t u = unit[l];
    while (bits != 0 && u % 2 == 0 &&
           in_per_row * u * options_.chip.core.synapse_bits_dense > bits) {
      u /= 2;
    }
    layer.unit = static_cast<uint32_t>(u);
    layer.one_unit_groups = true;
  }
}

std::pair<Span, Span> Codegen::ReceptiveField(const Operation& op, const Box& out) const {
  const auto& kd = module_.FindConstant(*op.attrs().GetRef("weight"))->type().dims();
  const auto* st = op.attrs().GetIntList("stride");
  const auto* pd = op.attrs().GetIntList("padding");
  const int64_t sh = st ? (*st)[0] : 1, sw = st ? (*st)[1] : 1;
  const int64_t ph = pd ? (*pd)[0] : 0, pw = pd ? (*pd)[1] : 0;
  return {Span{int64_t{out.y0} * sh - ph, int64_t{out.y0 + out.yn - 1} * sh - ph + kd[2]},
          Span{int64_t{out.x0} * sw - pw, int64_t{out.x0 + out.xn - 1} * sw - pw + kd[3]}};
}

// The input channels a box of a conv's output reads: its channel groups'.
std::pair<uint32_t, uint32_t> Codegen::InputChannels(const Operation& op, const Box& out) const {
  const auto& kd = module_.FindConstant(*op.attrs().GetRef("weight"))->type().dims();
  const int64_t groups = op.attrs().GetInt("groups").value_or(1);
  const uint32_t og = static_cast<uint32_t>(op.result()->type().dim(1) / groups);
  const uint32_t cg = static_cast<uint32_t>(kd[1]);
  const uint32_t g0 = out.c0 / og, g1 = (out.c0 + out.cn - 1) / og;
  return {g0 * cg, (g1 - g0 + 1) * cg};
}

std::vector<partition::LayerDemand> Codegen::Demands() const {
  std::vector<partition::LayerDemand> out;
  const auto& lim = options_.chip.core;
  for (const Layer& layer : layers_) {
    partition::LayerDemand d;
    d.name = layer.name;
    d.size = layer.size;
    d.unit = layer.size % layer.unit == 0 ? layer.unit : 1;
    if (layer.one_unit_groups || layer.tiling) d.max_group = d.unit;
    const uint64_t units = d.size / d.unit;
    for (const auto& [s, port] : layer.inputs) {
      const Syn& syn = syns_[s];
      partition::InputDemand in;
      in.source_layer = syn.source.kind == Ref::kLayer ? static_cast<int>(syn.source.index) : -1;
      if (syn.source.kind == Ref::kPort) in.source_port = syn.source.index;
      in.source_size = syn.in_elements;
      const auto row = RowDense(syn);
      if (DenseOk(syn)) {
        in.bits_per_unit = syn.in_elements * d.unit * lim.synapse_bits_dense;
      } else if (row && layer.one_unit_groups) {
        // Target unit u of row r reads row r of the source, densely: the
        // window of each source group (or the port) that holds the row.
        in.bits_per_unit = row->in * d.unit * lim.synapse_bits_dense;
        in.footprint_lo.resize(layer.size);
        in.footprint_hi.resize(layer.size);
        for (uint32_t t = 0; t < layer.size; ++t) {
          const uint64_t r = t / row->out;
          in.footprint_lo[t] = static_cast<uint32_t>(r * row->in);
          in.footprint_hi[t] = static_cast<uint32_t>((r + 1) * row->in);
        }
      } else if (ConvOk(syn) && layer.tiling) {
        // One tile per group: its kernels (stored once per core, shared by
        // the tables from each source group) and its receptive field.
        const Tiling& t = *layer.tiling;
        const Operation& op = *syn.op;
        const auto& kd = module_.FindConstant(*op.attrs().GetRef("weight"))->type().dims();
        const auto& id = op.operand(0)->type().dims();
        in.bits_per_unit =
            uint64_t{t.tc} * static_cast<uint64_t>(kd[1] * kd[2] * kd[3]) * lim.synapse_bits_dense;
        for (uint32_t u = 0; u < units; ++u) {
          const Box tile = t.TileBox(u);
          const auto [ys, xs] = ReceptiveField(op, tile);
          const uint64_t channels = static_cast<uint64_t>(id[1]);  // see ChooseTiling
          in.axons_per_unit.push_back(
              static_cast<uint32_t>(channels * ys.Clipped(id[2]) * xs.Clipped(id[3])));
        }
      } else if (ConvOk(syn) && d.unit > 1) {
        // Whole output channels; their kernels stored once per core.
        const auto& w = *module_.FindConstant(*syn.op->attrs().GetRef("weight"));
        const auto& wd = w.type().dims();
        in.bits_per_unit = static_cast<uint64_t>(wd[1] * wd[2] * wd[3]) * lim.synapse_bits_dense;
      } else {
        // Sparse: count the synapses once, spread them over the units, and
        // note which source neurons each target reads.
        uint64_t nnz = 0;
        std::vector<std::pair<uint32_t, int16_t>> fan;
        in.footprint_lo.assign(layer.size, std::numeric_limits<uint32_t>::max());
        in.footprint_hi.assign(layer.size, 0);
        std::vector<uint64_t> per_target(layer.size, 0);
        // From a tiled source, footprint hulls would span tiles: count each
        // unit's distinct source neurons instead (the tables read runs of them).
        std::vector<std::pair<uint32_t, uint32_t>> reached;  // (unit, source neuron)
        for (uint64_t i = 0; i < syn.in_elements; ++i) {
          fan.clear();
          FanOut(syn, i, fan);
          nnz += fan.size();
          const uint32_t base = syn.source.map ? (*syn.source.map)[i] : static_cast<uint32_t>(i);
          for (const auto& [e, w] : fan) {
            const uint32_t o = layer.perm ? (*layer.perm)[e] : e;
            ++per_target[o];
            in.footprint_lo[o] = std::min(in.footprint_lo[o], base);
            in.footprint_hi[o] = std::max(in.footprint_hi[o], base + 1);
            if (syn.source.tiled) reached.push_back({o / d.unit, base});
          }
        }
        if (syn.source.tiled) {
          std::sort(reached.begin(), reached.end());
          reached.erase(std::unique(reached.begin(), reached.end()), reached.end());
          in.axons_per_unit.assign(units, 0);
          for (const auto& [u, n] : reached) ++in.axons_per_unit[u];
        }
        in.bits_per_unit = (nnz * lim.synapse_bits_sparse + units - 1) / units;
        in.bits_prefix.assign(layer.size + 1, 0);
        for (uint32_t t = 0; t < layer.size; ++t) {
          in.bits_prefix[t + 1] = in.bits_prefix[t] + per_target[t] * lim.synapse_bits_sparse;
        }
      }
      d.inputs.push_back(in);
    }
    out.push_back(std::move(d));
  }
  return out;
}

void Codegen::FanOut(const Syn& syn, uint64_t i,
                     std::vector<std::pair<uint32_t, int16_t>>& out) const {
  if (syn.identity) {
    for (uint32_t t : syn.identity_targets[i]) out.push_back({t, 1});
    return;
  }
  const Operation& op = *syn.op;
  const auto& in = op.operand(0)->type().dims();
  const auto& od = op.result()->type().dims();
  const ir::Constant* w = syn.weight;
  const ir::TensorData& wd = w->data();
  if (op.name() == "syn_dense" || op.name() == "syn_sparse") {
    const uint64_t I = static_cast<uint64_t>(in.back()), O = static_cast<uint64_t>(od.back());
    const uint64_t r = i / I, ii = i % I;
    if (op.name() == "syn_dense") {
      for (uint64_t o = 0; o < O; ++o) {
        const int64_t v = wd.GetAsInt(o * I + ii);
        if (v != 0) out.push_back({static_cast<uint32_t>(r * O + o), static_cast<int16_t>(v)});
      }
    } else {
      const ir::Constant* rp = syn.row_ptr;
      const ir::Constant* col = syn.col;
      for (int64_t k = rp->data().GetAsInt(ii); k < rp->data().GetAsInt(ii + 1); ++k) {
        const int64_t v = wd.GetAsInt(static_cast<size_t>(k));
        if (v != 0) {
          out.push_back(
              {static_cast<uint32_t>(r * O + col->data().GetAsInt(static_cast<size_t>(k))),
               static_cast<int16_t>(v)});
        }
      }
    }
    return;
  }
  // syn_conv2d on [B, C, H, W]: every output the input pixel contributes to.
  const int64_t C = in[1], H = in[2], W = in[3];
  const int64_t O = od[1], OH = od[2], OW = od[3];
  const auto& kd = w->type().dims();  // [O, C/g, kh, kw]
  const int64_t cg = kd[1], kh = kd[2], kw = kd[3];
  const int64_t groups = op.attrs().GetInt("groups").value_or(1);
  const auto* st = op.attrs().GetIntList("stride");
  const auto* pd = op.attrs().GetIntList("padding");
  const int64_t sh = st ? (*st)[0] : 1, sw = st ? (*st)[1] : 1;
  const int64_t ph = pd ? (*pd)[0] : 0, pw = pd ? (*pd)[1] : 0;
  const int64_t x = static_cast<int64_t>(i) % W, y = static_cast<int64_t>(i) / W % H;
  const int64_t c = static_cast<int64_t>(i) / (W * H) % C,
                b = static_cast<int64_t>(i) / (W * H * C);
  const int64_t og = O / groups, g = c / cg, ci = c % cg;
  for (int64_t oc = g * og; oc < (g + 1) * og; ++oc) {
    for (int64_t ky = 0; ky < kh; ++ky) {
      const int64_t ty = y + ph - ky;
      if (ty < 0 || ty % sh != 0 || ty / sh >= OH) continue;
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int64_t tx = x + pw - kx;
        if (tx < 0 || tx % sw != 0 || tx / sw >= OW) continue;
        const int64_t v = wd.GetAsInt(static_cast<size_t>(((oc * cg + ci) * kh + ky) * kw + kx));
        if (v == 0) continue;
        out.push_back({static_cast<uint32_t>(((b * O + oc) * OH + ty / sh) * OW + tx / sw),
                       static_cast<int16_t>(v)});
      }
    }
  }
}

std::pair<SynapseSource, std::vector<std::pair<uint32_t, uint32_t>>> Codegen::SourceGroups(
    const Ref& ref) const {
  if (ref.kind == Ref::kPort) {
    const uint64_t n = hal::format::ShapeElements(ports_[ref.index].port.shape);
    return {SynapseSource{SourceKind::kInputPort, ref.index}, {{0, static_cast<uint32_t>(n)}}};
  }
  return {SynapseSource{SourceKind::kGroup, 0}, layers_[ref.index].slices};
}

void Codegen::EmitTables(uint32_t syn_index, const Layer& target, uint8_t port,
                         uint32_t layer_index) {
  const Syn& syn = syns_[syn_index];
  const Operation& op = *syn.op;
  auto [src, slices] = SourceGroups(syn.source);
  const int8_t exp =
      syn.identity ? 0 : static_cast<int8_t>(op.attrs().GetInt("weight_exp").value_or(0));
  const uint8_t bits =
      syn.identity ? 8 : static_cast<uint8_t>(op.attrs().GetInt("num_weight_bits").value_or(8));
  LayerInfo& info = infos_[layer_index];

  auto new_table = [&](size_t sg, size_t tg) {
    SynapseTable t;
    t.id = static_cast<uint32_t>(image_.tables.size());
    t.source = src;
    if (src.kind == SourceKind::kGroup) t.source.index = layers_[syn.source.index].group_ids[sg];
    t.target_group = target.group_ids[tg];
    t.target_port = port;
    t.weight_exp = exp;
    t.num_weight_bits = bits;
    t.delay = static_cast<uint8_t>(syn.extra_delay);
    return t;
  };
  const auto& lim = options_.chip.core;
  auto add = [&](SynapseTable t) {
    const size_t n = t.weights_of == hal::format::kOwnWeights
                         ? t.weights.size()
                         : image_.tables[t.weights_of].weights.size();
    info.synapses += n;
    info.synapse_bits +=
        n * (t.format == SynapseFormat::kSparse ? lim.synapse_bits_sparse : lim.synapse_bits_dense);
    image_.tables.push_back(std::move(t));
  };
  // Tables whose weights are the same slice of the op's (a kernel block read
  // from several source tiles, a token's matrix block) share the first's.
  auto owner_of = [&](const SharedKey& key) -> std::optional<uint32_t> {
    auto it = shared_weights_.find(key);
    if (it == shared_weights_.end()) return std::nullopt;
    return it->second;
  };

  // Conv tables between boxes of the maps: tiles, or whole channels.
  std::vector<Box> source_boxes, target_boxes;
  const bool conv = ConvOk(syn) && [&] {
    auto boxes = [](const Layer* layer, const std::vector<std::pair<uint32_t, uint32_t>>& sl,
                    const std::vector<int64_t>& d, std::vector<Box>& out) {
      const uint32_t h = static_cast<uint32_t>(d[2]), w = static_cast<uint32_t>(d[3]);
      for (const auto& [off, cnt] : sl) {
        if (layer != nullptr && layer->tiling) {
          const uint32_t vol = layer->tiling->Volume();
          if (off % vol != 0 || cnt != vol) return false;
          out.push_back(layer->tiling->TileBox(off / vol));
        } else {
          if (off % (h * w) != 0 || cnt % (h * w) != 0) return false;
          out.push_back(Box{off / (h * w), cnt / (h * w), 0, h, 0, w});
        }
      }
      return true;
    };
    const Layer* src_layer = syn.source.kind == Ref::kLayer ? &layers_[syn.source.index] : nullptr;
    return boxes(src_layer, slices, op.operand(0)->type().dims(), source_boxes) &&
           boxes(&target, target.slices, op.result()->type().dims(), target_boxes);
  }();

  // A dense table for a pair of groups; weight(s, o) indexes the op's
  // weights for source s and target o of the pair. All-zero blocks are left out.
  // Rows [first, first + sc) of source group sg: a window unless it is the
  // whole group.
  auto set_window = [&](SynapseTable& t, size_t sg, uint32_t first, uint32_t sc) {
    if (first != 0 || sc != slices[sg].second) {
      t.source_offset = first;
      t.source_count = sc;
    }
  };
  auto dense = [&](size_t sg, size_t tg, uint32_t first, uint32_t sc, auto&& weight,
                   std::optional<SharedKey> key = std::nullopt) {
    const ir::TensorData& w = module_.FindConstant(*op.attrs().GetRef("weight"))->data();
    const uint32_t tc = target.slices[tg].second;
    SynapseTable t = new_table(sg, tg);
    t.format = SynapseFormat::kDense;
    set_window(t, sg, first, sc);
    if (key) {
      if (const auto owner = owner_of(*key)) {
        t.weights_of = *owner;
        add(std::move(t));
        return;
      }
    }
    t.weights.resize(uint64_t{sc} * tc);
    bool any = false;
    for (uint32_t s = 0; s < sc; ++s) {
      for (uint32_t o = 0; o < tc; ++o) {
        const int64_t v = w.GetAsInt(static_cast<size_t>(weight(s, o)));
        t.weights[uint64_t{s} * tc + o] = static_cast<int16_t>(v);
        any = any || v != 0;
      }
    }
    if (!any) return;
    if (key) shared_weights_[*key] = t.id;
    add(std::move(t));
  };
  const auto row = RowDense(syn);
  const auto within_row = [](const std::vector<std::pair<uint32_t, uint32_t>>& sl, uint64_t n) {
    return std::all_of(sl.begin(), sl.end(), [&](const auto& s) {
      return s.second > 0 && s.first / n == (uint64_t{s.first} + s.second - 1) / n;
    });
  };
  if (row && within_row(target.slices, row->out)) {
    // A target group within token r reads token r's row from each source
    // group (or port) holding part of it, through a window.
    for (size_t tg = 0; tg < target.slices.size(); ++tg) {
      const uint64_t to = target.slices[tg].first;
      const uint64_t lo = to / row->out * row->in, hi = lo + row->in, ti = to % row->out;
      for (size_t sg = 0; sg < slices.size(); ++sg) {
        const uint64_t so = slices[sg].first;
        const uint64_t a = std::max(so, lo), b = std::min(so + slices[sg].second, hi);
        if (a >= b) continue;  // different tokens never meet
        dense(
            sg, tg, static_cast<uint32_t>(a - so), static_cast<uint32_t>(b - a),
            [&](uint64_t s, uint64_t o) { return (ti + o) * row->in + (a - lo) + s; },
            SharedKey{syn_index, 1, static_cast<uint32_t>(a - lo), static_cast<uint32_t>(b - a),
                      static_cast<uint32_t>(ti), target.slices[tg].second});
      }
    }
    return;
  }
  if (DenseOk(syn)) {
    const uint64_t I = syn.in_elements;
    for (size_t sg = 0; sg < slices.size(); ++sg) {
      for (size_t tg = 0; tg < target.slices.size(); ++tg) {
        const uint64_t so = slices[sg].first, to = target.slices[tg].first;
        dense(sg, tg, 0, slices[sg].second,
              [&](uint64_t s, uint64_t o) { return (to + o) * I + so + s; });
      }
    }
    return;
  }
  if (conv) {
    const ir::Constant* wc = module_.FindConstant(*op.attrs().GetRef("weight"));
    const auto& kd = wc->type().dims();
    const auto& d = op.operand(0)->type().dims();
    const auto& od = op.result()->type().dims();
    const auto* st = op.attrs().GetIntList("stride");
    const auto* pd = op.attrs().GetIntList("padding");
    const uint64_t per_oc = static_cast<uint64_t>(kd[1] * kd[2] * kd[3]);
    hal::format::Conv2dGeometry base;
    base.in_channels = static_cast<uint32_t>(d[1]);
    base.in_h = static_cast<uint32_t>(d[2]);
    base.in_w = static_cast<uint32_t>(d[3]);
    base.out_channels = static_cast<uint32_t>(od[1]);
    base.out_h = static_cast<uint32_t>(od[2]);
    base.out_w = static_cast<uint32_t>(od[3]);
    base.kernel_h = static_cast<uint32_t>(kd[2]);
    base.kernel_w = static_cast<uint32_t>(kd[3]);
    base.stride_h = static_cast<uint32_t>(st ? (*st)[0] : 1);
    base.stride_w = static_cast<uint32_t>(st ? (*st)[1] : 1);
    base.pad_h = static_cast<uint32_t>(pd ? (*pd)[0] : 0);
    base.pad_w = static_cast<uint32_t>(pd ? (*pd)[1] : 0);
    base.groups = static_cast<uint32_t>(op.attrs().GetInt("groups").value_or(1));
    // A whole extent is written as count 0 (so untiled maps read as in 1.0).
    auto extent = [](uint32_t o, uint32_t n, uint32_t full, uint32_t& off, uint32_t& cnt) {
      const bool whole = o == 0 && n == full;
      off = whole ? 0 : o;
      cnt = whole ? 0 : n;
    };
    for (size_t tg = 0; tg < target.slices.size(); ++tg) {
      const Box& tb = target_boxes[tg];
      const auto [ys, xs] = ReceptiveField(op, tb);
      const auto [ic0, icn] = InputChannels(op, tb);
      for (size_t sg = 0; sg < slices.size(); ++sg) {
        const Box& sb = source_boxes[sg];
        if (sb.c0 >= ic0 + icn || ic0 >= sb.c0 + sb.cn) continue;  // channel groups never meet
        const int64_t y0 = std::max<int64_t>(ys.lo, sb.y0),
                      y1 = std::min<int64_t>(ys.hi, sb.y0 + sb.yn);
        const int64_t x0 = std::max<int64_t>(xs.lo, sb.x0),
                      x1 = std::min<int64_t>(xs.hi, sb.x0 + sb.xn);
        if (y0 >= y1 || x0 >= x1) continue;  // outside the tile's receptive field
        hal::format::Conv2dGeometry g = base;
        g.in_c_offset = sb.c0;
        g.in_c_count = sb.cn;
        g.out_c_offset = tb.c0;
        g.out_c_count = tb.cn;
        extent(sb.y0, sb.yn, base.in_h, g.in_y_offset, g.in_y_count);
        extent(sb.x0, sb.xn, base.in_w, g.in_x_offset, g.in_x_count);
        extent(tb.y0, tb.yn, base.out_h, g.out_y_offset, g.out_y_count);
        extent(tb.x0, tb.xn, base.out_w, g.out_x_offset, g.out_x_count);
        if (y0 != sb.y0 || y1 != sb.y0 + sb.yn || x0 != sb.x0 || x1 != sb.x0 + sb.xn) {
          g.win_y_offset = static_cast<uint32_t>(y0);
          g.win_y_count = static_cast<uint32_t>(y1 - y0);
          g.win_x_offset = static_cast<uint32_t>(x0);
          g.win_x_count = static_cast<uint32_t>(x1 - x0);
        }
        SynapseTable t = new_table(sg, tg);
        t.format = SynapseFormat::kConv2d;
        t.conv = g;
        const SharedKey key{syn_index, 2, g.out_c_offset, g.out_c_count, 0, 0};
        if (const auto owner = owner_of(key)) {
          t.weights_of = *owner;
        } else {
          shared_weights_[key] = t.id;
          t.weights.resize(g.out_c_count * per_oc);
          for (uint64_t k = 0; k < t.weights.size(); ++k) {
            t.weights[k] = static_cast<int16_t>(wc->data().GetAsInt(g.out_c_offset * per_oc + k));
          }
        }
        add(std::move(t));
      }
    }
    return;
  }
  // Sparse CSR by source neuron, through the inverse of the layout map.
  std::vector<std::vector<uint32_t>> inputs_of;  // base element -> synapse inputs
  if (syn.source.map) {
    uint64_t base_size = 0;
    for (const auto& [off, cnt] : slices)
      base_size = std::max<uint64_t>(base_size, uint64_t{off} + cnt);
    inputs_of.resize(base_size);
    for (uint32_t i = 0; i < syn.source.map->size(); ++i)
      inputs_of[(*syn.source.map)[i]].push_back(i);
  }
  std::vector<std::pair<uint32_t, int16_t>> fan;
  for (size_t sg = 0; sg < slices.size(); ++sg) {
    const auto [so, sc] = slices[sg];
    std::vector<std::vector<std::pair<uint32_t, int16_t>>> rows(sc);
    for (uint32_t s = 0; s < sc; ++s) {
      const uint32_t e = so + s;
      auto collect = [&](uint32_t i) {
        fan.clear();
        FanOut(syn, i, fan);
        for (const auto& [o, v] : fan) rows[s].push_back({target.perm ? (*target.perm)[o] : o, v});
      };
      if (syn.source.map) {
        for (uint32_t i : inputs_of[e]) collect(i);
      } else if (e < syn.in_elements) {
        collect(e);
      }
      std::sort(rows[s].begin(), rows[s].end());
    }
    // The target groups these rows reach, each with the rows reaching it
    // (ascending): only they get tables.
    std::map<size_t, std::vector<uint32_t>> reached;
    for (uint32_t s = 0; s < sc; ++s) {
      size_t last = target.slices.size();
      for (const auto& [o, v] : rows[s]) {
        const size_t tg = static_cast<size_t>(
            std::partition_point(target.slices.begin() + 1, target.slices.end(),
                                 [&](const auto& sl) { return sl.first <= o; }) -
            target.slices.begin() - 1);
        if (tg == last) continue;  // rows are sorted by target: groups arrive in order
        last = tg;
        reached[tg].push_back(s);
      }
    }
    for (const auto& [tg, sources] : reached) {
      const auto [to, tc] = target.slices[tg];
      // Windows: the first to the last source neuron with a synapse here;
      // from a tiled source, each run of such neurons (a receptive field
      // meets a tile in pieces), so the axons are exactly those neurons.
      auto emit = [&](uint32_t first, uint32_t end) {
        SynapseTable t = new_table(sg, tg);
        t.format = SynapseFormat::kSparse;
        set_window(t, sg, first, end - first);
        t.row_ptr.push_back(0);
        for (uint32_t r = first; r < end; ++r) {
          for (const auto& [o, v] : rows[r]) {
            if (o >= to && o < to + tc) {
              t.col.push_back(o - to);
              t.weights.push_back(v);
            }
          }
          t.row_ptr.push_back(static_cast<uint32_t>(t.col.size()));
        }
        add(std::move(t));
      };
      if (!syn.source.tiled) {
        emit(sources.front(), sources.back() + 1);
        continue;
      }
      for (size_t k = 0; k < sources.size();) {
        size_t e = k + 1;
        while (e < sources.size() && sources[e] == sources[e - 1] + 1) ++e;
        emit(sources[k], sources[e - 1] + 1);
        k = e;
      }
    }
  }
}

std::vector<hal::format::OutputSegment> Codegen::Segments(const Ref& ref, uint64_t count) const {
  const Layer& layer = layers_[ref.index];
  std::vector<hal::format::OutputSegment> out;
  for (uint64_t p = 0; p < count; ++p) {
    const uint32_t e = ref.map ? (*ref.map)[p] : static_cast<uint32_t>(p);
    // Group holding element e: slices are sorted by offset.
    const size_t g =
        static_cast<size_t>(std::partition_point(layer.slices.begin() + 1, layer.slices.end(),
                                                 [&](const auto& sl) { return sl.first <= e; }) -
                            layer.slices.begin() - 1);
    const uint32_t gid = layer.group_ids[g];
    const uint32_t off = e - layer.slices[g].first;
    if (!out.empty()) {
      auto& last = out.back();
      if (last.group == gid && last.group_offset + last.count == off &&
          last.port_offset + last.count == p) {
        ++last.count;
        continue;
      }
    }
    out.push_back({gid, off, static_cast<uint32_t>(p), 1});
  }
  return out;
}

StatusOr<CodegenResult> Codegen::Run() {
  Walk();
  if (diags_.has_errors()) {
    if (unimplemented_) return UnimplementedError(diags_.ToStatus("codegen").message());
    return diags_.ToStatus("codegen");
  }
  SetRowUnits();
  if (layers_.empty()) {
    diags_.Error(ir::Location{module_.source_name(), 0, 0, "", ""},
                 "the model has no neurons to place on the chip");
    return diags_.ToStatus("codegen");
  }

  // Partition and place.
  partition::PlanOptions popts;
  popts.max_cores = options_.max_cores;
  partition::Plan plan = partition::MakePlan(Demands(), options_.chip, options_.board, popts);
  auto report = [&](const std::vector<partition::Violation>& violations) {
    for (const auto& v : violations) {
      // A violation may name several layers sharing a core; point at the first.
      const std::string first = v.layer.substr(0, v.layer.find("', '"));
      ir::Location loc;
      for (const Layer& l : layers_) {
        if (l.name == first) loc = l.op->DiagLocation();
      }
      diags_.Error(loc, "cannot map onto " + options_.chip.name + ": " + v.ToString());
    }
  };
  if (!plan.violations.empty()) {
    report(plan.violations);
    return diags_.ToStatus("mapping");
  }
  for (uint32_t c = 0; c < plan.num_cores; ++c) image_.cores.push_back(plan.placement[c]);

  // Layers before host segments in the report, in op order.
  std::vector<LayerInfo> host_infos = std::move(infos_);
  infos_.clear();
  std::vector<int64_t> bias;
  uint32_t bias_layer = std::numeric_limits<uint32_t>::max();
  for (const auto& g : plan.groups) {
    Layer& layer = layers_[g.layer];
    NeuronGroup group;
    group.id = static_cast<uint32_t>(image_.groups.size());
    group.core = g.core;
    group.layer = layer.name;
    group.model = layer.model;
    group.output = layer.output;
    group.size = g.count;
    // Held until its first input arrives, so a bias cannot act during the
    // pipeline fill.
    group.start_step = layer.depth;
    const auto& a = layer.op->attrs();
    group.du = static_cast<uint16_t>(a.GetInt("du").value_or(0));
    group.dv = static_cast<uint16_t>(a.GetInt("dv").value_or(0));
    group.vth = static_cast<uint32_t>(a.GetInt("vth").value_or(0));
    group.bias_exp = static_cast<int8_t>(a.GetInt("bias_exp").value_or(0));
    // One copy of a layer's biases for all its groups (a tiled map has many).
    if (bias_layer != g.layer) {
      bias = IntsOf(*layer.op, "bias_mant");
      bias_layer = g.layer;
    }
    if (bias.size() == layer.size) {
      bool any = false;
      // Biases are per model element; a tiled layer's neurons are not in that order.
      auto at = [&](uint32_t k) {
        const uint32_t n = g.offset + k;
        return bias[layer.element_of.empty() ? n : layer.element_of[n]];
      };
      for (uint32_t k = 0; k < g.count; ++k) any = any || at(k) != 0;
      if (any) {
        for (uint32_t k = 0; k < g.count; ++k) {
          group.bias_mant.push_back(static_cast<int16_t>(at(k)));
        }
      }
    }
    layer.group_ids.push_back(group.id);
    layer.slices.push_back({g.offset, g.count});
    image_.groups.push_back(std::move(group));
  }
  for (const Layer& layer : layers_) {
    LayerInfo info;
    info.name = layer.name;
    info.op = layer.op->name();
    info.loc = layer.op->loc();
    info.neurons = layer.size;
    info.groups = layer.group_ids;
    for (uint32_t id : layer.group_ids) {
      const uint32_t core = image_.groups[id].core;
      if (std::find(info.cores.begin(), info.cores.end(), core) == info.cores.end()) {
        info.cores.push_back(core);
      }
    }
    info.depth = layer.depth;
    info.quant_error = layer.op->attrs().GetFloat("quant.error").value_or(-1.0);
    if (const std::string* a = layer.op->attrs().GetString("attn.ssa")) info.attention = *a;
    infos_.push_back(std::move(info));
  }

  for (const auto& [index, v] : output_values_) {
    image_.outputs[index].segments = Segments(refs_.at(v), Elements(v->type()));
  }

  // Tables, in layer order.
  for (uint32_t l = 0; l < layers_.size(); ++l) {
    for (const auto& [s, port] : layers_[l].inputs) EmitTables(s, layers_[l], port, l);
  }
  // Routes: one per (source group, target core), axons allocated in order.
  std::map<std::pair<uint32_t, uint32_t>, bool> seen;
  std::vector<uint32_t> next_axon(image_.cores.size(), 0);
  for (const auto& t : image_.tables) {
    if (t.source.kind != SourceKind::kGroup) continue;
    const uint32_t core = image_.groups[t.target_group].core;
    if (!seen.emplace(std::make_pair(t.source.index, core), true).second) continue;
    image_.routes.push_back({t.source.index, core, next_axon[core]});
    next_axon[core] += image_.groups[t.source.index].size;
  }
  for (Port& p : ports_) image_.inputs.push_back(p.port);

  // Meta.
  auto& meta = image_.meta;
  meta.model_name = options_.model_name.empty() ? module_.name() : options_.model_name;
  meta.model_sha256 = options_.model_sha256;
  meta.compiler_version = options_.compiler_version;
  meta.chip_profile = options_.chip.name;
  meta.timesteps = options_.timesteps != 0 ? options_.timesteps
                                           : static_cast<uint32_t>(module_.timesteps().value_or(1));
  uint32_t depth = 0;
  for (const auto& p : image_.outputs) depth = std::max(depth, p.delay);
  meta.run_steps = meta.timesteps + depth;

  // Per-core limits, measured on the image as the emulator measures them.
  const auto violations = partition::CheckCoreLimits(image_, options_.chip.core);
  if (!violations.empty()) {
    report(violations);
    return diags_.ToStatus("mapping");
  }
  std::vector<Status> problems = hal::format::ValidateBoardImageAll(image_, 20);
  if (!problems.empty()) {
    std::string msg = "codegen produced an invalid board image:";
    for (const auto& p : problems) msg += " " + std::string(p.message()) + ";";
    return InternalError(msg);
  }

  CodegenResult result;
  result.usage = hal::format::MeasureCoreUsage(image_, options_.chip.core);
  for (auto& info : infos_) {
    if (info.neurons > 0) info.fan_in = static_cast<double>(info.synapses) / info.neurons;
  }
  for (auto& h : host_infos) infos_.push_back(std::move(h));
  result.image = std::move(image_);
  result.layers = std::move(infos_);
  result.plan = std::move(plan);
  return result;
}

}  // namespace

StatusOr<CodegenResult> GenerateBoardImage(const ir::Module& module, const CodegenOptions& options,
                                           ir::DiagnosticEngine& diags) {
  Codegen codegen(module, options, diags);
  return codegen.Run();
}

passes::TargetInfo TargetInfoFor(const hal::format::ChipProfile& chip,
                                 const hal::format::BoardProfile& board, uint32_t max_cores) {
  passes::TargetInfo t;
  const uint64_t board_cores = uint64_t{board.chips} * chip.cores_per_chip;
  t.cores = max_cores == 0 ? board_cores : std::min<uint64_t>(max_cores, board_cores);
  t.name = chip.name + " x " + std::to_string(board.chips) + " chip(s)" +
           (board.name.empty() ? "" : " (" + board.name + ")");
  if (max_cores != 0) t.name += ", " + std::to_string(t.cores) + " cores";
  t.neurons_per_core = chip.core.neurons;
  t.synapse_bits_per_core = chip.core.synapse_memory_bits;
  t.input_axons_per_core = chip.core.input_axons;
  t.output_axons_per_core = chip.core.output_axons;
  t.bits_per_sparse_synapse = chip.core.synapse_bits_sparse;
  t.bits_per_dense_synapse = chip.core.synapse_bits_dense;
  return t;
}

}  // namespace spk::compiler::codegen

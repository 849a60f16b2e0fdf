#include "hal/format/board_image_validate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

namespace spk::hal::format {
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Names inside messages: quoted, control characters escaped, long ones cut.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  size_t shown = std::min<size_t>(text.size(), 80);
  for (size_t i = 0; i < shown; ++i) {
    char c = text[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += Cat("\\x", std::hex, static_cast<int>(c));
    } else {
      out += c;
    }
  }
  if (shown < text.size()) out += "...";
  return out + "\"";
}

std::string ShapeText(const std::vector<uint32_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += Cat(i ? ", " : "", shape[i]);
  return out + "]";
}

uint64_t SatMul(uint64_t a, uint64_t b) {
  uint64_t out;
  return __builtin_mul_overflow(a, b, &out) ? std::numeric_limits<uint64_t>::max() : out;
}

std::string_view ModelName(NeuronModel model) {
  switch (model) {
    case NeuronModel::kCubaLif:
      return "kCubaLif";
    case NeuronModel::kAccumulator:
      return "kAccumulator";
    case NeuronModel::kAnd2:
      return "kAnd2";
    case NeuronModel::kRelay:
      return "kRelay";
  }
  return "unknown";
}

std::string_view SignModeName(WeightSignMode mode) {
  switch (mode) {
    case WeightSignMode::kExcitatory:
      return "excitatory (all >= 0)";
    case WeightSignMode::kInhibitory:
      return "inhibitory (all <= 0)";
    case WeightSignMode::kMixed:
      return "mixed-sign";
  }
  return "unknown";
}

class Validator {
 public:
  Validator(const BoardImage& image, size_t max_problems)
      : image_(image), max_problems_(std::max<size_t>(max_problems, 1)) {}

  std::vector<Status> Run() {
    Meta();
    Cores();
    Groups();
    Inputs();
    Outputs();
    Routes();
    Tables();
    HostSegments();
    return std::move(problems_);
  }

 private:
  bool Full() const { return problems_.size() >= max_problems_; }

  // Records a problem; returns false when no more are wanted.
  bool Fail(const std::string& object, const std::string& what) {
    if (!Full()) problems_.push_back(InvalidArgumentError(object + ": " + what));
    return !Full();
  }

  const NeuronGroup* FindGroup(uint32_t id) const {
    auto it = groups_by_id_.find(id);
    return it == groups_by_id_.end() ? nullptr : it->second;
  }

  static std::string GroupName(const NeuronGroup& g) {
    return Cat("group ", g.id, " (layer ", Quote(g.layer), ")");
  }

  void CheckString(const std::string& object, std::string_view field, const std::string& value,
                   size_t max_length = kMaxNameLength) {
    if (value.size() > max_length) {
      Fail(object, Cat(field, " is ", value.size(), " bytes long; the limit is ", max_length));
    }
  }

  // Port names share one namespace so host segments can refer to either kind.
  void CheckPortName(const std::string& object, const std::string& name) {
    if (name.empty()) {
      Fail(object, "name is empty");
      return;
    }
    CheckString(object, "name", name);
    if (!port_names_.insert(name).second) {
      Fail(object, Cat("name ", Quote(name), " is used by another port"));
    }
  }

  void CheckShape(const std::string& object, const std::vector<uint32_t>& shape) {
    if (shape.empty()) {
      Fail(object, "shape is empty");
      return;
    }
    for (uint32_t d : shape) {
      if (d == 0) {
        Fail(object, Cat("shape ", ShapeText(shape), " has a zero dimension"));
        return;
      }
    }
    if (ShapeElements(shape) > std::numeric_limits<uint32_t>::max()) {
      Fail(object, Cat("shape ", ShapeText(shape), " has more than 2^32-1 elements"));
    }
  }

  void CheckScale(const std::string& object, float scale) {
    if (!std::isfinite(scale) || scale <= 0.0f) {
      Fail(object, Cat("scale ", scale, " must be finite and > 0"));
    }
  }

  void Meta() {
    const BoardImageMeta& m = image_.meta;
    CheckString("meta", "model_name", m.model_name);
    CheckString("meta", "compiler_version", m.compiler_version);
    CheckString("meta", "chip_profile", m.chip_profile);
    if (m.chip_profile.empty()) Fail("meta", "chip_profile is empty");
    if (!m.model_sha256.empty()) {
      bool hex = m.model_sha256.size() == 64 &&
                 std::all_of(m.model_sha256.begin(), m.model_sha256.end(), [](char c) {
                   return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                 });
      if (!hex) {
        Fail("meta", Cat("model_sha256 ", Quote(m.model_sha256),
                         " is not 64 lowercase hex digits (or empty)"));
      }
    }
    if (m.timesteps == 0) Fail("meta", "timesteps is 0; an inference has at least one step");
    if (m.run_steps < m.timesteps) {
      Fail("meta", Cat("run_steps ", m.run_steps, " is less than timesteps ", m.timesteps));
    }
  }

  void Cores() {
    std::map<std::pair<uint32_t, uint32_t>, size_t> seen;
    for (size_t i = 0; i < image_.cores.size() && !Full(); ++i) {
      const CorePlacement& c = image_.cores[i];
      auto [it, inserted] = seen.emplace(std::make_pair(c.chip, c.core), i);
      if (!inserted) {
        Fail(Cat("core ", i), Cat("placement (chip ", c.chip, ", core ", c.core,
                                  ") is also the placement of core ", it->second));
      }
    }
  }

  void Groups() {
    for (size_t i = 0; i < image_.groups.size(); ++i) {
      const NeuronGroup& g = image_.groups[i];
      if (!groups_by_id_.emplace(g.id, &g).second) {
        if (!Fail(GroupName(g), Cat("duplicate id ", g.id))) return;
      }
    }
    for (const NeuronGroup& g : image_.groups) {
      if (Full()) return;
      std::string name = GroupName(g);
      CheckString(name, "layer", g.layer);
      if (g.core >= image_.cores.size()) {
        Fail(name, Cat("core ", g.core, " is not a logical core of the image (it has ",
                       image_.cores.size(), ")"));
      }
      if (static_cast<uint8_t>(g.model) > static_cast<uint8_t>(NeuronModel::kRelay)) {
        Fail(name, Cat("model ", static_cast<int>(g.model), " is not a known neuron model"));
      }
      if (static_cast<uint8_t>(g.output) > static_cast<uint8_t>(SpikeKind::kGraded)) {
        Fail(name, Cat("output ", static_cast<int>(g.output), " is not a known spike kind"));
      }
      if (g.size == 0) Fail(name, "size is 0; a group has at least one compartment");
      if (g.du > kMaxDecay) Fail(name, Cat("du ", g.du, " exceeds ", kMaxDecay));
      if (g.dv > kMaxDecay) Fail(name, Cat("dv ", g.dv, " exceeds ", kMaxDecay));
      if (g.vth > kMaxVth) Fail(name, Cat("vth ", g.vth, " exceeds ", kMaxVth));
      if (g.start_step > image_.meta.run_steps) {
        Fail(name,
             Cat("start_step ", g.start_step, " exceeds meta.run_steps ", image_.meta.run_steps));
      }
      if (g.bias_exp < kMinBiasExp || g.bias_exp > kMaxBiasExp) {
        Fail(name, Cat("bias_exp ", static_cast<int>(g.bias_exp), " is outside ", kMinBiasExp, "..",
                       kMaxBiasExp));
      }
      CheckPerNeuron(name, "bias_mant", g.bias_mant, g.size, kMinBiasMant, kMaxBiasMant);
      CheckPerNeuron(name, "u_init", g.u_init, g.size, kMinState, kMaxState);
      CheckPerNeuron(name, "v_init", g.v_init, g.size, kMinState, kMaxState);
    }
  }

  template <typename T>
  void CheckPerNeuron(const std::string& name, std::string_view field, const std::vector<T>& values,
                      uint32_t size, int32_t lo, int32_t hi) {
    if (!values.empty() && values.size() != size) {
      Fail(name,
           Cat(field, " has ", values.size(), " entries; expected 0 or the group size ", size));
      return;
    }
    for (size_t k = 0; k < values.size(); ++k) {
      if (values[k] < lo || values[k] > hi) {
        Fail(name, Cat(field, "[", k, "] = ", values[k], " is outside ", lo, "..", hi));
        return;
      }
    }
  }

  void Inputs() {
    for (size_t i = 0; i < image_.inputs.size() && !Full(); ++i) {
      const InputPort& p = image_.inputs[i];
      std::string name = Cat("input port ", i, " (", Quote(p.name), ")");
      CheckPortName(name, p.name);
      CheckShape(name, p.shape);
      if (static_cast<uint8_t>(p.kind) > static_cast<uint8_t>(SpikeKind::kGraded)) {
        Fail(name, Cat("kind ", static_cast<int>(p.kind), " is not a known spike kind"));
      }
      CheckScale(name, p.scale);
    }
  }

  void Outputs() {
    for (size_t i = 0; i < image_.outputs.size() && !Full(); ++i) {
      const OutputPort& p = image_.outputs[i];
      std::string name = Cat("output port ", i, " (", Quote(p.name), ")");
      CheckPortName(name, p.name);
      CheckShape(name, p.shape);
      if (static_cast<uint8_t>(p.source) > static_cast<uint8_t>(OutputSource::kVoltage)) {
        Fail(name, Cat("source ", static_cast<int>(p.source), " is not a known output source"));
      }
      if (p.delay > image_.meta.run_steps) {
        Fail(name, Cat("delay ", p.delay, " exceeds meta.run_steps ", image_.meta.run_steps));
      }
      CheckScale(name, p.scale);
      CheckSegments(name, p);
    }
  }

  void CheckSegments(const std::string& name, const OutputPort& p) {
    if (p.segments.empty()) {
      Fail(name, "has no segments");
      return;
    }
    uint64_t port_size = ShapeElements(p.shape);
    bool in_range = true;
    for (size_t s = 0; s < p.segments.size(); ++s) {
      const OutputSegment& seg = p.segments[s];
      std::string where = Cat("segments[", s, "]");
      const NeuronGroup* g = FindGroup(seg.group);
      if (seg.count == 0) {
        Fail(name, Cat(where, ".count is 0"));
        in_range = false;
        continue;
      }
      if (g == nullptr) {
        Fail(name, Cat(where, ".group ", seg.group, " does not exist"));
      } else {
        if (uint64_t{seg.group_offset} + seg.count > g->size) {
          Fail(name, Cat(where, " reads compartments [", seg.group_offset, ", ",
                         uint64_t{seg.group_offset} + seg.count, ") of ", GroupName(*g),
                         " which has ", g->size));
        }
        if (p.source == OutputSource::kPayload && g->output != SpikeKind::kGraded) {
          Fail(name,
               Cat(where, " reads payloads from ", GroupName(*g), " which sends binary spikes"));
        }
      }
      if (uint64_t{seg.port_offset} + seg.count > port_size) {
        Fail(name, Cat(where, " fills elements [", seg.port_offset, ", ",
                       uint64_t{seg.port_offset} + seg.count, ") of a port of ", port_size));
        in_range = false;
      }
    }
    if (!in_range || Full()) return;
    std::vector<size_t> order(p.segments.size());
    for (size_t s = 0; s < order.size(); ++s) order[s] = s;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return p.segments[a].port_offset < p.segments[b].port_offset;
    });
    uint64_t next = 0;
    size_t previous = 0;
    for (size_t s : order) {
      const OutputSegment& seg = p.segments[s];
      if (seg.port_offset < next) {
        Fail(name, Cat("element ", seg.port_offset, " is covered by segments[", previous,
                       "] and segments[", s, "]"));
        return;
      }
      if (seg.port_offset > next) {
        Fail(name, Cat("elements [", next, ", ", seg.port_offset, ") are covered by no segment"));
        return;
      }
      next = uint64_t{seg.port_offset} + seg.count;
      previous = s;
    }
    if (next != port_size) {
      Fail(name, Cat("elements [", next, ", ", port_size, ") are covered by no segment"));
    }
  }

  void Routes() {
    std::map<std::pair<uint32_t, uint32_t>, size_t> seen;
    for (size_t i = 0; i < image_.routes.size() && !Full(); ++i) {
      const Route& r = image_.routes[i];
      std::string name =
          Cat("route ", i, " (group ", r.source_group, " -> core ", r.target_core, ")");
      const NeuronGroup* g = FindGroup(r.source_group);
      if (g == nullptr) Fail(name, Cat("source_group ", r.source_group, " does not exist"));
      if (r.target_core >= image_.cores.size()) {
        Fail(name, Cat("target_core ", r.target_core,
                       " is not a logical core of the image (it has ", image_.cores.size(), ")"));
      }
      if (g != nullptr &&
          uint64_t{r.axon_offset} + g->size > std::numeric_limits<uint32_t>::max()) {
        Fail(name,
             Cat("axon_offset ", r.axon_offset, " + source size ", g->size, " overflows 32 bits"));
      }
      auto [it, inserted] = seen.emplace(std::make_pair(r.source_group, r.target_core), i);
      if (!inserted) Fail(name, Cat("duplicates route ", it->second));
      routes_.insert({r.source_group, r.target_core});
    }
  }

  void Tables() {
    std::unordered_map<uint32_t, size_t> ids;
    for (size_t i = 0; i < image_.tables.size() && !Full(); ++i) {
      const SynapseTable& t = image_.tables[i];
      const NeuronGroup* target = FindGroup(t.target_group);
      std::string name = target == nullptr ? Cat("table ", t.id, " (to group ", t.target_group, ")")
                                           : Cat("table ", t.id, " (to group ", t.target_group,
                                                 ", layer ", Quote(target->layer), ")");
      const SynapseTable* owner = nullptr;
      if (t.weights_of != kOwnWeights) {
        auto it = ids.find(t.weights_of);
        if (it == ids.end()) {
          Fail(name, Cat("weights_of ", t.weights_of, " names no earlier table"));
          continue;
        }
        owner = &image_.tables[it->second];
        if (!SharesWith(name, t, *owner)) continue;
      }
      if (!ids.emplace(t.id, i).second) Fail(name, Cat("duplicate id ", t.id));
      CheckTable(name, t, target, owner);
    }
  }

  // Rows of a dense table: its window, or its whole source (0 if unknown).
  uint64_t DenseRows(const SynapseTable& t) const {
    if (t.source_count != 0) return t.source_count;
    if (t.source.kind == SourceKind::kInputPort) {
      return t.source.index < image_.inputs.size()
                 ? ShapeElements(image_.inputs[t.source.index].shape)
                 : 0;
    }
    const NeuronGroup* g = FindGroup(t.source.index);
    return g != nullptr ? g->size : 0;
  }

  // Whether `t` may apply `owner`'s weights: an own-weights table of the same
  // format (dense or conv2d), weight bits and weight shape.
  bool SharesWith(const std::string& name, const SynapseTable& t, const SynapseTable& owner) {
    const std::string of = Cat("weights_of ", t.weights_of, ": ");
    if (owner.weights_of != kOwnWeights) {
      Fail(name, Cat(of, "table ", owner.id, " shares another table's weights itself"));
      return false;
    }
    if (t.format != owner.format || t.format == SynapseFormat::kSparse) {
      Fail(name, Cat(of,
                     "only dense and conv2d tables share weights, with a table of the same "
                     "format"));
      return false;
    }
    if (!t.weights.empty()) {
      Fail(name, Cat(of, "a table sharing weights has none of its own, not ", t.weights.size()));
      return false;
    }
    if (t.num_weight_bits != owner.num_weight_bits) {
      Fail(name, Cat(of, "num_weight_bits ", static_cast<int>(t.num_weight_bits), " differs from ",
                     static_cast<int>(owner.num_weight_bits)));
      return false;
    }
    if (t.format == SynapseFormat::kConv2d) {
      const Conv2dGeometry &a = t.conv, &b = owner.conv;
      if (a.out_c_count != b.out_c_count || a.kernel_h != b.kernel_h || a.kernel_w != b.kernel_w ||
          a.in_channels / std::max<uint32_t>(a.groups, 1) !=
              b.in_channels / std::max<uint32_t>(b.groups, 1)) {
        Fail(name, Cat(of, "the kernel shapes differ"));
        return false;
      }
      return true;
    }
    const NeuronGroup* tg = FindGroup(t.target_group);
    const NeuronGroup* og = FindGroup(owner.target_group);
    if (tg == nullptr || og == nullptr || tg->size != og->size ||
        DenseRows(t) != DenseRows(owner)) {
      Fail(name, Cat(of, "the weight shapes ([rows][targets]) differ"));
      return false;
    }
    return true;
  }

  void CheckTable(const std::string& name, const SynapseTable& t, const NeuronGroup* target,
                  const SynapseTable* owner) {
    const std::vector<int16_t>& weights = owner != nullptr ? owner->weights : t.weights;
    bool source_ok = true;
    const NeuronGroup* source_group = nullptr;
    if (t.source.kind == SourceKind::kInputPort) {
      if (t.source.index >= image_.inputs.size()) {
        Fail(name, Cat("source input port ", t.source.index, " does not exist (the image has ",
                       image_.inputs.size(), ")"));
        source_ok = false;
      }
    } else if (t.source.kind == SourceKind::kGroup) {
      source_group = FindGroup(t.source.index);
      if (source_group == nullptr) {
        Fail(name, Cat("source group ", t.source.index, " does not exist"));
        source_ok = false;
      }
    } else {
      Fail(name,
           Cat("source.kind ", static_cast<int>(t.source.kind), " is not a known source kind"));
      source_ok = false;
    }
    if (target == nullptr) {
      Fail(name, Cat("target_group ", t.target_group, " does not exist"));
    } else {
      if (t.target_port > 1) {
        Fail(name, Cat("target_port ", static_cast<int>(t.target_port), " must be 0 or 1"));
      } else if (t.target_port == 1 && target->model != NeuronModel::kAnd2) {
        Fail(name, Cat("target_port 1 is only for kAnd2 groups; ", GroupName(*target), " is ",
                       ModelName(target->model)));
      }
      if (source_group != nullptr && !routes_.count({source_group->id, target->core})) {
        Fail(name, Cat("no route carries ", GroupName(*source_group), " to core ", target->core,
                       ", the core of the target group"));
      }
    }
    if (t.num_weight_bits < 1 || t.num_weight_bits > 8) {
      Fail(name, Cat("num_weight_bits ", static_cast<int>(t.num_weight_bits), " is outside 1..8"));
    }
    if (t.delay > kMaxSynapseDelay) {
      Fail(name, Cat("delay ", static_cast<int>(t.delay), " is outside 0..", kMaxSynapseDelay));
    }
    if (t.weight_exp < kMinWeightExp || t.weight_exp > kMaxWeightExp) {
      Fail(name, Cat("weight_exp ", static_cast<int>(t.weight_exp), " is outside ", kMinWeightExp,
                     "..", kMaxWeightExp));
    }
    if (owner == nullptr) CheckWeights(name, t);  // a shared set was checked with its owner
    if (static_cast<uint8_t>(t.format) > static_cast<uint8_t>(SynapseFormat::kConv2d)) {
      Fail(name, Cat("format ", static_cast<int>(t.format), " is not a known synapse format"));
      return;
    }
    if (t.format != SynapseFormat::kSparse && (!t.row_ptr.empty() || !t.col.empty())) {
      Fail(name, "row_ptr and col are for sparse tables only and must be empty");
    }
    if (t.format != SynapseFormat::kConv2d && !(t.conv == Conv2dGeometry{})) {
      Fail(name, "conv geometry is for conv2d tables only and must be left at its defaults");
    }
    if (t.source_count == 0 && t.source_offset != 0) {
      Fail(name, Cat("source_offset ", t.source_offset,
                     " with source_count 0; a count of 0 reads the whole source, from 0"));
      return;
    }
    if (t.format == SynapseFormat::kConv2d && t.source_count != 0) {
      Fail(name,
           Cat("source window [", t.source_offset, ", ", uint64_t{t.source_offset} + t.source_count,
               "): conv2d tables read their whole source (source_count must be 0)"));
      return;
    }
    if (!source_ok || target == nullptr) return;
    uint64_t src = source_group != nullptr ? source_group->size
                                           : ShapeElements(image_.inputs[t.source.index].shape);
    uint64_t tgt = target->size;
    const bool windowed = t.source_count != 0;
    if (windowed && uint64_t{t.source_offset} + t.source_count > src) {
      Fail(name,
           Cat("source window [", t.source_offset, ", ", uint64_t{t.source_offset} + t.source_count,
               ") exceeds the source size ", src));
      return;
    }
    // Dense and sparse rows index the window.
    const uint64_t rows = windowed ? t.source_count : src;
    const char* rows_name = windowed ? "source window count " : "source size ";
    switch (t.format) {
      case SynapseFormat::kDense:
        if (weights.size() != SatMul(rows, tgt)) {
          Fail(name, Cat("dense weights have ", weights.size(), " entries; expected ", rows_name,
                         rows, " x target size ", tgt, " = ", SatMul(rows, tgt)));
        }
        break;
      case SynapseFormat::kSparse:
        CheckSparse(name, t, rows, rows_name, tgt);
        break;
      case SynapseFormat::kConv2d:
        CheckConv(name, t, weights, src, tgt);
        break;
    }
  }

  void CheckWeights(const std::string& name, const SynapseTable& t) {
    // Reductions first (they vectorise; tables reach millions of weights),
    // then a search for the index to name only when something is wrong.
    const std::vector<int16_t>& weights = t.weights;
    int32_t lo = 0, hi = 0, bits = 0;
    for (int16_t w : weights) {
      lo = std::min<int32_t>(lo, w);
      hi = std::max<int32_t>(hi, w);
      bits |= w;
    }
    auto first = [&](auto bad) {
      return static_cast<size_t>(std::find_if(weights.begin(), weights.end(), bad) -
                                 weights.begin());
    };
    if (lo < kMinWeight || hi > kMaxWeight) {
      size_t k = first([](int32_t w) { return w < kMinWeight || w > kMaxWeight; });
      Fail(name,
           Cat("weights[", k, "] = ", weights[k], " is outside ", kMinWeight, "..", kMaxWeight));
      return;
    }
    if (t.num_weight_bits < 1 || t.num_weight_bits > 8) return;
    WeightSignMode mode = lo >= 0   ? WeightSignMode::kExcitatory
                          : hi <= 0 ? WeightSignMode::kInhibitory
                                    : WeightSignMode::kMixed;
    int low = TruncatedLowBits(mode, t.num_weight_bits);
    // Two's complement: w is a multiple of 2^low iff its low bits are 0.
    int32_t mask = (1 << low) - 1;
    if ((bits & mask) != 0) {
      size_t k = first([mask](int32_t w) { return (w & mask) != 0; });
      Fail(name, Cat("weights[", k, "] = ", weights[k], " is not a multiple of ", mask + 1, " (",
                     SignModeName(mode), " weights with num_weight_bits ",
                     static_cast<int>(t.num_weight_bits), " keep their low ", low, " bits zero)"));
      return;
    }
    if (mode == WeightSignMode::kInhibitory && lo < -255) {
      size_t k = first([](int32_t w) { return w < -255; });
      Fail(name, Cat("weights[", k, "] = ", weights[k], " is below -255, the limit of ",
                     SignModeName(mode), " weights"));
    }
  }

  void CheckSparse(const std::string& name, const SynapseTable& t, uint64_t rows,
                   const char* rows_name, uint64_t tgt) {
    if (t.row_ptr.size() != rows + 1) {
      Fail(name,
           Cat("row_ptr has ", t.row_ptr.size(), " entries; expected ", rows_name, rows, " + 1"));
      return;
    }
    if (t.row_ptr[0] != 0) {
      Fail(name, Cat("row_ptr[0] = ", t.row_ptr[0], "; CSR rows start at 0"));
      return;
    }
    for (size_t r = 1; r < t.row_ptr.size(); ++r) {
      if (t.row_ptr[r] < t.row_ptr[r - 1]) {
        Fail(name, Cat("row_ptr[", r, "] = ", t.row_ptr[r], " is less than row_ptr[", r - 1,
                       "] = ", t.row_ptr[r - 1], "; row_ptr must not decrease"));
        return;
      }
    }
    if (t.row_ptr.back() != t.col.size()) {
      Fail(name,
           Cat("row_ptr ends at ", t.row_ptr.back(), " but col has ", t.col.size(), " entries"));
      return;
    }
    if (t.weights.size() != t.col.size()) {
      Fail(name,
           Cat("sparse weights have ", t.weights.size(), " entries but col has ", t.col.size()));
      return;
    }
    for (size_t k = 0; k < t.col.size(); ++k) {
      if (t.col[k] >= tgt) {
        Fail(name, Cat("col[", k, "] = ", t.col[k], " is not below the target size ", tgt));
        return;
      }
    }
  }

  void CheckConv(const std::string& name, const SynapseTable& t,
                 const std::vector<int16_t>& weights, uint64_t src, uint64_t tgt) {
    const Conv2dGeometry& c = t.conv;
    auto fail = [&](const std::string& what) { Fail(name, what); };
    if (c.groups == 0) return fail("conv.groups is 0; it must be >= 1");
    if (c.kernel_h == 0 || c.kernel_w == 0) {
      return fail(Cat("conv kernel ", c.kernel_h, "x", c.kernel_w, " has a zero side"));
    }
    if (c.stride_h == 0 || c.stride_w == 0) {
      return fail(Cat("conv stride ", c.stride_h, "x", c.stride_w, " has a zero side"));
    }
    if (c.in_channels == 0 || c.in_h == 0 || c.in_w == 0) {
      return fail(Cat("conv input map ", c.in_channels, "x", c.in_h, "x", c.in_w, " is empty"));
    }
    if (c.out_channels == 0) return fail("conv.out_channels is 0");
    if (c.in_channels % c.groups != 0) {
      return fail(
          Cat("conv.in_channels ", c.in_channels, " is not divisible by conv.groups ", c.groups));
    }
    if (c.out_channels % c.groups != 0) {
      return fail(
          Cat("conv.out_channels ", c.out_channels, " is not divisible by conv.groups ", c.groups));
    }
    for (int axis = 0; axis < 2; ++axis) {
      const char* n = axis == 0 ? "h" : "w";
      uint64_t in = axis == 0 ? c.in_h : c.in_w;
      uint64_t pad = axis == 0 ? c.pad_h : c.pad_w;
      uint64_t k = axis == 0 ? c.kernel_h : c.kernel_w;
      uint64_t stride = axis == 0 ? c.stride_h : c.stride_w;
      uint64_t out = axis == 0 ? c.out_h : c.out_w;
      uint64_t padded = in + 2 * pad;
      if (padded < k) {
        return fail(
            Cat("conv kernel_", n, " ", k, " exceeds in_", n, " ", in, " + 2 x pad_", n, " ", pad));
      }
      uint64_t expected = (padded - k) / stride + 1;
      if (out != expected) {
        return fail(Cat("conv.out_", n, " ", out, " does not match (in_", n, " ", in, " + 2 x pad_",
                        n, " ", pad, " - kernel_", n, " ", k, ") / stride_", n, " ", stride,
                        " + 1 = ", expected));
      }
    }
    if (c.in_c_count == 0 || uint64_t{c.in_c_offset} + c.in_c_count > c.in_channels) {
      return fail(Cat("conv input channel slice [", c.in_c_offset, ", ",
                      uint64_t{c.in_c_offset} + c.in_c_count, ") is empty or exceeds in_channels ",
                      c.in_channels));
    }
    if (c.out_c_count == 0 || uint64_t{c.out_c_offset} + c.out_c_count > c.out_channels) {
      return fail(Cat("conv output channel slice [", c.out_c_offset, ", ",
                      uint64_t{c.out_c_offset} + c.out_c_count,
                      ") is empty or exceeds out_channels ", c.out_channels));
    }
    // Spatial tiles: the boxes inside their maps, the window inside the
    // source box; a count of 0 is the whole extent, from 0.
    struct Extent {
      const char* name;  // "in_y"
      uint32_t offset, count;
      uint64_t full;  // the map's rows or columns
      const char* full_name;
    };
    const Extent boxes[] = {{"in_y", c.in_y_offset, c.in_y_count, c.in_h, "in_h"},
                            {"in_x", c.in_x_offset, c.in_x_count, c.in_w, "in_w"},
                            {"out_y", c.out_y_offset, c.out_y_count, c.out_h, "out_h"},
                            {"out_x", c.out_x_offset, c.out_x_count, c.out_w, "out_w"}};
    for (const Extent& e : boxes) {
      if (e.count == 0 && e.offset != 0) {
        return fail(Cat("conv.", e.name, "_offset ", e.offset, " with conv.", e.name,
                        "_count 0; a count of 0 is the whole ", e.full_name, ", from 0"));
      }
      if (uint64_t{e.offset} + e.count > e.full) {
        return fail(Cat("conv box ", e.name, " [", e.offset, ", ", uint64_t{e.offset} + e.count,
                        ") exceeds ", e.full_name, " ", e.full));
      }
    }
    const ConvBox box = ResolveConvBox(c);
    const Extent windows[] = {{"win_y", c.win_y_offset, c.win_y_count, 0, "source box rows"},
                              {"win_x", c.win_x_offset, c.win_x_count, 0, "source box columns"}};
    for (int axis = 0; axis < 2; ++axis) {
      const Extent& e = windows[axis];
      const uint64_t lo = axis == 0 ? box.in_y0 : box.in_x0;
      const uint64_t hi = lo + (axis == 0 ? box.in_yn : box.in_xn);
      if (e.count == 0 && e.offset != 0) {
        return fail(Cat("conv.", e.name, "_offset ", e.offset, " with conv.", e.name,
                        "_count 0; a count of 0 is the whole ", e.full_name, ", from 0"));
      }
      if (e.count != 0 && (e.offset < lo || uint64_t{e.offset} + e.count > hi)) {
        return fail(Cat("conv window ", e.name, " [", e.offset, ", ", uint64_t{e.offset} + e.count,
                        ") is not inside the ", e.full_name, " [", lo, ", ", hi, ")"));
      }
    }
    const bool in_box = c.in_y_count != 0 || c.in_x_count != 0;
    const bool out_box = c.out_y_count != 0 || c.out_x_count != 0;
    uint64_t want_src = SatMul(SatMul(c.in_c_count, box.in_yn), box.in_xn);
    if (src != want_src) {
      return fail(Cat("conv source has ", src, " compartments; the input ",
                      in_box ? "box" : "slice", " holds in_c_count ", c.in_c_count, " x ",
                      in_box ? "rows " : "in_h ", box.in_yn, " x ", in_box ? "columns " : "in_w ",
                      box.in_xn, " = ", want_src));
    }
    uint64_t want_tgt = SatMul(SatMul(c.out_c_count, box.out_yn), box.out_xn);
    if (tgt != want_tgt) {
      return fail(Cat("conv target has ", tgt, " compartments; the output ",
                      out_box ? "box" : "slice", " holds out_c_count ", c.out_c_count, " x ",
                      out_box ? "rows " : "out_h ", box.out_yn, " x ",
                      out_box ? "columns " : "out_w ", box.out_xn, " = ", want_tgt));
    }
    uint64_t want_w =
        SatMul(SatMul(SatMul(c.out_c_count, c.in_channels / c.groups), c.kernel_h), c.kernel_w);
    if (weights.size() != want_w) {
      fail(Cat("conv weights have ", weights.size(), " entries; expected out_c_count ",
               c.out_c_count, " x in_channels/groups ", c.in_channels / c.groups, " x kernel ",
               c.kernel_h, "x", c.kernel_w, " = ", want_w));
    }
  }

  void HostSegments() {
    std::set<std::string> names;
    std::set<std::string> values;  // what host segments produce
    for (const HostSegment& h : image_.host_segments) {
      for (const std::string& out : h.outputs) values.insert(out);
    }
    std::set<std::string> produced;
    for (size_t i = 0; i < image_.host_segments.size() && !Full(); ++i) {
      const HostSegment& h = image_.host_segments[i];
      std::string name = Cat("host segment ", i, " (", Quote(h.name), ")");
      if (h.name.empty()) Fail(name, "name is empty");
      CheckString(name, "name", h.name);
      if (!names.insert(h.name).second) Fail(name, Cat("name ", Quote(h.name), " is used twice"));
      if (h.op.empty()) Fail(name, "op is empty");
      CheckString(name, "op", h.op);
      CheckString(name, "attributes", h.attributes, size_t{1} << 20);
      if (!h.attributes.empty()) {
        auto parsed = nlohmann::json::parse(h.attributes, nullptr, /*allow_exceptions=*/false);
        if (parsed.is_discarded() || !parsed.is_object()) {
          Fail(name, "attributes is not the text of a JSON object");
        }
      }
      for (size_t k = 0; k < h.inputs.size(); ++k) {
        const std::string& in = h.inputs[k];
        CheckString(name, Cat("inputs[", k, "]"), in);
        if (!port_names_.count(in) && !values.count(in)) {
          Fail(name,
               Cat("inputs[", k, "] ", Quote(in), " names no port and no host segment's output"));
        }
      }
      for (size_t k = 0; k < h.outputs.size(); ++k) {
        const std::string& out = h.outputs[k];
        if (out.empty()) Fail(name, Cat("outputs[", k, "] is empty"));
        CheckString(name, Cat("outputs[", k, "]"), out);
        if (!produced.insert(out).second) {
          Fail(name, Cat("outputs[", k, "] ", Quote(out), " is produced twice"));
        }
      }
      std::set<std::string> tensor_names;
      for (size_t k = 0; k < h.tensors.size(); ++k) {
        const HostTensor& tensor = h.tensors[k];
        std::string where = Cat("tensors[", k, "] (", Quote(tensor.name), ")");
        if (tensor.name.empty()) Fail(name, Cat(where, " has an empty name"));
        CheckString(name, where + " name", tensor.name);
        if (!tensor_names.insert(tensor.name).second) Fail(name, Cat(where, " is named twice"));
        uint64_t elements = ShapeElements(tensor.shape);
        if (elements != tensor.data.size()) {
          Fail(name, Cat(where, " has ", tensor.data.size(), " values; its shape ",
                         ShapeText(tensor.shape), " holds ", elements));
        }
        for (size_t e = 0; e < tensor.data.size(); ++e) {
          if (!std::isfinite(tensor.data[e])) {
            Fail(name, Cat(where, " value ", e, " is not finite"));
            break;
          }
        }
      }
    }
  }

  const BoardImage& image_;
  const size_t max_problems_;
  std::vector<Status> problems_;
  std::unordered_map<uint32_t, const NeuronGroup*> groups_by_id_;
  std::set<std::string> port_names_;
  std::set<std::pair<uint32_t, uint32_t>> routes_;  // (source group, target core)
};

}  // namespace

ConvBox ResolveConvBox(const Conv2dGeometry& c) {
  ConvBox b;
  auto axis = [](uint32_t offset, uint32_t count, uint32_t full, uint32_t& lo, uint32_t& n) {
    lo = count == 0 ? 0 : offset;
    n = count == 0 ? full : count;
  };
  axis(c.in_y_offset, c.in_y_count, c.in_h, b.in_y0, b.in_yn);
  axis(c.in_x_offset, c.in_x_count, c.in_w, b.in_x0, b.in_xn);
  axis(c.out_y_offset, c.out_y_count, c.out_h, b.out_y0, b.out_yn);
  axis(c.out_x_offset, c.out_x_count, c.out_w, b.out_x0, b.out_xn);
  axis(c.win_y_offset, c.win_y_count, b.in_yn, b.win_y0, b.win_yn);
  axis(c.win_x_offset, c.win_x_count, b.in_xn, b.win_x0, b.win_xn);
  if (c.win_y_count == 0) b.win_y0 = b.in_y0;
  if (c.win_x_count == 0) b.win_x0 = b.in_x0;
  return b;
}

uint64_t ShapeElements(const std::vector<uint32_t>& shape) {
  uint64_t n = 1;
  for (uint32_t d : shape) n = SatMul(n, d);
  return n;
}

uint64_t SourceSize(const BoardImage& image, const SynapseSource& source) {
  if (source.kind == SourceKind::kInputPort) {
    return source.index < image.inputs.size() ? ShapeElements(image.inputs[source.index].shape) : 0;
  }
  for (const NeuronGroup& g : image.groups) {
    if (g.id == source.index) return g.size;
  }
  return 0;
}

WeightSignMode SignModeOf(const std::vector<int16_t>& weights) {
  bool any_negative = false, any_positive = false;
  for (int16_t w : weights) {
    any_negative |= w < 0;
    any_positive |= w > 0;
  }
  if (!any_negative) return WeightSignMode::kExcitatory;
  if (!any_positive) return WeightSignMode::kInhibitory;
  return WeightSignMode::kMixed;
}

int TruncatedLowBits(WeightSignMode mode, uint8_t num_weight_bits) {
  return 8 - num_weight_bits + (mode == WeightSignMode::kMixed ? 1 : 0);
}

std::vector<Status> ValidateBoardImageAll(const BoardImage& image, size_t max_problems) {
  return Validator(image, max_problems).Run();
}

Status ValidateBoardImage(const BoardImage& image) {
  std::vector<Status> problems = Validator(image, 1).Run();
  return problems.empty() ? Status::Ok() : problems.front();
}

}  // namespace spk::hal::format

// The only translation unit of spiked that includes LibTorch.
#include "compiler/frontend/importer.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "compiler/ir/verifier.h"

namespace spk::compiler::frontend {
namespace {

namespace jit = torch::jit;
using ir::AttrDict;
using ir::Attribute;
using ir::ElementType;
using ir::Location;
using ir::Type;

// Where the time dimension of a tensor is, as PyTorch sees it:
//   kUntimed  torch shape = IR dims
//   kTime     torch shape = [T] + IR dims
//   kMerged   torch shape = [T * d0] + IR dims[1:]   (T folded into the batch)
enum class Layout { kUntimed, kTime, kMerged };

// The abstract value of one TorchScript value.
struct AbsValue {
  enum class Kind {
    kUnknown,  // something the importer does not track (dtype, device, ...)
    kPoison,   // the result of an op that already produced an error
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kTensor,  // a parameter or buffer: a constant tensor
    kIr,      // an IR value
    kModule,
    kFunction,
  };
  Kind kind = Kind::kUnknown;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<AbsValue> elems;
  at::Tensor tensor;
  std::string name;  // parameter or module path
  ir::Value* ir = nullptr;
  Layout layout = Layout::kUntimed;
  std::optional<jit::Module> module;
  jit::Function* fn = nullptr;

  static AbsValue Poison() { return Make(Kind::kPoison); }
  static AbsValue None() { return Make(Kind::kNone); }
  static AbsValue Int(int64_t v) {
    AbsValue a = Make(Kind::kInt);
    a.i = v;
    return a;
  }
  static AbsValue Float(double v) {
    AbsValue a = Make(Kind::kFloat);
    a.f = v;
    return a;
  }
  static AbsValue Bool(bool v) {
    AbsValue a = Make(Kind::kBool);
    a.b = v;
    return a;
  }
  static AbsValue Str(std::string v) {
    AbsValue a = Make(Kind::kString);
    a.s = std::move(v);
    return a;
  }
  static AbsValue List(std::vector<AbsValue> v, Kind kind = Kind::kList) {
    AbsValue a = Make(kind);
    a.elems = std::move(v);
    return a;
  }
  static AbsValue Ir(ir::Value* v, Layout layout) {
    AbsValue a = Make(Kind::kIr);
    a.ir = v;
    a.layout = layout;
    return a;
  }
  static AbsValue Make(Kind kind) {
    AbsValue a;
    a.kind = kind;
    return a;
  }

  bool is_number() const {
    return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool;
  }
  double number() const {
    return kind == Kind::kFloat ? f : static_cast<double>(kind == Kind::kBool ? b : i);
  }
};

using Kind = AbsValue::Kind;

// A failure while importing one node: reported as a diagnostic at the node.
struct NodeError {
  std::string message;
};

[[noreturn]] void Fail(std::string message) { throw NodeError{std::move(message)}; }

std::string KindName(const AbsValue& v) {
  switch (v.kind) {
    case Kind::kUnknown:
      return "an untracked value";
    case Kind::kPoison:
      return "an erroneous value";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "a bool";
    case Kind::kInt:
      return "an int";
    case Kind::kFloat:
      return "a float";
    case Kind::kString:
      return "a string";
    case Kind::kList:
      return "a list";
    case Kind::kTuple:
      return "a tuple";
    case Kind::kTensor:
      return "a parameter tensor";
    case Kind::kIr:
      return "a tensor";
    case Kind::kModule:
      return "a module";
    case Kind::kFunction:
      return "a function";
  }
  return "a value";
}

// Class name without the "__torch__." prefix and "___torch_mangle_N" parts.
std::string CleanClassName(const jit::Module& m) {
  std::string q = m.type()->name() ? m.type()->name()->qualifiedName() : "";
  std::string out;
  std::stringstream ss(q);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (part == "__torch__" || part.rfind("___torch_mangle", 0) == 0) continue;
    if (!out.empty()) out += '.';
    out += part;
  }
  return out;
}

std::string LastPart(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::string FormatShape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k) {
    if (k) s += ", ";
    s += std::to_string(shape[k]);
  }
  return s + "]";
}

class Importer {
 public:
  Importer(const ImportOptions& options, ir::DiagnosticEngine& diags, ir::Module& module)
      : options_(options), diags_(diags), module_(module) {}

  void Run(jit::Module& root, const std::vector<int64_t>& input_shape, bool input_timed,
           std::optional<int64_t> timesteps);
  int64_t parameters() const { return parameters_; }

 private:
  using Env = std::unordered_map<const jit::Value*, AbsValue>;

  struct Frame {
    std::string path;  // module path of `self`
    int depth = 0;
  };

  std::vector<AbsValue> CallGraph(jit::Graph& graph, std::vector<AbsValue> args,
                                  const Frame& frame);
  void RunBlock(jit::Block* block, Env& env, const Frame& frame);
  void RunNode(jit::Node* node, Env& env, const Frame& frame);
  std::vector<AbsValue> Eval(jit::Node* node, std::vector<AbsValue>& in, Env& env,
                             const Frame& frame);
  std::vector<AbsValue> CallModule(jit::Node* node, std::vector<AbsValue>& in, const Frame& frame);
  AbsValue CallLeaf(const std::string& cls, const AbsValue& self, std::vector<AbsValue>& in,
                    jit::Node* node, bool* handled);
  std::optional<std::vector<AbsValue>> EvalTensorOp(const std::string& kind, jit::Node* node,
                                                    std::vector<AbsValue>& in);
  std::optional<AbsValue> EvalScalarOp(const std::string& kind, std::vector<AbsValue>& in);

  Location Loc(const jit::Node* node, const std::string& path) const;
  Location Here() const { return current_loc_; }

  // IR construction.
  AbsValue Op(std::string_view name, std::vector<ir::Value*> operands, AttrDict attrs,
              Layout layout);
  std::string AddTensorConstant(const std::string& name, const at::Tensor& tensor);
  ir::Value* AsIr(const AbsValue& v, const char* what);
  AbsValue Reshape(const AbsValue& x, std::vector<int64_t> torch_shape, bool merge_time);

  std::vector<int64_t> TorchShape(const AbsValue& v) const;
  int64_t T() const;
  void SetT(int64_t t);
  // PyTorch dim index -> IR dim index (which counts T as dim 0 of timed values).
  int64_t IrDim(const AbsValue& v, int64_t torch_dim, const char* op) const;
  std::vector<int64_t> IntsOf(const AbsValue& v, const char* what) const;
  int64_t IntOf(const AbsValue& v, const char* what) const;
  double FloatOf(const AbsValue& v, const char* what) const;
  AbsValue FromIValue(const c10::IValue& v, const std::string& name);
  at::Tensor ParamTensor(const jit::Module& m, const std::string& attr, const std::string& path,
                         bool optional);

  const ImportOptions& options_;
  ir::DiagnosticEngine& diags_;
  ir::Module& module_;
  std::optional<int64_t> timesteps_;
  Location current_loc_;
  int64_t parameters_ = 0;
  int64_t nodes_run_ = 0;
  std::unordered_map<const c10::TensorImpl*, std::string> constant_names_;
};

Location Importer::Loc(const jit::Node* node, const std::string& path) const {
  Location loc;
  loc.module_path = path;
  loc.op_name = node->kind().toQualString();
  auto range = node->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  if (auto flc = range.file_line_col()) {
    loc.file = std::get<0>(*flc);
    loc.line = static_cast<int>(std::get<1>(*flc));
    loc.col = static_cast<int>(std::get<2>(*flc)) + 1;
  }
  return loc;
}

int64_t Importer::T() const {
  if (!timesteps_) Fail("the number of timesteps is not known here; pass --timesteps");
  return *timesteps_;
}

void Importer::SetT(int64_t t) {
  if (t < 1 || t > 1 << 20) Fail("timesteps must be 1..1048576, got " + std::to_string(t));
  if (timesteps_ && *timesteps_ != t) {
    Fail("the model repeats its input over " + std::to_string(t) +
         " timesteps, but the timesteps are " + std::to_string(*timesteps_));
  }
  timesteps_ = t;
  module_.mutable_attrs().Set("timesteps", Attribute::Int(t));
}

std::vector<int64_t> Importer::TorchShape(const AbsValue& v) const {
  const auto& dims = v.ir->type().dims();
  std::vector<int64_t> shape = dims;
  if (v.layout == Layout::kTime) {
    shape.insert(shape.begin(), T());
  } else if (v.layout == Layout::kMerged) {
    shape[0] *= T();
  }
  return shape;
}

int64_t Importer::IrDim(const AbsValue& v, int64_t d, const char* op) const {
  int64_t rank = static_cast<int64_t>(TorchShape(v).size());
  if (d < 0) d += rank;
  if (d < 0 || d >= rank) {
    Fail(std::string(op) + ": dim out of range for a tensor of rank " + std::to_string(rank));
  }
  if (v.layout == Layout::kMerged) {
    if (d == 0) {
      Fail(std::string(op) + ": dim 0 mixes time and batch here ([T*B, ...]); unfold time first");
    }
    return d + 1;
  }
  return d;
}

int64_t Importer::IntOf(const AbsValue& v, const char* what) const {
  if (v.kind == Kind::kInt) return v.i;
  if (v.kind == Kind::kBool) return v.b;
  Fail(std::string(what) + " must be a constant int, got " + KindName(v));
}

double Importer::FloatOf(const AbsValue& v, const char* what) const {
  if (v.is_number()) return v.number();
  Fail(std::string(what) + " must be a constant number, got " + KindName(v));
}

std::vector<int64_t> Importer::IntsOf(const AbsValue& v, const char* what) const {
  if (v.kind == Kind::kInt) return {v.i};
  if (v.kind != Kind::kList && v.kind != Kind::kTuple) {
    Fail(std::string(what) + " must be a list of constant ints, got " + KindName(v));
  }
  std::vector<int64_t> out;
  for (const auto& e : v.elems) out.push_back(IntOf(e, what));
  return out;
}

at::Tensor Importer::ParamTensor(const jit::Module& m, const std::string& attr,
                                 const std::string& path, bool optional) {
  if (!m.hasattr(attr)) {
    if (optional) return {};
    Fail("module " + path + " has no attribute '" + attr + "'");
  }
  c10::IValue v = m.attr(attr);
  if (v.isNone()) {
    if (optional) return {};
    Fail("module " + path + ": '" + attr + "' is None");
  }
  if (!v.isTensor()) Fail("module " + path + ": '" + attr + "' is not a tensor");
  return v.toTensor();
}

std::string Importer::AddTensorConstant(const std::string& name, const at::Tensor& tensor) {
  auto it = constant_names_.find(tensor.unsafeGetTensorImpl());
  if (it != constant_names_.end()) return it->second;
  if (!tensor.defined()) Fail("parameter " + name + " is undefined");
  if (tensor.is_sparse() || tensor.is_quantized() || !tensor.device().is_cpu()) {
    Fail("parameter " + name + " is not a dense CPU tensor");
  }
  int64_t numel = tensor.numel();
  if (numel > options_.max_tensor_elements) {
    Fail("parameter " + name + " has " + std::to_string(numel) + " elements, over the limit of " +
         std::to_string(options_.max_tensor_elements));
  }
  // A hostile archive can declare sizes larger than the bytes it stores.
  const auto& storage = tensor.storage();
  uint64_t needed = 0;
  if (numel > 0) {
    int64_t max_offset = tensor.storage_offset();
    for (int64_t d = 0; d < tensor.dim(); ++d) {
      if (tensor.stride(d) < 0) Fail("parameter " + name + " has a negative stride");
      max_offset += (tensor.size(d) - 1) * tensor.stride(d);
    }
    needed = static_cast<uint64_t>(max_offset + 1) * tensor.element_size();
  }
  if (storage.nbytes() < needed) {
    Fail("parameter " + name + " declares " + std::to_string(needed) +
         " bytes of data but its storage holds " + std::to_string(storage.nbytes()));
  }
  parameters_ += numel;
  if (parameters_ > options_.max_total_parameters) {
    Fail("the model has more than " + std::to_string(options_.max_total_parameters) +
         " parameter elements");
  }
  if (!tensor.is_floating_point() && tensor.scalar_type() != at::kLong &&
      tensor.scalar_type() != at::kInt) {
    Fail("parameter " + name + " has unsupported dtype " +
         std::string(c10::toString(tensor.scalar_type())));
  }
  at::Tensor f = tensor.to(at::kFloat).contiguous();
  std::vector<float> data(static_cast<size_t>(numel));
  if (numel > 0) std::memcpy(data.data(), f.data_ptr<float>(), data.size() * sizeof(float));
  for (float x : data) {
    if (!std::isfinite(x)) Fail("parameter " + name + " contains NaN or infinity");
  }
  std::vector<int64_t> dims(tensor.sizes().begin(), tensor.sizes().end());
  std::string unique = module_.UniqueConstantName(name);
  auto added = module_.AddConstant(unique, Type::Untimed(ElementType::kF32, dims),
                                   ir::TensorData(std::move(data)));
  if (!added.ok()) Fail(std::string(added.status().message()));
  constant_names_[tensor.unsafeGetTensorImpl()] = unique;
  return unique;
}

AbsValue Importer::Op(std::string_view name, std::vector<ir::Value*> operands, AttrDict attrs,
                      Layout layout) {
  auto op = module_.CreateInferred(name, operands, std::move(attrs), current_loc_);
  if (!op.ok()) Fail(std::string(name) + ": " + std::string(op.status().message()));
  ir::Value* result = (*op)->result(0);
  if (!result->type().timed()) layout = Layout::kUntimed;
  return AbsValue::Ir(result, layout);
}

ir::Value* Importer::AsIr(const AbsValue& v, const char* what) {
  if (v.kind == Kind::kIr) return v.ir;
  if (v.kind == Kind::kTensor) {
    std::string name = AddTensorConstant(v.name, v.tensor);
    auto attrs = ir::MakeAttrs({{"value", Attribute::Ref(name)}});
    auto op = module_.CreateInferred("const", {}, std::move(attrs), current_loc_);
    if (!op.ok()) Fail(std::string(op.status().message()));
    return (*op)->result(0);
  }
  Fail(std::string(what) + " must be a tensor, got " + KindName(v));
}

// Reshapes to a PyTorch shape (one -1 allowed), keeping track of where T is.
AbsValue Importer::Reshape(const AbsValue& x, std::vector<int64_t> shape, bool merge_time) {
  std::vector<int64_t> in = TorchShape(x);
  int64_t total = 1;
  for (int64_t d : in) total *= d;
  int64_t known = 1;
  int infer_at = -1;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == -1) {
      if (infer_at >= 0) Fail("reshape: more than one -1 in " + FormatShape(shape));
      infer_at = static_cast<int>(k);
    } else if (shape[k] < 0) {
      Fail("reshape: negative size in " + FormatShape(shape));
    } else {
      known *= shape[k];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) {
      Fail("reshape: cannot reshape " + FormatShape(in) + " to " + FormatShape(shape));
    }
    shape[static_cast<size_t>(infer_at)] = total / known;
  } else if (known != total) {
    Fail("reshape: cannot reshape " + FormatShape(in) + " to " + FormatShape(shape));
  }

  Layout layout = x.layout;
  std::vector<int64_t> dims = shape;
  if (x.layout != Layout::kUntimed) {
    int64_t t = T();
    if (shape.empty()) Fail("reshape: a per-timestep value cannot become a scalar");
    int64_t merged_before = x.layout == Layout::kMerged ? x.ir->type().dim(0) : 0;
    if (merge_time ||
        (x.layout == Layout::kMerged && shape[0] == t * merged_before && shape[0] != t)) {
      if (shape[0] % t != 0) Fail("reshape: " + FormatShape(shape) + " splits the time dim");
      layout = Layout::kMerged;
      dims[0] = shape[0] / t;
    } else if (shape[0] == t) {
      layout = Layout::kTime;
      dims.erase(dims.begin());
    } else if (shape[0] % t == 0) {
      layout = Layout::kMerged;
      dims[0] = shape[0] / t;
    } else {
      Fail("reshape: " + FormatShape(shape) + " does not keep the " + std::to_string(t) +
           " timesteps in the leading dim of " + FormatShape(in));
    }
  }
  if (dims == x.ir->type().dims()) return AbsValue::Ir(x.ir, layout);
  return Op("reshape", {x.ir}, ir::MakeAttrs({{"shape", Attribute::IntList(dims)}}), layout);
}

AbsValue Importer::FromIValue(const c10::IValue& v, const std::string& name) {
  if (v.isNone()) return AbsValue::None();
  if (v.isBool()) return AbsValue::Bool(v.toBool());
  if (v.isInt()) return AbsValue::Int(v.toInt());
  if (v.isDouble()) return AbsValue::Float(v.toDouble());
  if (v.isString()) return AbsValue::Str(v.toStringRef());
  if (v.isTensor()) {
    AbsValue a = AbsValue::Make(Kind::kTensor);
    a.tensor = v.toTensor();
    a.name = name;
    return a;
  }
  if (v.isModule()) {
    AbsValue a = AbsValue::Make(Kind::kModule);
    a.module = v.toModule();
    a.name = name;
    return a;
  }
  if (v.isList() || v.isTuple() || v.isIntList() || v.isDoubleList() || v.isBoolList()) {
    std::vector<AbsValue> elems;
    if (v.isTuple()) {
      for (const auto& e : v.toTupleRef().elements()) elems.push_back(FromIValue(e, name));
      return AbsValue::List(std::move(elems), Kind::kTuple);
    }
    for (const auto& e : v.toListRef()) elems.push_back(FromIValue(e, name));
    return AbsValue::List(std::move(elems));
  }
  return AbsValue::Make(Kind::kUnknown);
}

std::vector<AbsValue> Importer::CallGraph(jit::Graph& graph, std::vector<AbsValue> args,
                                          const Frame& frame) {
  if (frame.depth > options_.max_call_depth) {
    Fail("calls nest deeper than " + std::to_string(options_.max_call_depth) + " levels");
  }
  if (args.size() != graph.inputs().size()) {
    Fail("call passes " + std::to_string(args.size()) + " arguments to a graph taking " +
         std::to_string(graph.inputs().size()));
  }
  Env env;
  for (size_t k = 0; k < args.size(); ++k) env[graph.inputs()[k]] = std::move(args[k]);
  RunBlock(graph.block(), env, frame);
  std::vector<AbsValue> out;
  for (const jit::Value* v : graph.outputs()) out.push_back(env.at(v));
  return out;
}

void Importer::RunBlock(jit::Block* block, Env& env, const Frame& frame) {
  for (jit::Node* node : block->nodes()) RunNode(node, env, frame);
  // Block outputs are read by the caller from env.
  for (size_t k = 0; k < block->outputs().size(); ++k) {
    const jit::Value* v = block->outputs()[k];
    if (!env.count(v)) env[v] = AbsValue::Make(Kind::kUnknown);
  }
}

void Importer::RunNode(jit::Node* node, Env& env, const Frame& frame) {
  if (++nodes_run_ > options_.max_unrolled_ops) {
    Fail("the model unrolls to more than " + std::to_string(options_.max_unrolled_ops) +
         " operations");
  }
  std::vector<AbsValue> in;
  in.reserve(node->inputs().size());
  bool poisoned = false;
  for (const jit::Value* v : node->inputs()) {
    auto it = env.find(v);
    in.push_back(it == env.end() ? AbsValue::Make(Kind::kUnknown) : it->second);
    poisoned |= in.back().kind == Kind::kPoison;
  }
  std::vector<AbsValue> out;
  if (poisoned && node->kind() != c10::prim::If && node->kind() != c10::prim::Loop) {
    out.assign(node->outputs().size(), AbsValue::Poison());
  } else {
    Location saved = current_loc_;
    current_loc_ = Loc(node, frame.path);
    try {
      out = Eval(node, in, env, frame);
    } catch (const NodeError& e) {
      diags_.Error(current_loc_, e.message);
      out.assign(node->outputs().size(), AbsValue::Poison());
    } catch (const c10::Error& e) {
      diags_.Error(current_loc_, std::string("LibTorch: ") + e.what_without_backtrace());
      out.assign(node->outputs().size(), AbsValue::Poison());
    }
    current_loc_ = saved;
  }
  if (out.size() != node->outputs().size()) {
    out.resize(node->outputs().size(), AbsValue::Make(Kind::kUnknown));
  }
  for (size_t k = 0; k < out.size(); ++k) env[node->outputs()[k]] = std::move(out[k]);
}

std::vector<AbsValue> Importer::Eval(jit::Node* node, std::vector<AbsValue>& in, Env& env,
                                     const Frame& frame) {
  const std::string kind = node->kind().toQualString();
  const size_t n_out = node->outputs().size();

  if (kind == "prim::Constant") {
    const jit::Value* out = node->output();
    if (out->type()->kind() == c10::TypeKind::FunctionType) {
      AbsValue a = AbsValue::Make(Kind::kFunction);
      a.fn = out->type()->expectRef<c10::FunctionType>().function();
      return {a};
    }
    auto iv = jit::toIValue(out);
    if (!iv) return {AbsValue::Make(Kind::kUnknown)};
    return {FromIValue(*iv, "constant")};
  }
  if (kind == "prim::GetAttr") {
    if (in[0].kind != Kind::kModule) Fail("attribute of " + KindName(in[0]));
    const std::string attr = node->s(c10::attr::name);
    std::string path = in[0].name.empty() ? attr : in[0].name + "." + attr;
    return {FromIValue(in[0].module->attr(attr), path)};
  }
  if (kind == "prim::CallMethod") return CallModule(node, in, frame);
  if (kind == "prim::CallFunction") {
    if (in[0].kind != Kind::kFunction || in[0].fn == nullptr) Fail("call of a non-function");
    std::string fname = in[0].fn->qualname().qualifiedName();
    auto& graph_fn = jit::toGraphFunction(*in[0].fn);
    std::vector<AbsValue> args(in.begin() + 1, in.end());
    Frame inner{frame.path, frame.depth + 1};
    return CallGraph(*graph_fn.graph(), std::move(args), inner);
  }
  if (kind == "prim::If") {
    if (in[0].kind != Kind::kBool) {
      Fail(
          "control flow that depends on tensor values is not supported (the condition must be "
          "known when compiling)");
    }
    jit::Block* block = node->blocks()[in[0].b ? 0 : 1];
    RunBlock(block, env, frame);
    std::vector<AbsValue> out;
    for (const jit::Value* v : block->outputs()) out.push_back(env.at(v));
    return out;
  }
  if (kind == "prim::Loop") {
    int64_t trips = in[0].kind == Kind::kInt ? in[0].i : -1;
    if (trips < 0 || in[1].kind != Kind::kBool) {
      Fail("loops must have a trip count and condition known when compiling");
    }
    jit::Block* body = node->blocks()[0];
    std::vector<AbsValue> carried(in.begin() + 2, in.end());
    bool cond = in[1].b;
    for (int64_t it = 0; it < trips && cond; ++it) {
      env[body->inputs()[0]] = AbsValue::Int(it);
      for (size_t k = 0; k < carried.size(); ++k) env[body->inputs()[k + 1]] = carried[k];
      RunBlock(body, env, frame);
      const AbsValue& c = env.at(body->outputs()[0]);
      if (c.kind != Kind::kBool) Fail("loop condition must be known when compiling");
      cond = c.b;
      for (size_t k = 0; k < carried.size(); ++k) carried[k] = env.at(body->outputs()[k + 1]);
    }
    return carried;
  }
  if (kind == "prim::ListConstruct") return {AbsValue::List(in)};
  if (kind == "prim::TupleConstruct") return {AbsValue::List(in, Kind::kTuple)};
  if (kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") {
    if ((in[0].kind != Kind::kList && in[0].kind != Kind::kTuple) || in[0].elems.size() != n_out) {
      Fail("unpacking " + KindName(in[0]) + " into " + std::to_string(n_out) + " values");
    }
    return in[0].elems;
  }
  if (kind == "prim::TupleIndex") {
    int64_t k = IntOf(in[1], "tuple index");
    if (in[0].kind != Kind::kTuple || k < 0 || k >= static_cast<int64_t>(in[0].elems.size())) {
      Fail("tuple index out of range");
    }
    return {in[0].elems[static_cast<size_t>(k)]};
  }
  if (kind == "prim::unchecked_cast" || kind == "aten::contiguous" || kind == "aten::detach" ||
      kind == "aten::clone" || kind == "prim::NumToTensor" || kind == "aten::Int" ||
      kind == "aten::Float" || kind == "aten::ScalarImplicit" || kind == "aten::alias") {
    if (kind == "aten::Float" && in[0].is_number()) return {AbsValue::Float(in[0].number())};
    if (kind == "aten::Int" && in[0].is_number()) {
      return {AbsValue::Int(static_cast<int64_t>(in[0].number()))};
    }
    return {in[0]};
  }
  if (kind == "prim::RaiseException") {
    std::string what = in.empty() || in[0].kind != Kind::kString ? "" : ": " + in[0].s;
    Fail("the model raises an exception here" + what);
  }
  if (kind == "aten::warn" || kind == "prim::Print") return {};
  if (kind == "prim::Uninitialized" || kind == "prim::device" || kind == "prim::dtype" ||
      kind == "prim::layout" || kind == "aten::format") {
    return std::vector<AbsValue>(n_out, AbsValue::Make(Kind::kUnknown));
  }
  if (kind == "prim::isinstance") Fail("isinstance checks are not supported");

  if (auto scalar = EvalScalarOp(kind, in)) return {*scalar};
  if (auto tensor = EvalTensorOp(kind, node, in)) return *tensor;
  Fail("unsupported operation " + kind);
}

std::optional<AbsValue> Importer::EvalScalarOp(const std::string& kind, std::vector<AbsValue>& in) {
  auto all = [&](auto pred) { return std::all_of(in.begin(), in.end(), pred); };
  if (kind == "aten::__is__" || kind == "aten::__isnot__") {
    bool same;
    if (in[0].kind == Kind::kNone || in[1].kind == Kind::kNone) {
      same = in[0].kind == in[1].kind;
    } else {
      Fail("identity comparison of " + KindName(in[0]) + " and " + KindName(in[1]));
    }
    return AbsValue::Bool(kind == "aten::__is__" ? same : !same);
  }
  if (kind == "aten::__not__" && in[0].kind == Kind::kBool) return AbsValue::Bool(!in[0].b);
  if ((kind == "aten::__and__" || kind == "aten::__or__") &&
      all([](const AbsValue& v) { return v.kind == Kind::kBool; })) {
    return AbsValue::Bool(kind == "aten::__and__" ? in[0].b && in[1].b : in[0].b || in[1].b);
  }
  if (kind == "aten::size") {
    if (in[0].kind != Kind::kIr) return std::nullopt;
    auto shape = TorchShape(in[0]);
    if (in.size() == 1) {
      std::vector<AbsValue> elems;
      for (int64_t d : shape) elems.push_back(AbsValue::Int(d));
      return AbsValue::List(std::move(elems));
    }
    int64_t d = IntOf(in[1], "dim");
    int64_t rank = static_cast<int64_t>(shape.size());
    if (d < 0) d += rank;
    if (d < 0 || d >= rank) Fail("size: dim out of range");
    return AbsValue::Int(shape[static_cast<size_t>(d)]);
  }
  if (kind == "aten::dim" && in[0].kind == Kind::kIr) {
    return AbsValue::Int(static_cast<int64_t>(TorchShape(in[0]).size()));
  }
  if (kind == "aten::numel" && in[0].kind == Kind::kIr) {
    auto s = TorchShape(in[0]);
    return AbsValue::Int(std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()));
  }
  if (kind == "aten::len" && (in[0].kind == Kind::kList || in[0].kind == Kind::kTuple)) {
    return AbsValue::Int(static_cast<int64_t>(in[0].elems.size()));
  }
  if (kind == "aten::__getitem__" && (in[0].kind == Kind::kList || in[0].kind == Kind::kTuple)) {
    int64_t k = IntOf(in[1], "index");
    int64_t n = static_cast<int64_t>(in[0].elems.size());
    if (k < 0) k += n;
    if (k < 0 || k >= n) Fail("list index out of range");
    return in[0].elems[static_cast<size_t>(k)];
  }
  if (kind == "aten::list" && in[0].kind == Kind::kList) return in[0];
  if (kind == "aten::slice" && in[0].kind == Kind::kList) {
    int64_t n = static_cast<int64_t>(in[0].elems.size());
    auto bound = [&](const AbsValue& v, int64_t dflt) {
      if (v.kind == Kind::kNone) return dflt;
      int64_t b = IntOf(v, "slice bound");
      if (b < 0) b += n;
      return std::clamp<int64_t>(b, 0, n);
    };
    int64_t start = bound(in[1], 0);
    int64_t end = bound(in[2], n);
    int64_t step = in.size() > 3 ? IntOf(in[3], "slice step") : 1;
    if (step <= 0) Fail("slice step must be positive");
    std::vector<AbsValue> elems;
    for (int64_t k = start; k < end; k += step)
      elems.push_back(in[0].elems[static_cast<size_t>(k)]);
    return AbsValue::List(std::move(elems));
  }
  if (kind == "aten::add" && in[0].kind == Kind::kList && in[1].kind == Kind::kList) {
    auto elems = in[0].elems;
    elems.insert(elems.end(), in[1].elems.begin(), in[1].elems.end());
    return AbsValue::List(std::move(elems));
  }
  if (in.size() == 2 && in[0].is_number() && in[1].is_number()) {
    bool ints = in[0].kind != Kind::kFloat && in[1].kind != Kind::kFloat;
    double a = in[0].number(), b = in[1].number();
    int64_t ia = static_cast<int64_t>(a), ib = static_cast<int64_t>(b);
    if (kind == "aten::add") return ints ? AbsValue::Int(ia + ib) : AbsValue::Float(a + b);
    if (kind == "aten::sub") return ints ? AbsValue::Int(ia - ib) : AbsValue::Float(a - b);
    if (kind == "aten::mul") return ints ? AbsValue::Int(ia * ib) : AbsValue::Float(a * b);
    if (kind == "aten::div") {
      if (b == 0) Fail("division by zero");
      return AbsValue::Float(a / b);
    }
    if (kind == "aten::floordiv") {
      if (b == 0) Fail("division by zero");
      if (ints) {
        int64_t q = ia / ib;
        if ((ia % ib != 0) && ((ia < 0) != (ib < 0))) --q;
        return AbsValue::Int(q);
      }
      return AbsValue::Float(std::floor(a / b));
    }
    if (kind == "aten::remainder") {
      if (b == 0) Fail("division by zero");
      if (ints) return AbsValue::Int(((ia % ib) + ib) % ib);
      return AbsValue::Float(a - b * std::floor(a / b));
    }
    if (kind == "aten::eq") return AbsValue::Bool(a == b);
    if (kind == "aten::ne") return AbsValue::Bool(a != b);
    if (kind == "aten::lt") return AbsValue::Bool(a < b);
    if (kind == "aten::le") return AbsValue::Bool(a <= b);
    if (kind == "aten::gt") return AbsValue::Bool(a > b);
    if (kind == "aten::ge") return AbsValue::Bool(a >= b);
    if (kind == "prim::max")
      return ints ? AbsValue::Int(std::max(ia, ib)) : AbsValue::Float(std::max(a, b));
    if (kind == "prim::min")
      return ints ? AbsValue::Int(std::min(ia, ib)) : AbsValue::Float(std::min(a, b));
  }
  if (in.size() == 1 && in[0].is_number() && kind == "aten::neg") {
    return in[0].kind == Kind::kFloat ? AbsValue::Float(-in[0].f) : AbsValue::Int(-in[0].i);
  }
  if ((kind == "aten::eq" || kind == "aten::ne") && in.size() == 2 && in[0].kind == Kind::kString &&
      in[1].kind == Kind::kString) {
    return AbsValue::Bool((in[0].s == in[1].s) == (kind == "aten::eq"));
  }
  return std::nullopt;
}

// Applies a module's forward (or another method) to the arguments.
std::vector<AbsValue> Importer::CallModule(jit::Node* node, std::vector<AbsValue>& in,
                                           const Frame& frame) {
  if (in[0].kind != Kind::kModule) Fail("method call on " + KindName(in[0]));
  const AbsValue self = in[0];
  const std::string method = node->s(c10::attr::name);
  const std::string cls = CleanClassName(*self.module);
  if (method == "forward") {
    bool handled = false;
    current_loc_.module_path = self.name;
    current_loc_.op_name = cls.rfind("torch.nn.modules.", 0) == 0 ? "nn." + LastPart(cls) : cls;
    AbsValue out = CallLeaf(cls, self, in, node, &handled);
    if (handled) return {out};
  }
  auto fn = self.module->find_method(method);
  if (!fn) Fail("module " + self.name + " (" + cls + ") has no method " + method);
  Frame inner{self.name, frame.depth + 1};
  return CallGraph(*fn->graph(), in, inner);
}

AbsValue Importer::CallLeaf(const std::string& cls, const AbsValue& self, std::vector<AbsValue>& in,
                            jit::Node* node, bool* handled) {
  const jit::Module& m = *self.module;
  const std::string& path = self.name;
  const std::string base = LastPart(cls);
  *handled = true;
  (void)node;
  auto bool_attr = [&](const char* name, bool dflt) {
    return m.hasattr(name) ? m.attr(name).toBool() : dflt;
  };
  auto num_attr = [&](const char* name) -> std::optional<double> {
    if (!m.hasattr(name)) return std::nullopt;
    c10::IValue v = m.attr(name);
    if (v.isDouble()) return v.toDouble();
    if (v.isInt()) return static_cast<double>(v.toInt());
    if (v.isTensor() && v.toTensor().numel() == 1) return v.toTensor().item<double>();
    return std::nullopt;
  };
  auto ints_attr = [&](const char* name, size_t n) {
    std::vector<int64_t> v = IntsOf(FromIValue(m.attr(name), path), name);
    if (v.size() == 1 && n > 1) v.assign(n, v[0]);
    if (v.size() != n) Fail(std::string(name) + " must have " + std::to_string(n) + " values");
    return v;
  };
  if (in.size() != 2) {
    *handled = false;
    return {};
  }
  const AbsValue& x = in[1];

  const bool is_lif = base == "LIF" || base == "LIFNode" || base == "MultiStepLIFNode";
  const bool is_if = base == "IF" || base == "IFNode" || base == "MultiStepIFNode";
  if (is_lif || is_if) {
    if (x.kind != Kind::kIr) Fail("neuron " + path + " applied to " + KindName(x));
    if (x.layout != Layout::kTime) {
      Fail("neuron " + path + " needs its input as [T, ...] with time leading; this input " +
           (x.layout == Layout::kMerged ? "has time folded into the batch ([T*B, ...])"
                                        : "has no time dim"));
    }
    auto vth = num_attr("v_threshold");
    if (!vth) Fail("neuron " + path + " has no numeric v_threshold");
    if (m.hasattr("v_reset") && m.attr("v_reset").isNone()) {
      Fail("neuron " + path + " uses a soft reset (v_reset = None), which is not supported");
    }
    double v_reset = num_attr("v_reset").value_or(0.0);
    AttrDict attrs = ir::MakeAttrs(
        {{"v_threshold", Attribute::Float(*vth)}, {"v_reset", Attribute::Float(v_reset)}});
    if (is_lif) {
      auto tau = num_attr("tau");
      if (!tau) Fail("neuron " + path + " has no numeric tau");
      attrs.Set("tau", Attribute::Float(*tau));
      attrs.Set("decay_input", Attribute::Bool(bool_attr("decay_input", true)));
      return Op("lif", {x.ir}, std::move(attrs), Layout::kTime);
    }
    return Op("if_neuron", {x.ir}, std::move(attrs), Layout::kTime);
  }

  if (cls.rfind("torch.nn.modules.", 0) != 0) {
    *handled = false;
    return {};
  }
  if (base == "Dropout" || base == "Identity" || base == "Dropout2d") return x;
  if (x.kind != Kind::kIr) Fail(base + " " + path + " applied to " + KindName(x));
  if (m.hasattr("training") && m.attr("training").toBool() && base.find("BatchNorm") == 0) {
    Fail("BatchNorm " + path + " is in training mode; call model.eval() before torch.jit.script");
  }

  if (base == "Linear") {
    AttrDict attrs =
        ir::MakeAttrs({{"weight", Attribute::Ref(AddTensorConstant(
                                      path + ".weight", ParamTensor(m, "weight", path, false)))}});
    at::Tensor bias = ParamTensor(m, "bias", path, true);
    if (bias.defined()) attrs.Set("bias", Attribute::Ref(AddTensorConstant(path + ".bias", bias)));
    return Op("linear", {x.ir}, std::move(attrs), x.layout);
  }
  if (base == "Conv2d" || base == "Conv1d") {
    size_t n = base == "Conv2d" ? 2 : 1;
    if (m.hasattr("padding_mode") && m.attr("padding_mode").toStringRef() != "zeros") {
      Fail(base + " " + path + ": padding_mode '" + m.attr("padding_mode").toStringRef() +
           "' is not supported (only zeros)");
    }
    if (m.attr("padding").isString()) Fail(base + " " + path + ": string padding is not supported");
    AttrDict attrs =
        ir::MakeAttrs({{"weight", Attribute::Ref(AddTensorConstant(
                                      path + ".weight", ParamTensor(m, "weight", path, false)))},
                       {"stride", Attribute::IntList(ints_attr("stride", n))},
                       {"padding", Attribute::IntList(ints_attr("padding", n))},
                       {"dilation", Attribute::IntList(ints_attr("dilation", n))},
                       {"groups", Attribute::Int(m.attr("groups").toInt())}});
    at::Tensor bias = ParamTensor(m, "bias", path, true);
    if (bias.defined()) attrs.Set("bias", Attribute::Ref(AddTensorConstant(path + ".bias", bias)));
    return Op(n == 2 ? "conv2d" : "conv1d", {x.ir}, std::move(attrs), x.layout);
  }
  if (base == "BatchNorm1d" || base == "BatchNorm2d") {
    at::Tensor mean = ParamTensor(m, "running_mean", path, true);
    at::Tensor var = ParamTensor(m, "running_var", path, true);
    if (!mean.defined() || !var.defined()) {
      Fail("BatchNorm " + path + " keeps no running statistics (track_running_stats=False)");
    }
    auto eps = num_attr("eps");
    AttrDict attrs =
        ir::MakeAttrs({{"mean", Attribute::Ref(AddTensorConstant(path + ".running_mean", mean))},
                       {"var", Attribute::Ref(AddTensorConstant(path + ".running_var", var))},
                       {"eps", Attribute::Float(eps.value_or(1e-5))}});
    at::Tensor weight = ParamTensor(m, "weight", path, true);
    at::Tensor bias = ParamTensor(m, "bias", path, true);
    if (weight.defined())
      attrs.Set("weight", Attribute::Ref(AddTensorConstant(path + ".weight", weight)));
    if (bias.defined()) attrs.Set("bias", Attribute::Ref(AddTensorConstant(path + ".bias", bias)));
    return Op("batch_norm", {x.ir}, std::move(attrs), x.layout);
  }
  if (base == "MaxPool2d" || base == "AvgPool2d") {
    AttrDict attrs =
        ir::MakeAttrs({{"kernel_size", Attribute::IntList(ints_attr("kernel_size", 2))},
                       {"stride", Attribute::IntList(ints_attr("stride", 2))},
                       {"padding", Attribute::IntList(ints_attr("padding", 2))},
                       {"ceil_mode", Attribute::Bool(bool_attr("ceil_mode", false))}});
    if (base == "MaxPool2d") {
      for (int64_t d : ints_attr("dilation", 2)) {
        if (d != 1) Fail("MaxPool2d " + path + ": dilation is not supported");
      }
      return Op("max_pool2d", {x.ir}, std::move(attrs), x.layout);
    }
    if (m.hasattr("divisor_override") && !m.attr("divisor_override").isNone()) {
      Fail("AvgPool2d " + path + ": divisor_override is not supported");
    }
    attrs.Set("count_include_pad", Attribute::Bool(bool_attr("count_include_pad", true)));
    return Op("avg_pool2d", {x.ir}, std::move(attrs), x.layout);
  }
  if (base == "Flatten") {
    std::vector<AbsValue> args = {x, AbsValue::Int(m.attr("start_dim").toInt()),
                                  AbsValue::Int(m.attr("end_dim").toInt())};
    auto out = EvalTensorOp("aten::flatten", node, args);
    return (*out)[0];
  }
  if (base == "Sequential" || base == "ModuleList" || base == "ModuleDict") {
    *handled = false;
    return {};
  }
  Fail("layer " + cls + " (" + path + ") is not supported");
}

std::optional<std::vector<AbsValue>> Importer::EvalTensorOp(const std::string& kind,
                                                            jit::Node* node,
                                                            std::vector<AbsValue>& in) {
  (void)node;
  if (in.empty() || (in[0].kind != Kind::kIr && in[0].kind != Kind::kTensor)) {
    // Arithmetic with the tensor second (2 * x) is handled below.
    if (!(in.size() == 2 && in[1].kind == Kind::kIr && in[0].is_number() &&
          (kind == "aten::mul" || kind == "aten::add"))) {
      return std::nullopt;
    }
    std::swap(in[0], in[1]);
  }
  auto one = [](AbsValue v) { return std::vector<AbsValue>{std::move(v)}; };
  AbsValue x = in[0];
  if (x.kind == Kind::kTensor) x = AbsValue::Ir(AsIr(x, "operand"), Layout::kUntimed);

  if (kind == "aten::flatten") {
    auto shape = TorchShape(x);
    int64_t rank = static_cast<int64_t>(shape.size());
    int64_t s = IntOf(in[1], "start_dim"), e = IntOf(in[2], "end_dim");
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    if (rank == 0) return one(x);
    if (s < 0 || e >= rank || s > e) Fail("flatten: dims out of range");
    std::vector<int64_t> out(shape.begin(), shape.begin() + s);
    int64_t prod = 1;
    for (int64_t d = s; d <= e; ++d) prod *= shape[static_cast<size_t>(d)];
    out.push_back(prod);
    out.insert(out.end(), shape.begin() + e + 1, shape.end());
    bool merge = x.layout != Layout::kUntimed && s == 0 && e > 0;
    return one(Reshape(x, out, merge));
  }
  if (kind == "aten::reshape" || kind == "aten::view") {
    return one(Reshape(x, IntsOf(in[1], "shape"), false));
  }
  if (kind == "aten::unsqueeze") {
    auto shape = TorchShape(x);
    int64_t d = IntOf(in[1], "dim");
    if (d < 0) d += static_cast<int64_t>(shape.size()) + 1;
    if (d < 0 || d > static_cast<int64_t>(shape.size())) Fail("unsqueeze: dim out of range");
    if (x.layout != Layout::kUntimed && d == 0) Fail("unsqueeze before the time dim");
    shape.insert(shape.begin() + d, 1);
    if (x.layout == Layout::kUntimed) {
      return one(Op("reshape", {x.ir}, ir::MakeAttrs({{"shape", Attribute::IntList(shape)}}),
                    Layout::kUntimed));
    }
    return one(Reshape(x, shape, false));
  }
  if (kind == "aten::squeeze") {
    auto shape = TorchShape(x);
    std::vector<int64_t> out;
    if (in.size() == 1) {
      for (int64_t d : shape) {
        if (d != 1) out.push_back(d);
      }
    } else {
      int64_t d = IntOf(in[1], "dim");
      if (d < 0) d += static_cast<int64_t>(shape.size());
      out = shape;
      if (d >= 0 && d < static_cast<int64_t>(shape.size()) && shape[static_cast<size_t>(d)] == 1) {
        out.erase(out.begin() + d);
      }
    }
    return one(Reshape(x, out, false));
  }
  if (kind == "aten::expand" || kind == "aten::repeat") {
    // The direct-coding idiom: an untimed [1, ...] made [T, ...].
    auto shape = TorchShape(x);
    auto sizes = IntsOf(in[1], "sizes");
    if (x.layout == Layout::kUntimed && !shape.empty() && shape[0] == 1 &&
        sizes.size() == shape.size() && sizes[0] >= 1) {
      bool rest_same = true;
      for (size_t k = 1; k < sizes.size(); ++k) {
        int64_t want = kind == "aten::repeat" ? 1 : shape[k];
        rest_same &= sizes[k] == want || (kind == "aten::expand" && sizes[k] == -1);
      }
      if (rest_same) {
        SetT(sizes[0]);
        std::vector<int64_t> per_step(shape.begin() + 1, shape.end());
        auto squeezed =
            Op("reshape", {x.ir}, ir::MakeAttrs({{"shape", Attribute::IntList(per_step)}}),
               Layout::kUntimed);
        return one(Op("repeat_t", {squeezed.ir}, {}, Layout::kTime));
      }
    }
    if (kind == "aten::expand" && sizes == shape) return one(x);
    Fail(kind.substr(6) + " to " + FormatShape(sizes) + " of a " + FormatShape(shape) +
         " tensor: only repeating an input over time ([1, ...] -> [T, ...]) is supported");
  }
  if (kind == "aten::permute") {
    auto dims = IntsOf(in[1], "dims");
    auto rank = static_cast<int64_t>(TorchShape(x).size());
    std::vector<int64_t> ir_dims;
    for (size_t k = 0; k < dims.size(); ++k) {
      int64_t d = dims[k] < 0 ? dims[k] + rank : dims[k];
      if (x.layout != Layout::kUntimed && (k == 0) != (d == 0)) {
        Fail("permute: the time dim must stay first");
      }
      if (x.layout == Layout::kMerged && k == 0) {
        ir_dims.push_back(0);
        ir_dims.push_back(1);
        continue;
      }
      ir_dims.push_back(IrDim(x, d, "permute"));
    }
    if (x.layout == Layout::kMerged) ir_dims.erase(ir_dims.begin());
    return one(
        Op("permute", {x.ir}, ir::MakeAttrs({{"dims", Attribute::IntList(ir_dims)}}), x.layout));
  }
  if (kind == "aten::transpose") {
    int64_t rank = static_cast<int64_t>(TorchShape(x).size());
    int64_t d0 = IntOf(in[1], "dim0"), d1 = IntOf(in[2], "dim1");
    if (d0 < 0) d0 += rank;
    if (d1 < 0) d1 += rank;
    if (d0 == d1) return one(x);
    if (x.layout != Layout::kUntimed && (d0 == 0 || d1 == 0)) {
      Fail("transpose: the time dim must stay first");
    }
    return one(Op("transpose", {x.ir},
                  ir::MakeAttrs({{"dim0", Attribute::Int(IrDim(x, d0, "transpose"))},
                                 {"dim1", Attribute::Int(IrDim(x, d1, "transpose"))}}),
                  x.layout));
  }
  if (kind == "aten::dropout" || kind == "aten::feature_dropout") {
    if (in[2].kind == Kind::kBool && in[2].b) Fail("dropout in training mode; call model.eval()");
    return one(x);
  }
  if (kind == "aten::to" || kind == "aten::type_as") return one(x);

  auto binary_layout = [&](const AbsValue& a, const AbsValue& b) {
    if (a.kind != Kind::kIr || b.kind != Kind::kIr)
      return a.kind == Kind::kIr ? a.layout : b.layout;
    if (a.layout == b.layout) return a.layout;
    if (a.layout == Layout::kUntimed) return b.layout;
    if (b.layout == Layout::kUntimed) return a.layout;
    Fail("operands disagree on where time is ([T, ...] versus [T*B, ...])");
  };
  if (kind == "aten::add" || kind == "aten::add_" || kind == "aten::sub" || kind == "aten::sub_") {
    bool sub = kind.rfind("aten::sub", 0) == 0;
    double alpha = in.size() > 2 ? FloatOf(in[2], "alpha") : 1.0;
    if (in[1].is_number()) {
      if (in[1].number() * alpha == 0) return one(x);
      Fail("adding a constant to a tensor is not supported");
    }
    AbsValue y = in[1];
    if (y.kind == Kind::kTensor) y = AbsValue::Ir(AsIr(y, "operand"), Layout::kUntimed);
    if (y.kind != Kind::kIr) Fail("add: operand is " + KindName(y));
    Layout layout = binary_layout(x, y);
    double scale = sub ? -alpha : alpha;
    if (scale != 1.0) {
      y = Op("mul_scalar", {y.ir}, ir::MakeAttrs({{"scalar", Attribute::Float(scale)}}), y.layout);
    }
    return one(Op("add", {x.ir, y.ir}, {}, layout));
  }
  if (kind == "aten::mul" || kind == "aten::mul_" || kind == "aten::div" || kind == "aten::div_") {
    bool div = kind.rfind("aten::div", 0) == 0;
    if (in[1].is_number()) {
      double s = in[1].number();
      if (div) {
        if (s == 0) Fail("division by zero");
        if (in.size() > 2 && in[2].kind != Kind::kNone)
          Fail("div with rounding_mode is not supported");
        s = 1.0 / s;
      }
      if (s == 1.0) return one(x);
      return one(
          Op("mul_scalar", {x.ir}, ir::MakeAttrs({{"scalar", Attribute::Float(s)}}), x.layout));
    }
    if (div) Fail("division by a tensor is not supported");
    AbsValue y = in[1];
    if (y.kind == Kind::kTensor) y = AbsValue::Ir(AsIr(y, "operand"), Layout::kUntimed);
    if (y.kind != Kind::kIr) Fail("mul: operand is " + KindName(y));
    return one(Op("mul", {x.ir, y.ir}, {}, binary_layout(x, y)));
  }
  if (kind == "aten::matmul") {
    AbsValue y = in[1];
    if (y.kind == Kind::kTensor) y = AbsValue::Ir(AsIr(y, "operand"), Layout::kUntimed);
    if (y.kind != Kind::kIr) Fail("matmul: operand is " + KindName(y));
    return one(Op("matmul", {x.ir, y.ir}, {}, binary_layout(x, y)));
  }
  if (kind == "aten::sum" || kind == "aten::mean") {
    auto shape = TorchShape(x);
    std::vector<int64_t> dims;
    bool keepdim = false;
    if (in.size() <= 2) {
      for (size_t d = 0; d < shape.size(); ++d) dims.push_back(static_cast<int64_t>(d));
    } else {
      dims = IntsOf(in[1], "dims");
      keepdim = in[2].kind == Kind::kBool && in[2].b;
    }
    std::vector<int64_t> ir_dims;
    for (int64_t d : dims) {
      int64_t rank = static_cast<int64_t>(shape.size());
      int64_t dd = d < 0 ? d + rank : d;
      if (x.layout == Layout::kMerged && dd == 0) {
        Fail(kind.substr(6) + " over dim 0, which mixes time and batch here; unfold time first");
      }
      ir_dims.push_back(IrDim(x, dd, kind.c_str()));
    }
    bool over_time =
        x.layout == Layout::kTime && std::find(ir_dims.begin(), ir_dims.end(), 0) != ir_dims.end();
    Layout layout = over_time ? Layout::kUntimed : x.layout;
    return one(Op(kind.substr(6), {x.ir},
                  ir::MakeAttrs({{"dims", Attribute::IntList(ir_dims)},
                                 {"keepdim", Attribute::Bool(keepdim)}}),
                  layout));
  }
  if (kind == "aten::linear") {
    if (in[1].kind != Kind::kTensor) Fail("linear: the weight must be a parameter");
    AttrDict attrs =
        ir::MakeAttrs({{"weight", Attribute::Ref(AddTensorConstant(in[1].name, in[1].tensor))}});
    if (in[2].kind == Kind::kTensor)
      attrs.Set("bias", Attribute::Ref(AddTensorConstant(in[2].name, in[2].tensor)));
    return one(Op("linear", {x.ir}, std::move(attrs), x.layout));
  }
  return std::nullopt;
}

void Importer::Run(jit::Module& root, const std::vector<int64_t>& input_shape, bool input_timed,
                   std::optional<int64_t> timesteps) {
  auto forward = root.find_method("forward");
  Location top;
  top.module_path = "";
  top.op_name = "forward";
  if (!forward) {
    diags_.Error(top, "the model has no forward method");
    return;
  }
  auto& graph = *forward->graph();
  if (graph.inputs().size() != 2) {
    diags_.Error(top, "forward takes " + std::to_string(graph.inputs().size() - 1) +
                          " inputs; only models with one input tensor are supported");
    return;
  }
  try {
    if (timesteps) SetT(*timesteps);
    current_loc_ = top;
    std::string input_name = graph.inputs()[1]->debugNameBase();
    if (input_name.empty()) input_name = "input";
    std::vector<int64_t> dims = input_shape;
    Layout layout = Layout::kUntimed;
    if (input_timed) {
      if (dims.empty()) Fail("a time-major input needs a shape [T, ...]");
      SetT(dims[0]);
      dims.erase(dims.begin());
      layout = Layout::kTime;
    }
    Type type(ElementType::kF32, input_timed, dims);
    ir::Operation* input = module_.CreateOp(
        "input", {}, {type}, ir::MakeAttrs({{"name", Attribute::String(input_name)}}), top);
    AbsValue self = AbsValue::Make(Kind::kModule);
    self.module = root;
    std::vector<AbsValue> outs =
        CallGraph(graph, {self, AbsValue::Ir(input->result(0), layout)}, Frame{"", 0});
    std::vector<AbsValue> flat;
    for (auto& o : outs) {
      if (o.kind == Kind::kTuple) {
        flat.insert(flat.end(), o.elems.begin(), o.elems.end());
      } else {
        flat.push_back(o);
      }
    }
    for (size_t k = 0; k < flat.size(); ++k) {
      if (flat[k].kind == Kind::kPoison) continue;
      if (flat[k].kind != Kind::kIr) {
        diags_.Error(top, "output " + std::to_string(k) + " is " + KindName(flat[k]) +
                              ", not a tensor computed from the input");
        continue;
      }
      std::string name = flat.size() == 1 ? "output" : "output" + std::to_string(k);
      module_.CreateOp("output", std::vector<ir::Value*>{flat[k].ir}, {},
                       ir::MakeAttrs({{"name", Attribute::String(name)}}), top);
    }
  } catch (const NodeError& e) {
    diags_.Error(current_loc_, e.message);
  }
}

StatusOr<std::vector<uint8_t>> ReadFile(const std::string& path, uint64_t limit) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return NotFoundError("cannot open model file '" + path + "'");
  auto size = static_cast<uint64_t>(f.tellg());
  if (size > limit) {
    return InvalidArgumentError("model file '" + path + "' is " + std::to_string(size) +
                                " bytes, over the limit of " + std::to_string(limit));
  }
  std::vector<uint8_t> bytes(size);
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
    return DataLossError("cannot read model file '" + path + "'");
  }
  return bytes;
}

}  // namespace

StatusOr<ImportResult> ImportTorchScriptFile(const std::string& path, const ImportOptions& options,
                                             ir::DiagnosticEngine& diags) {
  SPK_ASSIGN_OR_RETURN(auto bytes, ReadFile(path, options.archive.max_file_bytes));
  return ImportTorchScript(bytes, path, options, diags);
}

StatusOr<ImportResult> ImportTorchScript(std::span<const uint8_t> bytes,
                                         const std::string& source_name,
                                         const ImportOptions& options,
                                         ir::DiagnosticEngine& diags) {
  auto checked = CheckTorchScriptArchive(bytes, options.archive);
  if (!checked.ok()) return checked.status().WithContext(source_name);

  // Shape and timesteps: options first, then what the archive says about itself.
  std::vector<int64_t> input_shape = options.input_shape;
  std::optional<int64_t> timesteps = options.timesteps;
  bool input_timed = false;
  if (checked->extra_json) {
    auto meta = nlohmann::json::parse(*checked->extra_json, nullptr, /*allow_exceptions=*/false);
    if (meta.is_discarded() || !meta.is_object()) {
      return InvalidArgumentError(source_name + ": extra/spiked.json is not a JSON object");
    }
    if (input_shape.empty() && meta.contains("input_shape")) {
      const auto& s = meta["input_shape"];
      if (!s.is_array()) return InvalidArgumentError(source_name + ": input_shape must be a list");
      for (const auto& d : s) {
        if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 24)) {
          return InvalidArgumentError(source_name + ": input_shape entries must be positive ints");
        }
        input_shape.push_back(d.get<int64_t>());
      }
    }
    if (!timesteps && meta.contains("timesteps") && meta["timesteps"].is_number_integer()) {
      timesteps = meta["timesteps"].get<int64_t>();
    }
    if (meta.contains("input_time_major") && meta["input_time_major"].is_boolean()) {
      input_timed = meta["input_time_major"].get<bool>();
    }
  }
  if (input_shape.empty()) {
    return InvalidArgumentError(source_name +
                                ": the input shape is unknown; pass it (e.g. --input-shape "
                                "1,3,32,32) or save the model with extra/spiked.json");
  }
  int64_t elems = 1;
  for (int64_t d : input_shape) {
    if (d < 1 || d > (1 << 24)) {
      return InvalidArgumentError(source_name + ": input shape dims must be 1..16777216");
    }
    elems *= d;
    if (elems > (int64_t{1} << 32)) return InvalidArgumentError(source_name + ": input too large");
  }

  ImportResult result;
  try {
    std::string data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    std::istringstream stream(std::move(data));
    jit::Module root = jit::load(stream, c10::kCPU);
    root.eval();
    result.module = std::make_unique<ir::Module>();
    std::string name = source_name;
    auto slash = name.rfind('/');
    if (slash != std::string::npos) name = name.substr(slash + 1);
    auto dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0) name = name.substr(0, dot);
    result.module->set_name(name);
    result.module->set_source_name(source_name);
    result.producer = "TorchScript archive";
    if (checked->format_version) {
      result.producer += " format " + std::to_string(*checked->format_version);
    }
    result.producer += ", class " + CleanClassName(root);
    Importer importer(options, diags, *result.module);
    importer.Run(root, input_shape, input_timed, timesteps);
    result.parameters = importer.parameters();
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    std::string version = checked->format_version
                              ? " (archive format " + std::to_string(*checked->format_version) + ")"
                              : "";
    return InvalidArgumentError(source_name + ": LibTorch " + std::to_string(TORCH_VERSION_MAJOR) +
                                "." + std::to_string(TORCH_VERSION_MINOR) +
                                " cannot load this archive" + version + ": " +
                                what.substr(0, what.find('\n')));
  } catch (const std::exception& e) {
    return InvalidArgumentError(source_name + ": cannot load this archive: " + e.what());
  }
  if (diags.has_errors()) return diags.ToStatus(source_name);
  SPK_RETURN_IF_ERROR(ir::VerifyModule(*result.module, diags));
  return result;
}

}  // namespace spk::compiler::frontend

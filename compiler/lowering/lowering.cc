#include "compiler/lowering/lowering.h"

#include "compiler/passes/rewrite.h"

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace spk::compiler::lowering {
namespace {

// The executor's host ops (daemon/executor/host_ops.h).
bool IsHostOpName(std::string_view n) {
  static const std::set<std::string_view> kOps = {"linear",     "matmul",   "add",  "mul",
                                                  "mul_scalar", "sum",      "mean", "reshape",
                                                  "permute",    "transpose"};
  return kOps.count(n) > 0;
}

std::string Where(const ir::Operation& op) {
  ir::Location loc = op.DiagLocation();
  std::string pos = ir::FormatFilePosition(loc);
  return "'" + op.name() + "'" + (pos.empty() ? "" : " at " + pos);
}

// A chip value: a neuron's or an input's, possibly through layout ops.
bool ChipSource(const ir::Value& v) {
  const ir::Operation& d = *v.def();
  if (IsNeuronOp(d) || d.name() == "input") return true;
  return IsLayoutOp(d) && ChipSource(*d.operand(0));
}

bool SynSource(const ir::Value& v) {
  const ir::Operation& d = *v.def();
  if (IsNeuronOp(d) || d.name() == "input" || d.name() == "host") return true;
  return IsLayoutOp(d) && SynSource(*d.operand(0));
}

bool SynTree(const ir::Value& v) {
  const ir::Operation& d = *v.def();
  if (IsSynapseOp(d)) return true;
  return d.name() == "add" && SynTree(*d.operand(0)) && SynTree(*d.operand(1));
}

}  // namespace

bool IsLayoutOp(const ir::Operation& op) {
  const std::string& n = op.name();
  return n == "reshape" || n == "permute" || n == "transpose" || n == "flatten";
}

bool IsNeuronOp(const ir::Operation& op) {
  const std::string& n = op.name();
  return n == "cuba_lif" || n == "relay" || n == "and2" || n == "accumulate";
}

bool IsSynapseOp(const ir::Operation& op) {
  const std::string& n = op.name();
  return n == "syn_dense" || n == "syn_sparse" || n == "syn_conv2d";
}

std::vector<std::string> CheckLoweredNormalForm(const ir::Module& module) {
  std::vector<std::string> problems;
  for (const auto& owned : module.ops()) {
    const ir::Operation& op = *owned;
    const std::string& n = op.name();
    if (n == "input" || n == "output" || n == "const") continue;
    if (n == "cuba_lif" || n == "relay" || n == "accumulate") {
      if (!SynTree(*op.operand(0))) {
        problems.push_back(Where(op) + ": operand is not a syn_* op or an add of them");
      }
    } else if (n == "and2") {
      for (ir::Value* v : op.operands()) {
        if (!ChipSource(*v)) problems.push_back(Where(op) + ": a port is not a chip value");
      }
    } else if (IsSynapseOp(op)) {
      if (!SynSource(*op.operand(0))) {
        problems.push_back(Where(op) + ": reads neither a neuron, an input nor a host value");
      }
    } else if (n == "host") {
      const std::string* what = op.attrs().GetString("op");
      if (what == nullptr || !IsHostOpName(*what)) {
        problems.push_back(Where(op) + ": not one of the executor's host ops");
      }
      for (ir::Value* v : op.operands()) {
        if (SynTree(*v)) problems.push_back(Where(op) + ": reads synaptic currents");
      }
    } else if (n == "add") {
      if (!SynTree(*op.result(0))) problems.push_back(Where(op) + ": an add of non-tables");
    } else if (IsLayoutOp(op)) {
      if (!SynSource(*op.operand(0))) {
        problems.push_back(Where(op) + ": a layout op on a non-chip value");
      }
    } else {
      problems.push_back(Where(op) + ": a frontend op left after lowering");
    }
  }
  return problems;
}

ir::Operation* ConvertToHost(ir::Module& module, ir::Operation* op, bool graded,
                             ir::DiagnosticEngine& diags) {
  const std::string& n = op->name();
  ir::AttrDict attrs;
  std::string host_op = n;
  const ir::AttrDict& a = op->attrs();
  auto copy = [&](const char* name) {
    if (const ir::Attribute* v = a.Find(name)) attrs.Set(name, *v);
  };
  if (n == "linear") {
    copy("weight");
    copy("bias");
  } else if (n == "matmul") {
    attrs.Set("transpose_b", ir::Attribute::Bool(a.GetBool("transpose_b").value_or(false)));
    attrs.Set("scale", ir::Attribute::Float(1.0));
  } else if (n == "add" || n == "mul") {
  } else if (n == "mul_scalar") {
    copy("scalar");
  } else if (n == "sum" || n == "mean") {
    copy("dims");
    attrs.Set("keepdim", ir::Attribute::Bool(a.GetBool("keepdim").value_or(false)));
  } else if (n == "reshape" || n == "flatten") {
    host_op = "reshape";
    attrs.Set("shape", ir::Attribute::IntList(op->result(0)->type().dims()));
  } else if (n == "permute") {
    copy("dims");
  } else if (n == "transpose") {
    copy("dim0");
    copy("dim1");
  } else {
    diags.Error(op->DiagLocation(), "'" + n + "' op has no chip lowering and no host equivalent");
    return nullptr;
  }
  for (const ir::AttrDict::Entry& e : a) {  // keep annotations
    if (e.first.find('.') != std::string::npos) attrs.Set(e.first, e.second);
  }
  attrs.Set("op", ir::Attribute::String(host_op));
  const ir::Type& t = op->result(0)->type();
  ir::Type rt = t.WithElement(graded ? ir::ElementType::kGraded : ir::ElementType::kF32);
  std::vector<ir::Value*> operands(op->operands().begin(), op->operands().end());
  ir::Operation* h = module.CreateOp("host", operands, {rt}, std::move(attrs), op->loc(), op);
  passes::ReplaceOpWith(op, h->result(0));
  return h;
}

void RegisterLoweringPasses(passes::PassRegistry& registry) {
  RegisterLowerNeuronsPass(registry);
  RegisterLowerPoolingPass(registry);
  RegisterLowerAttentionPass(registry);
  RegisterQuantizePass(registry);
  RegisterLowerHostPass(registry);
  RegisterFuseHostPass(registry);
  RegisterBalanceDelaysPass(registry);
}

}  // namespace spk::compiler::lowering

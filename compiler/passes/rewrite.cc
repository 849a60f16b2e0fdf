#include "compiler/passes/rewrite.h"

#include <vector>

#include "base/check.h"

namespace spk::compiler::passes {

bool IsTriviallyDead(const ir::Operation& op) {
  if (op.def().has_side_effects) return false;
  for (size_t i = 0; i < op.num_results(); ++i) {
    if (!op.result(i)->unused()) return false;
  }
  return true;
}

void ReplaceOpWith(ir::Operation* op, ir::Value* value) {
  SPK_CHECK_EQ(op->num_results(), 1u);
  op->result(0)->ReplaceAllUsesWith(value);
  op->module()->EraseOp(op);
}

size_t EraseIfDead(ir::Operation* op) {
  size_t erased = 0;
  std::vector<ir::Operation*> work = {op};
  while (!work.empty()) {
    ir::Operation* current = work.back();
    work.pop_back();
    if (!IsTriviallyDead(*current)) continue;
    std::vector<ir::Operation*> producers;
    for (ir::Value* v : current->operands()) producers.push_back(v->def());
    current->module()->EraseOp(current);
    ++erased;
    // A producer may appear twice (x + x); the dead check skips repeats.
    for (ir::Operation* p : producers) {
      bool queued = false;
      for (ir::Operation* w : work) queued = queued || w == p;
      if (!queued) work.push_back(p);
    }
  }
  return erased;
}

const ir::Constant* DefiningConstant(const ir::Value* value) {
  const ir::Operation* def = value->def();
  if (def->name() != "const") return nullptr;
  const std::string* name = def->attrs().GetRef("value");
  return name == nullptr ? nullptr : def->module()->FindConstant(*name);
}

std::unordered_set<std::string> ReferencedConstants(const ir::Module& module) {
  std::unordered_set<std::string> names;
  for (const auto& op : module.ops()) {
    for (const auto& [attr_name, attr] : op->attrs()) {
      if (attr.kind() == ir::AttrKind::kConstRef) names.insert(attr.AsRef());
    }
  }
  for (const auto& [attr_name, attr] : module.attrs()) {
    if (attr.kind() == ir::AttrKind::kConstRef) names.insert(attr.AsRef());
  }
  return names;
}

ir::Constant* AddUniqueConstant(ir::Module& module, std::string_view base, ir::Type type,
                                ir::TensorData data) {
  auto added =
      module.AddConstant(module.UniqueConstantName(base), std::move(type), std::move(data));
  SPK_CHECK_OK(added.status());
  return *added;
}

}  // namespace spk::compiler::passes

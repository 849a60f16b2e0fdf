#include "compiler/ir/module.h"

#include <algorithm>

#include "base/check.h"

namespace spk::compiler::ir {

void Value::AddUse(Operation* user, size_t operand_index) {
  uses_.push_back(Use{user, operand_index});
}

void Value::RemoveUse(Operation* user, size_t operand_index) {
  auto it = std::find_if(uses_.begin(), uses_.end(), [&](const Use& u) {
    return u.user == user && u.operand_index == operand_index;
  });
  SPK_CHECK(it != uses_.end()) << "use list out of sync";
  // Order of uses carries no meaning; swap-remove keeps this O(1).
  *it = uses_.back();
  uses_.pop_back();
}

void Value::ReplaceAllUsesWith(Value* other) {
  SPK_CHECK(other != nullptr);
  if (other == this) return;
  // SetOperand edits uses_, so work on a copy.
  std::vector<Use> uses = uses_;
  for (const Use& use : uses) use.user->SetOperand(use.operand_index, other);
}

Operation::Operation(Module* module, const OpDef* def, std::vector<Type> result_types,
                     AttrDict attrs, Location loc)
    : module_(module), def_(def), attrs_(std::move(attrs)), loc_(std::move(loc)) {
  results_.reserve(result_types.size());
  for (size_t i = 0; i < result_types.size(); ++i) {
    results_.push_back(std::unique_ptr<Value>(new Value(this, i, std::move(result_types[i]))));
  }
}

Operation::~Operation() { SetOperands({}); }

void Operation::SetOperand(size_t i, Value* value) {
  SPK_CHECK(value != nullptr);
  SPK_CHECK_LT(i, operands_.size());
  if (operands_[i] == value) return;
  operands_[i]->RemoveUse(this, i);
  operands_[i] = value;
  value->AddUse(this, i);
}

void Operation::SetOperands(std::span<Value* const> values) {
  for (size_t i = 0; i < operands_.size(); ++i) operands_[i]->RemoveUse(this, i);
  operands_.assign(values.begin(), values.end());
  for (size_t i = 0; i < operands_.size(); ++i) {
    SPK_CHECK(operands_[i] != nullptr) << "null operand " << i << " of '" << name() << "'";
    operands_[i]->AddUse(this, i);
  }
}

Location Operation::DiagLocation() const {
  Location loc = loc_;
  if (!loc.has_file_position() && text_position_.line > 0) {
    loc.file = module_->source_name();
    loc.line = text_position_.line;
    loc.col = text_position_.col;
  }
  return loc;
}

Module::Module(const OpRegistry& registry, std::string name)
    : registry_(&registry), name_(std::move(name)) {}

Module::~Module() {
  // Drop every use first so that no op outlives a value it points at.
  for (auto& op : ops_) op->SetOperands({});
  ops_.clear();
}

StatusOr<Constant*> Module::AddConstant(std::string name, Type type, TensorData data) {
  if (constant_index_.count(name)) {
    return AlreadyExistsError("constant @" + name + " is defined twice");
  }
  if (type.timed() || !IsConstantElementType(type.element())) {
    return InvalidArgumentError("constant @" + name + " has type " + type.ToString() +
                                "; constants are untimed f32, i8, i16 or i32 tensors");
  }
  if (data.element() != type.element()) {
    return InvalidArgumentError("constant @" + name + ": data is " +
                                std::string(ElementTypeName(data.element())) + ", type is " +
                                type.ToString());
  }
  auto count = CheckedNumElements(type.dims());
  if (!count || static_cast<size_t>(*count) != data.size()) {
    return InvalidArgumentError("constant @" + name + " of type " + type.ToString() + " has " +
                                std::to_string(data.size()) + " values");
  }
  constant_index_.emplace(name, constants_.size());
  constants_.push_back(
      std::make_unique<Constant>(std::move(name), std::move(type), std::move(data)));
  return constants_.back().get();
}

Constant* Module::FindConstant(std::string_view name) const {
  auto it = constant_index_.find(std::string(name));
  return it == constant_index_.end() ? nullptr : constants_[it->second].get();
}

std::string Module::UniqueConstantName(std::string_view base) const {
  std::string name(base);
  for (int i = 1; FindConstant(name) != nullptr; ++i)
    name = std::string(base) + "." + std::to_string(i);
  return name;
}

void Module::EraseConstant(std::string_view name) {
  auto it = constant_index_.find(std::string(name));
  if (it == constant_index_.end()) return;
  constants_.erase(constants_.begin() + static_cast<ptrdiff_t>(it->second));
  constant_index_.clear();
  for (size_t i = 0; i < constants_.size(); ++i) constant_index_.emplace(constants_[i]->name(), i);
}

Operation* Module::CreateOp(const OpDef& def, std::span<Value* const> operands,
                            std::vector<Type> result_types, AttrDict attrs, Location loc,
                            Operation* before) {
  SPK_CHECK(registry_->Find(def.name) == &def) << "op '" << def.name << "' is not in this registry";
  for (Value* v : operands) {
    SPK_CHECK(v != nullptr && v->def()->module() == this) << "operand from another module";
  }
  auto op = std::unique_ptr<Operation>(
      new Operation(this, &def, std::move(result_types), std::move(attrs), std::move(loc)));
  Operation* raw = op.get();
  auto pos = before == nullptr ? ops_.end() : before->self_;
  raw->self_ = ops_.insert(pos, std::move(op));
  raw->SetOperands(operands);
  return raw;
}

Operation* Module::CreateOp(std::string_view name, std::span<Value* const> operands,
                            std::vector<Type> result_types, AttrDict attrs, Location loc,
                            Operation* before) {
  const OpDef* def = registry_->Find(name);
  SPK_CHECK(def != nullptr) << "unknown op '" << name << "'";
  return CreateOp(*def, operands, std::move(result_types), std::move(attrs), std::move(loc),
                  before);
}

StatusOr<Operation*> Module::CreateInferred(std::string_view name, std::span<Value* const> operands,
                                            AttrDict attrs, Location loc, Operation* before) {
  const OpDef* def = registry_->Find(name);
  if (def == nullptr) return NotFoundError("unknown op '" + std::string(name) + "'");
  std::vector<Type> types;
  types.reserve(operands.size());
  for (Value* v : operands) types.push_back(v->type());
  SPK_ASSIGN_OR_RETURN(std::vector<Type> results, InferResultTypes(*def, *this, types, attrs));
  return CreateOp(*def, operands, std::move(results), std::move(attrs), std::move(loc), before);
}

void Module::EraseOp(Operation* op) {
  SPK_CHECK(op != nullptr && op->module() == this);
  for (size_t i = 0; i < op->num_results(); ++i) {
    SPK_CHECK(op->result(i)->unused())
        << "erasing '" << op->name() << "' whose result " << i << " is still used";
  }
  ops_.erase(op->self_);
}

std::vector<Operation*> Module::OpsSnapshot() const {
  std::vector<Operation*> out;
  out.reserve(ops_.size());
  for (const auto& op : ops_) out.push_back(op.get());
  return out;
}

void Module::MoveBefore(Operation* op, Operation* before) {
  SPK_CHECK(op->module() == this);
  auto pos = before == nullptr ? ops_.end() : before->self_;
  ops_.splice(pos, ops_, op->self_);
}

}  // namespace spk::compiler::ir

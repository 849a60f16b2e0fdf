// The spike IR in memory: a module holding named constants and one SSA graph.
//
// A Module is like a function body: a list of operations in order, each
// producing typed Values that later operations use as operands. Values know
// their users, so rewrites can replace every use of a value in one call.
// Large tensors live in module-level Constants that ops name through
// constant-reference attributes.
//
// Ownership: the Module owns its Operations (and through them their result
// Values) and its Constants; Value* and Operation* borrow and stay valid until
// the op is erased. Erasing an op whose results are still used is a
// programmer error.
//
// Thread safety: none; one thread works on a module at a time.
#ifndef SPK_COMPILER_IR_MODULE_H_
#define SPK_COMPILER_IR_MODULE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "compiler/ir/attributes.h"
#include "compiler/ir/constant.h"
#include "compiler/ir/location.h"
#include "compiler/ir/op_registry.h"
#include "compiler/ir/types.h"

namespace spk::compiler::ir {

class Module;
class Operation;

class Value {
 public:
  struct Use {
    Operation* user;
    size_t operand_index;
  };

  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;

  const Type& type() const { return type_; }
  void set_type(Type type) { type_ = std::move(type); }
  Operation* def() const { return def_; }  // the op that produces this value
  size_t result_index() const { return index_; }

  const std::vector<Use>& uses() const { return uses_; }
  bool unused() const { return uses_.empty(); }

  // Points every use of this value at `other` (which must have no path back
  // to the users, as in any SSA rewrite).
  void ReplaceAllUsesWith(Value* other);

 private:
  friend class Operation;
  Value(Operation* def, size_t index, Type type)
      : type_(std::move(type)), def_(def), index_(index) {}
  void AddUse(Operation* user, size_t operand_index);
  void RemoveUse(Operation* user, size_t operand_index);

  Type type_;
  Operation* def_;  // borrowed: the owner of this value
  size_t index_;
  std::vector<Use> uses_;
};

class Operation {
 public:
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;
  ~Operation();

  const OpDef& def() const { return *def_; }
  const std::string& name() const { return def_->name; }
  Module* module() const { return module_; }

  size_t num_operands() const { return operands_.size(); }
  Value* operand(size_t i) const { return operands_[i]; }
  std::span<Value* const> operands() const { return operands_; }
  void SetOperand(size_t i, Value* value);
  void SetOperands(std::span<Value* const> values);

  size_t num_results() const { return results_.size(); }
  Value* result(size_t i = 0) const { return results_[i].get(); }

  const AttrDict& attrs() const { return attrs_; }
  AttrDict& mutable_attrs() { return attrs_; }
  void set_attrs(AttrDict attrs) { attrs_ = std::move(attrs); }

  const Location& loc() const { return loc_; }
  void set_loc(Location loc) { loc_ = std::move(loc); }
  TextPosition text_position() const { return text_position_; }
  void set_text_position(TextPosition pos) { text_position_ = pos; }

  // The location diagnostics about this op should use: its source location,
  // or, when that has no file position, the position of the op in the IR text
  // it was parsed from.
  Location DiagLocation() const;

 private:
  friend class Module;
  Operation(Module* module, const OpDef* def, std::vector<Type> result_types, AttrDict attrs,
            Location loc);

  Module* module_;                // borrowed: the owner
  const OpDef* def_;              // borrowed from the module's registry
  std::vector<Value*> operands_;  // borrowed
  std::vector<std::unique_ptr<Value>> results_;
  AttrDict attrs_;
  Location loc_;
  TextPosition text_position_;
  std::list<std::unique_ptr<Operation>>::iterator self_;  // position in the module
};

class Module {
 public:
  using OpList = std::list<std::unique_ptr<Operation>>;

  // The registry must outlive the module.
  explicit Module(const OpRegistry& registry = DefaultOpRegistry(), std::string name = "");
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  ~Module();

  const OpRegistry& registry() const { return *registry_; }
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  const AttrDict& attrs() const { return attrs_; }
  AttrDict& mutable_attrs() { return attrs_; }
  // The `timesteps` attribute: how many steps `T` stands for, if known.
  std::optional<int64_t> timesteps() const { return attrs_.GetInt("timesteps"); }

  // Name of the IR text file this module was parsed from (for diagnostics).
  const std::string& source_name() const { return source_name_; }
  void set_source_name(std::string name) { source_name_ = std::move(name); }

  // --- Constants ---
  // ALREADY_EXISTS if the name is taken; INVALID_ARGUMENT if the type is
  // timed or not a constant element type, or the data does not match it.
  StatusOr<Constant*> AddConstant(std::string name, Type type, TensorData data);
  Constant* FindConstant(std::string_view name) const;
  // `base` if free, else base.1, base.2, ...
  std::string UniqueConstantName(std::string_view base) const;
  void EraseConstant(std::string_view name);
  const std::vector<std::unique_ptr<Constant>>& constants() const { return constants_; }

  // --- Operations ---
  // Creates an op before `before` (at the end when null). Operands must be
  // values of this module. The op is not verified here.
  Operation* CreateOp(const OpDef& def, std::span<Value* const> operands,
                      std::vector<Type> result_types, AttrDict attrs = {}, Location loc = {},
                      Operation* before = nullptr);
  // Same, by name; the name must be registered (checked).
  Operation* CreateOp(std::string_view name, std::span<Value* const> operands,
                      std::vector<Type> result_types, AttrDict attrs = {}, Location loc = {},
                      Operation* before = nullptr);
  // Creates an op whose result types come from shape inference. NOT_FOUND
  // for an unknown op; INVALID_ARGUMENT when the operands or attributes do
  // not fit the op (nothing is created then).
  StatusOr<Operation*> CreateInferred(std::string_view name, std::span<Value* const> operands,
                                      AttrDict attrs = {}, Location loc = {},
                                      Operation* before = nullptr);
  // Removes an op; its results must be unused (checked).
  void EraseOp(Operation* op);

  const OpList& ops() const { return ops_; }
  size_t num_ops() const { return ops_.size(); }
  // A copy of the op order, for loops that erase or insert while walking.
  std::vector<Operation*> OpsSnapshot() const;
  // Moves `op` to just before `before` (to the end when null).
  void MoveBefore(Operation* op, Operation* before);

 private:
  const OpRegistry* registry_;  // borrowed
  std::string name_;
  std::string source_name_;
  AttrDict attrs_;
  std::vector<std::unique_ptr<Constant>> constants_;
  std::unordered_map<std::string, size_t> constant_index_;
  OpList ops_;
};

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_MODULE_H_

// The op registry: what ops exist and what makes each one well formed.
//
// Every op is described once by an OpDef: its name, operand and result counts
// and allowed types, attributes (kind, whether required, numeric range), and
// optional hooks for shape inference, extra verification and constant
// folding. The parser, verifier, printer and passes all work from these
// definitions, so adding an op is one Register call and nothing else changes.
//
// Registries are built by explicit calls (RegisterBuiltinOps); nothing
// registers itself from a static initialiser.
//
// Thread safety: a registry is filled by one thread, then only read; reads
// from many threads are safe. DefaultOpRegistry() is built once on first use.
#ifndef SPK_COMPILER_IR_OP_REGISTRY_H_
#define SPK_COMPILER_IR_OP_REGISTRY_H_

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compiler/ir/attributes.h"
#include "compiler/ir/constant.h"
#include "compiler/ir/types.h"

namespace spk::compiler::ir {

class Module;
class Operation;

// A set of element types, one bit per ElementType.
using ElementMask = uint32_t;
constexpr ElementMask MaskOf(ElementType t) { return 1u << static_cast<unsigned>(t); }
inline constexpr ElementMask kSpikeOnly = MaskOf(ElementType::kSpike);
inline constexpr ElementMask kGradedOnly = MaskOf(ElementType::kGraded);
inline constexpr ElementMask kF32Only = MaskOf(ElementType::kF32);
inline constexpr ElementMask kEvents = kSpikeOnly | kGradedOnly;  // what synapses carry
inline constexpr ElementMask kActivations = kEvents | kF32Only;
inline constexpr ElementMask kIntTensors =
    MaskOf(ElementType::kI8) | MaskOf(ElementType::kI16) | MaskOf(ElementType::kI32);
inline constexpr ElementMask kNumeric = kActivations | kIntTensors;  // anything but state
inline constexpr ElementMask kAnyElement = kNumeric | MaskOf(ElementType::kState);

enum class TimeReq : uint8_t { kAny, kTimed, kUntimed };

struct TypeConstraint {
  ElementMask elements = kAnyElement;
  TimeReq time = TimeReq::kAny;
};

bool Satisfies(const Type& type, const TypeConstraint& constraint);
// "timed spike or graded"
std::string DescribeConstraint(const TypeConstraint& constraint);

struct AttrSpec {
  std::string name;
  AttrKind kind = AttrKind::kInt;
  bool required = false;
  // Inclusive range for int and float values and for each list element.
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  int list_size = -1;  // exact length of a list; -1: any
};

// What shape inference sees: the operand types and the attributes. The op
// need not exist yet, so passes can ask for result types before creating it.
struct InferContext {
  const Module& module;
  std::span<const Type> operands;
  const AttrDict& attrs;

  // The constant named by reference attribute `attr`; NOT_FOUND names the
  // attribute and the missing constant. Null (and OK) if the attribute is
  // absent.
  StatusOr<const Constant*> RefConstant(std::string_view attr) const;
};

// Returns the result types or an error describing the first shape problem.
using InferFn = StatusOr<std::vector<Type>> (*)(const InferContext&);

// Extra checks beyond signature and shapes (e.g. weight value ranges). Runs
// only on ops whose signature and shapes are valid; may report many errors.
struct VerifyContext {
  const Operation& op;
  const Module& module;
  std::vector<std::string>* errors;
  void Error(std::string message) const { errors->push_back(std::move(message)); }
};
using VerifyFn = void (*)(const VerifyContext&);

// Computes the op's result from constant operands (given in operand order).
// The result type is the op's result type. UNIMPLEMENTED when this case does
// not fold (the op is then left alone).
using FoldFn = StatusOr<TensorData> (*)(const Operation& op,
                                        std::span<const Constant* const> operands);

enum class OpLevel : uint8_t { kAny, kFrontend, kLowered };

struct OpDef {
  std::string name;
  OpLevel level = OpLevel::kAny;
  std::string summary;
  int min_operands = 0;
  int max_operands = 0;                  // -1: unbounded
  std::vector<TypeConstraint> operands;  // per operand; the last one repeats
  int min_results = 1;
  int max_results = 1;  // -1: unbounded
  std::vector<AttrSpec> attrs;
  bool has_side_effects = false;  // kept by DCE even when its results are unused
  bool open_attributes = false;   // accepts attributes it does not list
  VerifyFn verify = nullptr;
  InferFn infer = nullptr;  // null: results are whatever the op declares
  FoldFn fold = nullptr;

  const AttrSpec* FindAttr(std::string_view attr_name) const;
  const TypeConstraint* OperandConstraint(size_t index) const;
};

class OpRegistry {
 public:
  OpRegistry() = default;
  OpRegistry(const OpRegistry&) = delete;
  OpRegistry& operator=(const OpRegistry&) = delete;

  // ALREADY_EXISTS for a duplicate name; INVALID_ARGUMENT for a name that is
  // not [a-z][a-z0-9_]* or is a keyword of the text form.
  Status Register(OpDef def);
  const OpDef* Find(std::string_view name) const;
  std::vector<const OpDef*> List() const;  // sorted by name

 private:
  std::map<std::string, std::unique_ptr<OpDef>, std::less<>> defs_;
};

// Registration functions, one per group of ops (ops_frontend.cc,
// ops_lowered.cc). RegisterBuiltinOps calls all of them.
void RegisterFrontendOps(OpRegistry& registry);
void RegisterLoweredOps(OpRegistry& registry);
void RegisterBuiltinOps(OpRegistry& registry);

// A registry with the builtin ops, built on first use.
const OpRegistry& DefaultOpRegistry();

// Checks an op signature against its definition without shape inference:
// operand count and types, result count (skipped when num_results < 0),
// attribute presence, kinds, ranges and names, constant references. Appends
// one message per problem.
void CheckSignature(const OpDef& def, const Module& module, std::span<const Type> operands,
                    int num_results, const AttrDict& attrs, std::vector<std::string>* errors);

// Signature check plus shape inference: the result types an op with these
// operands and attributes has. INVALID_ARGUMENT with every signature problem,
// or the inference error; FAILED_PRECONDITION when the op has no inference.
StatusOr<std::vector<Type>> InferResultTypes(const OpDef& def, const Module& module,
                                             std::span<const Type> operands, const AttrDict& attrs);

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_OP_REGISTRY_H_

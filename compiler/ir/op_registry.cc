#include "compiler/ir/op_registry.h"

#include <cmath>

#include "base/check.h"
#include "compiler/ir/module.h"

namespace spk::compiler::ir {
namespace {

bool IsValidOpName(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  // Keywords of the text form that start other items.
  return name != "constant" && name != "module" && name != "loc";
}

// Integers without a fraction, everything else in the exact float form.
std::string FormatNumber(double v) {
  if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < 9.0e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  std::string out;
  AppendDouble(out, v);
  return out;
}

std::string CountPhrase(int min, int max, std::string_view noun) {
  std::string plural = std::string(noun) + "s";
  if (max == min) return std::to_string(min) + " " + (min == 1 ? std::string(noun) : plural);
  if (max < 0)
    return "at least " + std::to_string(min) + " " + (min == 1 ? std::string(noun) : plural);
  return std::to_string(min) + " to " + std::to_string(max) + " " + plural;
}

void CheckNumber(const AttrSpec& spec, double v, std::string_view what,
                 std::vector<std::string>* errors) {
  if (std::isnan(v) || v < spec.min || v > spec.max) {
    std::string range;
    if (std::isinf(spec.min)) {
      range = "<= " + FormatNumber(spec.max);
    } else if (std::isinf(spec.max)) {
      range = ">= " + FormatNumber(spec.min);
    } else {
      range = "in [" + FormatNumber(spec.min) + ", " + FormatNumber(spec.max) + "]";
    }
    errors->push_back(std::string(what) + " must be " + range + ", got " + FormatNumber(v));
  }
}

void CheckAttribute(const AttrSpec& spec, const Attribute& attr, const Module& module,
                    std::vector<std::string>* errors) {
  std::string what = "attribute '" + spec.name + "'";
  if (attr.kind() != spec.kind) {
    errors->push_back(what + " must be " + std::string(AttrKindName(spec.kind)) + ", got " +
                      std::string(AttrKindName(attr.kind())));
    return;
  }
  switch (attr.kind()) {
    case AttrKind::kInt:
      CheckNumber(spec, static_cast<double>(attr.AsInt()), what, errors);
      break;
    case AttrKind::kFloat:
      CheckNumber(spec, attr.AsFloat(), what, errors);
      break;
    case AttrKind::kIntList:
    case AttrKind::kFloatList: {
      size_t n =
          attr.kind() == AttrKind::kIntList ? attr.AsIntList().size() : attr.AsFloatList().size();
      if (spec.list_size >= 0 && n != static_cast<size_t>(spec.list_size)) {
        errors->push_back(what + " must have " + std::to_string(spec.list_size) +
                          " elements, got " + std::to_string(n));
      }
      for (size_t i = 0; i < n; ++i) {
        double v = attr.kind() == AttrKind::kIntList ? static_cast<double>(attr.AsIntList()[i])
                                                     : attr.AsFloatList()[i];
        size_t before = errors->size();
        CheckNumber(spec, v, what + " element " + std::to_string(i), errors);
        if (errors->size() != before) break;  // one complaint per list is enough
      }
      break;
    }
    case AttrKind::kConstRef:
      if (module.FindConstant(attr.AsRef()) == nullptr) {
        errors->push_back(what + " refers to unknown constant @" + attr.AsRef());
      }
      break;
    default:
      break;
  }
}

}  // namespace

bool Satisfies(const Type& type, const TypeConstraint& constraint) {
  if ((constraint.elements & MaskOf(type.element())) == 0) return false;
  if (constraint.time == TimeReq::kTimed && !type.timed()) return false;
  if (constraint.time == TimeReq::kUntimed && type.timed()) return false;
  return true;
}

std::string DescribeConstraint(const TypeConstraint& constraint) {
  std::string out;
  if (constraint.time == TimeReq::kTimed) out = "timed ";
  if (constraint.time == TimeReq::kUntimed) out = "untimed ";
  if (constraint.elements == kAnyElement) return out + "any type";
  std::vector<std::string_view> names;
  for (int i = 0; i < kNumElementTypes; ++i) {
    if (constraint.elements & MaskOf(static_cast<ElementType>(i))) {
      names.push_back(ElementTypeName(static_cast<ElementType>(i)));
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

const AttrSpec* OpDef::FindAttr(std::string_view attr_name) const {
  for (const AttrSpec& spec : attrs) {
    if (spec.name == attr_name) return &spec;
  }
  return nullptr;
}

const TypeConstraint* OpDef::OperandConstraint(size_t index) const {
  if (operands.empty()) return nullptr;
  return &operands[std::min(index, operands.size() - 1)];
}

StatusOr<const Constant*> InferContext::RefConstant(std::string_view attr) const {
  const std::string* name = attrs.GetRef(attr);
  if (name == nullptr) return static_cast<const Constant*>(nullptr);
  const Constant* c = module.FindConstant(*name);
  if (c == nullptr) {
    return NotFoundError("attribute '" + std::string(attr) + "' refers to unknown constant @" +
                         *name);
  }
  return c;
}

Status OpRegistry::Register(OpDef def) {
  if (!IsValidOpName(def.name)) {
    return InvalidArgumentError("invalid op name '" + def.name + "'");
  }
  if (defs_.count(def.name)) return AlreadyExistsError("op '" + def.name + "' is registered twice");
  std::string name = def.name;
  defs_.emplace(std::move(name), std::make_unique<OpDef>(std::move(def)));
  return Status::Ok();
}

const OpDef* OpRegistry::Find(std::string_view name) const {
  auto it = defs_.find(name);
  return it == defs_.end() ? nullptr : it->second.get();
}

std::vector<const OpDef*> OpRegistry::List() const {
  std::vector<const OpDef*> out;
  for (const auto& [name, def] : defs_) out.push_back(def.get());
  return out;
}

void RegisterBuiltinOps(OpRegistry& registry) {
  RegisterFrontendOps(registry);
  RegisterLoweredOps(registry);
}

const OpRegistry& DefaultOpRegistry() {
  // Built on first use (thread-safe local static), not at load time.
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    RegisterBuiltinOps(*r);
    return r;
  }();
  return *registry;
}

void CheckSignature(const OpDef& def, const Module& module, std::span<const Type> operands,
                    int num_results, const AttrDict& attrs, std::vector<std::string>* errors) {
  int n = static_cast<int>(operands.size());
  if (n < def.min_operands || (def.max_operands >= 0 && n > def.max_operands)) {
    errors->push_back("expects " + CountPhrase(def.min_operands, def.max_operands, "operand") +
                      ", got " + std::to_string(n));
  } else {
    for (size_t i = 0; i < operands.size(); ++i) {
      const TypeConstraint* c = def.OperandConstraint(i);
      if (c != nullptr && !Satisfies(operands[i], *c)) {
        errors->push_back("operand #" + std::to_string(i) + " must be " + DescribeConstraint(*c) +
                          ", got " + operands[i].ToString());
      }
    }
  }
  if (num_results >= 0 &&
      (num_results < def.min_results || (def.max_results >= 0 && num_results > def.max_results))) {
    errors->push_back("expects " + CountPhrase(def.min_results, def.max_results, "result") +
                      ", got " + std::to_string(num_results));
  }
  for (const AttrSpec& spec : def.attrs) {
    const Attribute* attr = attrs.Find(spec.name);
    if (attr == nullptr) {
      if (spec.required) {
        errors->push_back("missing required attribute '" + spec.name + "' (" +
                          std::string(AttrKindName(spec.kind)) + ")");
      }
      continue;
    }
    CheckAttribute(spec, *attr, module, errors);
  }
  for (const auto& [name, attr] : attrs) {
    if (def.FindAttr(name) != nullptr) continue;
    bool annotation = name.find('.') != std::string::npos;
    if (!annotation && !def.open_attributes) {
      errors->push_back("unknown attribute '" + name + "'");
      continue;
    }
    if (attr.kind() == AttrKind::kConstRef && module.FindConstant(attr.AsRef()) == nullptr) {
      errors->push_back("attribute '" + name + "' refers to unknown constant @" + attr.AsRef());
    }
  }
}

StatusOr<std::vector<Type>> InferResultTypes(const OpDef& def, const Module& module,
                                             std::span<const Type> operands,
                                             const AttrDict& attrs) {
  std::vector<std::string> errors;
  CheckSignature(def, module, operands, -1, attrs, &errors);
  if (!errors.empty()) {
    std::string message = "'" + def.name + "' op ";
    for (size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i];
    return InvalidArgumentError(message);
  }
  if (def.infer == nullptr) {
    return FailedPreconditionError("'" + def.name + "' op has no shape inference");
  }
  InferContext ctx{module, operands, attrs};
  StatusOr<std::vector<Type>> result = def.infer(ctx);
  if (!result.ok()) return result.status().WithContext("'" + def.name + "' op");
  return result;
}

}  // namespace spk::compiler::ir

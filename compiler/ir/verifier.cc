#include "compiler/ir/verifier.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace spk::compiler::ir {
namespace {

bool IsAttrName(const std::string& name) {
  if (name.empty()) return false;
  char c0 = name[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string PositionText(const Operation& op) {
  Location loc = op.DiagLocation();
  std::string pos = FormatFilePosition(loc);
  return pos.empty() ? "elsewhere" : pos;
}

class Verifier {
 public:
  Verifier(const Module& module, DiagnosticEngine& diags) : module_(module), diags_(diags) {}

  void Run() {
    VerifyModuleAttrs();
    VerifyConstants();
    size_t index = 0;
    for (const auto& op : module_.ops()) position_[op.get()] = index++;
    for (const auto& op : module_.ops()) VerifyOp(*op);
  }

 private:
  void ModuleError(std::string message) {
    Location loc;
    loc.file = module_.source_name();
    diags_.Error(std::move(loc), std::move(message));
  }

  void OpError(const Operation& op, const std::string& message) {
    diags_.Error(op.DiagLocation(), "'" + op.name() + "' op " + message);
  }

  void VerifyModuleAttrs() {
    for (const auto& [name, attr] : module_.attrs()) {
      if (!IsAttrName(name)) {
        ModuleError("module attribute name '" + name + "' is not an identifier");
      } else if (name == "timesteps") {
        if (attr.kind() != AttrKind::kInt || attr.AsInt() < 1 || attr.AsInt() > (1 << 20)) {
          ModuleError("module attribute 'timesteps' must be an int in [1, 1048576]");
        }
      } else if (name.find('.') == std::string::npos) {
        ModuleError("unknown module attribute '" + name +
                    "' (free-form attributes need a dotted name)");
      }
    }
  }

  void VerifyConstants() {
    for (const auto& c : module_.constants()) {
      const Type& t = c->type();
      if (t.timed() || !IsConstantElementType(t.element())) {
        ModuleError("constant @" + c->name() + " has type " + t.ToString() +
                    "; constants are untimed f32, i8, i16 or i32 tensors");
        continue;
      }
      auto n = CheckedNumElements(t.dims());
      if (c->data().element() != t.element() || !n || static_cast<size_t>(*n) != c->data().size()) {
        ModuleError("constant @" + c->name() + " of type " + t.ToString() + " holds " +
                    std::to_string(c->data().size()) + " " +
                    std::string(ElementTypeName(c->data().element())) + " values");
      }
    }
  }

  // Returns false when an operand is unusable (so type checks are skipped).
  bool VerifyOperands(const Operation& op) {
    bool ok = true;
    size_t here = position_.at(&op);
    for (size_t i = 0; i < op.num_operands(); ++i) {
      const Value* v = op.operand(i);
      auto it = position_.find(v->def());
      if (v->def()->module() != &module_ || it == position_.end()) {
        OpError(op, "operand #" + std::to_string(i) + " is not a value of this module");
        ok = false;
      } else if (it->second >= here) {
        OpError(op, "operand #" + std::to_string(i) + " is used before its definition by '" +
                        v->def()->name() + "' at " + PositionText(*v->def()));
      }
    }
    return ok;
  }

  void VerifyOp(const Operation& op) {
    const OpDef& def = op.def();
    if (module_.registry().Find(def.name) != &def) {
      OpError(op, "is not registered in the module's op registry");
      return;
    }
    if (!VerifyOperands(op)) return;
    for (const auto& [name, attr] : op.attrs()) {
      if (!IsAttrName(name)) OpError(op, "attribute name '" + name + "' is not an identifier");
    }
    std::vector<Type> operand_types;
    for (const Value* v : op.operands()) operand_types.push_back(v->type());
    std::vector<std::string> errors;
    CheckSignature(def, module_, operand_types, static_cast<int>(op.num_results()), op.attrs(),
                   &errors);
    for (const std::string& e : errors) OpError(op, e);
    if (!errors.empty()) return;

    if (def.infer != nullptr) {
      InferContext ctx{module_, operand_types, op.attrs()};
      StatusOr<std::vector<Type>> inferred = def.infer(ctx);
      if (!inferred.ok()) {
        OpError(op, std::string(inferred.status().message()));
        return;
      }
      if (inferred->size() != op.num_results()) {
        OpError(op, "declares " + std::to_string(op.num_results()) + " results, inference gives " +
                        std::to_string(inferred->size()));
        return;
      }
      bool shapes_ok = true;
      for (size_t i = 0; i < inferred->size(); ++i) {
        const Type& declared = op.result(i)->type();
        if (declared != (*inferred)[i]) {
          OpError(op, "result #" + std::to_string(i) + " is declared " + declared.ToString() +
                          " but the operands and attributes give " + (*inferred)[i].ToString());
          shapes_ok = false;
        }
      }
      if (!shapes_ok) return;
    }
    if (def.verify != nullptr) {
      std::vector<std::string> extra;
      def.verify(VerifyContext{op, module_, &extra});
      for (const std::string& e : extra) OpError(op, e);
    }
  }

  const Module& module_;
  DiagnosticEngine& diags_;
  std::unordered_map<const Operation*, size_t> position_;
};

}  // namespace

Status VerifyModule(const Module& module, DiagnosticEngine& diags) {
  size_t start = diags.diagnostics().size();
  size_t before = diags.error_count();
  Verifier(module, diags).Run();
  size_t errors = diags.error_count() - before;
  if (errors == 0) return Status::Ok();
  std::string first;
  for (size_t i = start; i < diags.diagnostics().size(); ++i) {
    if (diags.diagnostics()[i].severity == Severity::kError) {
      first = FormatDiagnostic(diags.diagnostics()[i]);
      break;
    }
  }
  return InvalidArgumentError("IR verification failed with " + std::to_string(errors) +
                              (errors == 1 ? " error" : " errors") + "; first: " + first);
}

}  // namespace spk::compiler::ir

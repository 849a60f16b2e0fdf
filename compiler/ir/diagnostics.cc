#include "compiler/ir/diagnostics.h"

#include <utility>

namespace spk::compiler::ir {

std::string FormatFilePosition(const Location& loc) {
  std::string out = loc.file;
  if (loc.line > 0) {
    out += (out.empty() ? "" : ":") + std::to_string(loc.line);
    if (loc.col > 0) out += ":" + std::to_string(loc.col);
  }
  return out;
}

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kRemark:
      return "remark";
    case Severity::kNote:
      return "note";
  }
  return "error";
}

std::string FormatDiagnostic(const Diagnostic& diag) {
  std::string out = FormatFilePosition(diag.loc);
  if (!out.empty()) out += ": ";
  out += SeverityName(diag.severity);
  out += ": ";
  out += diag.message;
  if (!diag.loc.module_path.empty() || !diag.loc.op_name.empty()) {
    out += " [";
    out += diag.loc.module_path;
    if (!diag.loc.module_path.empty() && !diag.loc.op_name.empty()) out += " ";
    out += diag.loc.op_name;
    out += "]";
  }
  return out;
}

void DiagnosticEngine::Emit(Severity severity, Location loc, std::string message) {
  diagnostics_.push_back(Diagnostic{severity, std::move(loc), std::move(message)});
  if (severity == Severity::kError) ++error_count_;
  if (handler_) handler_(diagnostics_.back());
}

void DiagnosticEngine::Clear() {
  diagnostics_.clear();
  error_count_ = 0;
}

std::string DiagnosticEngine::Render() const {
  std::string out;
  for (const Diagnostic& diag : diagnostics_) {
    out += FormatDiagnostic(diag);
    out += '\n';
  }
  return out;
}

Status DiagnosticEngine::ToStatus(std::string_view what) const {
  if (error_count_ == 0) return Status::Ok();
  std::string message(what);
  message += ": " + std::to_string(error_count_) + (error_count_ == 1 ? " error" : " errors");
  for (const Diagnostic& diag : diagnostics_) {
    if (diag.severity != Severity::kError) continue;
    message += "; first: " + FormatDiagnostic(diag);
    break;
  }
  return InvalidArgumentError(message);
}

}  // namespace spk::compiler::ir

// Diagnostics: errors, warnings and remarks attached to source locations.
//
// The frontend, the verifier and every pass report problems here instead of
// stopping at the first one, so a user sees all unsupported layers or all
// violated limits in one run. A diagnostic renders as
//
//   model.py:12:8: error: 'lif' op attribute 'tau' must be >= 1 [blocks.0.attn.q_lif]
//
// Thread safety: a DiagnosticEngine is not thread-safe; one compile uses one.
#ifndef SPK_COMPILER_IR_DIAGNOSTICS_H_
#define SPK_COMPILER_IR_DIAGNOSTICS_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compiler/ir/location.h"

namespace spk::compiler::ir {

enum class Severity { kError, kWarning, kRemark, kNote };

std::string_view SeverityName(Severity severity);  // "error", "warning", ...

struct Diagnostic {
  Severity severity = Severity::kError;
  Location loc;
  std::string message;
};

// "file:line:col: severity: message [module.path aten::op]"; parts of the
// location that are unknown are left out.
std::string FormatDiagnostic(const Diagnostic& diag);

class DiagnosticEngine {
 public:
  using Handler = std::function<void(const Diagnostic&)>;

  DiagnosticEngine() = default;
  DiagnosticEngine(const DiagnosticEngine&) = delete;
  DiagnosticEngine& operator=(const DiagnosticEngine&) = delete;

  void Emit(Severity severity, Location loc, std::string message);
  void Error(Location loc, std::string message) {
    Emit(Severity::kError, std::move(loc), std::move(message));
  }
  void Warning(Location loc, std::string message) {
    Emit(Severity::kWarning, std::move(loc), std::move(message));
  }
  void Remark(Location loc, std::string message) {
    Emit(Severity::kRemark, std::move(loc), std::move(message));
  }
  void Note(Location loc, std::string message) {
    Emit(Severity::kNote, std::move(loc), std::move(message));
  }

  // Called for each diagnostic as it is emitted (e.g. to stream to stderr);
  // diagnostics are recorded whether or not a handler is set.
  void set_handler(Handler handler) { handler_ = std::move(handler); }

  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  size_t error_count() const { return error_count_; }
  bool has_errors() const { return error_count_ != 0; }
  void Clear();

  // All diagnostics, one rendered line each.
  std::string Render() const;

  // OK without errors; otherwise INVALID_ARGUMENT "<what>: N error(s)" followed
  // by the first error, so a caller that only sees the Status still learns
  // something useful.
  Status ToStatus(std::string_view what) const;

 private:
  std::vector<Diagnostic> diagnostics_;
  size_t error_count_ = 0;
  Handler handler_;
};

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_DIAGNOSTICS_H_

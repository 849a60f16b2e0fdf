#include <gtest/gtest.h>

#include "compiler/ir/diagnostics.h"

namespace spk::compiler::ir {
namespace {

TEST(DiagnosticTest, RendersFileLineColSeverityAndModulePath) {
  Location loc{"model.py", 12, 8, "blocks.0.attn.q_lif", ""};
  EXPECT_EQ(FormatDiagnostic({Severity::kError, loc, "bad"}),
            "model.py:12:8: error: bad [blocks.0.attn.q_lif]");
  loc.op_name = "aten::linear";
  EXPECT_EQ(FormatDiagnostic({Severity::kRemark, loc, "kept"}),
            "model.py:12:8: remark: kept [blocks.0.attn.q_lif aten::linear]");
}

TEST(DiagnosticTest, LeavesOutUnknownParts) {
  EXPECT_EQ(FormatDiagnostic({Severity::kWarning, Location{}, "w"}), "warning: w");
  EXPECT_EQ(FormatDiagnostic({Severity::kError, Location{"m.py", 3, 0, "", ""}, "e"}),
            "m.py:3: error: e");
  EXPECT_EQ(FormatDiagnostic({Severity::kNote, Location{"", 0, 0, "head", ""}, "n"}),
            "note: n [head]");
}

TEST(DiagnosticEngineTest, CountsErrorsAndCallsHandler) {
  DiagnosticEngine diags;
  int seen = 0;
  diags.set_handler([&](const Diagnostic&) { ++seen; });
  diags.Remark({}, "r");
  EXPECT_TRUE(diags.ToStatus("compile").ok());
  diags.Error({"a.py", 1, 2, "", ""}, "first");
  diags.Error({}, "second");
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(diags.error_count(), 2u);
  Status s = diags.ToStatus("compile");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("2 errors"), std::string_view::npos);
  EXPECT_NE(s.message().find("a.py:1:2: error: first"), std::string_view::npos);
  EXPECT_EQ(diags.Render(), "remark: r\na.py:1:2: error: first\nerror: second\n");
  diags.Clear();
  EXPECT_FALSE(diags.has_errors());
}

}  // namespace
}  // namespace spk::compiler::ir

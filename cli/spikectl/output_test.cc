#include "cli/spikectl/output.h"

#include <sstream>

#include <gtest/gtest.h>

#include "cli/spikectl/report.h"

namespace spk::spikectl {
namespace {

TEST(TableTest, AlignsColumnsAndLeavesNoTrailingBlanks) {
  Table table({{"NAME"}, {"CORES", true}, {"STATE"}});
  table.AddRow({"mnist", "24", "ready"});
  table.AddRow({"a", "1024", "compiling"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME   CORES  STATE\n"
            "mnist     24  ready\n"
            "a       1024  compiling\n");
}

TEST(KeyValuesTest, PadsKeys) {
  KeyValues kv;
  kv.Add("latency", "2.10 ms");
  kv.Add("prediction", "7");
  std::ostringstream out;
  kv.Print(out);
  EXPECT_EQ(out.str(), "latency     2.10 ms\nprediction  7\n");
}

TEST(UnitsTest, PicksReadableUnits) {
  EXPECT_EQ(FormatSeconds(0.0021), "2.10 ms");
  EXPECT_EQ(FormatSeconds(2.5), "2.50 s");
  EXPECT_EQ(FormatSeconds(0.00000042), "420.0 ns");
  EXPECT_EQ(FormatSeconds(0), "0.00 s");
  EXPECT_EQ(FormatJoules(1.4e-6), "1.40 uJ");
  EXPECT_EQ(FormatJoules(3e-10), "300.0 pJ");
}

TEST(CellTest, JsonValues) {
  EXPECT_EQ(Cell(nlohmann::json()), "-");
  EXPECT_EQ(Cell("sim0"), "sim0");
  EXPECT_EQ(Cell(24), "24");
  EXPECT_EQ(Cell(2.0), "2");
  EXPECT_EQ(Cell(nlohmann::json::array({"a", "b"})), "a,b");
  EXPECT_EQ(Field(nlohmann::json{{"x", 1}}, "y"), "-");
  EXPECT_EQ(FormatTime(1700000000.5), "2023-11-14 22:13:20");
}

TEST(ReportTest, CoreRanges) {
  EXPECT_EQ(CoreRanges(nlohmann::json::array({0, 1, 2, 3, 7, 9, 10})), "0-3,7,9-10");
  EXPECT_EQ(CoreRanges(nlohmann::json::array()), "-");
}

}  // namespace
}  // namespace spk::spikectl

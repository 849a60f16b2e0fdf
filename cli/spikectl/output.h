// Human and machine output of spikectl: aligned tables, key/value blocks,
// units people read at a glance, and JSON documents for --json.
//
// Thread safety: plain values and pure functions.
#ifndef SPK_CLI_SPIKECTL_OUTPUT_H_
#define SPK_CLI_SPIKECTL_OUTPUT_H_

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace spk::spikectl {

// Columns are padded to their widest cell; columns whose header is marked
// right-aligned (numbers) pad on the left. The last column is not padded,
// so lines carry no trailing blanks.
class Table {
 public:
  struct Column {
    std::string header;
    bool right = false;
  };
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "name   value" lines with the names padded to the longest.
class KeyValues {
 public:
  void Add(std::string key, std::string value);
  void Print(std::ostream& out, const std::string& indent = "") const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// 0.0021 -> "2.10 ms"; picks s, ms, us or ns.
std::string FormatSeconds(double seconds);
// 1.4e-6 -> "1.40 uJ"; picks J, mJ, uJ, nJ or pJ.
std::string FormatJoules(double joules);
std::string FormatFixed(double value, int decimals);
// A JSON value for a table cell: strings unquoted, numbers compact, null "-".
std::string Cell(const nlohmann::json& value);
// A JSON value's field as a cell; "-" when absent.
std::string Field(const nlohmann::json& object, const char* name);
// Unix seconds as "2026-11-24 04:01:51" UTC; "-" for 0 or non-numbers.
std::string FormatTime(const nlohmann::json& unix_seconds);

// Pretty JSON with a trailing newline: what every --json prints on stdout.
void PrintJson(std::ostream& out, const nlohmann::json& value);

}  // namespace spk::spikectl

#endif  // SPK_CLI_SPIKECTL_OUTPUT_H_

#include "cli/spikectl/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace spk::spikectl {

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(columns_.size(), 0);
  for (size_t c = 0; c < columns_.size(); ++c) {
    width[c] = columns_[c].header.size();
    for (const auto& row : rows_) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      const size_t pad = width[c] - cells[c].size();
      const bool last = c + 1 == cells.size();
      if (columns_[c].right) {
        text += std::string(pad, ' ') + cells[c];
      } else {
        text += cells[c];
        if (!last) text += std::string(pad, ' ');
      }
      if (!last) text += "  ";
    }
    // An empty last cell leaves the padding of the one before it.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  std::vector<std::string> headers;
  for (const auto& c : columns_) headers.push_back(c.header);
  line(headers);
  for (const auto& row : rows_) line(row);
}

void KeyValues::Add(std::string key, std::string value) {
  items_.emplace_back(std::move(key), std::move(value));
}

void KeyValues::Print(std::ostream& out, const std::string& indent) const {
  size_t width = 0;
  for (const auto& [k, v] : items_) width = std::max(width, k.size());
  for (const auto& [k, v] : items_) {
    out << indent << k;
    if (!v.empty()) out << std::string(width - k.size() + 2, ' ') << v;
    out << "\n";
  }
}

std::string FormatFixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

namespace {
std::string Scaled(double value, const char* const units[], int count) {
  if (!std::isfinite(value)) return "-";
  double v = value;
  int i = 0;
  // units[0] is the base unit; each next is 1000 times smaller.
  while (i + 1 < count && v != 0 && std::fabs(v) < 1.0) {
    v *= 1000;
    ++i;
  }
  return FormatFixed(v, std::fabs(v) >= 100 ? 1 : 2) + " " + units[i];
}
}  // namespace

std::string FormatSeconds(double seconds) {
  static const char* const kUnits[] = {"s", "ms", "us", "ns"};
  return Scaled(seconds, kUnits, 4);
}

std::string FormatJoules(double joules) {
  static const char* const kUnits[] = {"J", "mJ", "uJ", "nJ", "pJ"};
  return Scaled(joules, kUnits, 5);
}

std::string Cell(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    const double v = value.get<double>();
    if (v == std::floor(v) && std::fabs(v) < 1e15) return FormatFixed(v, 0);
    return FormatFixed(v, std::fabs(v) >= 100 ? 1 : (std::fabs(v) >= 1 ? 2 : 4));
  }
  if (value.is_array()) {
    std::string text;
    for (const auto& item : value) text += (text.empty() ? "" : ",") + Cell(item);
    return text.empty() ? "-" : text;
  }
  return value.dump();
}

std::string Field(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return "-";
  const auto it = object.find(name);
  return it == object.end() ? "-" : Cell(*it);
}

std::string FormatTime(const nlohmann::json& unix_seconds) {
  if (!unix_seconds.is_number() || unix_seconds.get<double>() <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_seconds.get<double>());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void PrintJson(std::ostream& out, const nlohmann::json& value) {
  out << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace spk::spikectl

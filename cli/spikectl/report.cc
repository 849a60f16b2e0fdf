#include "cli/spikectl/report.h"

#include "cli/spikectl/output.h"

namespace spk::spikectl {

std::string CoreRanges(const nlohmann::json& cores) {
  if (!cores.is_array() || cores.empty()) return "-";
  std::string text;
  size_t i = 0;
  while (i < cores.size()) {
    if (!cores[i].is_number_integer()) return Cell(cores);
    const int64_t start = cores[i].get<int64_t>();
    size_t j = i;
    while (j + 1 < cores.size() && cores[j + 1].is_number_integer() &&
           cores[j + 1].get<int64_t>() == cores[j].get<int64_t>() + 1) {
      ++j;
    }
    const int64_t end = cores[j].get<int64_t>();
    text += (text.empty() ? "" : ",") + std::to_string(start);
    if (end != start) text += "-" + std::to_string(end);
    i = j + 1;
  }
  return text;
}

void PrintPorts(std::ostream& out, const nlohmann::json& deployment) {
  Table table({{"PORT"}, {"NAME"}, {"KIND"}, {"SHAPE"}, {"DTYPE"}, {"NEURONS", true}});
  for (const char* side : {"inputs", "outputs"}) {
    const auto ports = deployment.value(side, nlohmann::json::array());
    for (const auto& p : ports) {
      std::string shape = "[" + Cell(p.value("shape", nlohmann::json::array())) + "]";
      for (auto& c : shape) {
        if (c == ',') c = 'x';
      }
      table.AddRow({side == std::string("inputs") ? "input" : "output", Field(p, "name"),
                    Field(p, "kind"), shape, Field(p, "dtype"), Field(p, "neurons")});
    }
  }
  if (table.rows() > 0) table.Print(out);
}

void PrintReport(std::ostream& out, const nlohmann::json& report) {
  if (!report.is_object()) return;
  KeyValues kv;
  for (const char* key : {"cores_used", "chips_used", "neurons", "synapses", "host_layers"}) {
    if (report.contains(key) && !report[key].is_object() && !report[key].is_array()) {
      std::string name = key;
      for (auto& c : name) {
        if (c == '_') c = ' ';
      }
      kv.Add(name, Cell(report[key]));
    }
  }
  if (report.contains("layers") && report["layers"].is_number()) {
    kv.Add("layers", Cell(report["layers"]));
  }
  kv.Print(out);
  if (report.contains("layers") && report["layers"].is_array() && !report["layers"].empty()) {
    Table table({{"LAYER"},
                 {"KIND"},
                 {"CORES", true},
                 {"NEURONS", true},
                 {"SYNAPSES", true},
                 {"WHERE"},
                 {"SOURCE"}});
    for (const auto& l : report["layers"]) {
      const nlohmann::json cores = l.value("cores", nlohmann::json());
      table.AddRow({Field(l, "name"), Field(l, "kind"),
                    cores.is_array() ? std::to_string(cores.size()) : Cell(cores),
                    Field(l, "neurons"), Field(l, "synapses"),
                    l.value("host", false) ? "host" : "chip", Field(l, "source")});
    }
    out << "\n";
    table.Print(out);
  }
  for (const auto& w : report.value("warnings", nlohmann::json::array())) {
    out << "warning: " << (w.is_string() ? w.get<std::string>() : w.dump()) << "\n";
  }
}

}  // namespace spk::spikectl

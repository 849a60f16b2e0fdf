#include "compiler/driver/report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "hal/format/board_image_validate.h"

namespace spk::compiler::driver {
namespace {

using hal::format::SynapseFormat;

struct Row {
  const codegen::LayerInfo* info = nullptr;
  uint64_t connections = 0;  // synapses as connections (conv kernels expanded)
  uint64_t max_core_bits = 0;
  LayerCost cost;
};

struct Computed {
  std::vector<Row> rows;
  ReportTotals totals;
};

// Synapses of a conv2d table as connections: (target, source) pairs inside
// its boxes and window that a kernel tap joins (padding taps join nothing).
uint64_t ConvConnections(const hal::format::Conv2dGeometry& g) {
  const hal::format::ConvBox box = hal::format::ResolveConvBox(g);
  // Taps of one axis landing in [lo, hi) of the input, summed over outputs.
  auto taps = [](uint32_t o0, uint32_t on, uint32_t stride, uint32_t pad, uint32_t k, int64_t lo,
                 int64_t hi) {
    uint64_t n = 0;
    for (int64_t o = o0; o < int64_t{o0} + on; ++o) {
      for (int64_t t = 0; t < k; ++t) {
        const int64_t i = o * stride - pad + t;
        n += i >= lo && i < hi;
      }
    }
    return n;
  };
  const uint64_t rows = taps(box.out_y0, box.out_yn, g.stride_h, g.pad_h, g.kernel_h, box.win_y0,
                             int64_t{box.win_y0} + box.win_yn);
  const uint64_t cols = taps(box.out_x0, box.out_xn, g.stride_w, g.pad_w, g.kernel_w, box.win_x0,
                             int64_t{box.win_x0} + box.win_xn);
  const uint32_t groups = std::max<uint32_t>(g.groups, 1);
  const uint32_t og = std::max<uint32_t>(g.out_channels / groups, 1);
  const uint32_t cg = g.in_channels / groups;
  const uint32_t ic0 = g.in_c_count ? g.in_c_offset : 0;
  const uint32_t icn = g.in_c_count ? g.in_c_count : g.in_channels;
  const uint32_t oc0 = g.out_c_count ? g.out_c_offset : 0;
  const uint32_t ocn = g.out_c_count ? g.out_c_count : g.out_channels;
  uint64_t channels = 0;
  for (uint32_t oc = oc0; oc < oc0 + ocn; ++oc) {
    const uint32_t lo = oc / og * cg, hi = lo + cg;
    channels += std::max<int64_t>(0, int64_t{std::min(hi, ic0 + icn)} - std::max(lo, ic0));
  }
  return channels * rows * cols;
}

Computed Compute(const codegen::CodegenResult& r, const hal::format::BoardImage& image,
                 const hal::format::ChipProfile& chip, double act) {
  Computed c;
  std::map<std::string, uint64_t> connections;  // by layer
  for (const auto& t : image.tables) {
    const auto& g = image.groups[t.target_group];
    uint64_t n = t.weights_of == hal::format::kOwnWeights
                     ? t.weights.size()
                     : image.tables[t.weights_of].weights.size();
    if (t.format == SynapseFormat::kConv2d) n = ConvConnections(t.conv);
    connections[g.layer] += n;
  }
  const auto& tm = chip.timing;
  const auto& em = chip.energy;
  const double steps = image.meta.run_steps;
  std::vector<double> core_ns(image.cores.size(), 0);
  for (const auto& info : r.layers) {
    Row row;
    row.info = &info;
    if (!info.on_host) {
      row.connections = connections[info.name];
      for (uint32_t core : info.cores) {
        if (core < r.usage.size()) {
          row.max_core_bits = std::max(row.max_core_bits, r.usage[core].synapse_bits);
        }
      }
      const double events = act * static_cast<double>(row.connections);
      const double n = info.neurons;
      const double k = std::max<size_t>(info.cores.size(), 1);
      row.cost.time_per_step_ns = (events * tm.synaptic_op_ns + n * tm.neuron_update_ns) / k;
      const double pj =
          events * em.synaptic_op_pj +
          n * (act * em.neuron_update_active_pj + (1 - act) * em.neuron_update_inactive_pj) +
          act * n * em.spike_in_tile_pj;
      row.cost.energy_per_inference_j = pj * steps * 1e-12;
      for (uint32_t core : info.cores) {
        if (core < core_ns.size()) core_ns[core] += row.cost.time_per_step_ns;
      }
      c.totals.neurons += info.neurons;
      c.totals.synapses += row.connections;
      c.totals.dynamic_energy_j += row.cost.energy_per_inference_j;
    }
    c.rows.push_back(row);
  }
  std::set<uint32_t> chips;
  for (const auto& p : image.cores) chips.insert(p.chip);
  c.totals.cores = static_cast<uint32_t>(image.cores.size());
  c.totals.chips = static_cast<uint32_t>(chips.size());
  double slowest = 0;
  for (double ns : core_ns) slowest = std::max(slowest, ns);
  // Cores work in parallel; the barrier closes every step.
  c.totals.time_per_step_ns = slowest + tm.barrier_ns;
  c.totals.latency_s = steps * c.totals.time_per_step_ns * 1e-9;
  c.totals.dynamic_energy_j += steps * em.barrier_pj * c.totals.chips * 1e-12;
  c.totals.static_energy_j = em.static_power_w_per_chip * c.totals.chips * c.totals.latency_s;
  return c;
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Where(const codegen::LayerInfo& info, const hal::format::BoardImage& image) {
  if (info.on_host) return "host";
  std::set<uint32_t> chips;
  for (uint32_t core : info.cores) chips.insert(image.cores[core].chip);
  std::string s = "core";
  s += info.cores.size() > 1 ? "s " : " ";
  if (info.cores.size() > 2) {
    s += std::to_string(info.cores.front()) + "-" + std::to_string(info.cores.back());
  } else {
    for (size_t i = 0; i < info.cores.size(); ++i) {
      s += (i ? "," : "") + std::to_string(info.cores[i]);
    }
  }
  s += " chip";
  for (uint32_t chip : chips) s += " " + std::to_string(chip);
  return s;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(ch));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// Where each attention's spike matmuls run (lower-attention's choice), in
// the order the layers come.
struct Attention {
  std::string name;
  bool on_host = false;
  std::vector<uint32_t> cores;  // of its and2 layers
  uint64_t neurons = 0;         // and2 compartments
  int layers = 0;               // and2 layers or host segments
};

std::vector<Attention> Attentions(const codegen::CodegenResult& r) {
  std::vector<Attention> out;
  for (const auto& info : r.layers) {
    if (info.attention.empty()) continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const Attention& a) { return a.name == info.attention; });
    if (it == out.end()) {
      out.push_back({info.attention, info.on_host, {}, 0, 0});
      it = out.end() - 1;
    }
    ++it->layers;
    it->neurons += info.neurons;
    for (uint32_t c : info.cores) {
      if (std::find(it->cores.begin(), it->cores.end(), c) == it->cores.end()) {
        it->cores.push_back(c);
      }
    }
  }
  for (Attention& a : out) std::sort(a.cores.begin(), a.cores.end());
  return out;
}

}  // namespace

std::string ReportText(const codegen::CodegenResult& r, const hal::format::BoardImage& image,
                       const hal::format::ChipProfile& chip, double activity) {
  const Computed c = Compute(r, image, chip, activity);
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-16s %-18s %9s %11s %16s %10s %12s %8s\n", "LAYER", "OP",
                "WHERE", "NEURONS", "SYNAPSES", "MEM/CORE", "NS/STEP", "ENERGY(uJ)", "QERR");
  out += line;
  for (const Row& row : c.rows) {
    const auto& info = *row.info;
    std::string mem = "-";
    if (!info.on_host) {
      mem = Fmt("%.0f%%",
                100.0 * static_cast<double>(row.max_core_bits) /
                    std::max<double>(static_cast<double>(chip.core.synapse_memory_bits), 1));
      mem += " of " + std::to_string(chip.core.synapse_memory_bits / 8192) + "K";
    }
    const std::string qerr = info.quant_error >= 0 ? Fmt("%.4f", info.quant_error) : "-";
    std::snprintf(line, sizeof line, "%-28s %-16s %-18s %9u %11llu %16s %10.1f %12.3f %8s\n",
                  info.name.substr(0, 28).c_str(), info.op.substr(0, 16).c_str(),
                  Where(info, image).substr(0, 18).c_str(), info.neurons,
                  static_cast<unsigned long long>(row.connections), mem.c_str(),
                  row.cost.time_per_step_ns, row.cost.energy_per_inference_j * 1e6, qerr.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line,
                "total: %u core(s) on %u chip(s), %llu neurons, %llu synapses; %.1f ns/step, "
                "%u steps, %.3f us per inference; energy %.3f uJ dynamic + %.3f uJ static "
                "(estimates at %.0f%% activity, %s profile)\n",
                c.totals.cores, c.totals.chips, static_cast<unsigned long long>(c.totals.neurons),
                static_cast<unsigned long long>(c.totals.synapses), c.totals.time_per_step_ns,
                image.meta.run_steps, c.totals.latency_s * 1e6, c.totals.dynamic_energy_j * 1e6,
                c.totals.static_energy_j * 1e6, activity * 100, chip.name.c_str());
  out += line;
  for (const Attention& a : Attentions(r)) {
    if (a.on_host) {
      std::snprintf(line, sizeof line, "attention %s: spike matmuls on the host (%d segment(s))\n",
                    a.name.c_str(), a.layers);
    } else {
      std::string cores = a.cores.empty() ? "-" : std::to_string(a.cores.front());
      if (a.cores.size() > 1) cores += "-" + std::to_string(a.cores.back());
      std::snprintf(line, sizeof line,
                    "attention %s: spike matmuls on the chip, %d and2 layer(s), %llu "
                    "compartments on %zu core(s) (%s)\n",
                    a.name.c_str(), a.layers, static_cast<unsigned long long>(a.neurons),
                    a.cores.size(), cores.c_str());
    }
    out += line;
  }
  return out;
}

std::string ReportJson(const codegen::CodegenResult& r, const hal::format::BoardImage& image,
                       const hal::format::ChipProfile& chip, double activity) {
  const Computed c = Compute(r, image, chip, activity);
  std::string out = "{\"schema\":\"spiked.compile_report.v1\",";
  out += "\"model\":" + JsonString(image.meta.model_name) + ",";
  out += "\"chip_profile\":" + JsonString(chip.name) + ",";
  out += "\"timesteps\":" + std::to_string(image.meta.timesteps) + ",";
  out += "\"run_steps\":" + std::to_string(image.meta.run_steps) + ",";
  out += "\"assumed_activity\":" + Fmt("%.6g", activity) + ",";
  out += "\"layers\":[";
  for (size_t i = 0; i < c.rows.size(); ++i) {
    const Row& row = c.rows[i];
    const auto& info = *row.info;
    out += i ? "," : "";
    out += "{\"name\":" + JsonString(info.name) + ",\"op\":" + JsonString(info.op);
    out += ",\"where\":" + JsonString(info.on_host ? "host" : "chip");
    out += ",\"cores\":[";
    for (size_t k = 0; k < info.cores.size(); ++k) {
      out += (k ? "," : "") + std::to_string(info.cores[k]);
    }
    out += "],\"chips\":[";
    std::set<uint32_t> chips;
    for (uint32_t core : info.cores) chips.insert(image.cores[core].chip);
    bool first = true;
    for (uint32_t ch : chips) {
      out += (first ? "" : ",") + std::to_string(ch);
      first = false;
    }
    out += "],\"neurons\":" + std::to_string(info.neurons);
    out += ",\"synapses\":" + std::to_string(row.connections);
    out += ",\"synapse_weights_stored\":" + std::to_string(info.synapses);
    out += ",\"synapse_memory_bits_max_core\":" + std::to_string(row.max_core_bits);
    out += ",\"synapse_memory_bits_limit\":" + std::to_string(chip.core.synapse_memory_bits);
    out += ",\"depth\":" + std::to_string(info.depth);
    out += ",\"time_per_step_ns\":" + Fmt("%.6g", row.cost.time_per_step_ns);
    out += ",\"energy_per_inference_j\":" + Fmt("%.6g", row.cost.energy_per_inference_j);
    out += ",\"quant_error\":" + (info.quant_error >= 0 ? Fmt("%.6g", info.quant_error) : "null");
    if (info.loc.line > 0) {
      out += ",\"source\":" + JsonString(info.loc.file + ":" + std::to_string(info.loc.line));
    }
    out += "}";
  }
  out += "],\"attention\":[";
  const std::vector<Attention> attention = Attentions(r);
  for (size_t i = 0; i < attention.size(); ++i) {
    const Attention& a = attention[i];
    out += (i ? "," : "") + std::string("{\"name\":") + JsonString(a.name) +
           ",\"where\":" + JsonString(a.on_host ? "host" : "chip") +
           ",\"layers\":" + std::to_string(a.layers) +
           ",\"and2_compartments\":" + std::to_string(a.neurons) + ",\"cores\":[";
    for (size_t k = 0; k < a.cores.size(); ++k) {
      out += (k ? "," : "") + std::to_string(a.cores[k]);
    }
    out += "]}";
  }
  out += "],\"cores\":[";
  for (size_t k = 0; k < r.usage.size(); ++k) {
    const auto& u = r.usage[k];
    out += k ? "," : "";
    out += "{\"core\":" + std::to_string(k) + ",\"chip\":" + std::to_string(image.cores[k].chip) +
           ",\"chip_core\":" + std::to_string(image.cores[k].core) +
           ",\"neurons\":" + std::to_string(u.neurons) +
           ",\"synapse_memory_bits\":" + std::to_string(u.synapse_bits) +
           ",\"input_axons\":" + std::to_string(u.input_axons) +
           ",\"output_axons\":" + std::to_string(u.output_axons) + "}";
  }
  out += "],\"limits\":{\"neurons\":" + std::to_string(chip.core.neurons) +
         ",\"synapse_memory_bits\":" + std::to_string(chip.core.synapse_memory_bits) +
         ",\"input_axons\":" + std::to_string(chip.core.input_axons) +
         ",\"output_axons\":" + std::to_string(chip.core.output_axons) + "}";
  out += ",\"totals\":{\"cores\":" + std::to_string(c.totals.cores) +
         ",\"chips\":" + std::to_string(c.totals.chips) +
         ",\"neurons\":" + std::to_string(c.totals.neurons) +
         ",\"synapses\":" + std::to_string(c.totals.synapses) +
         ",\"time_per_step_ns\":" + Fmt("%.6g", c.totals.time_per_step_ns) +
         ",\"latency_s\":" + Fmt("%.6g", c.totals.latency_s) +
         ",\"dynamic_energy_j\":" + Fmt("%.6g", c.totals.dynamic_energy_j) +
         ",\"static_energy_j\":" + Fmt("%.6g", c.totals.static_energy_j) + "}}";
  return out;
}

}  // namespace spk::compiler::driver

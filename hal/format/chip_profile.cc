#include "hal/format/chip_profile.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace spk::hal::format {
namespace {

// Ordered, so rail shares keep the order the file gives them.
using Json = nlohmann::ordered_json;

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

constexpr size_t kMaxProfileBytes = 1 << 20;

std::string Key(std::string_view path) { return Cat("key \"", path, "\""); }

std::string Join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : Cat(prefix, ".", key);
}

// Reads one JSON object's keys, recording the first problem. Every key the
// object holds must be read (or be "notes"), so misspellings are reported.
class ObjectReader {
 public:
  ObjectReader(const Json& object, std::string prefix, Status* status)
      : object_(object), prefix_(std::move(prefix)), status_(status) {}

  // The key's value with any {"value": ..., "source"|"assumption": ...}
  // wrapper removed; nullptr (and an error if required) when absent.
  const Json* Get(std::string_view key, bool required = true) {
    seen_.insert(std::string(key));
    std::string path = Join(prefix_, key);
    auto it = object_.find(std::string(key));
    if (it == object_.end()) {
      if (required) Fail(Cat(Key(path), " is missing"));
      return nullptr;
    }
    const Json* value = &*it;
    if (value->is_object() && value->contains("value")) {
      for (auto field = value->begin(); field != value->end(); ++field) {
        const std::string& name = field.key();
        if (name == "value") continue;
        if (name != "source" && name != "assumption") {
          Fail(Cat(Key(path + "." + name),
                   " is not allowed beside \"value\" (use \"source\" or "
                   "\"assumption\")"));
          return nullptr;
        }
        if (!field.value().is_string()) {
          Fail(Cat(Key(path + "." + name), " must be a string, got ", field.value().type_name()));
          return nullptr;
        }
      }
      value = &*value->find("value");
    }
    return value;
  }

  void U32(std::string_view key, uint32_t* out, bool required = true) {
    const Json* v = Get(key, required);
    if (v == nullptr) return;
    std::string path = Join(prefix_, key);
    if (!v->is_number_integer()) {
      Fail(Cat(Key(path), " must be an unsigned integer, got ", v->type_name(), " ", v->dump()));
    } else if (v->is_number_integer() && !v->is_number_unsigned()) {
      Fail(Cat(Key(path), " = ", v->dump(), " is out of range (it must be >= 0)"));
    } else if (v->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
      Fail(Cat(Key(path), " = ", v->dump(), " is out of range (it must fit in 32 bits)"));
    } else {
      *out = static_cast<uint32_t>(v->get<uint64_t>());
    }
  }

  void U64(std::string_view key, uint64_t* out, bool required = true) {
    const Json* v = Get(key, required);
    if (v == nullptr) return;
    std::string path = Join(prefix_, key);
    if (!v->is_number_unsigned()) {
      Fail(Cat(Key(path), " must be an unsigned integer, got ", v->type_name(), " ", v->dump()));
    } else {
      *out = v->get<uint64_t>();
    }
  }

  void Double(std::string_view key, double* out, bool required = true) {
    const Json* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_number()) {
      Fail(Cat(Key(Join(prefix_, key)), " must be a number, got ", v->type_name()));
    } else {
      *out = v->get<double>();
    }
  }

  void String(std::string_view key, std::string* out, bool required = true) {
    const Json* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_string()) {
      Fail(Cat(Key(Join(prefix_, key)), " must be a string, got ", v->type_name()));
    } else {
      *out = v->get<std::string>();
    }
  }

  // A nested object; its reader shares this one's status.
  const Json* Object(std::string_view key) {
    const Json* v = Get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      Fail(Cat(Key(Join(prefix_, key)), " must be an object, got ", v->type_name()));
      return nullptr;
    }
    return v;
  }

  // {"rail": share, ...}
  void Shares(std::string_view key, std::vector<std::pair<std::string, double>>* out) {
    const Json* v = Object(key);
    if (v == nullptr) return;
    ObjectReader rails(*v, Join(prefix_, key), status_);
    for (auto it = v->begin(); it != v->end(); ++it) {
      double share = 0;
      rails.Double(it.key(), &share);
      out->emplace_back(it.key(), share);
    }
  }

  // Call last: reports keys nobody read.
  void Finish() {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (it.key() != "notes" && !seen_.count(it.key())) {
        Fail(Cat(Key(Join(prefix_, it.key())), " is not a known key"));
      }
    }
  }

  void Fail(const std::string& what) {
    if (status_->ok()) *status_ = InvalidArgumentError(what);
  }

 private:
  const Json& object_;
  std::string prefix_;
  Status* status_;  // borrowed; the first problem found
  std::set<std::string> seen_;
};

StatusOr<Json> ParseObject(std::string_view text, std::string_view what) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return InvalidArgumentError(Cat(what, ": not valid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return InvalidArgumentError(
        Cat(what, ": the top level must be an object, got ", root.type_name()));
  }
  return root;
}

bool IsProfileName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

Status CheckName(std::string_view key, const std::string& name) {
  if (!IsProfileName(name)) {
    return InvalidArgumentError(
        Cat(Key(key), " = \"", name, "\" is not a profile name ([a-z0-9][a-z0-9._-]*)"));
  }
  return Status::Ok();
}

// Range checks that name the key.
class RangeChecker {
 public:
  void AtLeast(std::string_view key, double value, double min) {
    if (!std::isfinite(value) || value < min) Fail(Cat(Key(key), " = ", value, " is below ", min));
  }
  void Positive(std::string_view key, double value) {
    if (!std::isfinite(value) || value <= 0) Fail(Cat(Key(key), " = ", value, " must be > 0"));
  }
  void Within(std::string_view key, double value, double lo, double hi) {
    if (!std::isfinite(value) || value < lo || value > hi) {
      Fail(Cat(Key(key), " = ", value, " is outside ", lo, "..", hi));
    }
  }
  void Shares(std::string_view key, const std::vector<std::pair<std::string, double>>& shares) {
    if (shares.empty()) {
      Fail(Cat(Key(key), " names no rail"));
      return;
    }
    double sum = 0;
    for (const auto& [rail, share] : shares) {
      Within(Cat(key, ".", rail), share, 0, 1);
      sum += share;
    }
    if (std::abs(sum - 1.0) > 1e-6) Fail(Cat(Key(key), " shares sum to ", sum, ", not 1"));
  }
  void Fail(const std::string& what) {
    if (status.ok()) status = InvalidArgumentError(what);
  }
  Status status;
};

StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UnavailableError(Cat("cannot read ", path));
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxProfileBytes) {
      return InvalidArgumentError(Cat(path, ": larger than ", kMaxProfileBytes, " bytes"));
    }
  }
  return text;
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

template <typename Profile>
StatusOr<Profile> LoadProfile(std::string_view kind, std::string_view name,
                              StatusOr<Profile> (*parse)(std::string_view)) {
  if (!IsProfileName(name)) {
    return InvalidArgumentError(
        Cat(kind, " profile name \"", name, "\" is not of the form [a-z0-9][a-z0-9._-]*"));
  }
  std::string file = Cat(kind, "-", name, ".json");
  std::vector<std::string> searched;
  for (const std::string& dir : ProfileSearchPath()) {
    std::string path = Cat(dir, "/", file);
    searched.push_back(dir);
    if (!IsRegularFile(path)) continue;
    SPK_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
    StatusOr<Profile> profile = parse(text);
    if (!profile.ok()) return profile.status().WithContext(path);
    if (profile->name != name) {
      return InvalidArgumentError(Cat(path, ": ", Key("name"), " = \"", profile->name,
                                      "\" does not match the file name's \"", name, "\""));
    }
    return profile;
  }
  std::string where;
  for (const std::string& dir : searched) where += (where.empty() ? "" : ", ") + dir;
  return NotFoundError(Cat(kind, " profile \"", name, "\" not found: no ", file, " in ", where,
                           " (set SPK_PROFILE_DIR to add a directory)"));
}

}  // namespace

Status ValidateChipProfile(const ChipProfile& p) {
  SPK_RETURN_IF_ERROR(CheckName("name", p.name));
  RangeChecker c;
  c.AtLeast("cores_per_chip", p.cores_per_chip, 1);
  c.AtLeast("mesh_width", p.mesh_width, 1);
  c.AtLeast("mesh_height", p.mesh_height, 1);
  if (c.status.ok() && uint64_t{p.mesh_width} * p.mesh_height < p.cores_per_chip) {
    c.Fail(Cat("keys \"mesh_width\" x \"mesh_height\" = ", p.mesh_width, " x ", p.mesh_height,
               " cannot hold \"cores_per_chip\" = ", p.cores_per_chip));
  }
  c.AtLeast("core.neurons", p.core.neurons, 1);
  c.AtLeast("core.synapse_memory_bits", static_cast<double>(p.core.synapse_memory_bits), 1);
  c.AtLeast("core.input_axons", p.core.input_axons, 1);
  c.AtLeast("core.output_axons", p.core.output_axons, 1);
  c.AtLeast("core.synapse_bits_dense", p.core.synapse_bits_dense, 1);
  c.AtLeast("core.synapse_bits_sparse", p.core.synapse_bits_sparse, 1);
  const TimingModel& t = p.timing;
  c.Positive("timing.clock_mhz", t.clock_mhz);
  c.AtLeast("timing.synaptic_op_ns", t.synaptic_op_ns, 0);
  c.AtLeast("timing.neuron_update_ns", t.neuron_update_ns, 0);
  c.AtLeast("timing.spike_in_tile_ns", t.spike_in_tile_ns, 0);
  c.AtLeast("timing.hop_ns_east_west", t.hop_ns_east_west, 0);
  c.AtLeast("timing.hop_ns_north_south", t.hop_ns_north_south, 0);
  c.AtLeast("timing.chip_crossing_ns", t.chip_crossing_ns, 0);
  c.AtLeast("timing.barrier_ns", t.barrier_ns, 0);
  c.Positive("timing.host_link_bytes_per_s", t.host_link_bytes_per_s);
  c.AtLeast("timing.host_link_latency_ns", t.host_link_latency_ns, 0);
  const EnergyModel& e = p.energy;
  c.AtLeast("energy.synaptic_op_pj", e.synaptic_op_pj, 0);
  c.AtLeast("energy.neuron_update_active_pj", e.neuron_update_active_pj, 0);
  c.AtLeast("energy.neuron_update_inactive_pj", e.neuron_update_inactive_pj, 0);
  c.AtLeast("energy.spike_in_tile_pj", e.spike_in_tile_pj, 0);
  c.AtLeast("energy.hop_pj_east_west", e.hop_pj_east_west, 0);
  c.AtLeast("energy.hop_pj_north_south", e.hop_pj_north_south, 0);
  c.AtLeast("energy.chip_crossing_pj", e.chip_crossing_pj, 0);
  c.AtLeast("energy.barrier_pj", e.barrier_pj, 0);
  c.AtLeast("energy.host_link_pj_per_byte", e.host_link_pj_per_byte, 0);
  c.AtLeast("energy.static_power_w_per_chip", e.static_power_w_per_chip, 0);
  c.Shares("energy.dynamic_rail_share", e.dynamic_rail_share);
  c.Shares("energy.static_rail_share", e.static_rail_share);
  c.AtLeast("thermal_resistance_c_per_w", p.thermal_resistance_c_per_w, 0);
  c.Positive("thermal_time_constant_s", p.thermal_time_constant_s);
  c.Within("ambient_c", p.ambient_c, -50, 150);
  return c.status;
}

Status ValidateBoardProfile(const BoardProfile& p) {
  SPK_RETURN_IF_ERROR(CheckName("name", p.name));
  SPK_RETURN_IF_ERROR(CheckName("chip", p.chip));
  RangeChecker c;
  c.AtLeast("chips", p.chips, 1);
  c.AtLeast("chips_x", p.chips_x, 1);
  c.AtLeast("chips_y", p.chips_y, 1);
  if (c.status.ok() && uint64_t{p.chips_x} * p.chips_y != p.chips) {
    c.Fail(Cat("keys \"chips_x\" x \"chips_y\" = ", p.chips_x, " x ", p.chips_y,
               " is not \"chips\" = ", p.chips));
  }
  return c.status;
}

StatusOr<ChipProfile> ParseChipProfile(std::string_view json_text) {
  SPK_ASSIGN_OR_RETURN(Json root, ParseObject(json_text, "chip profile"));
  ChipProfile p;
  Status status;
  ObjectReader top(root, "", &status);
  top.String("name", &p.name);
  top.String("description", &p.description, /*required=*/false);
  top.U32("cores_per_chip", &p.cores_per_chip);
  top.U32("mesh_width", &p.mesh_width);
  top.U32("mesh_height", &p.mesh_height);
  if (const Json* core = top.Object("core")) {
    ObjectReader r(*core, "core", &status);
    r.U32("neurons", &p.core.neurons);
    r.U64("synapse_memory_bits", &p.core.synapse_memory_bits);
    r.U32("input_axons", &p.core.input_axons);
    r.U32("output_axons", &p.core.output_axons);
    r.U32("synapse_bits_dense", &p.core.synapse_bits_dense, /*required=*/false);
    r.U32("synapse_bits_sparse", &p.core.synapse_bits_sparse, /*required=*/false);
    r.Finish();
  }
  if (const Json* timing = top.Object("timing")) {
    ObjectReader r(*timing, "timing", &status);
    TimingModel& t = p.timing;
    r.Double("clock_mhz", &t.clock_mhz);
    r.Double("synaptic_op_ns", &t.synaptic_op_ns);
    r.Double("neuron_update_ns", &t.neuron_update_ns);
    r.Double("spike_in_tile_ns", &t.spike_in_tile_ns);
    r.Double("hop_ns_east_west", &t.hop_ns_east_west);
    r.Double("hop_ns_north_south", &t.hop_ns_north_south);
    r.Double("chip_crossing_ns", &t.chip_crossing_ns);
    r.Double("barrier_ns", &t.barrier_ns);
    r.Double("host_link_bytes_per_s", &t.host_link_bytes_per_s);
    r.Double("host_link_latency_ns", &t.host_link_latency_ns);
    r.Finish();
  }
  if (const Json* energy = top.Object("energy")) {
    ObjectReader r(*energy, "energy", &status);
    EnergyModel& e = p.energy;
    r.Double("synaptic_op_pj", &e.synaptic_op_pj);
    r.Double("neuron_update_active_pj", &e.neuron_update_active_pj);
    r.Double("neuron_update_inactive_pj", &e.neuron_update_inactive_pj);
    r.Double("spike_in_tile_pj", &e.spike_in_tile_pj);
    r.Double("hop_pj_east_west", &e.hop_pj_east_west);
    r.Double("hop_pj_north_south", &e.hop_pj_north_south);
    r.Double("chip_crossing_pj", &e.chip_crossing_pj);
    r.Double("barrier_pj", &e.barrier_pj);
    r.Double("host_link_pj_per_byte", &e.host_link_pj_per_byte);
    r.Double("static_power_w_per_chip", &e.static_power_w_per_chip);
    r.Shares("dynamic_rail_share", &e.dynamic_rail_share);
    r.Shares("static_rail_share", &e.static_rail_share);
    r.Finish();
  }
  top.Double("thermal_resistance_c_per_w", &p.thermal_resistance_c_per_w);
  top.Double("thermal_time_constant_s", &p.thermal_time_constant_s);
  top.Double("ambient_c", &p.ambient_c, /*required=*/false);
  top.Finish();
  if (!status.ok()) return status.WithContext("chip profile");
  Status valid = ValidateChipProfile(p);
  if (!valid.ok()) return valid.WithContext(Cat("chip profile \"", p.name, "\""));
  return p;
}

StatusOr<BoardProfile> ParseBoardProfile(std::string_view json_text) {
  SPK_ASSIGN_OR_RETURN(Json root, ParseObject(json_text, "board profile"));
  BoardProfile p;
  Status status;
  ObjectReader top(root, "", &status);
  top.String("name", &p.name);
  top.String("description", &p.description, /*required=*/false);
  top.String("chip", &p.chip);
  top.U32("chips", &p.chips);
  top.U32("chips_x", &p.chips_x);
  top.U32("chips_y", &p.chips_y);
  top.Finish();
  if (!status.ok()) return status.WithContext("board profile");
  Status valid = ValidateBoardProfile(p);
  if (!valid.ok()) return valid.WithContext(Cat("board profile \"", p.name, "\""));
  return p;
}

std::vector<std::string> ProfileSearchPath() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("SPK_PROFILE_DIR"); env != nullptr) {
    std::string_view list(env);
    while (!list.empty()) {
      size_t colon = list.find(':');
      std::string_view dir = list.substr(0, colon);
      if (!dir.empty()) dirs.emplace_back(dir);
      list = colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
    }
  }
#ifdef SPK_PROFILE_SOURCE_DIR
  dirs.emplace_back(SPK_PROFILE_SOURCE_DIR);
#endif
#ifdef SPK_PROFILE_INSTALL_DIR
  dirs.emplace_back(SPK_PROFILE_INSTALL_DIR);
#endif
  return dirs;
}

StatusOr<ChipProfile> LoadChipProfile(std::string_view name) {
  return LoadProfile<ChipProfile>("chip", name, &ParseChipProfile);
}

StatusOr<BoardProfile> LoadBoardProfile(std::string_view name) {
  return LoadProfile<BoardProfile>("board", name, &ParseBoardProfile);
}

}  // namespace spk::hal::format

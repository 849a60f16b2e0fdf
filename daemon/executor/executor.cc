#include "daemon/executor/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace spk::executor {
namespace {

using hal::format::BoardImage;
using hal::format::OutputSource;
using hal::format::SpikeKind;

constexpr int32_t kMaxPayload = (1 << 23) - 1;  // graded payloads are 24-bit signed

std::vector<int64_t> ToInt64(const std::vector<uint32_t>& v) {
  return std::vector<int64_t>(v.begin(), v.end());
}

int64_t Product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t d : v) p *= d;
  return p;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k) s += (k ? "," : "") + std::to_string(shape[k]);
  return s + "]";
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

StatusOr<std::unique_ptr<Executor>> Executor::Create(const BoardImage& image, hal::Device* device,
                                                     hal::ProgramId program) {
  if (device == nullptr) return InvalidArgumentError("executor needs a device");
  std::unique_ptr<Executor> e(new Executor(device, program));
  SPK_RETURN_IF_ERROR(e->Build(image));
  return e;
}

Status Executor::Build(const BoardImage& image) {
  timesteps_ = image.meta.timesteps;
  run_steps_ = image.meta.run_steps;
  if (timesteps_ == 0) return InvalidArgumentError("image declares 0 timesteps");

  std::map<std::string, uint32_t> ready;  // host value -> chip steps until its step 0 exists
  for (uint32_t i = 0; i < image.outputs.size(); ++i) {
    const auto& p = image.outputs[i];
    Port port{i,
              p.name,
              ToInt64(p.shape),
              Product(ToInt64(p.shape)),
              p.source == OutputSource::kSpikes,
              p.scale,
              p.delay,
              false};
    if (p.delay + timesteps_ > run_steps_) {
      return InvalidArgumentError("output port '" + p.name + "' has delay " +
                                  std::to_string(p.delay) + ", but the image runs only " +
                                  std::to_string(run_steps_) + " steps for " +
                                  std::to_string(timesteps_) + " timesteps");
    }
    if (!ready.emplace(p.name, p.delay).second) {
      return InvalidArgumentError("two output ports are named '" + p.name + "'");
    }
    max_delay_ = std::max(max_delay_, p.delay);
    out_ports_.push_back(port);
  }

  std::set<std::string> fed_by_host;
  for (const auto& s : image.host_segments) {
    for (const auto& o : s.outputs) fed_by_host.insert(o);
  }
  std::set<std::string> input_port_names;
  for (const auto& p : image.inputs) input_port_names.insert(p.name);
  // Model inputs first: they are ready at step 0.
  for (const auto& p : image.inputs) {
    if (!fed_by_host.count(p.name)) {
      ready[p.name] = 0;
      input_shapes_[p.name] = ToInt64(p.shape);
    }
  }

  std::set<std::string> consumed;
  for (const auto& s : image.host_segments) {
    SPK_ASSIGN_OR_RETURN(auto op, HostOp::Create(s));
    Segment seg;
    seg.op = std::move(op);
    seg.inputs = s.inputs;
    seg.output = s.outputs[0];
    for (const auto& in : s.inputs) {
      auto it = ready.find(in);
      if (it == ready.end()) {
        return InvalidArgumentError("host segment '" + s.name + "' reads '" + in +
                                    "', which is neither an output port, a model input nor the "
                                    "output of an earlier segment");
      }
      seg.ready = std::max(seg.ready, it->second);
      consumed.insert(in);
    }
    if (ready.count(seg.output)) {
      return InvalidArgumentError("host segment '" + s.name + "' writes '" + seg.output +
                                  "', which already exists");
    }
    ready[seg.output] = seg.ready;
    seg.after_run = !seg.op->pointwise_in_time();
    for (const auto& in : seg.inputs) {
      for (const auto& earlier : segments_) {
        if (earlier.output == in && earlier.after_run) seg.after_run = true;
      }
    }
    windowed_ = windowed_ || seg.after_run;
    segments_.push_back(std::move(seg));
  }

  for (uint32_t i = 0; i < image.inputs.size(); ++i) {
    const auto& p = image.inputs[i];
    Port port{i,
              p.name,
              ToInt64(p.shape),
              Product(ToInt64(p.shape)),
              p.kind == SpikeKind::kBinary,
              p.scale,
              0,
              fed_by_host.count(p.name) > 0};
    if (port.feedback) {
      const Segment* writer = nullptr;
      for (const auto& seg : segments_) {
        if (seg.output == p.name) writer = &seg;
      }
      if (writer->after_run) {
        return InvalidArgumentError("input port '" + p.name + "' is fed by host segment '" +
                                    writer->op->name() +
                                    "', which needs every timestep and so cannot run per step");
      }
      port.delay = writer->ready + 1;
      interleaved_ = true;
      consumed.insert(p.name);
    }
    in_ports_.push_back(port);
  }
  for (const auto& seg : segments_) {
    if (!consumed.count(seg.output)) output_names_.push_back(seg.output);
  }
  for (const auto& p : out_ports_) {
    if (!consumed.count(p.name)) output_names_.push_back(p.name);
  }
  if (output_names_.empty()) return InvalidArgumentError("the image produces no outputs");
  ProbeHostShapes();
  return Status();
}

void Executor::ProbeHostShapes() {
  // The image does not declare the shapes of host values; one pass of the
  // host program over zeros gives them. A failure only leaves them unknown.
  const int64_t T = timesteps_;
  std::map<std::string, HostValue> values;
  auto zeros = [&](const std::vector<int64_t>& shape) {
    HostValue v;
    v.timed = true;
    v.shape = {T};
    v.shape.insert(v.shape.end(), shape.begin(), shape.end());
    v.data.assign(static_cast<size_t>(Product(v.shape)), 0.0f);
    return v;
  };
  for (const Port& p : out_ports_) values[p.name] = zeros(p.shape);
  for (const Port& p : in_ports_) {
    if (!p.feedback) values[p.name] = zeros(p.shape);
  }
  for (const Segment& seg : segments_) {
    std::vector<const HostValue*> args;
    for (const auto& in : seg.inputs) {
      auto it = values.find(in);
      if (it == values.end()) return;
      args.push_back(&it->second);
    }
    auto out = seg.op->Apply(args);
    if (!out.ok()) return;
    values[seg.output] = std::move(out).value();
  }
  for (const Segment& seg : segments_) {
    const HostValue& v = values.at(seg.output);
    std::vector<int64_t> shape = v.shape;
    if (v.timed && !shape.empty()) shape.erase(shape.begin());
    host_output_shapes_[seg.output] = {v.timed, shape};
  }
}

std::vector<PortDesc> Executor::InputPorts() const {
  std::vector<PortDesc> out;
  for (const Port& p : in_ports_) {
    if (p.feedback) continue;
    out.push_back({p.name, static_cast<uint32_t>(out.size()), p.binary, true, p.shape});
  }
  return out;
}

std::vector<PortDesc> Executor::OutputPorts() const {
  std::vector<PortDesc> out;
  for (const std::string& name : output_names_) {
    PortDesc d{name, static_cast<uint32_t>(out.size()), false, true, {}};
    auto host = host_output_shapes_.find(name);
    if (host != host_output_shapes_.end()) {
      d.per_step = host->second.first;
      d.shape = host->second.second;
    }
    for (const Port& p : out_ports_) {
      if (p.name != name) continue;
      d.spikes = p.binary;
      d.shape = p.shape;
    }
    out.push_back(std::move(d));
  }
  return out;
}

StatusOr<HostValue> Executor::CheckInput(const std::map<std::string, HostValue>& inputs,
                                         const std::string& name, bool allow_timed) const {
  auto it = inputs.find(name);
  if (it == inputs.end()) return InvalidArgumentError("missing input '" + name + "'");
  const HostValue& v = it->second;
  const auto& shape = input_shapes_.at(name);
  int64_t per_step = Product(shape);
  if (static_cast<int64_t>(v.data.size()) != v.num_elements()) {
    return InvalidArgumentError("input '" + name + "' holds " + std::to_string(v.data.size()) +
                                " values for shape " + ShapeText(v.shape));
  }
  if (v.timed) {
    if (!allow_timed) return InvalidArgumentError("input '" + name + "' must be one timestep");
    if (v.shape.empty() || v.shape[0] != timesteps_ || v.num_elements() != per_step * timesteps_) {
      return InvalidArgumentError("input '" + name + "' has shape " + ShapeText(v.shape) +
                                  "; expected [" + std::to_string(timesteps_) + "] + " +
                                  ShapeText(shape));
    }
  } else if (v.num_elements() != per_step) {
    return InvalidArgumentError("input '" + name + "' has shape " + ShapeText(v.shape) +
                                "; expected " + ShapeText(shape));
  }
  return v;
}

StatusOr<std::vector<int32_t>> Executor::Encode(const Port& port, const HostValue& value,
                                                int64_t step) const {
  std::vector<int32_t> out(static_cast<size_t>(port.size));
  size_t base = value.timed ? static_cast<size_t>(step * port.size) : 0;
  for (size_t i = 0; i < out.size(); ++i) {
    float x = value.data[base + i];
    if (!std::isfinite(x)) {
      return InvalidArgumentError("input '" + port.name + "' holds NaN or infinity at element " +
                                  std::to_string(i));
    }
    if (port.binary) {
      if (x != 0.0f && x != 1.0f) {
        return InvalidArgumentError("input '" + port.name + "' takes spikes (0 or 1), got " +
                                    std::to_string(x) + " at element " + std::to_string(i));
      }
      out[i] = static_cast<int32_t>(x);
    } else {
      double q = std::nearbyint(static_cast<double>(x) * port.scale);
      out[i] = static_cast<int32_t>(std::clamp<double>(q, -kMaxPayload, kMaxPayload));
    }
  }
  return out;
}

void Executor::AddStats(hal::RunStats& total, const hal::RunStats& add) {
  total.steps += add.steps;
  total.synaptic_ops += add.synaptic_ops;
  total.neuron_updates += add.neuron_updates;
  total.spikes += add.spikes;
  total.hops += add.hops;
  total.host_bytes += add.host_bytes;
  total.chip_time_s += add.chip_time_s;
  total.host_link_time_s += add.host_link_time_s;
  total.dynamic_energy_j += add.dynamic_energy_j;
  total.static_energy_j += add.static_energy_j;
  auto sum = [](std::vector<double>& into, const std::vector<double>& from) {
    if (into.size() < from.size()) into.resize(from.size(), 0.0);
    for (size_t k = 0; k < from.size(); ++k) into[k] += from[k];
  };
  sum(total.core_dynamic_energy_j, add.core_dynamic_energy_j);
  sum(total.core_time_s, add.core_time_s);
}

StatusOr<InferenceResult> Executor::Infer(const std::map<std::string, HostValue>& inputs) {
  std::map<std::string, HostValue> values;
  for (const auto& [name, shape] : input_shapes_) {
    SPK_ASSIGN_OR_RETURN(values[name], CheckInput(inputs, name, /*allow_timed=*/true));
  }
  for (const auto& [name, v] : inputs) {
    if (!input_shapes_.count(name)) {
      return InvalidArgumentError("the model has no input named '" + name + "'");
    }
  }
  SPK_RETURN_IF_ERROR(device_->ResetState(program_));

  InferenceResult result;
  double host_s = 0;
  const int64_t T = timesteps_;
  // Timelines [T, ...] for chip outputs and per-step host values.
  auto timeline = [&](const std::string& name, const std::vector<int64_t>& step_shape) {
    HostValue& v = values[name];
    v.timed = true;
    v.shape = {T};
    v.shape.insert(v.shape.end(), step_shape.begin(), step_shape.end());
    v.data.assign(static_cast<size_t>(Product(v.shape)), 0.0f);
    return &v;
  };
  auto read_outputs = [&](int64_t first_chip_step, int64_t steps) -> Status {
    for (const Port& p : out_ports_) {
      SPK_ASSIGN_OR_RETURN(auto raw, device_->ReadOutputs(program_, p.index));
      if (static_cast<int64_t>(raw.size()) != steps * p.size) {
        return InternalError("device returned " + std::to_string(raw.size()) +
                             " values for output port '" + p.name + "', expected " +
                             std::to_string(steps * p.size));
      }
      HostValue& v = values[p.name];
      for (int64_t s = 0; s < steps; ++s) {
        int64_t t = first_chip_step + s - p.delay;
        if (t < 0 || t >= T) continue;
        for (int64_t i = 0; i < p.size; ++i) {
          int32_t q = raw[static_cast<size_t>(s * p.size + i)];
          v.data[static_cast<size_t>(t * p.size + i)] =
              p.binary ? static_cast<float>(q != 0) : static_cast<float>(q) * p.scale;
        }
      }
    }
    return Status();
  };
  for (const Port& p : out_ports_) timeline(p.name, p.shape);

  auto run_segment = [&](const Segment& seg, std::optional<int64_t> step) -> Status {
    std::vector<HostValue> slices;
    std::vector<const HostValue*> args;
    slices.reserve(seg.inputs.size());
    for (const auto& in : seg.inputs) {
      const HostValue& v = values.at(in);
      if (step && v.timed) {
        slices.push_back(v.Step(*step));
        args.push_back(&slices.back());
      } else {
        args.push_back(&v);
      }
    }
    auto start = std::chrono::steady_clock::now();
    SPK_ASSIGN_OR_RETURN(HostValue out, seg.op->Apply(args));
    host_s += Seconds(std::chrono::steady_clock::now() - start);
    if (!step) {
      values[seg.output] = std::move(out);
      return Status();
    }
    auto it = values.find(seg.output);
    if (it == values.end()) {
      std::vector<int64_t> step_shape(out.shape.begin() + 1, out.shape.end());
      timeline(seg.output, step_shape);
      it = values.find(seg.output);
    }
    int64_t n = out.num_elements();
    if (n * T != it->second.num_elements()) {
      return InternalError("host segment '" + seg.op->name() + "' changed shape between steps");
    }
    std::copy(out.data.begin(), out.data.end(), it->second.data.begin() + *step * n);
    return Status();
  };

  std::set<const Segment*> done;
  if (!interleaved_) {
    for (const Port& p : in_ports_) {
      std::vector<int32_t> all;
      all.reserve(static_cast<size_t>(T * p.size));
      for (int64_t t = 0; t < T; ++t) {
        SPK_ASSIGN_OR_RETURN(auto step, Encode(p, values.at(p.name), t));
        all.insert(all.end(), step.begin(), step.end());
      }
      SPK_RETURN_IF_ERROR(device_->WriteInputs(program_, p.index, static_cast<uint32_t>(T), all));
    }
    SPK_ASSIGN_OR_RETURN(result.chip, device_->Run(program_, run_steps_));
    SPK_RETURN_IF_ERROR(read_outputs(0, run_steps_));
  } else {
    for (int64_t s = 0; s < run_steps_; ++s) {
      for (const Port& p : in_ports_) {
        int64_t t = s - p.delay;
        if (t < 0 || t >= T) continue;
        SPK_ASSIGN_OR_RETURN(auto step, Encode(p, values.at(p.name), t));
        SPK_RETURN_IF_ERROR(device_->WriteInputs(program_, p.index, 1, step));
      }
      SPK_ASSIGN_OR_RETURN(auto stats, device_->Run(program_, 1));
      AddStats(result.chip, stats);
      SPK_RETURN_IF_ERROR(read_outputs(s, 1));
      for (const Segment& seg : segments_) {
        int64_t t = s - seg.ready;
        if (seg.after_run || t < 0 || t >= T) continue;
        SPK_RETURN_IF_ERROR(run_segment(seg, t));
        done.insert(&seg);
      }
    }
  }
  for (const Segment& seg : segments_) {
    if (!done.count(&seg)) SPK_RETURN_IF_ERROR(run_segment(seg, std::nullopt));
  }
  for (const auto& name : output_names_) result.outputs[name] = values.at(name);
  for (const Port& p : out_ports_) result.ports[p.name] = values.at(p.name);
  result.host_compute_s = host_s;
  result.latency_s = result.chip.chip_time_s + result.chip.host_link_time_s + host_s;
  result.energy_j = result.chip.dynamic_energy_j + result.chip.static_energy_j;
  return result;
}

bool Executor::SpikePort(const std::string& name) const {
  for (const Port& p : out_ports_) {
    if (p.name == name) return p.binary;
  }
  return false;
}

Status Executor::StreamReset() {
  stream_chip_step_ = 0;
  stream_values_.clear();
  stream_steps_ = 0;
  window_.clear();
  return device_->ResetState(program_);
}

StatusOr<std::vector<StreamStep>> Executor::StreamWindow(hal::RunStats* stats) {
  const int64_t T = timesteps_;
  const int64_t first = stream_steps_ - T;
  auto result = Infer(window_);
  window_.clear();
  if (!result.ok()) return result.status();
  if (stats != nullptr) AddStats(*stats, result->chip);
  std::vector<StreamStep> steps(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) steps[static_cast<size_t>(t)].step = first + t;
  for (auto& [name, value] : result->outputs) {
    if (!value.timed) {
      steps.back().outputs[name] = std::move(value);
      continue;
    }
    for (int64_t t = 0; t < T; ++t) {
      HostValue v = value.Step(t);
      v.timed = false;
      v.shape.erase(v.shape.begin());
      steps[static_cast<size_t>(t)].outputs[name] = std::move(v);
    }
  }
  std::erase_if(steps, [](const StreamStep& s) { return s.outputs.empty(); });
  return steps;
}

StatusOr<std::vector<StreamStep>> Executor::StreamPush(
    const std::map<std::string, HostValue>& inputs, hal::RunStats* stats) {
  std::map<std::string, HostValue> step_inputs;
  for (const auto& [name, shape] : input_shapes_) {
    SPK_ASSIGN_OR_RETURN(step_inputs[name], CheckInput(inputs, name, /*allow_timed=*/false));
  }
  if (windowed_) {
    // Gather the window as timed inputs; Infer checks the values.
    const int64_t T = timesteps_;
    const int64_t t = stream_steps_ % T;
    for (auto& [name, v] : step_inputs) {
      HostValue& w = window_[name];
      if (t == 0) {
        w.timed = true;
        w.shape = {T};
        w.shape.insert(w.shape.end(), v.shape.begin(), v.shape.end());
        w.data.clear();
        w.data.reserve(v.data.size() * static_cast<size_t>(T));
      }
      w.data.insert(w.data.end(), v.data.begin(), v.data.end());
    }
    ++stream_steps_;
    if (t + 1 < T) return std::vector<StreamStep>{};
    return StreamWindow(stats);
  }
  const int64_t s = stream_chip_step_;
  for (const Port& p : in_ports_) {
    const HostValue* v = nullptr;
    int64_t t = s - p.delay;
    if (!p.feedback) {
      v = &step_inputs.at(p.name);
    } else {
      auto it = stream_values_[p.name].find(t);
      if (it == stream_values_[p.name].end()) continue;
      v = &it->second;
    }
    SPK_ASSIGN_OR_RETURN(auto encoded, Encode(p, *v, 0));
    SPK_RETURN_IF_ERROR(device_->WriteInputs(program_, p.index, 1, encoded));
  }
  SPK_ASSIGN_OR_RETURN(auto run, device_->Run(program_, 1));
  if (stats != nullptr) AddStats(*stats, run);
  ++stream_chip_step_;

  std::set<int64_t> touched;
  for (const Port& p : out_ports_) {
    SPK_ASSIGN_OR_RETURN(auto raw, device_->ReadOutputs(program_, p.index));
    int64_t t = s - p.delay;
    if (t < 0) continue;
    HostValue v;
    v.timed = true;
    v.shape = {1};
    v.shape.insert(v.shape.end(), p.shape.begin(), p.shape.end());
    v.data.resize(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      v.data[i] = p.binary ? static_cast<float>(raw[i] != 0) : static_cast<float>(raw[i]) * p.scale;
    }
    stream_values_[p.name][t] = std::move(v);
    touched.insert(t);
  }
  for (const Segment& seg : segments_) {
    int64_t t = s - seg.ready;
    if (seg.after_run || t < 0) continue;
    std::vector<const HostValue*> args;
    bool complete = true;
    for (const auto& in : seg.inputs) {
      auto& series = stream_values_[in];
      auto it = series.find(t);
      if (it == series.end()) {
        complete = false;
        break;
      }
      args.push_back(&it->second);
    }
    if (!complete) continue;
    SPK_ASSIGN_OR_RETURN(HostValue out, seg.op->Apply(args));
    stream_values_[seg.output][t] = std::move(out);
  }

  // A model step is complete once every output port has it.
  std::vector<StreamStep> done;
  int64_t complete_step = s - static_cast<int64_t>(max_delay_);
  if (complete_step >= 0) {
    StreamStep step;
    step.step = complete_step;
    for (auto& [name, series] : stream_values_) {
      auto it = series.find(complete_step);
      if (it == series.end()) continue;
      HostValue v = it->second;
      v.timed = false;
      v.shape.erase(v.shape.begin());
      step.outputs[name] = std::move(v);
    }
    done.push_back(std::move(step));
    // Values older than any pending reader are no longer needed.
    for (auto& [name, series] : stream_values_) {
      series.erase(series.begin(), series.lower_bound(complete_step - 1));
    }
  }
  return done;
}

}  // namespace spk::executor

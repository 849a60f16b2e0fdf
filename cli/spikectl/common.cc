#include "cli/spikectl/common.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "cli/spikectl/output.h"

namespace spk::spikectl {

std::optional<std::string> Args::Value(const std::string& name) const {
  const auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

StatusOr<std::optional<uint64_t>> Args::Uint(const std::string& name, uint64_t min,
                                             uint64_t max) const {
  const auto text = Value(name);
  if (!text) return std::optional<uint64_t>();
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text->c_str(), &end, 10);
  if (text->empty() || (*text)[0] == '-' || errno != 0 || *end != '\0' || v < min || v > max) {
    return InvalidArgumentError("--" + name + " must be an integer in " + std::to_string(min) +
                                ".." + std::to_string(max) + ", got '" + *text + "'");
  }
  return std::optional<uint64_t>(v);
}

StatusOr<std::optional<double>> Args::Seconds(const std::string& name) const {
  const auto text = Value(name);
  if (!text) return std::optional<double>();
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  std::string unit = end;
  double scale = 1;
  if (unit == "ms")
    scale = 1e-3;
  else if (unit == "m" || unit == "min")
    scale = 60;
  else if (unit != "" && unit != "s")
    scale = -1;
  if (end == text->c_str() || scale < 0 || !std::isfinite(v) || v < 0) {
    return InvalidArgumentError("--" + name + " must be a duration such as 2, 2s or 500ms, got '" +
                                *text + "'");
  }
  return std::optional<double>(v * scale);
}

StatusOr<Args> ParseArgs(const std::vector<std::string>& argv,
                         const std::set<std::string>& value_flags,
                         const std::set<std::string>& switch_flags) {
  Args args;
  bool only_positional = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_positional || a == "-" || a.size() < 2 || a[0] != '-') {
      args.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (value_flags.count(name)) {
      if (!value) {
        if (i + 1 >= argv.size()) return InvalidArgumentError(a + " needs a value");
        value = argv[++i];
      }
      args.values[name] = *value;
    } else if (switch_flags.count(name)) {
      if (value) return InvalidArgumentError("--" + name + " takes no value");
      args.switches.insert(name);
    } else {
      return InvalidArgumentError("unknown flag " + a);
    }
  }
  return args;
}

StatusOr<std::unique_ptr<client::Client>> Context::Connect(const std::string& client_name) const {
  client::ConnectOptions options;
  options.socket = socket;
  options.timeout = timeout;
  options.client_name = client_name.empty() ? std::string("spikectl ") + kVersion : client_name;
  return client::Client::Connect(options);
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitFailed;
    case StatusCode::kUnavailable:
      return kExitUnreachable;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kPermissionDenied:
      return kExitPermission;
    case StatusCode::kFailedPrecondition:
      return kExitNotReady;
    case StatusCode::kDeadlineExceeded:
      return kExitTimeout;
    default:
      return kExitFailed;
  }
}

std::string HintFor(const Status& status, const std::string& verb) {
  const std::string message(status.message());
  switch (status.code()) {
    case StatusCode::kUnavailable:
      if (message.find("cannot connect") != std::string::npos) {
        return "is spiked running? start it (systemctl start spiked, or run spiked), or point "
               "--socket or $SPIKED_SERVER_SOCKET at its socket; `spikectl doctor` checks";
      }
      return "the daemon or a board is busy or gone; retry, and see `spikectl health`";
    case StatusCode::kPermissionDenied:
      if (message.find("cannot connect") != std::string::npos) {
        return "the socket's mode or group keeps you out; ask an administrator to add you to "
               "its group (server.socket_group), then log in again";
      }
      return "write operations need membership in the daemon's authorised group (usually "
             "'spiked'): sudo usermod -aG spiked $USER, then log in again";
    case StatusCode::kNotFound:
      if (verb == "describe" || verb == "undeploy" || verb == "infer" || verb == "measure" ||
          verb == "stream" || verb == "health") {
        return "`spikectl ls` lists the deployments";
      }
      if (verb == "telemetry") return "`spikectl boards` lists the boards";
      return "";
    case StatusCode::kAlreadyExists:
      return "pass --replace to replace it, or --name to pick another name";
    case StatusCode::kResourceExhausted:
      return "free cores with `spikectl undeploy NAME`, or see `spikectl boards`";
    case StatusCode::kFailedPrecondition:
      return "`spikectl health` and `spikectl doctor` say what is wrong";
    case StatusCode::kDeadlineExceeded:
      return "raise --timeout, or see `spikectl health`";
    case StatusCode::kInternal:
      return "this is a bug in spiked; please report it with the daemon's log";
    default:
      return "";
  }
}

int Fail(const Context& ctx, const std::string& verb, const Status& status,
         const nlohmann::json& details, int exit_code) {
  const std::string hint = HintFor(status, verb);
  *ctx.err << "spikectl " << verb << ": error: " << status.message() << " ("
           << StatusCodeName(status.code()) << ")\n";
  if (!details.is_null()) {
    // Diagnostics and violations are lists; show each, not only the first.
    for (const char* key : {"diagnostics", "violations"}) {
      if (!details.contains(key) || !details[key].is_array()) continue;
      for (const auto& item : details[key]) *ctx.err << "  " << item.dump() << "\n";
    }
  }
  if (!hint.empty()) *ctx.err << "hint: " << hint << "\n";
  const int code = exit_code >= 0 ? exit_code : ExitCodeFor(status);
  if (ctx.json) {
    nlohmann::json error = {{"code", std::string(StatusCodeName(status.code()))},
                            {"message", std::string(status.message())}};
    if (!details.is_null()) error["details"] = details;
    if (!hint.empty()) error["hint"] = hint;
    PrintJson(*ctx.out, {{"error", error}, {"exit_code", code}});
  }
  return code;
}

int UsageError(const Context& ctx, const std::string& verb, const std::string& message) {
  *ctx.err << "spikectl " << verb << ": " << message << "\n"
           << "hint: spikectl " << verb << " --help\n";
  if (ctx.json) {
    PrintJson(*ctx.out, {{"error", {{"code", "INVALID_ARGUMENT"}, {"message", message}}},
                         {"exit_code", static_cast<int>(kExitUsage)}});
  }
  return kExitUsage;
}

}  // namespace spk::spikectl

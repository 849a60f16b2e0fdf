#include "daemon/config/config.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <type_traits>

#include "base/check.h"
#include "daemon/config/values.h"
#include "daemon/protocol/frame.h"

extern char** environ;

namespace spk::daemon {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr size_t kMaxConfigFileBytes = 1 << 20;
// sun_path holds the path and its terminating NUL.
constexpr size_t kMaxSocketPathBytes = sizeof(sockaddr_un::sun_path) - 1;
constexpr size_t kMaxPathBytes = 4095;

// A key: its description, its default on a host, and how its text is read
// into and printed from a DaemonConfig.
struct KeySpec {
  KeyInfo info;
  std::function<std::string(const HostContext&)> default_value;
  // Parses and stores; the error says what was wrong, without source or key.
  std::function<Status(std::string_view, DaemonConfig&)> set;
  std::function<std::string(const DaemonConfig&)> get;
};

std::function<std::string(const HostContext&)> Fixed(std::string value) {
  return [value](const HostContext&) { return value; };
}

// Field accessors are generic lambdas `[](auto& c) -> auto& { ... }`, so one
// serves both the setter and the const getter.
template <typename Field>
KeySpec UintKey(KeyInfo info, uint64_t fallback, uint64_t min, uint64_t max, Field field) {
  return {info, Fixed(std::to_string(fallback)),
          [=](std::string_view text, DaemonConfig& c) -> Status {
            SPK_ASSIGN_OR_RETURN(uint64_t value, ParseUint(text, min, max));
            field(c) = static_cast<std::remove_reference_t<decltype(field(c))>>(value);
            return Status::Ok();
          },
          [=](const DaemonConfig& c) { return std::to_string(field(c)); }};
}

template <typename Field>
KeySpec SizeKey(KeyInfo info, uint64_t fallback, uint64_t min, uint64_t max, Field field) {
  return {info, Fixed(FormatSize(fallback)),
          [=](std::string_view text, DaemonConfig& c) -> Status {
            SPK_ASSIGN_OR_RETURN(field(c), ParseSize(text, min, max));
            return Status::Ok();
          },
          [=](const DaemonConfig& c) { return FormatSize(field(c)); }};
}

template <typename Field>
KeySpec DurationKey(KeyInfo info, milliseconds fallback, milliseconds min, milliseconds max,
                    Field field) {
  return {info, Fixed(FormatDuration(fallback)),
          [=](std::string_view text, DaemonConfig& c) -> Status {
            SPK_ASSIGN_OR_RETURN(field(c), ParseDuration(text, min, max));
            return Status::Ok();
          },
          [=](const DaemonConfig& c) { return FormatDuration(field(c)); }};
}

template <typename Field>
KeySpec BoolKey(KeyInfo info, bool fallback, Field field) {
  return {info, Fixed(FormatBool(fallback)),
          [=](std::string_view text, DaemonConfig& c) -> Status {
            SPK_ASSIGN_OR_RETURN(field(c), ParseBool(text));
            return Status::Ok();
          },
          [=](const DaemonConfig& c) { return FormatBool(field(c)); }};
}

// A string key whose text is checked by `parse` and stored as returned.
template <typename Parse, typename Field>
KeySpec TextKey(KeyInfo info, std::function<std::string(const HostContext&)> fallback, Parse parse,
                Field field) {
  return {info, std::move(fallback),
          [=](std::string_view text, DaemonConfig& c) -> Status {
            SPK_ASSIGN_OR_RETURN(field(c), parse(text));
            return Status::Ok();
          },
          [=](const DaemonConfig& c) { return std::string(field(c)); }};
}

template <typename Field>
KeySpec UsbIdKey(KeyInfo info, uint16_t fallback, Field field) {
  return {info, Fixed(FormatUsbId(fallback)),
          [=](std::string_view text, DaemonConfig& c) -> Status {
            SPK_ASSIGN_OR_RETURN(field(c), ParseUsbId(text));
            return Status::Ok();
          },
          [=](const DaemonConfig& c) { return FormatUsbId(field(c)); }};
}

std::string DefaultStateDir(const HostContext& host) {
  const std::string state_directory = protocol::AbsoluteDirFromEnv(host.env, "STATE_DIRECTORY");
  if (!state_directory.empty()) return state_directory;
  const bool system_service =
      protocol::UnderSystemd(host.env) && host.Get("XDG_RUNTIME_DIR").empty();
  if (host.uid == 0 || system_service) return "/var/lib/spiked";
  const std::string xdg_state = protocol::AbsoluteDirFromEnv(host.env, "XDG_STATE_HOME");
  if (!xdg_state.empty()) return xdg_state + "/spiked";
  if (!host.home.empty() && host.home.front() == '/' && host.home != "/") {
    return host.home + "/.local/state/spiked";
  }
  return protocol::PrivateTmpDir(host.uid) + "/state";
}

const std::vector<KeySpec>& Specs() {
  static const std::vector<KeySpec>* const specs = new std::vector<KeySpec>{
      // [server]
      TextKey(
          {"server.socket", "path", false, "Unix socket the daemon listens on"},
          [](const HostContext& host) { return protocol::DefaultSocketPath(host.env, host.uid); },
          [](std::string_view text) { return ParseAbsolutePath(text, kMaxSocketPathBytes); },
          [](auto& c) -> auto& { return c.server.socket; }),
      {{"server.socket_mode", "mode", false, "permission bits of the socket"},
       Fixed("0660"),
       [](std::string_view text, DaemonConfig& c) -> Status {
         SPK_ASSIGN_OR_RETURN(c.server.socket_mode, ParseSocketMode(text));
         return Status::Ok();
       },
       [](const DaemonConfig& c) { return FormatMode(c.server.socket_mode); }},
      TextKey(
          {"server.socket_group", "group", false,
           "group owning the socket; empty: the daemon's primary group"},
          Fixed(""), [](std::string_view text) { return ParseGroupName(text, true); },
          [](auto& c) -> auto& { return c.server.socket_group; }),
      TextKey(
          {"server.authorised_group", "group", true,
           "members may deploy, undeploy, infer and stream"},
          Fixed("spiked"), [](std::string_view text) { return ParseGroupName(text, true); },
          [](auto& c) -> auto& { return c.server.authorised_group; }),
      UintKey(
          {"server.max_connections", "integer", true, "connections served at once"}, 256, 1, 65536,
          [](auto& c) -> auto& { return c.server.max_connections; }),
      UintKey(
          {"server.max_requests_in_flight", "integer", true, "unanswered requests per connection"},
          64, 1, 4096, [](auto& c) -> auto& { return c.server.max_requests_in_flight; }),
      SizeKey(
          {"server.max_frame_size", "size", true, "largest frame payload accepted"},
          protocol::kDefaultFrameLimit, protocol::kMinFrameLimit, protocol::kMaxFrameLimit,
          [](auto& c) -> auto& { return c.server.max_frame_size; }),
      SizeKey(
          {"server.max_message_size", "size", true,
           "largest request with its attachments (model uploads)"},
          256ull << 20, protocol::kMinFrameLimit, 64ull << 30,
          [](auto& c) -> auto& { return c.server.max_message_size; }),
      DurationKey(
          {"server.session_idle_timeout", "duration", true,
           "streaming sessions idle this long are closed; 0: never"},
          minutes(5), milliseconds(0), hours(24 * 7),
          [](auto& c) -> auto& { return c.server.session_idle_timeout; }),
      // [state]
      TextKey(
          {"state.dir", "path", false, "state database, artifact cache and logs of compiles"},
          DefaultStateDir,
          [](std::string_view text) { return ParseAbsolutePath(text, kMaxPathBytes); },
          [](auto& c) -> auto& { return c.state.dir; }),
      DurationKey(
          {"state.history_retention", "duration", true,
           "how long the audit log and past deployments are kept"},
          hours(24 * 90), seconds(1), hours(24 * 3650),
          [](auto& c) -> auto& { return c.state.history_retention; }),
      // [log]
      TextKey(
          {"log.level", "choice", true, "trace, debug, info, warn, error, critical or off"},
          Fixed("info"),
          [](std::string_view text) {
            return ParseChoice(text,
                               {"trace", "debug", "info", "warn", "error", "critical", "off"});
          },
          [](auto& c) -> auto& { return c.log.level; }),
      {{"log.format", "choice", false, "text or json (one JSON object per line)"},
       Fixed("text"),
       [](std::string_view text, DaemonConfig& c) -> Status {
         SPK_ASSIGN_OR_RETURN(std::string name, ParseChoice(text, {"text", "json"}));
         c.log.format = name == "json" ? LogFormat::kJson : LogFormat::kText;
         return Status::Ok();
       },
       [](const DaemonConfig& c) {
         return std::string(c.log.format == LogFormat::kJson ? "json" : "text");
       }},
      // [metrics]
      BoolKey(
          {"metrics.enabled", "bool", false, "serve Prometheus metrics over HTTP"}, true,
          [](auto& c) -> auto& { return c.metrics.enabled; }),
      TextKey(
          {"metrics.bind", "address", false, "address of the metrics endpoint"}, Fixed("127.0.0.1"),
          ParseIpAddress, [](auto& c) -> auto& { return c.metrics.bind; }),
      UintKey(
          {"metrics.port", "port", false, "TCP port of the metrics endpoint"}, 9477, 1, 65535,
          [](auto& c) -> auto& { return c.metrics.port; }),
      // [compile]
      TextKey(
          {"compile.command", "path", true,
           "model compiler run for each deploy; empty: spk-compile next to spiked"},
          Fixed(""),
          [](std::string_view text) -> StatusOr<std::string> {
            if (text.empty()) return std::string();
            return ParseAbsolutePath(text, kMaxPathBytes);
          },
          [](auto& c) -> auto& { return c.compile.command; }),
      SizeKey(
          {"compile.memory_limit", "size", true, "address space of a compiler process"}, 6ull << 30,
          256ull << 20, 1ull << 40, [](auto& c) -> auto& { return c.compile.memory_limit; }),
      DurationKey(
          {"compile.cpu_limit", "duration", true, "CPU time of a compiler process"}, minutes(10),
          seconds(1), hours(24 * 7), [](auto& c) -> auto& { return c.compile.cpu_limit; }),
      SizeKey(
          {"compile.output_limit", "size", true, "largest board image a compile may write"},
          1ull << 30, 1ull << 20, 64ull << 30,
          [](auto& c) -> auto& { return c.compile.output_limit; }),
      DurationKey(
          {"compile.timeout", "duration", true, "wall-clock time of a compile"}, minutes(15),
          seconds(1), hours(24 * 7), [](auto& c) -> auto& { return c.compile.timeout; }),
      UintKey(
          {"compile.jobs", "integer", false, "compiles run at once; only 1 for now"}, 1, 1, 64,
          [](auto& c) -> auto& { return c.compile.jobs; }),
      // [cache]
      SizeKey(
          {"cache.max_size", "size", true, "artifact cache bound; 0: no cache"}, 4ull << 30, 0,
          16ull << 40, [](auto& c) -> auto& { return c.cache.max_size; }),
      // [telemetry]
      DurationKey(
          {"telemetry.period", "duration", true, "time between telemetry samples"}, seconds(1),
          milliseconds(100), hours(1), [](auto& c) -> auto& { return c.telemetry.period; }),
      DurationKey(
          {"telemetry.retention", "duration", true, "how long samples are kept"}, hours(24),
          minutes(1), hours(24 * 365), [](auto& c) -> auto& { return c.telemetry.retention; }),
      // [boards]
      UintKey(
          {"boards.emulated", "integer", false, "emulated boards to create"}, 1, 0, 64,
          [](auto& c) -> auto& { return c.boards.emulated; }),
      TextKey(
          {"boards.emulated_profile", "profile", false, "board profile of emulated boards"},
          Fixed("kapoho-point-8"), ParseProfileName,
          [](auto& c) -> auto& { return c.boards.emulated_profile; }),
      DurationKey(
          {"boards.call_timeout", "duration", false,
           "longest a single device call may take before the board is marked failed"},
          seconds(10), milliseconds(100), minutes(10),
          [](auto& c) -> auto& { return c.boards.call_timeout; }),
      // [usb]
      BoolKey(
          {"usb.enabled", "bool", false, "look for USB boards"}, true,
          [](auto& c) -> auto& { return c.usb.enabled; }),
      UsbIdKey(
          {"usb.vendor_id", "usb-id", false, "USB vendor id of boards"}, 0x1209,
          [](auto& c) -> auto& { return c.usb.vendor_id; }),
      UsbIdKey(
          {"usb.product_id", "usb-id", false, "USB product id of boards"}, 0x0001,
          [](auto& c) -> auto& { return c.usb.product_id; }),
      // [watchdog]
      BoolKey(
          {"watchdog.enabled", "bool", false, "answer systemd's watchdog ($WATCHDOG_USEC)"}, true,
          [](auto& c) -> auto& { return c.watchdog.enabled; }),
      DurationKey(
          {"watchdog.interval", "duration", false,
           "time between keep-alives; 0: half of $WATCHDOG_USEC"},
          milliseconds(0), milliseconds(0), hours(1),
          [](auto& c) -> auto& { return c.watchdog.interval; }),
  };
  return *specs;
}

const KeySpec* FindSpec(std::string_view name) {
  for (const KeySpec& spec : Specs()) {
    if (spec.info.name == name) return &spec;
  }
  return nullptr;
}

std::vector<std::string> KeyNames() {
  std::vector<std::string> names;
  for (const KeySpec& spec : Specs()) names.emplace_back(spec.info.name);
  return names;
}

// " (did you mean X?)" or "": by spelling, or the same key under another
// section ("server.port" -> "metrics.port").
std::string Suggestion(std::string_view word, const std::vector<std::string>& candidates,
                       std::string_view prefix = "") {
  std::string match = ClosestMatch(word, candidates);
  if (match.empty()) {
    const size_t dot = word.rfind('.');
    const std::string_view tail = dot == std::string_view::npos ? word : word.substr(dot + 1);
    for (const std::string& candidate : candidates) {
      const size_t cdot = candidate.rfind('.');
      if (cdot != std::string::npos && candidate.substr(cdot + 1) == tail) match = candidate;
    }
  }
  return match.empty() ? "" : " (did you mean " + std::string(prefix) + match + "?)";
}

struct Shorthand {
  std::string_view flag;
  std::string_view key;
};
constexpr Shorthand kShorthands[] = {
    {"--socket", "server.socket"},      {"--state-dir", "state.dir"},
    {"--log-format", "log.format"},     {"--log-level", "log.level"},
    {"--metrics-port", "metrics.port"},
};

StatusOr<std::string> ReadFile(const std::string& path, const std::string& named_by,
                               bool must_exist, bool* found) {
  *found = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT && !must_exist) return std::string();
    const std::string why = path + ": cannot open: " + std::strerror(error) +
                            (named_by.empty() ? "" : " (named by " + named_by + ")");
    if (error == ENOENT) return NotFoundError(why);
    if (error == EACCES) return PermissionDeniedError(why);
    return InvalidArgumentError(why);
  }
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return InvalidArgumentError(path + ": cannot read: " + std::strerror(error));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      ::close(fd);
      return InvalidArgumentError(path + ": larger than " + FormatSize(kMaxConfigFileBytes) +
                                  "; is it a configuration file?");
    }
  }
  ::close(fd);
  *found = true;
  return text;
}

}  // namespace

HostContext HostContext::Current() {
  HostContext host;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    host.env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  host.uid = ::getuid();
  host.home = host.Get("HOME");
  if (host.home.empty()) {
    passwd entry{};
    passwd* result = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(host.uid, &entry, buf.data(), buf.size(), &result) == 0 && result) {
      host.home = result->pw_dir;
    }
  }
  return host;
}

std::string HostContext::Get(std::string_view name) const {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

std::span<const KeyInfo> ConfigKeys() {
  static const std::vector<KeyInfo>* const keys = [] {
    auto* out = new std::vector<KeyInfo>;
    for (const KeySpec& spec : Specs()) out->push_back(spec.info);
    return out;
  }();
  return *keys;
}

const KeyInfo* FindKey(std::string_view name) {
  for (const KeyInfo& key : ConfigKeys()) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

std::string EnvVarName(std::string_view key) {
  std::string out = "SPIKED_";
  for (char c : key) {
    out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string DefaultValue(std::string_view key, const HostContext& host) {
  const KeySpec* spec = FindSpec(key);
  SPK_CHECK(spec != nullptr) << "unknown key " << key;
  return spec->default_value(host);
}

std::string ValueText(const DaemonConfig& config, std::string_view key) {
  const KeySpec* spec = FindSpec(key);
  SPK_CHECK(spec != nullptr) << "unknown key " << key;
  return spec->get(config);
}

Status SetValue(DaemonConfig& config, std::string_view key, std::string_view text) {
  const KeySpec* spec = FindSpec(key);
  SPK_CHECK(spec != nullptr) << "unknown key " << key;
  return spec->set(text, config);
}

StatusOr<CommandLine> ParseCommandLine(std::span<const std::string> args) {
  CommandLine command_line;
  std::vector<std::string> flags = {"--config", "--help", "--version", "--print-config",
                                    "--check-config"};
  for (const Shorthand& s : kShorthands) flags.emplace_back(s.flag);
  for (const std::string& key : KeyNames()) flags.push_back("--" + key);

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      command_line.help = true;
      continue;
    }
    if (arg == "--version") {
      command_line.version = true;
      continue;
    }
    if (arg == "--print-config") {
      command_line.print_config = true;
      continue;
    }
    if (arg == "--check-config") {
      command_line.check_config = true;
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return InvalidArgumentError("unexpected argument '" + arg +
                                  "': spiked takes only --flags (see --help)");
    }
    const size_t equals = arg.find('=');
    std::string flag = arg.substr(0, equals);
    if (flag == "--help" || flag == "--version" || flag == "--print-config" ||
        flag == "--check-config") {
      return InvalidArgumentError(flag + " takes no value");
    }
    std::string key;
    if (flag == "--config") {
      key = "";
    } else {
      for (const Shorthand& s : kShorthands) {
        if (flag == s.flag) key = std::string(s.key);
      }
      const size_t dot = flag.find('.');
      if (key.empty() && dot != std::string::npos) {
        // --server.max-frame-size means --server.max_frame_size.
        std::string name = flag.substr(2);
        for (size_t j = dot - 1; j < name.size(); ++j) {
          if (name[j] == '-') name[j] = '_';
        }
        if (FindKey(name) != nullptr) key = name;
      }
      if (key.empty()) {
        return InvalidArgumentError("unknown flag " + flag + Suggestion(flag, flags));
      }
    }
    std::string value;
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return InvalidArgumentError(flag + " needs a value");
    }
    if (key.empty()) {
      if (value.empty()) return InvalidArgumentError("--config needs a file name");
      command_line.config_path = value;
    } else {
      command_line.values.push_back({key, value, flag});
    }
  }
  return command_line;
}

std::string CommandLineHelp() {
  std::string text =
      "usage: spiked [--config FILE] [--section.key=VALUE ...]\n"
      "\n"
      "Serves neuromorphic boards and their emulator over a local socket.\n"
      "\n"
      "  --config FILE      configuration file (also $SPIKED_CONFIG)\n"
      "  --print-config     print the effective configuration with origins, then exit\n"
      "  --check-config     validate the configuration, then exit\n"
      "  --version          print the version, then exit\n"
      "  -h, --help         this text\n"
      "\n"
      "Shorthands:\n";
  for (const Shorthand& s : kShorthands) {
    std::string flag(s.flag);
    text += "  " + flag + std::string(flag.size() < 19 ? 19 - flag.size() : 1, ' ') + "--" +
            std::string(s.key) + "\n";
  }
  text +=
      "\nEvery key (flag --KEY=VALUE, environment SPIKED_<SECTION>_<KEY>; flags win over the\n"
      "environment, which wins over the file); docs/configuration.md describes each:\n";
  for (const KeyInfo& key : ConfigKeys()) {
    std::string name(key.name);
    text += "  " + name + std::string(name.size() < 31 ? 31 - name.size() : 1, ' ') +
            std::string(key.summary) + "\n";
  }
  return text;
}

std::string DefaultConfigPath(const HostContext& host) {
  const std::string directory = protocol::AbsoluteDirFromEnv(host.env, "CONFIGURATION_DIRECTORY");
  if (!directory.empty()) return directory + "/spiked.conf";
  const bool system_service =
      protocol::UnderSystemd(host.env) && host.Get("XDG_RUNTIME_DIR").empty();
  if (host.uid == 0 || system_service) return "/etc/spiked/spiked.conf";
  const std::string xdg_config = protocol::AbsoluteDirFromEnv(host.env, "XDG_CONFIG_HOME");
  if (!xdg_config.empty()) return xdg_config + "/spiked/spiked.conf";
  if (!host.home.empty() && host.home.front() == '/' && host.home != "/") {
    return host.home + "/.config/spiked/spiked.conf";
  }
  return "";
}

StatusOr<DaemonConfig> BuildConfig(const HostContext& host,
                                   const std::vector<ConfigEntry>& file_entries,
                                   std::string_view file_name,
                                   const std::vector<FlagValue>& flags) {
  struct Layer {
    std::string text;
    std::string origin;
  };
  std::map<std::string, Layer, std::less<>> chosen;
  for (const KeySpec& spec : Specs()) {
    chosen[std::string(spec.info.name)] = {spec.default_value(host), "default"};
  }
  const std::vector<std::string> names = KeyNames();
  std::vector<std::string> errors;

  for (const ConfigEntry& entry : file_entries) {
    const std::string name = entry.section + "." + entry.key;
    const std::string origin = std::string(file_name) + ":" + std::to_string(entry.line);
    auto it = chosen.find(name);
    if (it == chosen.end()) {
      errors.push_back(origin + ": " + name + ": unknown key" + Suggestion(name, names));
      continue;
    }
    it->second = {entry.value, origin};
  }

  std::vector<std::string> env_names;
  for (const std::string& name : names) env_names.push_back(EnvVarName(name));
  for (const auto& [variable, value] : host.env) {
    if (variable.rfind("SPIKED_", 0) != 0 || variable == kConfigEnvVar) continue;
    // An empty variable counts as unset, as systemd's Environment=X= intends.
    if (value.empty()) continue;
    bool known = false;
    for (const std::string& name : names) {
      if (EnvVarName(name) == variable) {
        chosen[name] = {value, "environment " + variable};
        known = true;
      }
    }
    if (!known) {
      errors.push_back("environment " + variable + ": unknown variable" +
                       Suggestion(variable, env_names));
    }
  }

  for (const FlagValue& flag : flags) {
    auto it = chosen.find(flag.key);
    if (it == chosen.end()) {
      errors.push_back(flag.origin + ": " + flag.key + ": unknown key");
      continue;
    }
    it->second = {flag.value, flag.origin};
  }

  DaemonConfig config;
  std::map<std::string, bool> valid;
  for (const KeySpec& spec : Specs()) {
    const std::string name(spec.info.name);
    const Layer& layer = chosen[name];
    const Status status = spec.set(layer.text, config);
    valid[name] = status.ok();
    if (!status.ok())
      errors.push_back(layer.origin + ": " + name + ": " + std::string(status.message()));
    config.origins[name] = layer.origin;
  }

  // Checks between keys, made only when both values are themselves valid.
  if (valid["server.max_message_size"] && valid["server.max_frame_size"] &&
      config.server.max_message_size < config.server.max_frame_size) {
    errors.push_back(config.origins["server.max_message_size"] +
                     ": server.max_message_size: must be at least server.max_frame_size (" +
                     FormatSize(config.server.max_frame_size) + "), got " +
                     FormatSize(config.server.max_message_size));
  }
  if (valid["telemetry.retention"] && valid["telemetry.period"] &&
      config.telemetry.retention < config.telemetry.period) {
    errors.push_back(config.origins["telemetry.retention"] +
                     ": telemetry.retention: must be at least telemetry.period (" +
                     FormatDuration(config.telemetry.period) + "), got " +
                     FormatDuration(config.telemetry.retention));
  }

  // Deploys run one at a time (their compiles included), so a larger value
  // would promise parallel compiles that do not happen.
  if (valid["compile.jobs"] && config.compile.jobs != 1) {
    errors.push_back(config.origins["compile.jobs"] + ": compile.jobs: only 1 is supported (" +
                     "deploys and their compiles run one at a time), got " +
                     std::to_string(config.compile.jobs));
  }

  if (!errors.empty()) {
    std::string message;
    for (const std::string& e : errors) message += (message.empty() ? "" : "\n") + e;
    return InvalidArgumentError(message);
  }
  return config;
}

StatusOr<DaemonConfig> LoadConfig(const HostContext& host, const CommandLine& command_line) {
  std::string path = command_line.config_path;
  std::string named_by = path.empty() ? "" : "--config";
  if (path.empty() && !host.Get(kConfigEnvVar).empty()) {
    path = host.Get(kConfigEnvVar);
    named_by = std::string("environment ") + kConfigEnvVar;
  }
  const bool explicit_file = !path.empty();
  if (!explicit_file) path = DefaultConfigPath(host);

  std::vector<ConfigEntry> entries;
  bool found = false;
  if (!path.empty()) {
    SPK_ASSIGN_OR_RETURN(std::string text, ReadFile(path, named_by, explicit_file, &found));
    if (found) {
      SPK_ASSIGN_OR_RETURN(entries, ParseConfigText(text, path));
    }
  }
  SPK_ASSIGN_OR_RETURN(DaemonConfig config, BuildConfig(host, entries, path, command_line.values));
  if (found) config.config_file = path;
  return config;
}

std::string FormatConfig(const DaemonConfig& config) {
  std::string text = "# spiked configuration in effect; each value's origin follows it.\n";
  text += "# Configuration file: " +
          (config.config_file.empty() ? std::string("none") : config.config_file) + "\n";
  std::string section;
  for (const KeySpec& spec : Specs()) {
    const std::string_view name = spec.info.name;
    const std::string this_section(name.substr(0, name.find('.')));
    if (this_section != section) {
      section = this_section;
      text += "\n[" + section + "]\n";
    }
    auto origin = config.origins.find(std::string(name));
    text += std::string(name.substr(name.find('.') + 1)) + " = " +
            QuoteConfigValue(spec.get(config)) + "  # " +
            (origin == config.origins.end() ? std::string("default") : origin->second) + "\n";
  }
  return text;
}

}  // namespace spk::daemon

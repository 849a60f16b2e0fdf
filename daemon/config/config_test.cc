#include "daemon/config/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/values.h"

namespace spk::daemon {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// An ordinary desktop user with a systemd user session.
HostContext User() {
  HostContext host;
  host.uid = 1000;
  host.home = "/home/alice";
  host.env = {{"HOME", "/home/alice"}, {"XDG_RUNTIME_DIR", "/run/user/1000"}};
  return host;
}

HostContext Root() {
  HostContext host;
  host.uid = 0;
  host.home = "/root";
  host.env = {{"HOME", "/root"}};
  return host;
}

// spiked.service with User=spiked, RuntimeDirectory=, StateDirectory= and
// ConfigurationDirectory=, as the unit in systemd/ sets them.
HostContext SystemService() {
  HostContext host;
  host.uid = 998;
  host.env = {{"NOTIFY_SOCKET", "/run/systemd/notify"},
              {"RUNTIME_DIRECTORY", "/run/spiked"},
              {"STATE_DIRECTORY", "/var/lib/spiked"},
              {"CONFIGURATION_DIRECTORY", "/etc/spiked"}};
  return host;
}

StatusOr<DaemonConfig> Build(const HostContext& host, const std::string& file_text = "",
                             const std::vector<FlagValue>& flags = {},
                             const std::string& file_name = "/etc/spiked/spiked.conf") {
  SPK_ASSIGN_OR_RETURN(auto entries, ParseConfigText(file_text, file_name));
  return BuildConfig(host, entries, file_name, flags);
}

StatusOr<CommandLine> Parse(std::vector<std::string> args) { return ParseCommandLine(args); }

// A directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "spk-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::string path_;
};

TEST(DefaultsTest, OrdinaryUserGetsUserPathsAndOneEmulatedBoard) {
  auto config = Build(User());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.socket, "/run/user/1000/spiked/spiked.sock");
  EXPECT_EQ(config->state.dir, "/home/alice/.local/state/spiked");
  EXPECT_EQ(config->boards.emulated, 1u);
  EXPECT_EQ(config->boards.emulated_profile, "kapoho-point-8");
  EXPECT_TRUE(config->metrics.enabled);
  EXPECT_EQ(config->metrics.bind, "127.0.0.1");
  EXPECT_TRUE(IsLoopbackAddress(config->metrics.bind));
  EXPECT_EQ(config->metrics.port, 9477);
  EXPECT_EQ(config->server.socket_mode, 0660u);
  EXPECT_EQ(config->server.authorised_group, "spiked");
  EXPECT_EQ(config->server.max_frame_size, 16u << 20);
  EXPECT_EQ(config->server.session_idle_timeout, milliseconds(300000));
  EXPECT_EQ(config->log.level, "info");
  EXPECT_EQ(config->log.format, LogFormat::kText);
  EXPECT_EQ(config->telemetry.period, milliseconds(1000));
  EXPECT_EQ(config->compile.memory_limit, 6ull << 30);
  EXPECT_EQ(config->usb.vendor_id, 0x1209);
  for (const KeyInfo& key : ConfigKeys()) {
    EXPECT_EQ(config->origins[std::string(key.name)], "default") << key.name;
  }
  EXPECT_EQ(DefaultConfigPath(User()), "/home/alice/.config/spiked/spiked.conf");
}

TEST(DefaultsTest, UserWithoutRuntimeDirOrHome) {
  HostContext host = User();
  host.env = {{"XDG_STATE_HOME", "/home/alice/state"}, {"XDG_CONFIG_HOME", "/home/alice/cfg"}};
  auto config = Build(host);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.socket, "/tmp/spiked-1000/spiked.sock");
  EXPECT_EQ(config->state.dir, "/home/alice/state/spiked");
  EXPECT_EQ(DefaultConfigPath(host), "/home/alice/cfg/spiked/spiked.conf");

  host.env.clear();
  host.home = "";
  config = Build(host);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->state.dir, "/tmp/spiked-1000/state");
  EXPECT_EQ(DefaultConfigPath(host), "");
}

TEST(DefaultsTest, RootGetsSystemPaths) {
  auto config = Build(Root());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.socket, "/run/spiked/spiked.sock");
  EXPECT_EQ(config->state.dir, "/var/lib/spiked");
  EXPECT_EQ(DefaultConfigPath(Root()), "/etc/spiked/spiked.conf");
}

TEST(DefaultsTest, SystemdServiceUsesItsDirectories) {
  auto config = Build(SystemService());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.socket, "/run/spiked/spiked.sock");
  EXPECT_EQ(config->state.dir, "/var/lib/spiked");
  EXPECT_EQ(DefaultConfigPath(SystemService()), "/etc/spiked/spiked.conf");

  // Other directories given by the unit are followed.
  HostContext moved = SystemService();
  moved.env["RUNTIME_DIRECTORY"] = "/run/spiked-lab";
  moved.env["STATE_DIRECTORY"] = "/srv/spiked:/srv/other";
  moved.env["CONFIGURATION_DIRECTORY"] = "/etc/spiked-lab";
  config = Build(moved);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.socket, "/run/spiked-lab/spiked.sock");
  EXPECT_EQ(config->state.dir, "/srv/spiked");
  EXPECT_EQ(DefaultConfigPath(moved), "/etc/spiked-lab/spiked.conf");

  // A system service without those settings still uses the system paths.
  HostContext bare;
  bare.uid = 998;
  bare.env = {{"LISTEN_FDS", "1"}};
  config = Build(bare);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.socket, "/run/spiked/spiked.sock");
  EXPECT_EQ(config->state.dir, "/var/lib/spiked");
}

TEST(DefaultsTest, NoConfigurationAtAllRunsForAnOrdinaryUser) {
  // A fresh user: HOME exists, nothing configured anywhere.
  TempDir home;
  HostContext host = User();
  host.home = home.path();
  host.env = {{"HOME", home.path()}};
  auto config = LoadConfig(host, CommandLine());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->config_file, "");
  EXPECT_EQ(config->boards.emulated, 1u);
  EXPECT_EQ(config->state.dir, home.path() + "/.local/state/spiked");
  // The user can create it.
  std::error_code error;
  std::filesystem::create_directories(config->state.dir, error);
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(::access(config->state.dir.c_str(), W_OK), 0);
}

TEST(PrecedenceTest, FlagsOverEnvironmentOverFileOverDefaults) {
  const std::string file = "[metrics]\nport = 1000\n[log]\nlevel = warn\n";
  HostContext host = User();
  const std::vector<FlagValue> flags = {{"metrics.port", "3000", "--metrics-port"}};

  auto config = Build(host, file, {}, "/home/alice/.config/spiked/spiked.conf");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.port, 1000);
  EXPECT_EQ(config->origins["metrics.port"], "/home/alice/.config/spiked/spiked.conf:2");

  host.env["SPIKED_METRICS_PORT"] = "2000";
  config = Build(host, file);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.port, 2000);
  EXPECT_EQ(config->origins["metrics.port"], "environment SPIKED_METRICS_PORT");
  EXPECT_EQ(config->log.level, "warn");

  config = Build(host, file, flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.port, 3000);
  EXPECT_EQ(config->origins["metrics.port"], "--metrics-port");
  EXPECT_EQ(config->origins["log.level"], "/etc/spiked/spiked.conf:4");
  EXPECT_EQ(config->origins["server.socket"], "default");

  // An empty variable counts as unset.
  host.env["SPIKED_METRICS_PORT"] = "";
  config = Build(host, file);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.port, 1000);
}

TEST(PrecedenceTest, LastFlagWins) {
  auto config = Build(
      User(), "", {{"log.level", "debug", "--log-level"}, {"log.level", "error", "--log.level"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log.level, "error");
  EXPECT_EQ(config->origins["log.level"], "--log.level");
}

TEST(ValidationTest, TheOperatorsExample) {
  std::string file;
  for (int i = 1; i < 11; ++i) file += "# line " + std::to_string(i) + "\n";
  file += "[metrics]\nport = 70000\n";  // lines 11 and 12
  auto config = Build(Root(), file);
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            "/etc/spiked/spiked.conf:12: metrics.port: must be 1..65535, got 70000");
}

TEST(ValidationTest, EveryKeyNamesItsSourceLine) {
  // One bad value per key, each on its own line; every one is reported.
  std::string file;
  int line = 0;
  std::map<std::string, int> lines;
  for (const KeyInfo& key : ConfigKeys()) {
    file += std::string(key.name) + " = @bad@\n";
    lines[std::string(key.name)] = ++line;
  }
  auto config = Build(User(), file, {}, "lab.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  std::vector<std::string> reported;
  std::stringstream stream{std::string(config.status().message())};
  for (std::string text; std::getline(stream, text);) reported.push_back(text);
  ASSERT_EQ(reported.size(), ConfigKeys().size()) << config.status().message();
  size_t i = 0;
  for (const KeyInfo& key : ConfigKeys()) {
    const std::string prefix = "lab.conf:" + std::to_string(lines[std::string(key.name)]) + ": " +
                               std::string(key.name) + ": ";
    EXPECT_EQ(reported[i].substr(0, prefix.size()), prefix);
    EXPECT_THAT(reported[i], HasSubstr("@bad@")) << "the message shows the bad value";
    ++i;
  }
}

TEST(ValidationTest, EnvironmentAndFlagErrorsNameTheirSource) {
  HostContext host = User();
  host.env["SPIKED_LOG_LEVEL"] = "loud";
  auto config = Build(host, "", {{"metrics.port", "0", "--metrics-port"}});
  EXPECT_EQ(config.status().message(),
            "environment SPIKED_LOG_LEVEL: log.level: must be one of trace, debug, info, warn, "
            "error, critical, off, got 'loud'\n"
            "--metrics-port: metrics.port: must be 1..65535, got 0");
}

TEST(ValidationTest, CrossKeyChecksAndLimits) {
  auto config = Build(User(),
                      "[server]\nmax_frame_size = 32M\nmax_message_size = 1M\n"
                      "[telemetry]\nperiod = 1h\nretention = 10min\n");
  EXPECT_EQ(config.status().message(),
            "/etc/spiked/spiked.conf:3: server.max_message_size: must be at least "
            "server.max_frame_size (32MiB), got 1MiB\n"
            "/etc/spiked/spiked.conf:6: telemetry.retention: must be at least telemetry.period "
            "(1h), got 10min");
  config = Build(User(), "[server]\nsocket = /" + std::string(110, 's') + "\n");
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("/etc/spiked/spiked.conf:2: server.socket: must be at most 107 bytes"));
  config = Build(User(), "[server]\nmax_frame_size = 4K\n");
  EXPECT_EQ(config.status().message(),
            "/etc/spiked/spiked.conf:2: server.max_frame_size: must be 64KiB..1GiB, got 4K");
}

// Deploys run one at a time, so parallel compiles cannot be promised.
TEST(ValidationTest, CompileJobsBeyondOneAreRefused) {
  auto config = Build(User(), "[compile]\njobs = 4\n");
  EXPECT_EQ(config.status().message(),
            "/etc/spiked/spiked.conf:2: compile.jobs: only 1 is supported (deploys and their "
            "compiles run one at a time), got 4");
  EXPECT_TRUE(Build(User(), "[compile]\njobs = 1\n").ok());
}

TEST(UnknownKeyTest, FileKeysGetSuggestions) {
  auto config = Build(User(),
                      "[metrics]\nprot = 1\n[server]\nport = 2\n[metric]\nbind = ::1\n"
                      "[telemetry]\ncolour = blue\n");
  EXPECT_EQ(config.status().message(),
            "/etc/spiked/spiked.conf:2: metrics.prot: unknown key (did you mean metrics.port?)\n"
            "/etc/spiked/spiked.conf:4: server.port: unknown key (did you mean metrics.port?)\n"
            "/etc/spiked/spiked.conf:6: metric.bind: unknown key (did you mean metrics.bind?)\n"
            "/etc/spiked/spiked.conf:8: telemetry.colour: unknown key");
}

TEST(UnknownKeyTest, EnvironmentVariablesGetSuggestions) {
  HostContext host = User();
  host.env["SPIKED_METRICS_PROT"] = "1";
  host.env["SPIKED_CONFIG"] = "/ignored/here.conf";  // names the file, not a key
  host.env["NOT_OURS"] = "x";
  auto config = Build(host);
  EXPECT_EQ(config.status().message(),
            "environment SPIKED_METRICS_PROT: unknown variable (did you mean "
            "SPIKED_METRICS_PORT?)");
}

TEST(CommandLineTest, FormsOfFlags) {
  auto command_line = Parse({"--config", "/etc/x.conf", "--socket=/tmp/s.sock", "--log-level",
                             "debug", "--server.max-frame-size=1M", "--metrics.port", "9000",
                             "--state-dir=/srv/state", "--print-config"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_EQ(command_line->config_path, "/etc/x.conf");
  EXPECT_TRUE(command_line->print_config);
  ASSERT_EQ(command_line->values.size(), 5u);
  EXPECT_EQ(command_line->values[0].key, "server.socket");
  EXPECT_EQ(command_line->values[0].value, "/tmp/s.sock");
  EXPECT_EQ(command_line->values[0].origin, "--socket");
  EXPECT_EQ(command_line->values[1].key, "log.level");
  EXPECT_EQ(command_line->values[2].key, "server.max_frame_size");
  EXPECT_EQ(command_line->values[2].origin, "--server.max-frame-size");
  EXPECT_EQ(command_line->values[3].key, "metrics.port");
  EXPECT_EQ(command_line->values[4].key, "state.dir");

  auto flags = Parse({"-h", "--version", "--check-config"});
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->help && flags->version && flags->check_config);
}

TEST(CommandLineTest, MistakesAreNamed) {
  EXPECT_EQ(Parse({"--metric.port=1"}).status().message(),
            "unknown flag --metric.port (did you mean --metrics.port?)");
  EXPECT_EQ(Parse({"--sockt", "/x"}).status().message(),
            "unknown flag --sockt (did you mean --socket?)");
  EXPECT_EQ(Parse({"--frobnicate"}).status().message(), "unknown flag --frobnicate");
  EXPECT_EQ(Parse({"--log-level"}).status().message(), "--log-level needs a value");
  EXPECT_EQ(Parse({"--config="}).status().message(), "--config needs a file name");
  EXPECT_EQ(Parse({"--print-config=yes"}).status().message(), "--print-config takes no value");
  EXPECT_EQ(Parse({"serve"}).status().message(),
            "unexpected argument 'serve': spiked takes only --flags (see --help)");
  for (const auto& status : {Parse({"--metric.port=1"}).status(), Parse({"x"}).status()}) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  }
}

TEST(LoadConfigTest, ReadsTheNamedFile) {
  TempDir dir;
  const std::string path = dir.Write("spiked.conf", "[log]\nformat = json\n");
  CommandLine command_line;
  command_line.config_path = path;
  auto config = LoadConfig(User(), command_line);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log.format, LogFormat::kJson);
  EXPECT_EQ(config->config_file, path);
  EXPECT_EQ(config->origins["log.format"], path + ":2");

  // $SPIKED_CONFIG names it too; --config wins over it.
  HostContext host = User();
  host.env["SPIKED_CONFIG"] = dir.Write("other.conf", "[log]\nlevel = debug\n");
  config = LoadConfig(host, CommandLine());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log.level, "debug");
  config = LoadConfig(host, command_line);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log.level, "info");
}

TEST(LoadConfigTest, ReadsTheDefaultFileWhenPresent) {
  TempDir home;
  HostContext host = User();
  host.home = home.path();
  host.env = {{"HOME", home.path()}};
  home.Write(".config/spiked/spiked.conf", "[boards]\nemulated = 2\n");
  auto config = LoadConfig(host, CommandLine());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->boards.emulated, 2u);
  EXPECT_EQ(config->config_file, home.path() + "/.config/spiked/spiked.conf");
}

TEST(LoadConfigTest, MissingOrUnreadableNamedFile) {
  CommandLine command_line;
  command_line.config_path = "/nonexistent/spiked.conf";
  auto config = LoadConfig(User(), command_line);
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(),
            "/nonexistent/spiked.conf: cannot open: No such file or directory (named by "
            "--config)");
  HostContext host = User();
  host.env["SPIKED_CONFIG"] = "/nonexistent/env.conf";
  config = LoadConfig(host, CommandLine());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("(named by environment SPIKED_CONFIG)"));

  if (::geteuid() != 0) {  // root reads any file
    TempDir dir;
    command_line.config_path = dir.Write("secret.conf", "[log]\nlevel = info\n");
    ::chmod(command_line.config_path.c_str(), 0);
    config = LoadConfig(User(), command_line);
    EXPECT_EQ(config.status().code(), StatusCode::kPermissionDenied);
  }

  TempDir dir;
  command_line.config_path = dir.Write("broken.conf", "[log]\nlevel\n");
  config = LoadConfig(User(), command_line);
  EXPECT_EQ(config.status().message(),
            command_line.config_path +
                ":2: expected 'key = value', a [section] or a # comment, got 'level'");
}

TEST(FormatConfigTest, PrintsOriginsAndReadsBackTheSame) {
  HostContext host = User();
  host.env["SPIKED_TELEMETRY_PERIOD"] = "250ms";
  auto config = Build(host, "[server]\nsocket_group = \"\"\nmax_message_size = 1G\n",
                      {{"log.level", "debug", "--log-level"}});
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string text = FormatConfig(*config);
  EXPECT_THAT(text, HasSubstr("level = debug  # --log-level\n"));
  EXPECT_THAT(text, HasSubstr("period = 250ms  # environment SPIKED_TELEMETRY_PERIOD\n"));
  EXPECT_THAT(text, HasSubstr("max_message_size = 1GiB  # /etc/spiked/spiked.conf:3\n"));
  EXPECT_THAT(text, HasSubstr("socket_group = \"\"  # /etc/spiked/spiked.conf:2\n"));
  EXPECT_THAT(text, HasSubstr("[watchdog]\n"));

  auto reread = Build(User(), text, {}, "printed.conf");
  ASSERT_TRUE(reread.ok()) << reread.status();
  for (const KeyInfo& key : ConfigKeys()) {
    EXPECT_EQ(ValueText(*reread, key.name), ValueText(*config, key.name)) << key.name;
  }
}

TEST(KeysTest, NamesEnvironmentAndHelp) {
  std::set<std::string> names;
  const std::regex shape("[a-z]+\\.[a-z_]+");
  const std::string help = CommandLineHelp();
  for (const KeyInfo& key : ConfigKeys()) {
    const std::string name(key.name);
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
    EXPECT_TRUE(std::regex_match(name, shape)) << name;
    EXPECT_EQ(FindKey(name), &key);
    EXPECT_THAT(help, HasSubstr(name));
    EXPECT_FALSE(key.summary.empty()) << name;
  }
  EXPECT_EQ(EnvVarName("server.max_frame_size"), "SPIKED_SERVER_MAX_FRAME_SIZE");
  EXPECT_EQ(FindKey("server.nothing"), nullptr);
  EXPECT_EQ(DefaultValue("boards.emulated_profile", User()), "kapoho-point-8");
}

// docs/configuration.md must describe every key with its default, so the
// document cannot drift from the code.
TEST(KeysTest, EveryKeyIsDocumented) {
  std::ifstream file(std::string(SPK_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(file.good()) << "docs/configuration.md is missing";
  std::stringstream text;
  text << file.rdbuf();
  const std::string doc = text.str();
  const HostContext host;  // root-like, no environment: fixed defaults only
  for (const KeyInfo& key : ConfigKeys()) {
    const std::string name(key.name);
    const std::string row = "| `" + name + "` |";
    const size_t at = doc.find(row);
    ASSERT_NE(at, std::string::npos) << name << " has no row in docs/configuration.md";
    if (name == "server.socket" || name == "state.dir") continue;  // depend on the host
    const std::string line = doc.substr(at, doc.find('\n', at) - at);
    const std::string fallback = DefaultValue(name, host);
    EXPECT_THAT(line, HasSubstr("`" + (fallback.empty() ? "\"\"" : fallback) + "`"))
        << name << ": the documented default differs from " << fallback;
    EXPECT_THAT(line, HasSubstr(key.live ? "live" : "restart")) << name;
  }
}

}  // namespace
}  // namespace spk::daemon

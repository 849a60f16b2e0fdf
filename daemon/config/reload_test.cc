#include "daemon/config/reload.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace spk::daemon {
namespace {

using std::chrono::milliseconds;

HostContext User() {
  HostContext host;
  host.uid = 1000;
  host.home = "/home/alice";
  host.env = {{"HOME", "/home/alice"}, {"XDG_RUNTIME_DIR", "/run/user/1000"}};
  return host;
}

DaemonConfig Build(const std::string& text) {
  auto entries = ParseConfigText(text, "spiked.conf");
  EXPECT_TRUE(entries.ok()) << entries.status();
  auto config =
      BuildConfig(User(), entries.ok() ? *entries : std::vector<ConfigEntry>(), "spiked.conf", {});
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : DaemonConfig();
}

TEST(PlanReloadTest, NothingChanged) {
  const DaemonConfig running = Build("[log]\nlevel = info\n");
  const ReloadPlan plan = PlanReload(running, Build("[log]\nlevel = info\n"));
  EXPECT_FALSE(plan.changed());
  EXPECT_EQ(DescribeReload(plan), "reload: nothing changed");
}

TEST(PlanReloadTest, LiveKeysApplyOthersWaitForARestart) {
  const DaemonConfig running =
      Build("[log]\nlevel = info\n[metrics]\nport = 9477\n[telemetry]\nperiod = 1s\n");
  const DaemonConfig reread = Build(
      "[log]\nlevel = debug\nformat = json\n[metrics]\nport = 9500\n[telemetry]\nperiod = 5s\n"
      "[compile]\ntimeout = 1h\n");
  const ReloadPlan plan = PlanReload(running, reread);

  EXPECT_EQ(plan.applied, (std::vector<KeyChange>{{"log.level", "info", "debug"},
                                                  {"compile.timeout", "15min", "1h"},
                                                  {"telemetry.period", "1s", "5s"}}));
  EXPECT_EQ(plan.needs_restart, (std::vector<KeyChange>{{"log.format", "text", "json"},
                                                        {"metrics.port", "9477", "9500"}}));
  // The new live values are in force; the others keep running values.
  EXPECT_EQ(plan.config.log.level, "debug");
  EXPECT_EQ(plan.config.telemetry.period, milliseconds(5000));
  EXPECT_EQ(plan.config.compile.timeout, milliseconds(3600000));
  EXPECT_EQ(plan.config.metrics.port, 9477);
  EXPECT_EQ(plan.config.log.format, LogFormat::kText);
  EXPECT_EQ(plan.config.origins.at("metrics.port"), "spiked.conf:4");
  EXPECT_EQ(plan.config.origins.at("log.level"), "spiked.conf:2");
  EXPECT_EQ(DescribeReload(plan),
            "reload: applied log.level info -> debug, compile.timeout 15min -> 1h, "
            "telemetry.period 1s -> 5s; restart needed for log.format text -> json, "
            "metrics.port 9477 -> 9500 (running values kept)");
}

// Keys read only at start must not be reported as applied: the device
// call timeout is given to the drivers when they are registered.
TEST(PlanReloadTest, KeysWiredInAtStartNeedARestart) {
  const DaemonConfig running = Build("[boards]\ncall_timeout = 10s\n");
  const ReloadPlan plan = PlanReload(running, Build("[boards]\ncall_timeout = 20s\n"));
  EXPECT_TRUE(plan.applied.empty());
  EXPECT_EQ(plan.needs_restart, (std::vector<KeyChange>{{"boards.call_timeout", "10s", "20s"}}));
  EXPECT_EQ(plan.config.boards.call_timeout, milliseconds(10000));
}

TEST(ReloadConfigTest, RereadsTheFileAndKeepsTheRunningConfigOnError) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("spk-reload-" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/spiked.conf";
  std::ofstream(path) << "[log]\nlevel = info\n[boards]\nemulated = 1\n";
  CommandLine command_line;
  command_line.config_path = path;
  auto running = LoadConfig(User(), command_line);
  ASSERT_TRUE(running.ok()) << running.status();

  std::ofstream(path) << "[log]\nlevel = warn\n[boards]\nemulated = 3\n";
  auto plan = ReloadConfig(*running, User(), command_line);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->applied, (std::vector<KeyChange>{{"log.level", "info", "warn"}}));
  EXPECT_EQ(plan->needs_restart, (std::vector<KeyChange>{{"boards.emulated", "1", "3"}}));
  EXPECT_EQ(plan->config.boards.emulated, 1u);

  std::ofstream(path) << "[log]\nlevel = shouting\n";
  auto broken = ReloadConfig(*running, User(), command_line);
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(broken.status().message(),
            path +
                ":2: log.level: must be one of trace, debug, info, warn, error, critical, "
                "off, got 'shouting'");
  EXPECT_EQ(running->log.level, "info");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace spk::daemon

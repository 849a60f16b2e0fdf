// spiked: configuration, logging, signals and systemd notification; the
// work is done by daemon/service and daemon/server.
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/logging.h"
#include "daemon/config/config.h"
#include "daemon/config/reload.h"
#include "daemon/metrics/metrics.h"
#include "daemon/protocol/socket_path.h"
#include "daemon/server/server.h"
#include "daemon/service/host_dirs.h"
#include "daemon/service/service.h"
#include "drivers/init/init.h"

namespace {

namespace asio = boost::asio;
using namespace spk;
using namespace spk::daemon;

constexpr auto kDrainTimeout = std::chrono::seconds(30);

CompileOptions CompileFrom(const DaemonConfig& config) {
  return {
      .command = config.compile.command.empty() ? DefaultCompilerCommand() : config.compile.command,
      .memory_limit = config.compile.memory_limit,
      .cpu_limit = config.compile.cpu_limit,
      .output_limit = config.compile.output_limit,
      .timeout = config.compile.timeout};
}

ServiceOptions ServiceFrom(const DaemonConfig& config) {
  ServiceOptions options;
  options.state_dir = config.state.dir;
  options.compile = CompileFrom(config);
  options.cache_max_size = config.cache.max_size;
  options.telemetry_period = config.telemetry.period;
  options.telemetry_retention = config.telemetry.retention;
  options.history_retention = config.state.history_retention;
  return options;
}

// The socket's and the state's directory when they fall back to /tmp.
Status CheckPrivateTmpDir(const DaemonConfig& config, uint32_t uid) {
  const std::string dir = protocol::PrivateTmpDir(uid);
  for (const std::string& path : {config.server.socket, config.state.dir}) {
    if (path.rfind(dir + "/", 0) == 0) return EnsurePrivateDir(dir, ::geteuid());
  }
  return Status::Ok();
}

ServerOptions ServerFrom(const DaemonConfig& config) {
  ServerOptions options;
  options.socket_path = config.server.socket;
  options.socket_mode = config.server.socket_mode;
  options.socket_group = config.server.socket_group;
  options.authorised_group = config.server.authorised_group;
  options.max_connections = config.server.max_connections;
  options.max_requests_in_flight = config.server.max_requests_in_flight;
  options.max_frame_size = static_cast<uint32_t>(config.server.max_frame_size);
  options.max_message_size = config.server.max_message_size;
  options.session_idle_timeout_ms =
      static_cast<uint64_t>(config.server.session_idle_timeout.count());
  return options;
}

int Run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto command_line = ParseCommandLine(args);
  if (!command_line.ok()) {
    std::cerr << "spiked: " << command_line.status().message() << "\n";
    return 2;
  }
  if (command_line->help) {
    std::cout << CommandLineHelp();
    return 0;
  }
  if (command_line->version) {
    std::cout << "spiked 0.1.0\n";
    return 0;
  }
  const HostContext host = HostContext::Current();
  auto loaded = LoadConfig(host, *command_line);
  if (!loaded.ok()) {
    std::cerr << "spiked: configuration error:\n" << loaded.status().message() << "\n";
    return 2;
  }
  DaemonConfig config = std::move(loaded).value();
  if (command_line->print_config) {
    std::cout << FormatConfig(config);
    return 0;
  }
  if (command_line->check_config) {
    std::cout << "configuration OK\n";
    return 0;
  }
  if (Status s = InitLogging({.format = config.log.format, .level = config.log.level}); !s.ok()) {
    std::cerr << "spiked: " << s.ToString() << "\n";
    return 2;
  }

  if (Status s = CheckPrivateTmpDir(config, host.uid); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  auto state_lock = StateDirLock::Acquire(config.state.dir);
  if (!state_lock.ok()) {
    spdlog::critical("state: {}", state_lock.status().ToString());
    return 1;
  }

  auto registry = std::make_unique<hal::DriverRegistry>();
  if (Status s = drivers::RegisterAllDrivers(*registry, config); !s.ok()) {
    spdlog::critical("drivers: {}", s.ToString());
    return 1;
  }
  std::unique_ptr<Metrics> metrics = Metrics::Create({.enabled = config.metrics.enabled,
                                                      .bind = config.metrics.bind,
                                                      .port = config.metrics.port});

  ServiceOptions service_options = ServiceFrom(config);
  if (const char* point = std::getenv("SPK_TEST_KILL_AT")) {
    service_options.kill_at_fault_point = point;
  }
  auto service = Service::Create(std::move(registry), service_options, metrics.get());
  if (!service.ok()) {
    spdlog::critical("state: {}", service.status().ToString());
    return 1;
  }
  (*service)->Start();

  ServerOptions server_options = ServerFrom(config);
  if (sd_listen_fds(1) == 1) {
    server_options.inherited_fd = SD_LISTEN_FDS_START;
    spdlog::info("server: listening on the socket systemd passed");
  }
  auto server = Server::Create(service->get(), server_options);
  if (!server.ok()) {
    spdlog::critical("server: {}", server.status().ToString());
    return 1;
  }
  (*server)->Start();
  spdlog::info("spiked 0.1.0 listening on {} (state {})", config.server.socket, config.state.dir);
  sd_notifyf(0, "READY=1\nSTATUS=serving on %s", config.server.socket.c_str());

  asio::io_context io;
  asio::steady_timer watchdog(io);
  uint64_t watchdog_usec = 0;
  // The keep-alive lives as long as the event loop: its timer calls it again.
  std::chrono::microseconds watchdog_interval{0};
  std::function<void()> ping = [&] {
    sd_notify(0, "WATCHDOG=1");
    watchdog.expires_after(watchdog_interval);
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) ping();
    });
  };
  if (config.watchdog.enabled && sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    watchdog_interval =
        config.watchdog.interval.count() > 0
            ? std::chrono::duration_cast<std::chrono::microseconds>(config.watchdog.interval)
            : std::chrono::microseconds(watchdog_usec / 2);
    ping();
  }

  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        sd_notify(0, "RELOADING=1");
        auto plan = ReloadConfig(config, host, *command_line);
        if (!plan.ok()) {
          spdlog::error("reload: configuration not changed: {}", plan.status().ToString());
        } else {
          spdlog::info("{}", DescribeReload(*plan));
          config = plan->config;
          spdlog::set_level(spdlog::level::from_str(config.log.level));
          (*service)->UpdateLiveOptions(ServiceFrom(config));
          (*server)->Reload(ServerFrom(config));
        }
        sd_notify(0, "READY=1");
        wait_signal();
        return;
      }
      spdlog::info("signal {}: stopping; draining requests in flight", signo);
      sd_notify(0, "STOPPING=1\nSTATUS=draining");
      watchdog.cancel();
      io.stop();
    });
  };
  wait_signal();
  io.run();

  const size_t left = (*server)->Shutdown(kDrainTimeout);
  if (left > 0) spdlog::warn("stopped with {} requests unanswered", left);
  (*service)->Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }

#include "daemon/metrics/metrics.h"

#include <exception>
#include <mutex>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

namespace spk::daemon {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;

  prometheus::Gauge* up = nullptr;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Histogram* duration = nullptr;
  prometheus::Gauge* sessions = nullptr;
  prometheus::Family<prometheus::Gauge>* power = nullptr;
  prometheus::Family<prometheus::Gauge>* temperature = nullptr;
  prometheus::Family<prometheus::Counter>* energy = nullptr;
  prometheus::Family<prometheus::Gauge>* board_up = nullptr;
  prometheus::Histogram* compile = nullptr;
  prometheus::Counter* cache_hits = nullptr;
  prometheus::Counter* cache_misses = nullptr;

  std::mutex mu;
  std::map<std::string, double> energy_seen;  // guarded by mu: last total per board
};

namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace

std::unique_ptr<Metrics> Metrics::Create(const MetricsOptions& options) {
  auto impl = std::make_unique<Impl>();
  auto& r = *impl->registry;
  impl->up = &prometheus::BuildGauge()
                  .Name("spiked_up")
                  .Help("1 while the daemon runs")
                  .Register(r)
                  .Add({});
  impl->up->Set(1);
  impl->requests = &prometheus::BuildCounter()
                        .Name("spiked_inference_requests_total")
                        .Help("inference requests by deployment and result")
                        .Register(r);
  impl->duration = &prometheus::BuildHistogram()
                        .Name("spiked_inference_duration_seconds")
                        .Help("wall time of inference requests inside the daemon")
                        .Register(r)
                        .Add({}, LatencyBuckets());
  impl->sessions = &prometheus::BuildGauge()
                        .Name("spiked_sessions_active")
                        .Help("open streaming sessions")
                        .Register(r)
                        .Add({});
  impl->power = &prometheus::BuildGauge()
                     .Name("spiked_board_power_watts")
                     .Help("board power per rail")
                     .Register(r);
  impl->temperature = &prometheus::BuildGauge()
                           .Name("spiked_board_temperature_celsius")
                           .Help("board temperature")
                           .Register(r);
  impl->energy = &prometheus::BuildCounter()
                      .Name("spiked_board_energy_joules_total")
                      .Help("energy a board used since the daemon opened it")
                      .Register(r);
  impl->board_up = &prometheus::BuildGauge()
                        .Name("spiked_board_up")
                        .Help("1 when the board answers and is healthy")
                        .Register(r);
  impl->compile = &prometheus::BuildHistogram()
                       .Name("spiked_compile_duration_seconds")
                       .Help("wall time of compiler processes")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1, 2, 5, 10, 30,
                                                                        60, 120, 300, 900});
  impl->cache_hits = &prometheus::BuildCounter()
                          .Name("spiked_cache_hits_total")
                          .Help("deploys served from the artifact cache")
                          .Register(r)
                          .Add({});
  impl->cache_misses = &prometheus::BuildCounter()
                            .Name("spiked_cache_misses_total")
                            .Help("deploys that had to compile")
                            .Register(r)
                            .Add({});
  if (options.enabled) {
    const std::string address = options.bind + ":" + std::to_string(options.port);
    // prometheus-cpp reports a port it cannot bind by throwing; it must not
    // take the daemon down.
    try {
      impl->exposer = std::make_unique<prometheus::Exposer>(address);
      impl->exposer->RegisterCollectable(impl->registry);
      spdlog::info("metrics: serving http://{}/metrics", address);
    } catch (const std::exception& e) {
      spdlog::error("metrics: cannot serve on {}: {}; metrics are disabled", address, e.what());
      impl->exposer.reset();
    }
  }
  return std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Metrics::~Metrics() = default;

bool Metrics::serving() const { return impl_->exposer != nullptr; }

void Metrics::InferenceDone(const std::string& deployment, bool ok, double seconds) {
  impl_->requests->Add({{"deployment", deployment}, {"result", ok ? "ok" : "error"}}).Increment();
  if (ok) impl_->duration->Observe(seconds);
}

void Metrics::SessionsActive(int64_t sessions) {
  impl_->sessions->Set(static_cast<double>(sessions));
}

void Metrics::Board(const std::string& board, const BoardReading& reading) {
  impl_->board_up->Add({{"board", board}}).Set(reading.up ? 1 : 0);
  for (const auto& [rail, watts] : reading.power_w) {
    impl_->power->Add({{"board", board}, {"rail", rail}}).Set(watts);
  }
  if (reading.temperature_c) {
    impl_->temperature->Add({{"board", board}}).Set(*reading.temperature_c);
  }
  if (reading.energy_total_j) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto [it, inserted] = impl_->energy_seen.try_emplace(board, 0.0);
    const double delta = *reading.energy_total_j - it->second;
    // A board that restarted reports a smaller total; count from there.
    impl_->energy->Add({{"board", board}}).Increment(delta > 0 ? delta : 0);
    it->second = *reading.energy_total_j;
    (void)inserted;
  }
}

void Metrics::CompileDone(double seconds) { impl_->compile->Observe(seconds); }

void Metrics::CacheLookup(bool hit) {
  (hit ? impl_->cache_hits : impl_->cache_misses)->Increment();
}

}  // namespace spk::daemon

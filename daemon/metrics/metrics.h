// spiked's Prometheus metrics, served by a pull exposer on a loopback port
// (docs/daemon.md lists every series).
//
// The rest of the daemon reports events through this class and never sees
// prometheus-cpp. A port that cannot be bound is logged and the metrics are
// still counted, so a busy port never stops the daemon.
//
// Thread safety: every method may be called from any thread (prometheus-cpp's
// metrics are atomic; the per-board energy baseline is guarded by a mutex).
#ifndef SPK_DAEMON_METRICS_METRICS_H_
#define SPK_DAEMON_METRICS_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace spk::daemon {

struct MetricsOptions {
  bool enabled = true;
  std::string bind = "127.0.0.1";
  uint16_t port = 9477;
};

// One board's reading, with unsupported fields left out.
struct BoardReading {
  bool up = true;
  std::map<std::string, double> power_w;  // by rail
  std::optional<double> temperature_c;
  std::optional<double> energy_total_j;
};

class Metrics {
 public:
  static std::unique_ptr<Metrics> Create(const MetricsOptions& options);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // True when the HTTP endpoint is listening.
  bool serving() const;

  void InferenceDone(const std::string& deployment, bool ok, double seconds);
  void SessionsActive(int64_t sessions);
  void Board(const std::string& board, const BoardReading& reading);
  void CompileDone(double seconds);
  void CacheLookup(bool hit);

 private:
  struct Impl;
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace spk::daemon

#endif  // SPK_DAEMON_METRICS_METRICS_H_

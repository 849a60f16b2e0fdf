// The daemon over its socket, on the emulator: request overhead, streaming
// ingest per session, 64 concurrent sessions and idle RSS, each printed with
// the product target and a peer measured in the same run:
//   - overhead (round trip minus the emulation the daemon reports for that
//     inference) against a raw Unix-socket echo round trip, the floor any
//     socket protocol pays;
//   - ingest against the same steps pushed through the executor in-process,
//     with no socket and no daemon.
// docs/benchmarks.md records the results with the machine.
//
//   daemon_bench [--quick]
//
// Build in Release (or RelWithDebInfo); a Debug build's numbers mean nothing.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/executor/executor.h"
#include "daemon/protocol/fd_io.h"
#include "daemon/protocol/frame.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/json_message.h"
#include "daemon/protocol/payload.h"
#include "hal/format/board_image.h"
#include "hal/format/board_image_io.h"
#include "hal/format/chip_profile.h"
#include "sim/sim_device.h"

namespace spk::bench {
namespace {

namespace fmt = hal::format;
using Clock = std::chrono::steady_clock;
using protocol::Frame;
using protocol::FrameType;

constexpr uint32_t kIngestInputs = 1024;  // a 32x32 event-camera patch
constexpr uint32_t kIngestNeurons = 64;
constexpr double kSpikeRate = 0.10;
constexpr uint32_t kStepsPerFrame = 64;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "daemon_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(StatusOr<T> value, const char* what) {
  if (!value.ok()) Die(std::string(what) + ": " + value.status().ToString());
  return std::move(value).value();
}

void Check(const Status& status, const char* what) {
  if (!status.ok()) Die(std::string(what) + ": " + status.ToString());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// The daemon tests' small image: 2 inputs, 2 LIF neurons.
fmt::BoardImage SmallImage() {
  fmt::BoardImage image;
  image.meta = {.model_name = "small", .chip_profile = "loihi2", .timesteps = 1, .run_steps = 2};
  image.cores = {{.chip = 0, .core = 0}};
  image.inputs = {{.name = "in", .shape = {2}}};
  fmt::NeuronGroup g{.id = 1, .core = 0, .layer = "lif", .size = 2};
  g.du = 4095;
  g.vth = 10;
  image.groups = {g};
  fmt::SynapseTable t{.id = 1, .source = {fmt::SourceKind::kInputPort, 0}, .target_group = 1};
  t.weights = {2, -4, 0, 254};
  image.tables = {t};
  image.outputs = {{.name = "out",
                    .shape = {2},
                    .segments = {{.group = 1, .group_offset = 0, .port_offset = 0, .count = 2}},
                    .delay = 1}};
  return image;
}

// An input layer an edge application would stream into: 1024 binary inputs
// densely connected to 64 LIF neurons.
fmt::BoardImage IngestImage() {
  fmt::BoardImage image;
  image.meta = {.model_name = "ingest", .chip_profile = "loihi2", .timesteps = 1, .run_steps = 2};
  image.cores = {{.chip = 0, .core = 0}};
  image.inputs = {{.name = "events", .shape = {kIngestInputs}}};
  fmt::NeuronGroup g{.id = 1, .core = 0, .layer = "lif", .size = kIngestNeurons};
  g.du = 2048;
  g.vth = 40;
  image.groups = {g};
  fmt::SynapseTable t{.id = 1, .source = {fmt::SourceKind::kInputPort, 0}, .target_group = 1};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> w(-32, 32);
  t.weights.resize(size_t{kIngestInputs} * kIngestNeurons);
  // Mixed-sign 8-bit weights keep their lowest bit zero (facts/chip.md).
  for (auto& x : t.weights) x = static_cast<int16_t>(w(rng) * 2);
  image.tables = {t};
  image.outputs = {
      {.name = "out",
       .shape = {kIngestNeurons},
       .segments = {{.group = 1, .group_offset = 0, .port_offset = 0, .count = kIngestNeurons}},
       .delay = 1}};
  return image;
}

// kStepsPerFrame steps of input at kSpikeRate, as SPIKES events.
protocol::SpikeEvents IngestSpikes(uint32_t steps, uint32_t seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution fire(kSpikeRate);
  protocol::SpikeEvents spikes;
  for (uint32_t t = 0; t < steps; ++t) {
    for (uint32_t i = 0; i < kIngestInputs; ++i) {
      if (fire(rng)) spikes.events.push_back({.timestep = t, .index = i});
    }
  }
  return spikes;
}

// A blocking client on the daemon's socket.
class Client {
 public:
  explicit Client(const std::string& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Die("connect " + socket + ": " + std::strerror(errno));
    }
    protocol::ClientHello hello;
    hello.client = "daemon_bench";
    Check(Write(protocol::MakeHelloFrame(hello)), "hello");
    Frame reply = Check(Read(), "hello reply");
    if (reply.header.type != FrameType::kHelloReply) Die("hello refused");
  }
  ~Client() { ::close(fd_); }

  // A session's writer and its reader (granting credit) share the socket;
  // a send may be partial, so whole frames go out under the lock.
  Status Write(const Frame& frame) {
    std::lock_guard lock(write_mutex_);
    return protocol::WriteFrame(fd_, frame, std::chrono::seconds(60));
  }
  StatusOr<Frame> Read() {
    return protocol::ReadFrame(fd_, protocol::kMaxFrameLimit, std::chrono::seconds(60));
  }

  // One request; the response body (dies on an ERROR). Attachments of the
  // response are read and dropped.
  nlohmann::json Call(const nlohmann::json& request, const std::vector<Frame>& attachments = {}) {
    const uint64_t id = next_id_++;
    Check(Write(protocol::MakeJsonFrame(FrameType::kRequest, id, request,
                                        attachments.empty() ? 0 : protocol::kFlagMore)),
          "request");
    for (size_t i = 0; i < attachments.size(); ++i) {
      Frame f = attachments[i];
      f.header.request_id = id;
      f.header.flags = i + 1 < attachments.size() ? protocol::kFlagMore : 0;
      Check(Write(f), "attachment");
    }
    Frame reply = Check(Read(), "response");
    if (reply.header.type == FrameType::kError) {
      Die(request.dump() + ": " + protocol::StatusFromErrorFrame(reply).ToString());
    }
    nlohmann::json body = Check(protocol::ParseJsonObject(reply.payload, "response"), "json");
    bool more = reply.header.has(protocol::kFlagMore);
    while (more) more = Check(Read(), "attachment").header.has(protocol::kFlagMore);
    return body;
  }
  uint64_t last_id() const { return next_id_ - 1; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uint64_t next_id_ = 1;
  std::mutex write_mutex_;
};

struct Spiked {
  pid_t pid = -1;
  std::string socket;
};

Spiked StartSpiked(const std::string& dir) {
  Spiked d;
  d.socket = dir + "/spiked.sock";
  std::vector<std::string> args = {SPIKED_BINARY,
                                   "--socket=" + d.socket,
                                   "--state-dir=" + dir + "/state",
                                   "--metrics.enabled=false",
                                   "--log-level=warn",
                                   "--server.max_requests_in_flight=128"};
  std::vector<std::string> env = {"HOME=" + dir, "PATH=/usr/bin:/bin",
                                  "SPK_PROFILE_DIR=" SPK_SOURCE_DIR "/hal/profiles"};
  d.pid = ::fork();
  if (d.pid == 0) {
    const int log = ::open((dir + "/spiked.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(98);
  }
  for (int i = 0; i < 1000; ++i) {
    if (std::filesystem::exists(d.socket)) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, d.socket.c_str(), sizeof(addr.sun_path) - 1);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      ::close(fd);
      if (up) return d;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Die("spiked did not start; see " + dir + "/spiked.log");
}

double RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Round trip of a 64-byte message over a Unix socket pair to an echo thread.
std::vector<double> EchoRoundTrips(int n) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) Die("socketpair");
  std::thread echo([fd = fds[1], n] {
    char buf[64];
    for (int i = 0; i < n; ++i) {
      size_t got = 0;
      while (got < sizeof(buf)) {
        const ssize_t r = ::read(fd, buf + got, sizeof(buf) - got);
        if (r <= 0) return;
        got += static_cast<size_t>(r);
      }
      if (::write(fd, buf, sizeof(buf)) != static_cast<ssize_t>(sizeof(buf))) return;
    }
  });
  std::vector<double> out;
  char buf[64] = {};
  for (int i = 0; i < n; ++i) {
    const auto start = Clock::now();
    if (::write(fds[0], buf, sizeof(buf)) != static_cast<ssize_t>(sizeof(buf))) Die("echo write");
    size_t got = 0;
    while (got < sizeof(buf)) {
      const ssize_t r = ::read(fds[0], buf + got, sizeof(buf) - got);
      if (r <= 0) Die("echo read");
      got += static_cast<size_t>(r);
    }
    out.push_back(Seconds(Clock::now() - start));
  }
  echo.join();
  ::close(fds[0]);
  ::close(fds[1]);
  return out;
}

// Input events per second through the executor in-process: the same steps
// the session pushes, with no socket and no daemon.
double InProcessIngest(const fmt::BoardImage& image, uint32_t frames) {
  auto chip = Check(fmt::LoadChipProfile("loihi2"), "chip profile");
  auto board = Check(fmt::LoadBoardProfile("kapoho-point-8"), "board profile");
  auto device = Check(sim::SimDevice::Create(chip, board), "sim");
  auto program = Check(device->Load(image, {{0}}), "load");
  auto executor = Check(executor::Executor::Create(image, device.get(), program), "executor");
  Check(executor->StreamReset(), "reset");
  const protocol::SpikeEvents spikes = IngestSpikes(kStepsPerFrame, 1);
  std::vector<std::vector<float>> dense(kStepsPerFrame, std::vector<float>(kIngestInputs, 0.0f));
  for (const auto& e : spikes.events) dense[e.timestep][e.index] = 1.0f;
  std::map<std::string, executor::HostValue> in;
  in["events"].shape = {kIngestInputs};
  const auto start = Clock::now();
  for (uint32_t f = 0; f < frames; ++f) {
    for (uint32_t t = 0; t < kStepsPerFrame; ++t) {
      in["events"].data = dense[t];
      Check(executor->StreamPush(in).status(), "push");
    }
  }
  return static_cast<double>(spikes.events.size()) * frames / Seconds(Clock::now() - start);
}

struct IngestResult {
  double events_per_s = 0;
  bool ok = false;
  std::string error;
};

// One session on `deployment` of `client`: pushes `frames` SPIKES frames of
// kStepsPerFrame steps within the input window while a reader takes the
// outputs and grants output credit, then closes with drain.
IngestResult RunSession(Client& client, const std::string& deployment, uint32_t frames) {
  IngestResult result;
  const uint64_t id = client.last_id() + 1;
  const nlohmann::json opened =
      client.Call({{"op", "session.open"}, {"deployment", deployment}, {"output_window", 1024}});
  const uint32_t window = opened["input_window"].get<uint32_t>();
  const protocol::SpikeEvents spikes = IngestSpikes(kStepsPerFrame, 1);
  Frame frame = protocol::MakeFrame(
      FrameType::kStreamInput, id,
      protocol::EncodeStreamChunk(
          {.first_step = 0, .steps = kStepsPerFrame, .port = 0, .body = spikes}));

  std::atomic<uint32_t> credit{window};
  std::atomic<bool> done{false};
  std::string error;
  std::thread reader([&] {
    uint32_t outputs = 0;
    for (;;) {
      auto f = client.Read();
      if (!f.ok()) {
        error = f.status().ToString();
        break;
      }
      if (f->header.type == FrameType::kCredit) {
        credit.fetch_add(Check(protocol::DecodeCredit(f->payload), "credit"));
      } else if (f->header.type == FrameType::kStreamOutput) {
        if (++outputs % 256 == 0) {
          Check(client.Write(
                    protocol::MakeFrame(FrameType::kCredit, id, protocol::EncodeCredit(256))),
                "grant");
        }
      } else {
        if (f->header.type == FrameType::kError) {
          error = protocol::StatusFromErrorFrame(*f).ToString();
        }
        break;
      }
    }
    done = true;
    credit.fetch_add(frames);  // unblocks the writer on an error
  });
  const auto start = Clock::now();
  for (uint32_t f = 0; f < frames && !done; ++f) {
    while (credit.load() == 0) std::this_thread::yield();
    credit.fetch_sub(1);
    const uint64_t first = uint64_t{f} * kStepsPerFrame;
    std::memcpy(frame.payload.data(), &first, sizeof(first));  // little-endian hosts
    if (Status s = client.Write(frame); !s.ok()) {
      // The daemon's ERROR, which the reader holds, says why it hung up.
      reader.join();
      Die("push: " + s.ToString() + (error.empty() ? "" : "; the daemon said: " + error));
    }
  }
  Check(client.Write(protocol::MakeJsonFrame(FrameType::kRequest, id, {{"op", "session.close"}})),
        "close");
  reader.join();
  const double seconds = Seconds(Clock::now() - start);
  result.ok = error.empty();
  result.error = error;
  result.events_per_s = static_cast<double>(spikes.events.size()) * frames / seconds;
  return result;
}

struct Row {
  std::string what;
  std::string ours;
  std::string peer;
  std::string ratio;
  std::string target;
  bool meets = false;
};

std::string Num(double v, const char* unit) {
  char buf[64];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM%s", v / 1e6, unit);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1fk%s", v / 1e3, unit);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f%s", v, unit);
  }
  return buf;
}

std::string Micros(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f us", s * 1e6);
  return buf;
}

std::string Ratio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fx", r);
  return buf;
}

int Main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  const int infers = quick ? 200 : 5000;
  const uint32_t frames = quick ? 20 : 400;
  const int sessions = quick ? 8 : 64;
  const uint32_t frames_each = quick ? 4 : 40;
  ::signal(SIGPIPE, SIG_IGN);

  char pattern[] = "/tmp/daemon-bench-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  Check(fmt::WriteBoardImageFile(SmallImage(), dir + "/small.spkimg"), "write image");
  const fmt::BoardImage ingest = IngestImage();
  Check(fmt::WriteBoardImageFile(ingest, dir + "/ingest.spkimg"), "write image");
  Spiked spiked = StartSpiked(dir);
  std::vector<Row> rows;

  // Idle RSS with one small deployment.
  {
    Client client(spiked.socket);
    client.Call(
        {{"op", "deploy"}, {"name", "small"}, {"model", {{"path", dir + "/small.spkimg"}}}});
    std::this_thread::sleep_for(std::chrono::milliseconds(quick ? 100 : 1500));
    const double rss = RssMiB(spiked.pid);
    rows.push_back({"idle RSS, one small deployment", Num(rss, " MiB"), "-", "-", "<= 100 MB",
                    rss * 1.048576 <= 100});
  }

  // Request overhead: infer round trip minus the daemon's reported time.
  {
    Client client(spiked.socket);
    const Frame input =
        protocol::MakeFrame(FrameType::kTensor, 1,
                            protocol::EncodeTensor(protocol::Tensor::FromValues<int32_t>(
                                {2}, std::vector<int32_t>{1, 1})));
    std::vector<double> overhead, round_trip;
    for (int i = 0; i < infers + infers / 10; ++i) {
      const auto start = Clock::now();
      const nlohmann::json r = client.Call(
          {{"op", "infer"}, {"deployment", "small"}, {"inputs", {{{"attachment", 0}}}}}, {input});
      const double rt = Seconds(Clock::now() - start);
      if (i < infers / 10) continue;  // warm-up
      round_trip.push_back(rt);
      overhead.push_back(rt - r["latency_seconds"].get<double>());
    }
    const std::vector<double> echo = EchoRoundTrips(infers);
    const double echo50 = Percentile(echo, 0.5), echo99 = Percentile(echo, 0.99);
    const double p50 = Percentile(overhead, 0.5), p99 = Percentile(overhead, 0.99);
    rows.push_back({"request overhead p50 (infer)", Micros(p50), Micros(echo50) + " echo",
                    Ratio(p50 / echo50), "<= 100 us", p50 <= 100e-6});
    rows.push_back({"request overhead p99 (infer)", Micros(p99), Micros(echo99) + " echo",
                    Ratio(p99 / echo99), "<= 1 ms", p99 <= 1e-3});
    rows.push_back({"infer round trip p50 (for scale)", Micros(Percentile(round_trip, 0.5)), "-",
                    "-", "-", true});
  }

  // Streaming ingest on one session.
  {
    Client client(spiked.socket);
    client.Call(
        {{"op", "deploy"}, {"name", "ingest"}, {"model", {{"path", dir + "/ingest.spkimg"}}}});
    RunSession(client, "ingest", frames / 4);  // warm-up
    const IngestResult r = RunSession(client, "ingest", frames);
    if (!r.ok) Die("ingest session: " + r.error);
    const double peer = InProcessIngest(ingest, frames);
    rows.push_back({"ingest, 1 session (SPIKES, 64 steps/frame)", Num(r.events_per_s, " ev/s"),
                    Num(peer, " ev/s") + " in-proc", Ratio(r.events_per_s / peer), ">= 1M ev/s",
                    r.events_per_s >= 1e6});
  }

  // Concurrent sessions, one deployment and connection each.
  {
    Client admin(spiked.socket);
    for (int i = 0; i < sessions; ++i) {
      admin.Call({{"op", "deploy"},
                  {"name", "ingest" + std::to_string(i)},
                  {"model", {{"path", dir + "/ingest.spkimg"}}}});
    }
    std::vector<IngestResult> results(static_cast<size_t>(sessions));
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int i = 0; i < sessions; ++i) {
      threads.emplace_back([&, i] {
        Client client(spiked.socket);
        results[static_cast<size_t>(i)] =
            RunSession(client, "ingest" + std::to_string(i), frames_each);
      });
    }
    for (auto& t : threads) t.join();
    const double seconds = Seconds(Clock::now() - start);
    int ok = 0;
    for (const auto& r : results) {
      if (r.ok) {
        ++ok;
      } else {
        std::fprintf(stderr, "session failed: %s\n", r.error.c_str());
      }
    }
    const double events =
        static_cast<double>(IngestSpikes(kStepsPerFrame, 1).events.size()) * frames_each * sessions;
    rows.push_back({std::to_string(sessions) + " concurrent sessions completed",
                    std::to_string(ok) + " of " + std::to_string(sessions), "-", "-", "64 sessions",
                    ok == sessions && sessions >= 64});
    rows.push_back(
        {"  their aggregate ingest", Num(events / seconds, " ev/s"), "-", "-", "-", true});
  }

  ::kill(spiked.pid, SIGTERM);
  int status = 0;
  ::waitpid(spiked.pid, &status, 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  std::printf("daemon_bench%s: spiked on the emulator over its Unix socket\n",
              quick ? " --quick (smoke run, not a measurement)" : "");
  std::printf("cpu: %s, %u hardware threads\n\n", CpuModel().c_str(),
              std::thread::hardware_concurrency());
  std::printf("| %-44s | %-16s | %-22s | %-7s | %-11s | %-4s |\n", "what", "spiked", "peer",
              "ratio", "target", "met");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(18, '-').c_str(),
              std::string(24, '-').c_str(), std::string(9, '-').c_str(),
              std::string(13, '-').c_str(), std::string(6, '-').c_str());
  for (const Row& r : rows) {
    std::printf("| %-44s | %-16s | %-22s | %-7s | %-11s | %-4s |\n", r.what.c_str(), r.ours.c_str(),
                r.peer.c_str(), r.ratio.c_str(), r.target.c_str(), r.meets ? "yes" : "no");
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace spk::bench

int main(int argc, char** argv) { return spk::bench::Main(argc, argv); }

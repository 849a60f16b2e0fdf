// The Service: what spiked does, independent of how requests arrive.
//
// It owns the driver registry, the opened devices (exclusively: a board the
// daemon holds cannot be opened by anyone else), one partition allocator per
// board, the StateStore and the live deployments. Each deployment keeps its
// board image, board, partition, program and Executor, and a mutex that
// serialises inferences and sessions on it.
//
// Deploy takes a board image file (recognised by its magic) as is, or
// compiles anything else by running the compiler as a separate process under
// resource limits (compile_runner.h): the daemon never links LibTorch, so a
// hostile model can only crash that process. Compiled images are cached by
// content (model bytes, options, chip profile, compiler identity) in the
// state directory. Every image loaded is copied into the state directory's
// artifacts so that a restart can load it again whatever happened to the
// user's file.
//
// Start() recovers from the store: ready deployments are loaded again on
// their partitions; interrupted ones were rolled back by StateStore::Recover.
//
// Hotplug: from Start to Stop the service follows the drivers' hotplug
// events on a thread of its own (never the driver's). When a board leaves,
// its sessions end with UNAVAILABLE naming it (through the session-ended
// callback) and spiked_board_up goes to 0; its deployments stay, refusing
// work with UNAVAILABLE. When a board of the same id arrives again, it is
// opened (replacing the gone device), reset, and each of its deployments is
// loaded again onto its own partition; a deployment that does not load is
// marked failed. Boards the daemon did not have at start are not taken up.
// A board is also found gone by the telemetry sampler's health check, so a
// board whose removal raises no hotplug event is noticed within one period.
//
// Failover: a deployment deployed with failover "emulator" does not wait for
// its board. When the board goes (hotplug, the sampler, or a device error in
// the middle of an inference or step), the deployment is loaded onto an
// emulated board of the same chip profile and recorded there with its home
// board; an open session continues on it with its state reset and is told so
// (the session-moved callback). When the home board comes back, or at start
// when it is present, the deployment returns home the same way.
//
// Operations return JSON bodies as docs/protocol.md describes them; the
// server adds the protocol fields. Error codes follow base/status.h.
//
// Thread safety: every public method may be called from any thread. The
// deployment table is guarded by mu_; each deployment's executor by its own
// mutex; the store and allocators are thread-safe themselves. The board list
// is fixed after Create, but a board's device is replaced when it comes back:
// devices are guarded by devices_mu_ (shared to use, exclusive to replace),
// and replaced only under deploy_mu_, so deploy and undeploy need only that.
// Lock order: deploy_mu_, board_events_mu_, a deployment's mu, devices_mu_,
// mu_.
#ifndef SPK_DAEMON_SERVICE_SERVICE_H_
#define SPK_DAEMON_SERVICE_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "daemon/executor/executor.h"
#include "daemon/metrics/metrics.h"
#include "daemon/service/compile_runner.h"
#include "daemon/state/state_store.h"
#include "hal/device.h"
#include "hal/driver_registry.h"
#include "hal/format/board_image.h"
#include "hal/partition_allocator.h"

namespace spk::daemon {

struct ServiceOptions {
  std::string state_dir;
  CompileOptions compile;
  uint64_t cache_max_size = 4ull << 30;  // 0: compiled images are not kept
  std::chrono::milliseconds telemetry_period{1000};
  std::chrono::milliseconds telemetry_retention{24 * 3600 * 1000};
  // The audit log and the deployment history (failed and undeployed
  // deployments) older than this are deleted by the telemetry sampler.
  std::chrono::milliseconds history_retention{std::chrono::hours(24 * 90)};
  // Test hook: the StateStore fault point at which the process kills itself
  // with SIGKILL (e.g. "begin_deploy:after_deployment_row"); empty: none.
  std::string kill_at_fault_point;
};

// Who asked, as the server saw it on the socket.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
};

struct DeployArgs {
  std::string name;  // empty: the model's file name without extension
  std::string path;  // absolute, or empty when bytes are given
  std::optional<std::vector<uint8_t>> bytes;
  std::string filename;  // for bytes
  std::string board;     // empty: the first board with room
  std::string chip_profile;
  uint32_t cores = 0;
  std::optional<uint32_t> chip;  // keep the partition on this chip of the board
  bool exclusive = false;        // no other deployment may share the board
  uint32_t opt_level = 2;
  std::string ssa = "auto";  // spike matmuls: auto, host or chip (spk-compile --ssa)
  uint32_t timesteps = 0;
  bool replace = false;
  // kEmulator: when the board goes, move to an emulated board (see above).
  state::FailoverPolicy failover = state::FailoverPolicy::kNone;
  // Polled during the compile and before loading: non-zero (kStopCancelled,
  // kStopDeadline) ends the deploy with CANCELLED or DEADLINE_EXCEEDED and
  // kills the compiler. Borrowed; may be null.
  const std::atomic<int>* stop = nullptr;
  // Called (on the deploying thread) as the deploy enters each stage:
  // "queued", "load_model", "compile" (message says cache hit or miss),
  // "place", "load_image". May be empty.
  std::function<void(const std::string& stage, const std::string& message)> progress;
};

// One streaming session's hold on a deployment. The generation tells a
// session from a later one on the same deployment, so a step still running
// for a session that has ended cannot touch its successor's state.
struct SessionHandle {
  std::string deployment_id;
  std::string deployment;  // its name, for messages
  std::string board;
  uint64_t generation = 0;
};

struct InferOutcome {
  std::string deployment;
  std::string board;
  uint32_t timesteps = 0;
  executor::InferenceResult result;
  std::set<std::string> spike_ports;  // ports of result.ports that carry spikes
  double wall_s = 0;
  // With a detailed infer: {"layers": [...], "cores": [...]} from the
  // device's per-core counts; null otherwise.
  nlohmann::json report;
};

class Service {
 public:
  // Opens the state store under options.state_dir (created when missing) and
  // every board the registry enumerates. FAILED_PRECONDITION / DATA_LOSS /
  // UNAVAILABLE from the store pass through; a board that does not open is
  // logged and left out.
  static StatusOr<std::unique_ptr<Service>> Create(std::unique_ptr<hal::DriverRegistry> registry,
                                                   ServiceOptions options, Metrics* metrics);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Restores the deployments the store had ready and starts the telemetry
  // sampler, which also prunes the audit log and deployment history.
  // Deployments that cannot be restored are marked failed (logged).
  void Start();
  // Stops the sampler and hotplug handling; deployments stay recorded for
  // the next start.
  void Stop();

  nlohmann::json Version() const;
  StatusOr<nlohmann::json> Health(const std::string& deployment);
  nlohmann::json Boards();
  StatusOr<nlohmann::json> Deploy(const DeployArgs& args, const Caller& caller);
  StatusOr<nlohmann::json> Undeploy(const std::string& deployment, bool force);
  StatusOr<nlohmann::json> ListDeployments();
  StatusOr<nlohmann::json> DescribeDeployment(const std::string& deployment);
  // NOT_FOUND, FAILED_PRECONDITION (not ready), INVALID_ARGUMENT from the
  // executor naming the input, device errors.
  StatusOr<InferOutcome> Infer(const std::string& deployment,
                               const std::map<std::string, executor::HostValue>& inputs,
                               bool detailed = false);
  // Streaming: one session per deployment at a time (it owns the
  // deployment's membrane state). OpenSession resets the state;
  // RESOURCE_EXHAUSTED when a session is open already, NOT_FOUND /
  // FAILED_PRECONDITION as for Infer.
  StatusOr<SessionHandle> OpenSession(const std::string& deployment);
  // One model timestep of untimed inputs; the steps whose outputs became
  // complete. `stats` (may be null) accumulates the chip's counts.
  // FAILED_PRECONDITION when the session was ended (undeployed).
  StatusOr<std::vector<executor::StreamStep>> SessionPush(
      const SessionHandle& session, const std::map<std::string, executor::HostValue>& inputs,
      hal::RunStats* stats = nullptr);
  // Idempotent; a handle of an ended session is ignored.
  void CloseSession(const SessionHandle& session);
  // Called (from the undeploying or hotplug thread) for each session that a
  // forced undeploy, a replace or its board's removal ended, with the status
  // the session should end with. Set before Start, cleared after Stop.
  void SetSessionEndedCallback(std::function<void(const SessionHandle&, const Status&)> callback) {
    std::lock_guard<std::mutex> lock(session_ended_mu_);
    session_ended_ = std::move(callback);
  }
  // Called (from whichever thread moved it) when a deployment with an open
  // session moved to another board and the session goes on there: the
  // handle (with its new board) and a message for the client.
  void SetSessionMovedCallback(
      std::function<void(const SessionHandle&, const std::string& stage, const std::string&)>
          callback) {
    std::lock_guard<std::mutex> lock(session_ended_mu_);
    session_moved_ = std::move(callback);
  }
  // Input and output port names and per-step shapes, in port order.
  using PortInfo = executor::PortDesc;
  // A port as deploy, deployments.describe and session.open give it
  // (docs/protocol.md "port").
  static nlohmann::json PortJson(const PortInfo& port, bool input);
  StatusOr<std::pair<std::vector<PortInfo>, std::vector<PortInfo>>> SessionPorts(
      const SessionHandle& session);

  // Per-step input shapes of a deployment's model, by input name.
  StatusOr<std::map<std::string, std::vector<int64_t>>> InputShapes(const std::string& deployment);
  StatusOr<nlohmann::json> TelemetryLatest(const std::string& board);
  StatusOr<nlohmann::json> TelemetryHistory(const std::string& board, std::optional<double> since,
                                            std::optional<double> until, uint32_t max_samples);
  // Takes one telemetry sample of every board now (the sampler's step).
  void SampleTelemetry();

  // Records a mutating request in the audit log; failures are logged only.
  void Audit(const Caller& caller, const std::string& operation, const std::string& target,
             const Status& result);

  // The live keys of a reloaded configuration: compile limits, the cache
  // bound, the telemetry period (the sampler wakes to use it at once) and
  // the retention of telemetry, audit log and deployment history. The state
  // directory and the test hook are not changed.
  void UpdateLiveOptions(const ServiceOptions& options);

  bool ready() const { return restored_.load(); }
  state::StateStore& store() { return *store_; }

 private:
  struct Board {
    std::string id;  // the device's, kept across replugs
    hal::DeviceDescriptor descriptor;
    std::unique_ptr<hal::Device> device;
    std::unique_ptr<hal::PartitionAllocator> allocator;
    bool left = false;  // its removal was handled; guarded by board_events_mu_
    // The id of a deployment that holds the board exclusively, kept while
    // that deployment is failed over elsewhere; guarded by the service's mu_.
    std::string exclusive_owner;
  };
  // Where a deployment runs: written with both its mu and the service's mu_
  // held (a failover or a return home), read under either.
  struct Deployment {
    std::string id;
    std::string name;
    std::string board;       // where it runs now
    std::string home_board;  // after a failover: the board it belongs to; else empty
    state::FailoverPolicy failover = state::FailoverPolicy::kNone;
    bool exclusive = false;  // holds its home board alone (partition.exclusive)
    std::string model_sha256;
    std::string artifact_key;
    std::string image_sha256;
    double created_s = 0;
    hal::format::BoardImage image;
    hal::Partition partition;
    hal::ProgramId program = 0;
    std::mutex mu;                                 // serialises use of the executor and program
    std::unique_ptr<executor::Executor> executor;  // guarded by mu
    // Why there is no executor while the deployment is still listed (its
    // board is being reopened); OK: it is being undeployed. Guarded by mu.
    Status no_executor;
    std::atomic<uint64_t> inferences{0};
    std::atomic<int> sessions{0};
    uint64_t session_generation = 0;  // guarded by mu; the open session's
    // Steps the open session pushed, and what its step numbers add to the
    // executor's after a move started the executor's count again. Guarded by mu.
    int64_t session_steps = 0;
    int64_t step_offset = 0;
  };

  Service(std::unique_ptr<hal::DriverRegistry> registry, ServiceOptions options, Metrics* metrics,
          std::unique_ptr<state::StateStore> store);

  void OpenBoards();
  void Restore();
  // A program and its executor on a board; what Restore and a replug share.
  struct Loaded {
    hal::ProgramId program = 0;
    std::unique_ptr<executor::Executor> executor;
  };
  // Loads `image` onto `partition` (already held in the board's allocator).
  static StatusOr<Loaded> LoadOnto(hal::Device& device, const hal::format::BoardImage& image,
                                   const hal::Partition& partition);
  // The status of a deployment without an executor. Requires d.mu.
  static Status NoExecutor(const Deployment& d, const std::string& label);
  // Hotplug, on hotplug_thread_.
  void HotplugLoop();
  void BoardLeft(const std::string& id);
  void BoardArrived(const hal::DeviceDescriptor& descriptor);
  // Ends the open sessions of the deployments on `board` with `status`.
  void EndSessionsOn(const std::string& board, const Status& status);
  void SessionEnded(const SessionHandle& session, const Status& status);
  void SessionMoved(const SessionHandle& session, const std::string& stage,
                    const std::string& message);
  // Failover. Both require dep.mu. MoveLocked loads `dep` onto `target`
  // (which must be up), records the move with `home` as its home board
  // (empty: it is home), swaps its program and executor, frees the cores it
  // had and tells its open session; on any error it leaves `dep` as it was.
  // `home` is a copy: it is often one of dep's own fields, which this changes.
  Status MoveLocked(Deployment& dep, Board& target, std::string home, const std::string& stage,
                    const std::string& why);
  // Moves `dep` (which asked for failover) off its gone board onto the first
  // emulated board with room. UNAVAILABLE when there is none.
  Status FailOverLocked(Deployment& dep, const std::string& why);
  // After `error` from the device under `dep`: true when dep asked for
  // failover, its board is gone and it has moved (the call may be retried).
  bool FailOverAfter(Deployment& dep, const Status& error);
  // Brings the failed-over deployments whose home is `board` back to it.
  void ReturnHome(Board& board);
  // The open session of `dep`, which it ends, if any; the caller holds dep.mu.
  std::optional<SessionHandle> TakeSession(Deployment& dep);
  static SessionHandle HandleOf(const Deployment& dep);
  StatusOr<std::shared_ptr<Deployment>> Find(const std::string& id_or_name);
  Board* FindBoard(const std::string& id);
  // The image's bytes and identity, from a board image or a compile.
  struct Artifact {
    hal::format::BoardImage image;
    std::string key;
    std::string path;
    std::string image_sha256;
    bool cache_hit = false;
    double compile_s = 0;
  };
  StatusOr<Artifact> PrepareArtifact(const DeployArgs& args, const std::vector<uint8_t>& model,
                                     const std::string& model_sha256, const std::string& model_name,
                                     const std::string& chip_profile);
  StatusOr<nlohmann::json> LoadAndServe(const std::string& name, const std::string& model_sha256,
                                        const Artifact& artifact, const DeployArgs& args);
  // Why `board` cannot take a deployment with (or beside) exclusive
  // placement, or OK. Takes mu_.
  Status CheckExclusive(const Board& board, bool exclusive) const;
  // Requires deploy_mu_.
  StatusOr<nlohmann::json> UndeployLocked(const std::string& deployment, bool force);
  nlohmann::json Summary(const Deployment& d) const;
  static nlohmann::json Ports(const executor::Executor& executor);
  // Deletes the audit log entries and the failed or undeployed deployments
  // older than history_retention; on the sampler thread.
  void PruneHistory();
  // Evicts least recently used artifacts that no active deployment uses
  // until the cache fits in cache_max_size; never `keep`, the one just made.
  void TrimCache(const std::string& keep);
  uint64_t CacheMaxSize() const;

  const std::unique_ptr<hal::DriverRegistry> registry_;
  ServiceOptions options_;  // the live fields (UpdateLiveOptions) guarded by mu_
  Metrics* const metrics_;  // borrowed; may be null
  std::unique_ptr<state::StateStore> store_;
  std::vector<std::unique_ptr<Board>> boards_;  // fixed after Create; devices: devices_mu_
  std::shared_mutex devices_mu_;
  std::atomic<bool> restored_{false};
  std::string restore_note_;  // set before restored_

  std::mutex deploy_mu_;  // one deploy or undeploy at a time: names and cores
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Deployment>> deployments_;  // by id; guarded by mu_

  std::atomic<int64_t> sessions_open_{0};
  std::atomic<uint64_t> next_session_generation_{1};
  std::mutex session_ended_mu_;
  std::function<void(const SessionHandle&, const Status&)> session_ended_;  // session_ended_mu_
  std::function<void(const SessionHandle&, const std::string&, const std::string&)>
      session_moved_;  // session_ended_mu_

  // Serialises a board's removal with its return; after deploy_mu_ and
  // before any deployment's mu in the lock order.
  std::mutex board_events_mu_;

  std::mutex sampler_mu_;
  std::condition_variable sampler_cv_;
  bool stopping_ = false;          // guarded by sampler_mu_
  bool sampler_wake_ = false;      // guarded by sampler_mu_: the period changed
  int64_t history_pruned_ms_ = 0;  // used by the sampler thread only
  std::thread sampler_;

  struct HotplugQueued {
    hal::DeviceDescriptor board;
    hal::HotplugEvent event;
  };
  std::mutex hotplug_mu_;
  std::condition_variable hotplug_cv_;
  std::vector<HotplugQueued> hotplug_queue_;  // guarded by hotplug_mu_
  bool hotplug_stopping_ = false;             // guarded by hotplug_mu_
  std::thread hotplug_thread_;
};

}  // namespace spk::daemon

#endif  // SPK_DAEMON_SERVICE_SERVICE_H_

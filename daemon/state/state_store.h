// StateStore: everything spiked must remember across restarts, in one SQLite
// file. Models, cached artifacts, boards, deployments with their core
// partitions, telemetry samples and the audit log of mutating requests.
//
// Every mutating call is one write transaction (BEGIN IMMEDIATE ... COMMIT),
// so a crash or kill -9 at any moment leaves either all of a call's changes
// or none. A call that returned OK is durable: the file is opened with
// synchronous=FULL, so it survives a power loss too, not only a process
// crash. Cores are booked in the same transaction that records the
// deployment, and a primary key on (board, core) makes double booking
// impossible even for a buggy caller.
//
// After a restart, call Recover() once before serving: it hands back the
// deployments that were ready (to load again on their cores) and rolls back
// those interrupted half-way.
//
// Ownership: the store owns its connection; records returned are copies.
// Thread safety: every method may be called from any thread. One connection
// is shared behind a mutex: state writes are rare and short (deploys,
// telemetry batches), SQLite allows one writer at a time anyway, and a single
// connection gives every caller the same view without WAL snapshot surprises.
// Another process may open the same file (the sqlite3 shell, a second store
// in tests); the busy timeout arbitrates.
#ifndef SPK_DAEMON_STATE_STATE_STORE_H_
#define SPK_DAEMON_STATE_STATE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "daemon/state/records.h"
#include "daemon/state/sqlite.h"

namespace spk::daemon::state {

struct StateStoreOptions {
  DatabaseOptions database;
  // Run PRAGMA quick_check when opening, so a damaged file is reported at
  // start-up (DATA_LOSS) rather than by whichever request touches the bad
  // page. Linear in the file size, which retention keeps small.
  bool check_on_open = true;
  // Milliseconds since the Unix epoch; the system clock when empty.
  std::function<int64_t()> clock_ms;
  // Fault injection for tests: called with a point name inside write
  // transactions ("begin_deploy:after_deployment_row",
  // "transition:before_commit", "recover:before_commit"). A crash test kills
  // the process there.
  std::function<void(std::string_view point)> fault_hook;
};

class StateStore {
 public:
  // Opens or creates the state file at `path`, migrates it to this build's
  // schema and, when asked, checks it. FAILED_PRECONDITION for a file from a
  // newer spiked or another program, DATA_LOSS (naming the path) for a
  // corrupt file, UNAVAILABLE when another process holds it locked.
  static StatusOr<std::unique_ptr<StateStore>> Create(const std::string& path,
                                                      StateStoreOptions options = {});

  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

  const std::string& path() const { return path_; }

  // --- Models and artifacts ---

  // Records a model by content hash; registering it again updates its name
  // and path and keeps first_seen. INVALID_ARGUMENT for a malformed hash or a
  // size that differs from the recorded one (same hash, other bytes: the
  // caller hashed wrongly).
  StatusOr<ModelRecord> RegisterModel(const ModelRecord& model);
  StatusOr<ModelRecord> GetModel(std::string_view sha256);  // NOT_FOUND
  StatusOr<std::vector<ModelRecord>> ListModels();

  // Records a cache entry, replacing one with the same key (a rebuilt
  // artifact). NOT_FOUND when the model is not registered; INVALID_ARGUMENT
  // for options that are not JSON.
  StatusOr<ArtifactRecord> RegisterArtifact(const ArtifactRecord& artifact);
  StatusOr<ArtifactRecord> GetArtifact(std::string_view cache_key);  // NOT_FOUND
  // Marks a cache hit (for least-recently-used eviction). NOT_FOUND.
  Status TouchArtifact(std::string_view cache_key);
  // Least recently used first.
  StatusOr<std::vector<ArtifactRecord>> ListArtifacts();
  // Forgets a cache entry. FAILED_PRECONDITION while an active deployment
  // uses it; NOT_FOUND when absent.
  Status DeleteArtifact(std::string_view cache_key);

  // --- Boards ---

  // Records a board as seen now (first registration sets first_seen).
  // INVALID_ARGUMENT for an empty id or zero cores; FAILED_PRECONDITION when
  // it now reports fewer cores than an active deployment uses.
  StatusOr<BoardRecord> RegisterBoard(const BoardRecord& board);
  Status SetBoardState(std::string_view board_id, BoardState state);  // NOT_FOUND
  StatusOr<BoardRecord> GetBoard(std::string_view board_id);          // NOT_FOUND
  StatusOr<std::vector<BoardRecord>> ListBoards();
  // Cores of the board held by active deployments, ascending.
  StatusOr<std::vector<uint32_t>> UsedCores(std::string_view board_id);

  // --- Deployments ---

  // Records a deployment in `pending` and books its cores, atomically.
  //   NOT_FOUND           model, board or artifact not registered;
  //   INVALID_ARGUMENT    bad name, no cores, a core listed twice or beyond
  //                       the board's cores, options not JSON;
  //   RESOURCE_EXHAUSTED  a core is held by another deployment (named);
  //   ALREADY_EXISTS      an active deployment has this name.
  StatusOr<Deployment> BeginDeploy(const DeployRequest& request);

  // Moves a deployment along the state machine (records.h). Moving to failed
  // or undeployed frees its cores in the same transaction. `message` is
  // stored as the deployment's error when moving to failed.
  //   NOT_FOUND            no such deployment;
  //   FAILED_PRECONDITION  an illegal move (the message names both states),
  //                        or loading/ready without an artifact.
  StatusOr<Deployment> Advance(std::string_view id, DeploymentState to,
                               std::string_view message = {});
  // The named steps of the happy path, as Advance().
  StatusOr<Deployment> StartCompiling(std::string_view id);
  // Records the artifact (when not empty) and moves to loading.
  StatusOr<Deployment> StartLoading(std::string_view id, std::string_view artifact_key);
  StatusOr<Deployment> MarkReady(std::string_view id);
  StatusOr<Deployment> MarkFailed(std::string_view id, std::string_view error);
  StatusOr<Deployment> BeginUndeploy(std::string_view id);
  // Call once the program is unloaded: frees the cores.
  StatusOr<Deployment> FinishUndeploy(std::string_view id);

  // Moves a ready deployment onto `cores` of `board_id` in one transaction:
  // its old cores are freed, the new ones booked. `home_board_id` records
  // the board it belongs to while it runs elsewhere (a failover); empty when
  // it moves home.
  //   NOT_FOUND            no such deployment or board;
  //   FAILED_PRECONDITION  it is not ready;
  //   INVALID_ARGUMENT     no cores, a core twice or beyond the board;
  //   RESOURCE_EXHAUSTED   a core is held by another deployment (named).
  StatusOr<Deployment> MoveDeployment(std::string_view id, std::string_view board_id,
                                      const std::vector<uint32_t>& cores,
                                      std::string_view home_board_id);

  // By id ("d-7f3a"), or by the name of an active deployment. NOT_FOUND.
  StatusOr<Deployment> GetDeployment(std::string_view id_or_name);
  // Oldest first.
  StatusOr<std::vector<Deployment>> ListDeployments(const DeploymentFilter& filter = {});
  // Deletes failed and undeployed deployments last changed before
  // `before_ms`; returns how many.
  StatusOr<int64_t> PruneDeploymentHistory(int64_t before_ms);

  // --- Restart recovery ---

  // Run once at start-up, before serving. Every deployment that was ready is
  // returned in `restore` with its board and cores, to be loaded again. Every
  // deployment caught half-way (pending, compiling, loading) becomes failed,
  // and every one caught undeploying becomes undeployed, with an error saying
  // the daemon restarted, and their cores are freed; they are returned in
  // `rolled_back`. Idempotent: a second call restores the same deployments
  // and rolls back none.
  StatusOr<RecoveryReport> Recover();

  // --- Telemetry ---

  // Stores samples in one transaction. NOT_FOUND for an unknown board,
  // INVALID_ARGUMENT for an empty field name.
  Status InsertTelemetry(std::span<const TelemetrySample> samples);
  // Oldest first, at most query.limit (the newest ones in the range).
  StatusOr<std::vector<TelemetrySample>> QueryTelemetry(const TelemetryQuery& query);
  // Deletes samples older than max_age_ms before now, and for each board all
  // but its newest max_samples_per_board; returns how many samples went.
  StatusOr<int64_t> PruneTelemetry(const TelemetryRetention& retention);

  // --- Audit log ---

  // Appends one entry stamped with the current time; returns its id.
  StatusOr<int64_t> AppendAudit(const AuditEntry& entry);
  // Oldest first, at most query.limit (the newest matching).
  StatusOr<std::vector<AuditEntry>> QueryAudit(const AuditQuery& query);
  // Deletes entries older than `before_ms`; returns how many.
  StatusOr<int64_t> PruneAudit(int64_t before_ms);

  // --- Checks ---

  // Full check of the file and of the store's invariants: PRAGMA
  // integrity_check and foreign_key_check, every core booked by one active
  // deployment, partitions only for active deployments, every active
  // deployment holding a partition whose text form matches its cores.
  // DATA_LOSS listing what is wrong.
  Status CheckConsistency();

 private:
  StateStore(std::string path, std::unique_ptr<Database> db, StateStoreOptions options);

  int64_t NowMs() const;
  void Fault(std::string_view point) const;
  std::string Where() const;

  // The *Locked helpers expect mu_ held and, for writes, a transaction open.
  StatusOr<Deployment> ReadDeploymentLocked(std::string_view id_or_name);
  StatusOr<std::vector<uint32_t>> ReadCoresLocked(std::string_view deployment_id);
  StatusOr<std::string> NewDeploymentIdLocked();
  StatusOr<Deployment> TransitionLocked(std::string_view id, DeploymentState to,
                                        std::string_view artifact_key, std::string_view message);
  Status FreePartitionLocked(std::string_view deployment_id);
  // INVALID_ARGUMENT for cores beyond the board, RESOURCE_EXHAUSTED naming
  // the holders of any that are booked.
  Status CheckCoresFreeLocked(const BoardRecord& board, const std::vector<uint32_t>& cores);
  // Inserts the partition and books its cores; fault points
  // "<fault_prefix>:mid_cores".
  Status BookPartitionLocked(std::string_view id, std::string_view board_id,
                             const std::vector<uint32_t>& cores, int64_t now,
                             std::string_view fault_prefix);
  Status RequireBoardLocked(std::string_view board_id, BoardRecord* board);

  const std::string path_;
  const StateStoreOptions options_;
  std::mutex mu_;
  std::unique_ptr<Database> db_;  // guarded by mu_
};

}  // namespace spk::daemon::state

#endif  // SPK_DAEMON_STATE_STATE_STORE_H_

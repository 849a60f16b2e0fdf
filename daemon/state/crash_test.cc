// Crash consistency: a child process plays the daemon, writing deploy steps
// to a state file, and is killed with SIGKILL at random moments and at fixed
// points inside write transactions. After each kill the parent checks the
// file as the next daemon would find it:
//   - PRAGMA integrity_check is "ok";
//   - nothing the child was told had committed is lost: every deployment it
//     acknowledged exists, in the acknowledged state or one step further
//     (the step in flight when killed may have committed);
//   - after Recover(), no core is booked twice, only active deployments hold
//     partitions, every ready deployment comes back on the cores it booked,
//     and no deployment is left half-way.
// The same file carries over from one kill to the next, so recovery is also
// tested on top of earlier recoveries.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon/state/core_list.h"
#include "daemon/state/state_store.h"
#include "daemon/state/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spk::daemon::state {
namespace {

using ::spk::daemon::state::testing::TempDir;
using S = DeploymentState;

constexpr uint32_t kBoardCores[] = {48, 16};
constexpr const char* kBoards[] = {"b0", "b1"};

// Exit codes of a child that stopped on its own: all are test failures.
enum ChildExit {
  kChildTimedOut = 3,
  kChildOpenFailed = 10,
  kChildRecoverFailed = 11,
  kChildSeedFailed = 12,
  kChildStepFailed = 13,
};

// One acknowledgement per committed step, one write() each (atomic on a
// pipe): "B <id> <board> <cores>" after BeginDeploy, "S <id> <state>" after
// a transition, "M <id> <board> <cores>" after a move (announced before it
// starts by "P <id> <from board> <from cores> <to board> <to cores>", since
// a kill may land after its commit).
void Ack(int fd, const std::string& line) {
  std::string text = line + "\n";
  ssize_t written = write(fd, text.data(), text.size());
  if (written != static_cast<ssize_t>(text.size())) _exit(kChildStepFailed);
}

// The daemon's side: open, recover, then deploy steps until killed. Never
// returns; runs no gtest code.
[[noreturn]] void RunChild(const std::string& path, uint64_t seed, const std::string& kill_point,
                           int kill_at, int ack_fd) {
  int hits = 0;
  StateStoreOptions options;
  options.fault_hook = [&](std::string_view point) {
    if (point == kill_point && ++hits == kill_at) raise(SIGKILL);
  };
  auto opened = StateStore::Create(path, options);
  if (!opened.ok()) _exit(kChildOpenFailed);
  StateStore& store = **opened;
  if (!store.Recover().ok()) _exit(kChildRecoverFailed);

  ModelRecord model = testing::SampleModel();
  if (!store.RegisterModel(model).ok() ||
      !store.RegisterArtifact(testing::SampleArtifact(model.sha256, "key-1")).ok()) {
    _exit(kChildSeedFailed);
  }
  for (int b = 0; b < 2; ++b) {
    if (!store.RegisterBoard(testing::SampleBoard(kBoards[b], kBoardCores[b])).ok()) {
      _exit(kChildSeedFailed);
    }
  }

  std::mt19937_64 rng(seed);
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  // The cores of board b no deployment holds, ascending.
  auto free_cores = [&](int b) {
    auto used = store.UsedCores(kBoards[b]);
    if (!used.ok()) _exit(kChildStepFailed);
    std::set<uint32_t> taken(used->begin(), used->end());
    std::vector<uint32_t> free;
    for (uint32_t c = 0; c < kBoardCores[b]; ++c) {
      if (!taken.contains(c)) free.push_back(c);
    }
    return free;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto active = store.ListDeployments();
    if (!active.ok()) _exit(kChildStepFailed);
    if (chance(15)) {
      // Telemetry and audit writes go to the same file between deploy steps.
      std::vector<TelemetrySample> batch(3);
      for (auto& s : batch) {
        s.board_id = kBoards[rng() % 2];
        s.timestamp_ms = static_cast<int64_t>(rng() % 1000000);
        s.fields["temperature_c"] = 40;
      }
      if (!store.InsertTelemetry(batch).ok() ||
          !store.PruneTelemetry({.max_age_ms = 1 << 30, .max_samples_per_board = 20}).ok() ||
          !store.AppendAudit({.operation = "deploy", .target = "x"}).ok()) {
        _exit(kChildStepFailed);
      }
      continue;
    }
    if (active->size() < 8 && (active->empty() || chance(35))) {
      int b = static_cast<int>(rng() % 2);
      std::vector<uint32_t> free = free_cores(b);
      std::shuffle(free.begin(), free.end(), rng);
      size_t want = 1 + rng() % 6;
      if (free.size() < want) continue;
      free.resize(want);
      DeployRequest request;
      request.model_sha256 = model.sha256;
      request.board_id = kBoards[b];
      request.cores = free;
      if (chance(30)) request.artifact_key = "key-1";
      auto d = store.BeginDeploy(request);
      if (!d.ok()) _exit(kChildStepFailed);  // cores were free: a refusal is a bug
      Ack(ack_fd, "B " + d->id + " " + d->board_id + " " + FormatCoreList(d->cores));
      continue;
    }
    const Deployment& d = (*active)[rng() % active->size()];
    StatusOr<Deployment> moved = InternalError("no step");
    switch (d.state) {
      case S::kPending:
        moved = chance(10)               ? store.MarkFailed(d.id, "compile error")
                : d.artifact_key.empty() ? store.StartCompiling(d.id)
                                         : store.StartLoading(d.id, "");
        break;
      case S::kCompiling:
        moved = store.StartLoading(d.id, "key-1");
        break;
      case S::kLoading:
        moved = chance(10) ? store.MarkFailed(d.id, "load error") : store.MarkReady(d.id);
        break;
      case S::kReady: {
        // Ready deployments are long-lived: most of the time they just serve.
        if (chance(70)) continue;
        if (chance(40)) {
          // A failover to the other board, or back.
          const int b = d.board_id == kBoards[0] ? 1 : 0;
          std::vector<uint32_t> free = free_cores(b);
          if (free.size() < d.cores.size()) continue;
          std::shuffle(free.begin(), free.end(), rng);
          free.resize(d.cores.size());
          std::sort(free.begin(), free.end());
          const std::string where = std::string(kBoards[b]) + " " + FormatCoreList(free);
          Ack(ack_fd, "P " + d.id + " " + d.board_id + " " + FormatCoreList(d.cores) + " " + where);
          auto to = store.MoveDeployment(d.id, kBoards[b], free,
                                         d.home_board_id.empty() ? d.board_id : "");
          if (!to.ok()) _exit(kChildStepFailed);  // cores were free: a refusal is a bug
          Ack(ack_fd, "M " + d.id + " " + where);
          continue;
        }
        moved = chance(30) ? store.MarkFailed(d.id, "board lost") : store.BeginUndeploy(d.id);
        break;
      }
      case S::kUndeploying:
        moved = store.FinishUndeploy(d.id);
        break;
      case S::kFailed:
      case S::kUndeployed:
        _exit(kChildStepFailed);  // not listed as active
    }
    if (!moved.ok()) _exit(kChildStepFailed);
    Ack(ack_fd, "S " + moved->id + " " + std::string(DeploymentStateName(moved->state)));
  }
  _exit(kChildTimedOut);
}

struct Acked {
  std::string board;
  std::vector<uint32_t> cores;
  S state = S::kPending;
  // A move begun but not acknowledged: where it would have put the deployment.
  std::optional<std::pair<std::string, std::vector<uint32_t>>> moving;
};

std::map<std::string, Acked> ParseAcks(const std::string& text) {
  std::map<std::string, Acked> acked;
  std::istringstream in(text);
  std::string kind;
  std::string id;
  while (in >> kind >> id) {
    if (kind == "B") {
      std::string cores;
      in >> acked[id].board >> cores;
      acked[id].cores = ParseCoreList(cores).value();
    } else if (kind == "M" || kind == "P") {
      // Only ready deployments move; "P" also says where it is, since the
      // seeded ones were never acknowledged with "B".
      Acked& a = acked[id];
      a.state = S::kReady;
      std::string board, cores;
      if (kind == "P") {
        in >> a.board >> cores;
        a.cores = ParseCoreList(cores).value();
      }
      in >> board >> cores;
      if (kind == "M") {
        a.board = board;
        a.cores = ParseCoreList(cores).value();
        a.moving.reset();
      } else {
        a.moving.emplace(board, ParseCoreList(cores).value());
      }
    } else {
      std::string state;
      in >> state;
      acked[id].state = DeploymentStateFromName(state).value();
    }
  }
  return acked;
}

// Runs one child to its death and returns what it acknowledged. With a kill
// point the child kills itself there; otherwise the parent kills it after
// `delay`.
std::string RunAndKill(const std::string& path, uint64_t seed, const std::string& kill_point,
                       int kill_at, std::chrono::microseconds delay) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    RunChild(path, seed, kill_point, kill_at, fds[1]);
  }
  close(fds[1]);
  if (kill_point.empty()) {
    std::this_thread::sleep_for(delay);
    kill(pid, SIGKILL);
  }
  std::string acks;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) acks.append(buffer, n);
  close(fds[0]);
  int wstatus = 0;
  EXPECT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "child was not killed: exit status " << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1)
      << " (point " << kill_point << ")";
  return acks;
}

int64_t Count(Database& db, const std::string& sql) { return db.QueryInt64("count", sql).value(); }

// What the rounds exercised, so a test cannot pass by checking nothing.
struct Coverage {
  size_t acked = 0;
  size_t restored = 0;
  size_t rolled_back = 0;
};

// Everything the next daemon relies on, checked on the file as the killed
// child left it. `strict`: the kill came before a commit, so no step past
// the acknowledged ones may have landed.
void CheckAfterCrash(const std::string& path, const std::map<std::string, Acked>& acked,
                     const std::set<std::string>& existed_before, bool strict, Coverage* coverage) {
  std::map<std::string, S> found;
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    auto check = (*db)->Prepare("integrity", "PRAGMA integrity_check");
    ASSERT_TRUE(check->Step().value());
    EXPECT_EQ(check->ColumnText(0), "ok");
    check->Reset();
    if (Count(**db, "SELECT count(*) FROM sqlite_schema WHERE name = 'deployments'") == 0) {
      // Killed before the first migration committed: nothing was promised.
      EXPECT_TRUE(acked.empty());
      return;
    }
    auto rows = (*db)->Prepare("states", "SELECT id, state FROM deployments");
    while (rows->Step().value()) {
      found[rows->ColumnText(0)] = DeploymentStateFromName(rows->ColumnText(1)).value();
    }
  }
  for (const auto& [id, ack] : acked) {
    auto it = found.find(id);
    ASSERT_NE(it, found.end()) << "acknowledged deployment " << id << " is lost";
    if (strict) {
      EXPECT_EQ(it->second, ack.state) << id;
    } else {
      EXPECT_TRUE(it->second == ack.state || IsLegalTransition(ack.state, it->second))
          << id << " acknowledged " << DeploymentStateName(ack.state) << ", found "
          << DeploymentStateName(it->second);
    }
  }
  if (strict) {
    for (const auto& [id, state] : found) {
      EXPECT_TRUE(existed_before.contains(id) || acked.contains(id))
          << "deployment " << id << " was never acknowledged but committed";
    }
  }

  SPK_ASSERT_OK_AND_ASSIGN(auto store, StateStore::Create(path));
  SPK_ASSERT_OK_AND_ASSIGN(RecoveryReport report, store->Recover());
  coverage->acked += acked.size();
  coverage->restored += report.restore.size();
  coverage->rolled_back += report.rolled_back.size();
  SPK_EXPECT_OK(store->CheckConsistency());
  std::set<std::string> restored;
  for (const Deployment& d : report.restore) {
    restored.insert(d.id);
    EXPECT_FALSE(d.cores.empty()) << d.id;
    auto ack = acked.find(d.id);
    if (ack != acked.end()) {
      // Where it was acknowledged, or where the move in flight took it:
      // never anywhere else, and never half-moved.
      const bool at_acked = d.cores == ack->second.cores && d.board_id == ack->second.board;
      const bool at_moving = ack->second.moving && d.board_id == ack->second.moving->first &&
                             d.cores == ack->second.moving->second;
      EXPECT_TRUE(at_acked || at_moving)
          << d.id << " restored on " << d.board_id << " " << FormatCoreList(d.cores)
          << ", acknowledged on " << ack->second.board << " " << FormatCoreList(ack->second.cores);
      if (strict) {
        EXPECT_TRUE(at_acked) << d.id << ": a move committed after the kill point";
      }
    }
  }
  for (const auto& [id, state] : found) {
    if (state == S::kReady) {
      EXPECT_TRUE(restored.contains(id)) << "ready " << id << " not restored";
    }
  }

  // The invariants again, straight from SQL rather than through the store.
  auto db = Database::Open(path).value();
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM (SELECT 1 FROM partition_cores GROUP BY board_id, core "
                  "HAVING count(DISTINCT deployment_id) > 1)"),
            0);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM partition_cores AS c JOIN deployments AS d "
                  "ON d.id = c.deployment_id WHERE d.state IN ('failed', 'undeployed')"),
            0);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM partitions WHERE deployment_id NOT IN "
                  "(SELECT id FROM deployments WHERE state NOT IN ('failed', 'undeployed'))"),
            0);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM deployments WHERE state = 'ready' AND NOT EXISTS "
                  "(SELECT 1 FROM partition_cores WHERE deployment_id = deployments.id)"),
            0);
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM deployments "
                  "WHERE state IN ('pending', 'compiling', 'loading', 'undeploying')"),
            0);
}

std::set<std::string> ExistingIds(const std::string& path) {
  std::set<std::string> ids;
  if (access(path.c_str(), F_OK) != 0) return ids;
  auto db = Database::Open(path).value();
  if (Count(*db, "SELECT count(*) FROM sqlite_schema WHERE name = 'deployments'") == 0) return ids;
  auto rows = db->Prepare("ids", "SELECT id FROM deployments");
  while (rows->Step().value()) ids.insert(rows->ColumnText(0));
  return ids;
}

std::map<std::string, S> States(const std::string& path) {
  std::map<std::string, S> states;
  auto db = Database::Open(path).value();
  if (Count(*db, "SELECT count(*) FROM sqlite_schema WHERE name = 'deployments'") == 0) {
    return states;
  }
  auto rows = db->Prepare("states", "SELECT id, state FROM deployments");
  while (rows->Step().value()) {
    states[rows->ColumnText(0)] = DeploymentStateFromName(rows->ColumnText(1)).value();
  }
  return states;
}

// Long-lived ready deployments, as a daemon that has been serving for a
// while has; each round must bring them back.
void SeedReadyDeployments(const std::string& path, int count) {
  SPK_ASSERT_OK_AND_ASSIGN(auto store, StateStore::Create(path));
  ModelRecord model = testing::SampleModel();
  SPK_ASSERT_OK(store->RegisterModel(model));
  SPK_ASSERT_OK(store->RegisterArtifact(testing::SampleArtifact(model.sha256, "key-1")));
  SPK_ASSERT_OK(store->RegisterBoard(testing::SampleBoard(kBoards[0], kBoardCores[0])));
  for (int i = 0; i < count; ++i) {
    DeployRequest request;
    request.model_sha256 = model.sha256;
    request.board_id = kBoards[0];
    request.cores = {kBoardCores[0] - 1 - 2 * i, kBoardCores[0] - 2 - 2 * i};
    request.artifact_key = "key-1";
    SPK_ASSERT_OK_AND_ASSIGN(Deployment d, store->BeginDeploy(request));
    SPK_ASSERT_OK(store->StartLoading(d.id, ""));
    SPK_ASSERT_OK(store->MarkReady(d.id));
  }
}

TEST(CrashTest, KillAtRandomMoments) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Coverage coverage;
  SeedReadyDeployments(path, 3);
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // From "during start-up and migration" to "tens of steps in".
    auto delay = std::chrono::microseconds(500 + rng() % 80000);
    std::set<std::string> before = ExistingIds(path);
    std::string acks = RunAndKill(path, rng(), "", 0, delay);
    CheckAfterCrash(path, ParseAcks(acks), before, /*strict=*/false, &coverage);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(coverage.acked, 0u);
  EXPECT_GT(coverage.restored, 0u);
  EXPECT_GT(coverage.rolled_back, 0u);
}

TEST(CrashTest, KillAtFixedPointsInsideTransactions) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Coverage coverage;
  SeedReadyDeployments(path, 3);
  const char* points[] = {
      "begin_deploy:after_deployment_row",  // the deployment row, no partition yet
      "begin_deploy:mid_cores",             // half the cores booked
      "begin_deploy:before_commit",
      "transition:before_commit",     // a state change (and maybe a freed partition)
      "move_deployment:after_board",  // a failover: moved, old cores freed, none booked
      "move_deployment:mid_cores",
      "move_deployment:before_commit",
      "recover:before_commit",  // start-up recovery itself
  };
  for (const char* point : points) {
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE(std::string(point) + " round " + std::to_string(round));
      std::set<std::string> before = ExistingIds(path);
      if (std::string_view(point) == "recover:before_commit") {
        // Leave deployments half-way first, so the killed recovery has work.
        std::string acks =
            RunAndKill(path, rng(), "", 0, std::chrono::microseconds(20000 + rng() % 30000));
        std::map<std::string, S> interrupted = States(path);
        RunAndKill(path, rng(), point, 1, {});
        EXPECT_EQ(States(path), interrupted) << "a killed recovery changed the file";
        CheckAfterCrash(path, ParseAcks(acks), before, /*strict=*/false, &coverage);
      } else {
        std::string acks = RunAndKill(path, rng(), point, 1 + rng() % 12, {});
        CheckAfterCrash(path, ParseAcks(acks), before, /*strict=*/true, &coverage);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(coverage.acked, 0u);
  EXPECT_GT(coverage.rolled_back, 0u);
}

}  // namespace
}  // namespace spk::daemon::state

#include "daemon/state/state_store.h"

#include <cmath>
#include <limits>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/state/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spk::daemon::state {
namespace {

using ::spk::daemon::state::testing::FakeClock;
using ::spk::daemon::state::testing::SampleArtifact;
using ::spk::daemon::state::testing::SampleBoard;
using ::spk::daemon::state::testing::SampleModel;
using ::spk::daemon::state::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using S = DeploymentState;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open();
    SPK_ASSERT_OK_AND_ASSIGN(ModelRecord model, store_->RegisterModel(SampleModel()));
    sha_ = model.sha256;
    SPK_ASSERT_OK(store_->RegisterArtifact(SampleArtifact(sha_, "key-1")));
    SPK_ASSERT_OK(store_->RegisterBoard(SampleBoard("b0", 1024)));
    SPK_ASSERT_OK(store_->RegisterBoard(SampleBoard("b1", 8)));
  }

  void Open() {
    store_.reset();
    StateStoreOptions options;
    options.clock_ms = clock_.AsFunction();
    // An fsync per commit only slows these tests down; the default (FULL)
    // is checked in sqlite_test.cc and used by the crash test.
    options.database.synchronous = Synchronous::kNormal;
    SPK_ASSERT_OK_AND_ASSIGN(store_, StateStore::Create(path(), options));
  }

  std::string path() const { return dir_.File("state.db"); }

  DeployRequest Request(std::vector<uint32_t> cores, std::string board = "b0") {
    DeployRequest r;
    r.model_sha256 = sha_;
    r.board_id = std::move(board);
    r.cores = std::move(cores);
    return r;
  }

  // A fresh deployment on its own cores of b0, driven to `state` along the
  // happy path (or failed from pending).
  Deployment DeploymentIn(S state) {
    DeployRequest request = Request({next_core_, next_core_ + 1});
    next_core_ += 2;
    Deployment d = store_->BeginDeploy(request).value();
    auto step = [&](S to) { d = store_->Advance(d.id, to, "test failure").value(); };
    switch (state) {
      case S::kPending:
        break;
      case S::kFailed:
        step(S::kFailed);
        break;
      case S::kCompiling:
        step(S::kCompiling);
        break;
      case S::kLoading:
        d = store_->StartLoading(d.id, "key-1").value();
        break;
      case S::kReady:
      case S::kUndeploying:
      case S::kUndeployed:
        d = store_->StartLoading(d.id, "key-1").value();
        step(S::kReady);
        if (state != S::kReady) step(S::kUndeploying);
        if (state == S::kUndeployed) step(S::kUndeployed);
        break;
    }
    EXPECT_EQ(d.state, state);
    return d;
  }

  // Another connection to the same file, for checks and tampering.
  std::unique_ptr<Database> Raw() { return Database::Open(path()).value(); }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<StateStore> store_;
  std::string sha_;
  uint32_t next_core_ = 0;
};

constexpr S kAllStates[] = {S::kPending, S::kCompiling,   S::kLoading,   S::kReady,
                            S::kFailed,  S::kUndeploying, S::kUndeployed};

// --- Models, artifacts, boards ---------------------------------------------

TEST_F(StateStoreTest, RegisteringAModelAgainKeepsFirstSeen) {
  SPK_ASSERT_OK_AND_ASSIGN(ModelRecord first, store_->GetModel(sha_));
  clock_.Advance(5000);
  ModelRecord again = SampleModel();
  again.path = "/elsewhere/model.pt";
  SPK_ASSERT_OK_AND_ASSIGN(ModelRecord second, store_->RegisterModel(again));
  EXPECT_EQ(second.first_seen_ms, first.first_seen_ms);
  EXPECT_EQ(second.path, "/elsewhere/model.pt");
  EXPECT_EQ(store_->ListModels().value().size(), 1u);
}

TEST_F(StateStoreTest, RefusesBadModels) {
  ModelRecord bad = SampleModel();
  bad.sha256 = "ABC";
  EXPECT_EQ(store_->RegisterModel(bad).status().code(), StatusCode::kInvalidArgument);
  ModelRecord resized = SampleModel();
  resized.size_bytes += 1;
  auto status = store_->RegisterModel(resized).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("cannot have two sizes"));
  EXPECT_EQ(store_->GetModel(testing::FakeSha256(99)).status().code(), StatusCode::kNotFound);
}

TEST_F(StateStoreTest, ArtifactCacheEntries) {
  SPK_ASSERT_OK(store_->RegisterArtifact(SampleArtifact(sha_, "key-2")));
  clock_.Advance(10);
  SPK_ASSERT_OK(store_->TouchArtifact("key-1"));
  auto lru = store_->ListArtifacts().value();
  ASSERT_EQ(lru.size(), 2u);
  EXPECT_EQ(lru[0].cache_key, "key-2");  // least recently used first
  EXPECT_EQ(lru[1].cache_key, "key-1");
  EXPECT_EQ(lru[1].last_used_ms, clock_.now());
  EXPECT_EQ(lru[1].compile_options, R"({"opt_level":2})");

  EXPECT_EQ(store_->TouchArtifact("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetArtifact("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RegisterArtifact(SampleArtifact(testing::FakeSha256(42), "k")).status().code(),
            StatusCode::kNotFound);
  ArtifactRecord bad_json = SampleArtifact(sha_, "k");
  bad_json.compile_options = "{opt";
  EXPECT_EQ(store_->RegisterArtifact(bad_json).status().code(), StatusCode::kInvalidArgument);

  // In use by an active deployment: refused; afterwards it can go.
  Deployment d = DeploymentIn(S::kReady);
  Status in_use = store_->DeleteArtifact("key-1");
  EXPECT_EQ(in_use.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(in_use.message(), HasSubstr(d.id));
  SPK_ASSERT_OK(store_->BeginUndeploy(d.id));
  SPK_ASSERT_OK(store_->FinishUndeploy(d.id));
  SPK_EXPECT_OK(store_->DeleteArtifact("key-1"));
  EXPECT_EQ(store_->DeleteArtifact("key-1").code(), StatusCode::kNotFound);
  // The history keeps the deployment, without the artifact.
  EXPECT_EQ(store_->GetDeployment(d.id).value().artifact_key, "");
}

TEST_F(StateStoreTest, Boards) {
  SPK_ASSERT_OK_AND_ASSIGN(BoardRecord first, store_->GetBoard("b0"));
  EXPECT_EQ(first.state, BoardState::kOnline);
  clock_.Advance(60000);
  SPK_ASSERT_OK_AND_ASSIGN(BoardRecord again, store_->RegisterBoard(SampleBoard("b0", 1024)));
  EXPECT_EQ(again.first_seen_ms, first.first_seen_ms);
  EXPECT_EQ(again.last_seen_ms, first.last_seen_ms + 60000);
  SPK_ASSERT_OK(store_->SetBoardState("b0", BoardState::kOffline));
  EXPECT_EQ(store_->GetBoard("b0").value().state, BoardState::kOffline);
  EXPECT_EQ(store_->SetBoardState("zz", BoardState::kOnline).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetBoard("zz").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RegisterBoard(SampleBoard("b2", 0)).status().code(),
            StatusCode::kInvalidArgument);
  // Shrinking below a booked core would strand that deployment.
  SPK_ASSERT_OK_AND_ASSIGN(Deployment d, store_->BeginDeploy(Request({5}, "b1")));
  auto shrunk = store_->RegisterBoard(SampleBoard("b1", 4));
  EXPECT_EQ(shrunk.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(shrunk.status().message(), HasSubstr(d.id + " holds core 5"));
  SPK_EXPECT_OK(store_->RegisterBoard(SampleBoard("b1", 6)));
  auto boards = store_->ListBoards().value();
  ASSERT_EQ(boards.size(), 2u);
  EXPECT_EQ(boards[1].id, "b1");
}

// --- Deployments -----------------------------------------------------------

TEST_F(StateStoreTest, BeginDeployBooksCoresAtomically) {
  DeployRequest request = Request({7, 5, 6, 20});
  request.name = "mnist";
  request.failover = FailoverPolicy::kEmulator;
  request.options_json = R"({"timesteps":8})";
  SPK_ASSERT_OK_AND_ASSIGN(Deployment d, store_->BeginDeploy(request));
  EXPECT_TRUE(std::regex_match(d.id, std::regex("d-[0-9a-f]{4}"))) << d.id;
  EXPECT_EQ(d.state, S::kPending);
  EXPECT_THAT(d.cores, ElementsAre(5, 6, 7, 20));

  SPK_ASSERT_OK_AND_ASSIGN(Deployment by_name, store_->GetDeployment("mnist"));
  EXPECT_EQ(by_name.id, d.id);
  EXPECT_EQ(by_name.failover, FailoverPolicy::kEmulator);
  EXPECT_EQ(by_name.options_json, R"({"timesteps":8})");
  EXPECT_THAT(by_name.cores, ElementsAre(5, 6, 7, 20));
  EXPECT_EQ(by_name.created_ms, clock_.now());
  EXPECT_THAT(store_->UsedCores("b0").value(), ElementsAre(5, 6, 7, 20));

  auto raw = Raw();
  auto text =
      raw->Prepare("read", "SELECT cores, board_id FROM partitions WHERE deployment_id = ?1");
  ASSERT_TRUE(text->BindAll(d.id).Step().value());
  EXPECT_EQ(text->ColumnText(0), "5-7,20");
  EXPECT_EQ(text->ColumnText(1), "b0");
}

TEST_F(StateStoreTest, HappyPathsThroughTheStateMachine) {
  // Cold: pending -> compiling -> loading -> ready -> undeploying -> undeployed.
  SPK_ASSERT_OK_AND_ASSIGN(Deployment d, store_->BeginDeploy(Request({0, 1})));
  EXPECT_EQ(store_->StartCompiling(d.id).value().state, S::kCompiling);
  clock_.Advance(100);
  SPK_ASSERT_OK_AND_ASSIGN(d, store_->StartLoading(d.id, "key-1"));
  EXPECT_EQ(d.state, S::kLoading);
  EXPECT_EQ(d.artifact_key, "key-1");
  EXPECT_EQ(d.updated_ms, clock_.now());
  EXPECT_EQ(store_->MarkReady(d.id).value().state, S::kReady);
  EXPECT_EQ(store_->BeginUndeploy(d.id).value().state, S::kUndeploying);
  EXPECT_THAT(store_->UsedCores("b0").value(), ElementsAre(0, 1));  // until unloaded
  SPK_ASSERT_OK_AND_ASSIGN(d, store_->FinishUndeploy(d.id));
  EXPECT_EQ(d.state, S::kUndeployed);
  EXPECT_THAT(d.cores, IsEmpty());
  EXPECT_THAT(store_->UsedCores("b0").value(), IsEmpty());

  // Cache hit: pending -> loading with the artifact given at the start.
  DeployRequest hit = Request({0, 1});
  hit.artifact_key = "key-1";
  SPK_ASSERT_OK_AND_ASSIGN(Deployment h, store_->BeginDeploy(hit));
  SPK_ASSERT_OK(store_->StartLoading(h.id, ""));
  EXPECT_EQ(store_->MarkReady(h.id).value().artifact_key, "key-1");
}

TEST_F(StateStoreTest, FailureFreesCoresAndKeepsTheReason) {
  for (S from : {S::kPending, S::kCompiling, S::kLoading, S::kReady}) {
    Deployment d = DeploymentIn(from);
    SPK_ASSERT_OK_AND_ASSIGN(Deployment failed, store_->MarkFailed(d.id, "board fell over"));
    EXPECT_EQ(failed.state, S::kFailed);
    EXPECT_EQ(failed.error, "board fell over");
    EXPECT_THAT(store_->GetDeployment(d.id).value().cores, IsEmpty());
  }
  EXPECT_THAT(store_->UsedCores("b0").value(), IsEmpty());
  SPK_EXPECT_OK(store_->CheckConsistency());
}

TEST_F(StateStoreTest, EveryIllegalTransitionIsRefusedNamingTheStates) {
  for (S from : kAllStates) {
    for (S to : kAllStates) {
      if (IsLegalTransition(from, to)) continue;
      Deployment d = DeploymentIn(from);
      auto moved = store_->Advance(d.id, to, "x");
      ASSERT_FALSE(moved.ok()) << DeploymentStateName(from) << " -> " << DeploymentStateName(to);
      EXPECT_EQ(moved.status().code(), StatusCode::kFailedPrecondition);
      EXPECT_THAT(moved.status().message(),
                  HasSubstr("is " + std::string(DeploymentStateName(from)) + "; it cannot become " +
                            std::string(DeploymentStateName(to))));
      // Nothing changed.
      EXPECT_EQ(store_->GetDeployment(d.id).value().state, from);
    }
  }
  SPK_EXPECT_OK(store_->CheckConsistency());
}

TEST_F(StateStoreTest, LoadingNeedsAnArtifact) {
  SPK_ASSERT_OK_AND_ASSIGN(Deployment d, store_->BeginDeploy(Request({0})));
  auto no_artifact = store_->StartLoading(d.id, "");
  EXPECT_EQ(no_artifact.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_artifact.status().message(), HasSubstr("has no artifact"));
  EXPECT_EQ(store_->StartLoading(d.id, "key-404").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDeployment(d.id).value().state, S::kPending);
  EXPECT_EQ(store_->Advance("d-0000", S::kReady).status().code(), StatusCode::kNotFound);
}

TEST_F(StateStoreTest, DoubleBookingACoreIsRefused) {
  SPK_ASSERT_OK_AND_ASSIGN(Deployment first, store_->BeginDeploy(Request({0, 1, 2, 3})));
  auto second = store_->BeginDeploy(Request({2, 3, 4, 5}));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(),
              HasSubstr("board b0: cores 2-3 are held by deployment " + first.id));
  // The refused request left nothing behind.
  EXPECT_EQ(store_->ListDeployments({.include_inactive = true}).value().size(), 1u);
  // Same cores on another board are fine.
  SPK_EXPECT_OK(store_->BeginDeploy(Request({2, 3}, "b1")));
  // Freed cores can be booked again.
  SPK_ASSERT_OK(store_->MarkFailed(first.id, "gave up"));
  SPK_EXPECT_OK(store_->BeginDeploy(Request({2, 3, 4, 5})));
}

TEST_F(StateStoreTest, TheSchemaItselfRefusesDoubleBookingAndStrayPartitions) {
  SPK_ASSERT_OK_AND_ASSIGN(Deployment a, store_->BeginDeploy(Request({0, 1})));
  SPK_ASSERT_OK_AND_ASSIGN(Deployment b, store_->BeginDeploy(Request({2})));
  auto raw = Raw();
  // A buggy writer booking b0/core 1 for b as well.
  Status dup = raw->Exec("book core twice",
                         "INSERT INTO partition_cores (board_id, core, deployment_id) VALUES "
                         "('b0', 1, '" +
                             b.id + "')");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  // A deployment cannot become inactive while holding a partition.
  Status stray = raw->Exec("fail without freeing",
                           "UPDATE deployments SET state = 'failed' WHERE id = '" + a.id + "'");
  EXPECT_EQ(stray.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(stray.message(), HasSubstr("must release its partition"));
  // A partition on another board than its deployment's.
  Status wrong_board = raw->Exec(
      "misplace partition", "DELETE FROM partitions WHERE deployment_id = '" + b.id +
                                "'; INSERT INTO partitions VALUES ('" + b.id + "', 'b1', '2', 0)");
  EXPECT_EQ(wrong_board.code(), StatusCode::kFailedPrecondition);
}

TEST_F(StateStoreTest, RefusesBadDeployRequests) {
  auto code = [&](DeployRequest r) { return store_->BeginDeploy(r).status().code(); };
  EXPECT_EQ(code(Request({})), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Request({1, 1})), StatusCode::kInvalidArgument);
  auto beyond = store_->BeginDeploy(Request({7, 8, 9}, "b1"));
  EXPECT_EQ(beyond.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(beyond.status().message(), HasSubstr("cores 8-9 do not exist"));
  EXPECT_EQ(code(Request({0}, "nope")), StatusCode::kNotFound);
  DeployRequest r = Request({0});
  r.model_sha256 = testing::FakeSha256(77);
  EXPECT_EQ(code(r), StatusCode::kNotFound);
  r = Request({0});
  r.artifact_key = "missing";
  EXPECT_EQ(code(r), StatusCode::kNotFound);
  r = Request({0});
  r.options_json = "{not json";
  EXPECT_EQ(code(r), StatusCode::kInvalidArgument);
  for (const char* name : {"d-12ab", "-x", "has space", "ü"}) {
    r = Request({0});
    r.name = name;
    EXPECT_EQ(code(r), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_THAT(store_->ListDeployments({.include_inactive = true}).value(), IsEmpty());
}

TEST_F(StateStoreTest, NamesAreUniqueAmongActiveDeployments) {
  DeployRequest r = Request({0});
  r.name = "cam";
  SPK_ASSERT_OK_AND_ASSIGN(Deployment first, store_->BeginDeploy(r));
  r.cores = {1};
  auto clash = store_->BeginDeploy(r);
  EXPECT_EQ(clash.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(clash.status().message(), HasSubstr(first.id));
  SPK_ASSERT_OK(store_->MarkFailed(first.id, "bad"));
  SPK_ASSERT_OK_AND_ASSIGN(Deployment second, store_->BeginDeploy(r));
  EXPECT_EQ(store_->GetDeployment("cam").value().id, second.id);
  EXPECT_EQ(store_->GetDeployment(first.id).value().state, S::kFailed);
}

TEST_F(StateStoreTest, ConcurrentDeploysForTheSameCoresHaveOneWinner) {
  constexpr int kThreads = 8;
  std::vector<StatusCode> codes(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      codes[i] = store_->BeginDeploy(Request({10, 11})).status().code();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), StatusCode::kOk), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), StatusCode::kResourceExhausted), kThreads - 1);
}

TEST_F(StateStoreTest, MoveDeploymentRebooksCoresAndRemembersHome) {
  Deployment d = DeploymentIn(S::kReady);
  Deployment other = DeploymentIn(S::kReady);
  // Onto b1 while b0 is away: b0's cores are free again, b1's booked.
  SPK_ASSERT_OK_AND_ASSIGN(Deployment moved, store_->MoveDeployment(d.id, "b1", {3, 1}, "b0"));
  EXPECT_EQ(moved.board_id, "b1");
  EXPECT_EQ(moved.home_board_id, "b0");
  EXPECT_THAT(moved.cores, ElementsAre(1, 3));
  EXPECT_THAT(store_->UsedCores("b0").value(), ElementsAre(2, 3));
  EXPECT_THAT(store_->UsedCores("b1").value(), ElementsAre(1, 3));
  SPK_ASSERT_OK_AND_ASSIGN(Deployment read, store_->GetDeployment(d.id));
  EXPECT_EQ(read.board_id, "b1");
  EXPECT_EQ(read.home_board_id, "b0");
  SPK_EXPECT_OK(store_->CheckConsistency());

  // Survives a restart: recovery restores it where it runs, home recorded.
  Open();
  SPK_ASSERT_OK_AND_ASSIGN(RecoveryReport report, store_->Recover());
  ASSERT_EQ(report.restore.size(), 2u);
  const Deployment& restored = report.restore[0].id == d.id ? report.restore[0] : report.restore[1];
  EXPECT_EQ(restored.board_id, "b1");
  EXPECT_EQ(restored.home_board_id, "b0");

  // Home again, on other cores than before; home is cleared.
  SPK_ASSERT_OK_AND_ASSIGN(moved, store_->MoveDeployment(d.id, "b0", {7}, ""));
  EXPECT_EQ(moved.home_board_id, "");
  EXPECT_THAT(store_->UsedCores("b0").value(), ElementsAre(2, 3, 7));
  EXPECT_THAT(store_->UsedCores("b1").value(), IsEmpty());
  EXPECT_EQ(store_->GetDeployment(d.id).value().home_board_id, "");

  // Onto another deployment's cores: refused, naming it, and nothing moves.
  auto taken = store_->MoveDeployment(d.id, "b0", {3}, "");
  EXPECT_EQ(taken.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(taken.status().message(), HasSubstr(other.id));
  EXPECT_THAT(store_->UsedCores("b0").value(), ElementsAre(2, 3, 7));
  EXPECT_EQ(store_->MoveDeployment(d.id, "b1", {8}, "b0").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->MoveDeployment(d.id, "nowhere", {0}, "b0").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->MoveDeployment(d.id, "b1", {}, "b0").status().code(),
            StatusCode::kInvalidArgument);
  // Only ready deployments move.
  Deployment loading = DeploymentIn(S::kLoading);
  EXPECT_EQ(store_->MoveDeployment(loading.id, "b1", {0}, "b0").status().code(),
            StatusCode::kFailedPrecondition);
  SPK_EXPECT_OK(store_->CheckConsistency());
}

TEST_F(StateStoreTest, ListAndPruneHistory) {
  Deployment a = DeploymentIn(S::kReady);
  Deployment b = DeploymentIn(S::kFailed);
  SPK_ASSERT_OK(store_->BeginDeploy(Request({0}, "b1")));
  auto active = store_->ListDeployments().value();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].id, a.id);  // oldest first
  EXPECT_EQ(store_->ListDeployments({.include_inactive = true}).value().size(), 3u);
  EXPECT_EQ(store_->ListDeployments({.board_id = "b1"}).value().size(), 1u);
  clock_.Advance(1000);
  EXPECT_EQ(store_->PruneDeploymentHistory(clock_.now()).value(), 1);
  EXPECT_EQ(store_->GetDeployment(b.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDeployment(a.id).value().state, S::kReady);
}

// The daemon prunes on a timer with whatever retention it is given: no
// deployment that still holds cores may go, however old.
TEST_F(StateStoreTest, PruningHistoryKeepsEveryActiveDeployment) {
  std::vector<Deployment> active;
  for (S state : {S::kPending, S::kCompiling, S::kLoading, S::kReady, S::kUndeploying}) {
    active.push_back(DeploymentIn(state));
  }
  Deployment failed = DeploymentIn(S::kFailed);
  Deployment gone = DeploymentIn(S::kUndeployed);
  clock_.Advance(1000);
  EXPECT_EQ(store_->PruneDeploymentHistory(clock_.now()).value(), 2);
  for (const Deployment& d : active) {
    EXPECT_TRUE(store_->GetDeployment(d.id).ok()) << d.id;
  }
  EXPECT_EQ(store_->GetDeployment(failed.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDeployment(gone.id).status().code(), StatusCode::kNotFound);
  SPK_EXPECT_OK(store_->CheckConsistency());
}

// --- Recovery --------------------------------------------------------------

TEST_F(StateStoreTest, RecoverRestoresReadyAndRollsBackTheRest) {
  Deployment ready1 = DeploymentIn(S::kReady);
  Deployment pending = DeploymentIn(S::kPending);
  Deployment compiling = DeploymentIn(S::kCompiling);
  Deployment ready2 = DeploymentIn(S::kReady);
  Deployment loading = DeploymentIn(S::kLoading);
  Deployment undeploying = DeploymentIn(S::kUndeploying);
  Deployment failed = DeploymentIn(S::kFailed);
  Deployment undeployed = DeploymentIn(S::kUndeployed);

  Open();  // the restart
  SPK_ASSERT_OK_AND_ASSIGN(RecoveryReport report, store_->Recover());
  ASSERT_EQ(report.restore.size(), 2u);
  EXPECT_EQ(report.restore[0].id, ready1.id);
  EXPECT_EQ(report.restore[0].board_id, "b0");
  EXPECT_EQ(report.restore[0].cores, ready1.cores);
  EXPECT_EQ(report.restore[0].artifact_key, "key-1");
  EXPECT_EQ(report.restore[1].id, ready2.id);
  EXPECT_EQ(report.restore[1].cores, ready2.cores);

  ASSERT_EQ(report.rolled_back.size(), 4u);
  std::map<std::string, Deployment> rolled;
  for (const Deployment& d : report.rolled_back) rolled[d.id] = d;
  for (const Deployment* d : {&pending, &compiling, &loading}) {
    const Deployment& r = rolled.at(d->id);
    EXPECT_EQ(r.state, S::kFailed);
    EXPECT_THAT(r.error, HasSubstr("interrupted by a daemon restart while " +
                                   std::string(DeploymentStateName(d->state))));
    EXPECT_THAT(r.cores, IsEmpty());
  }
  EXPECT_EQ(rolled.at(undeploying.id).state, S::kUndeployed);
  EXPECT_THAT(rolled.at(undeploying.id).error, HasSubstr("interrupted by a daemon restart"));
  EXPECT_EQ(store_->GetDeployment(failed.id).value().error, "test failure");
  EXPECT_EQ(store_->GetDeployment(undeployed.id).value().state, S::kUndeployed);

  std::vector<uint32_t> expected_used = ready1.cores;
  expected_used.insert(expected_used.end(), ready2.cores.begin(), ready2.cores.end());
  EXPECT_EQ(store_->UsedCores("b0").value(), expected_used);
  SPK_EXPECT_OK(store_->CheckConsistency());

  // Idempotent, in this process and after another restart.
  for (int round = 0; round < 2; ++round) {
    SPK_ASSERT_OK_AND_ASSIGN(RecoveryReport again, store_->Recover());
    ASSERT_EQ(again.restore.size(), 2u);
    EXPECT_EQ(again.restore[0].id, ready1.id);
    EXPECT_EQ(again.restore[1].cores, ready2.cores);
    EXPECT_THAT(again.rolled_back, IsEmpty());
    Open();
  }
}

TEST_F(StateStoreTest, RecoverOnAnEmptyStore) {
  SPK_ASSERT_OK_AND_ASSIGN(RecoveryReport report, store_->Recover());
  EXPECT_THAT(report.restore, IsEmpty());
  EXPECT_THAT(report.rolled_back, IsEmpty());
}

// --- Telemetry -------------------------------------------------------------

TelemetrySample Sample(std::string board, int64_t ts, double temperature) {
  TelemetrySample s;
  s.board_id = std::move(board);
  s.timestamp_ms = ts;
  s.fields["temperature_c"] = temperature;
  s.fields["power_w.vdd"] = temperature / 100;
  return s;
}

TEST_F(StateStoreTest, TelemetryInsertAndQuery) {
  const int64_t t0 = clock_.now();
  std::vector<TelemetrySample> samples;
  for (int i = 0; i < 10; ++i) samples.push_back(Sample("b0", t0 + i * 1000, 40 + i));
  samples.push_back(Sample("b1", t0, 30));
  TelemetrySample sparse;  // a device that reports nothing but energy
  sparse.board_id = "b1";
  sparse.timestamp_ms = t0 + 1;
  sparse.fields["energy_total_j"] = 12.5;
  samples.push_back(sparse);
  SPK_ASSERT_OK(store_->InsertTelemetry(samples));

  SPK_ASSERT_OK_AND_ASSIGN(auto b0, store_->QueryTelemetry({.board_id = "b0"}));
  ASSERT_EQ(b0.size(), 10u);
  EXPECT_EQ(b0.front().timestamp_ms, t0);
  EXPECT_EQ(b0.back().fields.at("temperature_c"), 49);
  EXPECT_DOUBLE_EQ(b0.back().fields.at("power_w.vdd"), 0.49);

  SPK_ASSERT_OK_AND_ASSIGN(auto newest, store_->QueryTelemetry({.board_id = "b0", .limit = 3}));
  ASSERT_EQ(newest.size(), 3u);
  EXPECT_EQ(newest[0].timestamp_ms, t0 + 7000);  // the newest three, oldest first
  EXPECT_EQ(newest[2].timestamp_ms, t0 + 9000);

  SPK_ASSERT_OK_AND_ASSIGN(
      auto range,
      store_->QueryTelemetry({.board_id = "b0", .since_ms = t0 + 2000, .until_ms = t0 + 4000}));
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range[1].timestamp_ms, t0 + 3000);

  SPK_ASSERT_OK_AND_ASSIGN(auto b1, store_->QueryTelemetry({.board_id = "b1"}));
  ASSERT_EQ(b1.size(), 2u);
  EXPECT_EQ(b1[1].fields.size(), 1u);
  EXPECT_FALSE(b1[1].fields.contains("temperature_c"));  // unsupported, not zero
  EXPECT_EQ(store_->QueryTelemetry({}).value().size(), 12u);
}

TEST_F(StateStoreTest, TelemetryRefusesUnknownBoardsAndNaN) {
  std::vector<TelemetrySample> batch = {Sample("b0", 1, 1), Sample("ghost", 2, 2)};
  Status unknown = store_->InsertTelemetry(batch);
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("ghost"));
  EXPECT_THAT(store_->QueryTelemetry({}).value(), IsEmpty());  // all or nothing
  TelemetrySample nan = Sample("b0", 1, std::nan(""));
  EXPECT_EQ(store_->InsertTelemetry({&nan, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->QueryTelemetry({.limit = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StateStoreTest, TelemetryRetentionByAgeAndCount) {
  const int64_t now = clock_.now();
  std::vector<TelemetrySample> samples;
  for (int i = 0; i < 20; ++i) samples.push_back(Sample("b0", now - i * 60'000, i));  // 1/min
  for (int i = 0; i < 5; ++i) samples.push_back(Sample("b1", now - i, i));
  SPK_ASSERT_OK(store_->InsertTelemetry(samples));

  // Ten minutes of age keeps b0's samples 0..10 (11 samples) and all of b1.
  SPK_ASSERT_OK_AND_ASSIGN(int64_t by_age, store_->PruneTelemetry({.max_age_ms = 600'000,
                                                                   .max_samples_per_board = 100}));
  EXPECT_EQ(by_age, 9);
  EXPECT_EQ(store_->QueryTelemetry({.board_id = "b0"}).value().size(), 11u);

  SPK_ASSERT_OK_AND_ASSIGN(int64_t by_count, store_->PruneTelemetry({.max_age_ms = 600'000,
                                                                     .max_samples_per_board = 3}));
  EXPECT_EQ(by_count, 8 + 2);
  auto b0 = store_->QueryTelemetry({.board_id = "b0"}).value();
  ASSERT_EQ(b0.size(), 3u);
  EXPECT_EQ(b0.back().timestamp_ms, now);  // the newest stay
  EXPECT_EQ(b0.front().timestamp_ms, now - 120'000);
  EXPECT_EQ(store_->QueryTelemetry({.board_id = "b1"}).value().size(), 3u);

  // The field rows went with their samples.
  EXPECT_EQ(Raw()->QueryInt64("count", "SELECT count(*) FROM telemetry_values").value(), 12);
  EXPECT_EQ(store_->PruneTelemetry({.max_age_ms = -1}).status().code(),
            StatusCode::kInvalidArgument);
}

// --- Audit -----------------------------------------------------------------

TEST_F(StateStoreTest, AuditLog) {
  AuditEntry deploy{.uid = 1000,
                    .gid = 1000,
                    .pid = 4242,
                    .user_name = "ada",
                    .operation = "deploy",
                    .target = "model.pt",
                    .result = StatusCode::kOk,
                    .message = "d-1234"};
  AuditEntry denied{.uid = 65534,
                    .gid = 65534,
                    .pid = 7,
                    .user_name = "nobody",
                    .operation = "undeploy",
                    .target = "d-1234",
                    .result = StatusCode::kPermissionDenied,
                    .message = "not in group spiked"};
  const int64_t t0 = clock_.now();
  SPK_ASSERT_OK_AND_ASSIGN(int64_t id1, store_->AppendAudit(deploy));
  clock_.Advance(1000);
  SPK_ASSERT_OK_AND_ASSIGN(int64_t id2, store_->AppendAudit(denied));
  clock_.Advance(1000);
  SPK_ASSERT_OK(store_->AppendAudit(deploy));
  EXPECT_LT(id1, id2);

  SPK_ASSERT_OK_AND_ASSIGN(auto all, store_->QueryAudit({}));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].user_name, "nobody");
  EXPECT_EQ(all[1].result, StatusCode::kPermissionDenied);
  EXPECT_EQ(all[1].time_ms, t0 + 1000);
  EXPECT_EQ(all[1].pid, 7);
  EXPECT_EQ(all[1].message, "not in group spiked");

  EXPECT_EQ(store_->QueryAudit({.uid = 65534}).value().size(), 1u);
  EXPECT_EQ(store_->QueryAudit({.operation = "deploy"}).value().size(), 2u);
  EXPECT_EQ(store_->QueryAudit({.target = "d-1234"}).value().size(), 1u);
  EXPECT_EQ(store_->QueryAudit({.since_ms = t0 + 1000}).value().size(), 2u);
  auto newest = store_->QueryAudit({.limit = 1}).value();
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].time_ms, t0 + 2000);

  EXPECT_EQ(store_->PruneAudit(t0 + 1000).value(), 1);
  EXPECT_EQ(store_->QueryAudit({}).value().size(), 2u);
}

// --- Damage ----------------------------------------------------------------

TEST_F(StateStoreTest, GarbageFileIsDataLossNamingThePath) {
  store_.reset();
  std::string bytes = testing::ReadFile(path());
  ASSERT_GT(bytes.size(), 4096u);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  testing::WriteFile(path(), bytes);
  auto store = StateStore::Create(path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr(path()));
}

TEST_F(StateStoreTest, DamagedPagesAreDataLossNamingThePath) {
  // Enough rows for several pages, then garbage over all but the header page.
  std::vector<TelemetrySample> samples;
  for (int i = 0; i < 500; ++i) samples.push_back(Sample("b0", i, i));
  SPK_ASSERT_OK(store_->InsertTelemetry(samples));
  store_.reset();
  std::string bytes = testing::ReadFile(path());
  ASSERT_GT(bytes.size(), 4u * 4096);
  for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  testing::WriteFile(path(), bytes);
  auto store = StateStore::Create(path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(path()));
}

TEST_F(StateStoreTest, CheckConsistencyFindsHandMadeDamage) {
  Deployment d = DeploymentIn(S::kReady);
  SPK_ASSERT_OK(store_->CheckConsistency());
  SPK_ASSERT_OK(Raw()->Exec("lose cores",
                            "DELETE FROM partition_cores WHERE deployment_id = '" + d.id + "'"));
  Status status = store_->CheckConsistency();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              HasSubstr("active deployment " + d.id + " (ready) holds no partition"));
  EXPECT_THAT(status.message(), HasSubstr("partition of " + d.id + " says cores"));
  // Recovery does not hand back a ready deployment it cannot place.
  SPK_ASSERT_OK_AND_ASSIGN(RecoveryReport report, store_->Recover());
  EXPECT_THAT(report.restore, IsEmpty());
  ASSERT_EQ(report.rolled_back.size(), 1u);
  EXPECT_EQ(report.rolled_back[0].state, S::kFailed);
  SPK_EXPECT_OK(store_->CheckConsistency());
}

TEST(StateStoreOpen, ADirectoryInsteadOfAFileIsAnErrorNamingThePath) {
  TempDir dir;
  auto store = StateStore::Create(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(dir.path()));
}

}  // namespace
}  // namespace spk::daemon::state

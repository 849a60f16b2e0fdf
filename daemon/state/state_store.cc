#include "daemon/state/state_store.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "base/check.h"
#include "daemon/state/core_list.h"
#include "daemon/state/schema.h"

namespace spk::daemon::state {
namespace {

constexpr std::string_view kModelColumns = "sha256, name, path, size_bytes, first_seen_ms";
constexpr std::string_view kArtifactColumns =
    "cache_key, model_sha256, compile_options, chip_profile, compiler_version, path, size_bytes, "
    "checksum, created_ms, last_used_ms";
constexpr std::string_view kBoardColumns =
    "id, driver, serial, board_profile, chip_profile, total_cores, first_seen_ms, last_seen_ms, "
    "state";
constexpr std::string_view kDeploymentColumns =
    "id, name, model_sha256, artifact_key, board_id, state, failover, options_json, error, "
    "created_ms, updated_ms, home_board_id";
// The states that hold no partition, as an SQL list.
constexpr std::string_view kInactiveStatesSql = "('failed', 'undeployed')";

std::string Sql(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsSha256(std::string_view text) { return text.size() == 64 && IsLowerHex(text); }

bool LooksLikeDeploymentId(std::string_view text) {
  return text.size() > 2 && text.substr(0, 2) == "d-" && IsLowerHex(text.substr(2));
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string StateList(std::span<const DeploymentState> states) {
  std::string out;
  for (DeploymentState s : states) {
    if (!out.empty()) out += ", ";
    out += DeploymentStateName(s);
  }
  return out;
}

// Row readers. A value outside the schema's CHECK lists can only come from a
// damaged or hand-edited file.
ModelRecord ModelFromRow(const Statement& row) {
  ModelRecord m;
  m.sha256 = row.ColumnText(0);
  m.name = row.ColumnText(1);
  m.path = row.ColumnText(2);
  m.size_bytes = row.ColumnInt64(3);
  m.first_seen_ms = row.ColumnInt64(4);
  return m;
}

ArtifactRecord ArtifactFromRow(const Statement& row) {
  ArtifactRecord a;
  a.cache_key = row.ColumnText(0);
  a.model_sha256 = row.ColumnText(1);
  a.compile_options = row.ColumnText(2);
  a.chip_profile = row.ColumnText(3);
  a.compiler_version = row.ColumnText(4);
  a.path = row.ColumnText(5);
  a.size_bytes = row.ColumnInt64(6);
  a.checksum = row.ColumnText(7);
  a.created_ms = row.ColumnInt64(8);
  a.last_used_ms = row.ColumnInt64(9);
  return a;
}

StatusOr<BoardRecord> BoardFromRow(const Statement& row, std::string_view where) {
  BoardRecord b;
  b.id = row.ColumnText(0);
  b.driver = row.ColumnText(1);
  b.serial = row.ColumnText(2);
  b.board_profile = row.ColumnText(3);
  b.chip_profile = row.ColumnText(4);
  b.total_cores = static_cast<uint32_t>(row.ColumnInt64(5));
  b.first_seen_ms = row.ColumnInt64(6);
  b.last_seen_ms = row.ColumnInt64(7);
  std::string state = row.ColumnText(8);
  auto parsed = BoardStateFromName(state);
  if (!parsed) {
    return DataLossError(std::string(where) + ": board " + b.id + " has unknown state " +
                         Quote(state));
  }
  b.state = *parsed;
  return b;
}

// A partition's cores, ascending; INVALID_ARGUMENT for none or a repeat.
StatusOr<std::vector<uint32_t>> SortedCores(std::vector<uint32_t> cores) {
  if (cores.empty()) return InvalidArgumentError("a deployment needs at least one core");
  std::sort(cores.begin(), cores.end());
  if (auto dup = std::adjacent_find(cores.begin(), cores.end()); dup != cores.end()) {
    return InvalidArgumentError("core " + std::to_string(*dup) + " is requested twice");
  }
  return cores;
}

StatusOr<Deployment> DeploymentFromRow(const Statement& row, std::string_view where) {
  Deployment d;
  d.id = row.ColumnText(0);
  d.name = row.ColumnText(1);
  d.model_sha256 = row.ColumnText(2);
  d.artifact_key = row.ColumnText(3);
  d.board_id = row.ColumnText(4);
  std::string state = row.ColumnText(5);
  std::string failover = row.ColumnText(6);
  d.options_json = row.ColumnText(7);
  d.error = row.ColumnText(8);
  d.created_ms = row.ColumnInt64(9);
  d.updated_ms = row.ColumnInt64(10);
  d.home_board_id = row.ColumnText(11);
  auto parsed_state = DeploymentStateFromName(state);
  auto parsed_failover = FailoverPolicyFromName(failover);
  if (!parsed_state || !parsed_failover) {
    return DataLossError(std::string(where) + ": deployment " + d.id + " has unknown state " +
                         Quote(state) + " or failover policy " + Quote(failover));
  }
  d.state = *parsed_state;
  d.failover = *parsed_failover;
  return d;
}

// Reads the single row of a statement that yields one (RETURNING, lookups),
// then runs it to the end so it holds no lock at COMMIT.
template <typename Reader>
auto ReadOne(Statement& stmt, Reader reader) -> StatusOr<decltype(reader(stmt))> {
  SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  SPK_CHECK(row) << "statement returned no row";
  auto value = reader(stmt);
  SPK_RETURN_IF_ERROR(stmt.Run());
  return value;
}

}  // namespace

StateStore::StateStore(std::string path, std::unique_ptr<Database> db, StateStoreOptions options)
    : path_(std::move(path)), options_(std::move(options)), db_(std::move(db)) {}

StateStore::~StateStore() = default;

StatusOr<std::unique_ptr<StateStore>> StateStore::Create(const std::string& path,
                                                         StateStoreOptions options) {
  SPK_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, options.database));
  SPK_RETURN_IF_ERROR(MigrateSchema(*db));
  if (options.check_on_open) {
    SPK_ASSIGN_OR_RETURN(Statement check, db->Prepare("quick check", "PRAGMA quick_check(10)"));
    std::string problems;
    while (true) {
      SPK_ASSIGN_OR_RETURN(bool row, check.Step());
      if (!row) break;
      std::string line = check.ColumnText(0);
      if (line == "ok") continue;
      problems += problems.empty() ? "" : "; ";
      problems += line;
    }
    if (!problems.empty()) {
      return DataLossError("state database " + path + " is corrupt: " + problems +
                           ". Restore a backup, or move the file aside to start empty");
    }
  }
  return std::unique_ptr<StateStore>(new StateStore(path, std::move(db), std::move(options)));
}

int64_t StateStore::NowMs() const {
  if (options_.clock_ms) return options_.clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void StateStore::Fault(std::string_view point) const {
  if (options_.fault_hook) options_.fault_hook(point);
}

std::string StateStore::Where() const { return "state database " + path_; }

// --- Models and artifacts ---------------------------------------------------

StatusOr<ModelRecord> StateStore::RegisterModel(const ModelRecord& model) {
  if (!IsSha256(model.sha256)) {
    return InvalidArgumentError("model hash " + Quote(model.sha256) +
                                " is not 64 lowercase hex digits (SHA-256)");
  }
  if (model.size_bytes < 0) {
    return InvalidArgumentError("model " + model.sha256 + ": negative size");
  }
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(Statement existing, db_->Prepare("read model size",
                                                        "SELECT size_bytes FROM models "
                                                        "WHERE sha256 = ?1"));
  existing.BindAll(model.sha256);
  SPK_ASSIGN_OR_RETURN(bool found, existing.Step());
  if (found && existing.ColumnInt64(0) != model.size_bytes) {
    return InvalidArgumentError("model " + model.sha256 + " was recorded with " +
                                std::to_string(existing.ColumnInt64(0)) + " bytes, now " +
                                std::to_string(model.size_bytes) +
                                ": the same hash cannot have two sizes");
  }
  existing.Reset();
  SPK_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare("register model",
                   Sql({"INSERT INTO models (sha256, name, path, size_bytes, first_seen_ms) "
                        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sha256) DO UPDATE SET "
                        "name = excluded.name, path = excluded.path RETURNING ",
                        kModelColumns})));
  upsert.BindAll(model.sha256, model.name, model.path, model.size_bytes, NowMs());
  SPK_ASSIGN_OR_RETURN(ModelRecord stored, ReadOne(upsert, ModelFromRow));
  SPK_RETURN_IF_ERROR(txn.Commit());
  return stored;
}

StatusOr<ModelRecord> StateStore::GetModel(std::string_view sha256) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Statement stmt,
                       db_->Prepare("read model", Sql({"SELECT ", kModelColumns,
                                                       " FROM models WHERE sha256 = ?1"})));
  stmt.BindAll(sha256);
  SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("model " + std::string(sha256) + " is not registered");
  return ModelFromRow(stmt);
}

StatusOr<std::vector<ModelRecord>> StateStore::ListModels() {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Statement stmt,
                       db_->Prepare("list models", Sql({"SELECT ", kModelColumns,
                                                        " FROM models ORDER BY first_seen_ms, "
                                                        "sha256"})));
  std::vector<ModelRecord> out;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ModelFromRow(stmt));
  }
}

StatusOr<ArtifactRecord> StateStore::RegisterArtifact(const ArtifactRecord& artifact) {
  if (artifact.cache_key.empty()) return InvalidArgumentError("artifact with an empty cache key");
  if (artifact.size_bytes < 0) {
    return InvalidArgumentError("artifact " + artifact.cache_key + ": negative size");
  }
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(Statement check,
                       db_->Prepare("check artifact inputs",
                                    "SELECT json_valid(?1), "
                                    "EXISTS (SELECT 1 FROM models WHERE sha256 = ?2)"));
  check.BindAll(artifact.compile_options, artifact.model_sha256);
  SPK_ASSIGN_OR_RETURN(auto checked, ReadOne(check, [](const Statement& row) {
                         return std::pair(row.ColumnInt64(0) != 0, row.ColumnInt64(1) != 0);
                       }));
  if (!checked.first) {
    return InvalidArgumentError("artifact " + artifact.cache_key +
                                ": compile options are not JSON: " + artifact.compile_options);
  }
  if (!checked.second) {
    return NotFoundError("artifact " + artifact.cache_key + ": model " + artifact.model_sha256 +
                         " is not registered");
  }
  SPK_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare(
          "register artifact",
          Sql({"INSERT INTO artifacts (", kArtifactColumns,
               ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
               "ON CONFLICT (cache_key) DO UPDATE SET model_sha256 = excluded.model_sha256, "
               "compile_options = excluded.compile_options, "
               "chip_profile = excluded.chip_profile, "
               "compiler_version = excluded.compiler_version, path = excluded.path, "
               "size_bytes = excluded.size_bytes, checksum = excluded.checksum, "
               "created_ms = excluded.created_ms, last_used_ms = excluded.last_used_ms "
               "RETURNING ",
               kArtifactColumns})));
  upsert.BindAll(artifact.cache_key, artifact.model_sha256, artifact.compile_options,
                 artifact.chip_profile, artifact.compiler_version, artifact.path,
                 artifact.size_bytes, artifact.checksum, NowMs());
  SPK_ASSIGN_OR_RETURN(ArtifactRecord stored, ReadOne(upsert, ArtifactFromRow));
  SPK_RETURN_IF_ERROR(txn.Commit());
  return stored;
}

StatusOr<ArtifactRecord> StateStore::GetArtifact(std::string_view cache_key) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("read artifact", Sql({"SELECT ", kArtifactColumns,
                                                         " FROM artifacts WHERE cache_key = ?1"})));
  stmt.BindAll(cache_key);
  SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("artifact " + std::string(cache_key) + " is not in the cache");
  return ArtifactFromRow(stmt);
}

Status StateStore::TouchArtifact(std::string_view cache_key) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Statement stmt,
                       db_->Prepare("mark artifact used",
                                    "UPDATE artifacts SET last_used_ms = ?2 WHERE cache_key = ?1"));
  SPK_RETURN_IF_ERROR(stmt.BindAll(cache_key, NowMs()).Run());
  if (db_->changes() == 0) {
    return NotFoundError("artifact " + std::string(cache_key) + " is not in the cache");
  }
  return Status::Ok();
}

StatusOr<std::vector<ArtifactRecord>> StateStore::ListArtifacts() {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("list artifacts", Sql({"SELECT ", kArtifactColumns,
                                          " FROM artifacts ORDER BY last_used_ms, cache_key"})));
  std::vector<ArtifactRecord> out;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ArtifactFromRow(stmt));
  }
}

Status StateStore::DeleteArtifact(std::string_view cache_key) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(
      Statement users,
      db_->Prepare("find artifact users", Sql({"SELECT id FROM deployments WHERE artifact_key = ?1 "
                                               "AND state NOT IN ",
                                               kInactiveStatesSql, " ORDER BY rowid LIMIT 1"})));
  users.BindAll(cache_key);
  SPK_ASSIGN_OR_RETURN(bool used, users.Step());
  if (used) {
    return FailedPreconditionError("artifact " + std::string(cache_key) +
                                   " is in use by active deployment " + users.ColumnText(0) +
                                   "; undeploy it first");
  }
  users.Reset();
  SPK_ASSIGN_OR_RETURN(
      Statement del, db_->Prepare("delete artifact", "DELETE FROM artifacts WHERE cache_key = ?1"));
  SPK_RETURN_IF_ERROR(del.BindAll(cache_key).Run());
  if (db_->changes() == 0) {
    return NotFoundError("artifact " + std::string(cache_key) + " is not in the cache");
  }
  return txn.Commit();
}

// --- Boards -----------------------------------------------------------------

StatusOr<BoardRecord> StateStore::RegisterBoard(const BoardRecord& board) {
  if (board.id.empty()) return InvalidArgumentError("board with an empty id");
  if (board.total_cores == 0) {
    return InvalidArgumentError("board " + board.id + " reports zero cores");
  }
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  // A board that now reports fewer cores (another profile, a firmware
  // change) must not leave deployments booked on cores it no longer has.
  SPK_ASSIGN_OR_RETURN(Statement beyond,
                       db_->Prepare("check booked cores of board",
                                    "SELECT deployment_id, core FROM partition_cores "
                                    "WHERE board_id = ?1 AND core >= ?2 ORDER BY core LIMIT 1"));
  SPK_ASSIGN_OR_RETURN(bool stranded, beyond.BindAll(board.id, board.total_cores).Step());
  if (stranded) {
    return FailedPreconditionError(
        "board " + board.id + " now reports " + std::to_string(board.total_cores) +
        " cores but deployment " + beyond.ColumnText(0) + " holds core " +
        std::to_string(beyond.ColumnInt64(1)) + "; fail or undeploy it first");
  }
  beyond.Reset();
  SPK_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare("register board",
                   Sql({"INSERT INTO boards (", kBoardColumns,
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) "
                        "ON CONFLICT (id) DO UPDATE SET driver = excluded.driver, "
                        "serial = excluded.serial, board_profile = excluded.board_profile, "
                        "chip_profile = excluded.chip_profile, total_cores = excluded.total_cores, "
                        "last_seen_ms = excluded.last_seen_ms, state = excluded.state RETURNING ",
                        kBoardColumns})));
  upsert.BindAll(board.id, board.driver, board.serial, board.board_profile, board.chip_profile,
                 board.total_cores, NowMs(), BoardStateName(board.state));
  SPK_ASSIGN_OR_RETURN(bool row, upsert.Step());
  SPK_CHECK(row) << "RETURNING yielded no row";
  SPK_ASSIGN_OR_RETURN(BoardRecord stored, BoardFromRow(upsert, Where()));
  SPK_RETURN_IF_ERROR(upsert.Run());
  SPK_RETURN_IF_ERROR(txn.Commit());
  return stored;
}

Status StateStore::SetBoardState(std::string_view board_id, BoardState state) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("set board state",
                                                    "UPDATE boards SET state = ?2 WHERE id = ?1"));
  SPK_RETURN_IF_ERROR(stmt.BindAll(board_id, BoardStateName(state)).Run());
  if (db_->changes() == 0) {
    return NotFoundError("board " + std::string(board_id) + " is not registered");
  }
  return Status::Ok();
}

Status StateStore::RequireBoardLocked(std::string_view board_id, BoardRecord* board) {
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("read board", Sql({"SELECT ", kBoardColumns, " FROM boards WHERE id = ?1"})));
  stmt.BindAll(board_id);
  SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("board " + std::string(board_id) + " is not registered");
  SPK_ASSIGN_OR_RETURN(BoardRecord record, BoardFromRow(stmt, Where()));
  if (board != nullptr) *board = std::move(record);
  return Status::Ok();
}

StatusOr<BoardRecord> StateStore::GetBoard(std::string_view board_id) {
  std::lock_guard lock(mu_);
  BoardRecord board;
  SPK_RETURN_IF_ERROR(RequireBoardLocked(board_id, &board));
  return board;
}

StatusOr<std::vector<BoardRecord>> StateStore::ListBoards() {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("list boards", Sql({"SELECT ", kBoardColumns, " FROM boards ORDER BY id"})));
  std::vector<BoardRecord> out;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    SPK_ASSIGN_OR_RETURN(BoardRecord board, BoardFromRow(stmt, Where()));
    out.push_back(std::move(board));
  }
}

StatusOr<std::vector<uint32_t>> StateStore::UsedCores(std::string_view board_id) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kRead));
  SPK_RETURN_IF_ERROR(RequireBoardLocked(board_id, nullptr));
  SPK_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("list used cores",
                                                    "SELECT core FROM partition_cores "
                                                    "WHERE board_id = ?1 ORDER BY core"));
  stmt.BindAll(board_id);
  std::vector<uint32_t> cores;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    cores.push_back(static_cast<uint32_t>(stmt.ColumnInt64(0)));
  }
  stmt.Reset();
  SPK_RETURN_IF_ERROR(txn.Commit());
  return cores;
}

// --- Deployments ------------------------------------------------------------

StatusOr<std::vector<uint32_t>> StateStore::ReadCoresLocked(std::string_view deployment_id) {
  SPK_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("read partition cores",
                                                    "SELECT core FROM partition_cores "
                                                    "WHERE deployment_id = ?1 ORDER BY core"));
  stmt.BindAll(deployment_id);
  std::vector<uint32_t> cores;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return cores;
    cores.push_back(static_cast<uint32_t>(stmt.ColumnInt64(0)));
  }
}

StatusOr<Deployment> StateStore::ReadDeploymentLocked(std::string_view id_or_name) {
  // An id always wins; names cannot look like ids (BeginDeploy refuses them).
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("read deployment",
                   Sql({"SELECT ", kDeploymentColumns,
                        " FROM deployments WHERE id = ?1 OR (?1 != '' AND name = ?1 AND state "
                        "NOT IN ",
                        kInactiveStatesSql, ") ORDER BY id = ?1 DESC LIMIT 1"})));
  stmt.BindAll(id_or_name);
  SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("no deployment " + Quote(id_or_name));
  SPK_ASSIGN_OR_RETURN(Deployment d, DeploymentFromRow(stmt, Where()));
  stmt.Reset();
  SPK_ASSIGN_OR_RETURN(d.cores, ReadCoresLocked(d.id));
  return d;
}

StatusOr<std::string> StateStore::NewDeploymentIdLocked() {
  // Short ids are friendlier; they grow when the short space gets crowded.
  SPK_ASSIGN_OR_RETURN(Statement exists, db_->Prepare("check deployment id",
                                                      "SELECT 1 FROM deployments WHERE id = ?1"));
  std::random_device random;
  for (int digits = 4; digits <= 16; digits += 2) {
    for (int attempt = 0; attempt < 8; ++attempt) {
      uint64_t bits = (uint64_t{random()} << 32) | random();
      char hex[17];
      std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(bits));
      std::string id = "d-" + std::string(hex + 16 - digits);
      exists.Reset();
      SPK_ASSIGN_OR_RETURN(bool taken, exists.BindAll(id).Step());
      if (!taken) return id;
    }
  }
  return InternalError(Where() + ": could not find an unused deployment id");
}

StatusOr<Deployment> StateStore::BeginDeploy(const DeployRequest& request) {
  if (!request.name.empty() &&
      (!IsValidName(request.name) || LooksLikeDeploymentId(request.name))) {
    return InvalidArgumentError(
        "deployment name " + Quote(request.name) +
        " must be 1-64 letters, digits, '.', '_' or '-', start with a letter or digit, and not "
        "look like a deployment id (d-<hex>)");
  }
  SPK_ASSIGN_OR_RETURN(std::vector<uint32_t> cores, SortedCores(request.cores));
  const std::string core_text = FormatCoreList(cores);

  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));

  SPK_ASSIGN_OR_RETURN(
      Statement check,
      db_->Prepare("check deploy inputs",
                   "SELECT json_valid(?1), EXISTS (SELECT 1 FROM models WHERE sha256 = ?2), "
                   "?3 = '' OR EXISTS (SELECT 1 FROM artifacts WHERE cache_key = ?3)"));
  check.BindAll(request.options_json, request.model_sha256, request.artifact_key);
  SPK_ASSIGN_OR_RETURN(auto checked, ReadOne(check, [](const Statement& row) {
                         return std::array<bool, 3>{row.ColumnInt64(0) != 0,
                                                    row.ColumnInt64(1) != 0,
                                                    row.ColumnInt64(2) != 0};
                       }));
  if (!checked[0]) {
    return InvalidArgumentError("deployment options are not JSON: " + request.options_json);
  }
  if (!checked[1]) {
    return NotFoundError("model " + request.model_sha256 + " is not registered");
  }
  if (!checked[2]) {
    return NotFoundError("artifact " + request.artifact_key + " is not in the cache");
  }

  BoardRecord board;
  SPK_RETURN_IF_ERROR(RequireBoardLocked(request.board_id, &board));
  if (!request.name.empty()) {
    SPK_ASSIGN_OR_RETURN(
        Statement named,
        db_->Prepare("check deployment name", Sql({"SELECT id FROM deployments WHERE name = ?1 AND "
                                                   "state NOT IN ",
                                                   kInactiveStatesSql})));
    named.BindAll(request.name);
    SPK_ASSIGN_OR_RETURN(bool taken, named.Step());
    if (taken) {
      return AlreadyExistsError("deployment name " + Quote(request.name) +
                                " is used by active deployment " + named.ColumnText(0));
    }
  }

  SPK_RETURN_IF_ERROR(CheckCoresFreeLocked(board, cores));

  SPK_ASSIGN_OR_RETURN(std::string id, NewDeploymentIdLocked());
  const int64_t now = NowMs();
  SPK_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare(
          "insert deployment",
          Sql({"INSERT INTO deployments (", kDeploymentColumns,
               ") VALUES (?1, ?2, ?3, NULLIF(?4, ''), ?5, 'pending', ?6, ?7, '', ?8, ?8, NULL)"})));
  SPK_RETURN_IF_ERROR(insert
                          .BindAll(id, request.name, request.model_sha256, request.artifact_key,
                                   board.id, FailoverPolicyName(request.failover),
                                   request.options_json, now)
                          .Run());
  Fault("begin_deploy:after_deployment_row");

  SPK_RETURN_IF_ERROR(BookPartitionLocked(id, board.id, cores, now, "begin_deploy"));
  Fault("begin_deploy:before_commit");
  SPK_RETURN_IF_ERROR(txn.Commit());

  Deployment d;
  d.id = id;
  d.name = request.name;
  d.model_sha256 = request.model_sha256;
  d.artifact_key = request.artifact_key;
  d.board_id = board.id;
  d.cores = std::move(cores);
  d.state = DeploymentState::kPending;
  d.failover = request.failover;
  d.options_json = request.options_json;
  d.created_ms = now;
  d.updated_ms = now;
  return d;
}

Status StateStore::CheckCoresFreeLocked(const BoardRecord& board,
                                        const std::vector<uint32_t>& cores) {
  std::vector<uint32_t> beyond;
  for (uint32_t core : cores) {
    if (core >= board.total_cores) beyond.push_back(core);
  }
  if (!beyond.empty()) {
    return InvalidArgumentError("board " + board.id + " has cores 0-" +
                                std::to_string(board.total_cores - 1) + "; cores " +
                                FormatCoreList(beyond) + " do not exist");
  }
  // Names every holder of a requested core, so the caller sees the whole
  // conflict at once.
  SPK_ASSIGN_OR_RETURN(Statement used, db_->Prepare("read booked cores",
                                                    "SELECT core, deployment_id FROM "
                                                    "partition_cores WHERE board_id = ?1"));
  used.BindAll(board.id);
  std::map<std::string, std::vector<uint32_t>> conflicts;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, used.Step());
    if (!row) break;
    auto core = static_cast<uint32_t>(used.ColumnInt64(0));
    if (std::binary_search(cores.begin(), cores.end(), core)) {
      conflicts[used.ColumnText(1)].push_back(core);
    }
  }
  if (!conflicts.empty()) {
    std::string message = "board " + board.id + ": ";
    bool first = true;
    for (const auto& [owner, taken] : conflicts) {
      message += first ? "" : "; ";
      message += "cores " + FormatCoreList(taken) + " are held by deployment " + owner;
      first = false;
    }
    return ResourceExhaustedError(message);
  }
  return Status::Ok();
}

Status StateStore::BookPartitionLocked(std::string_view id, std::string_view board_id,
                                       const std::vector<uint32_t>& cores, int64_t now,
                                       std::string_view fault_prefix) {
  SPK_ASSIGN_OR_RETURN(Statement partition,
                       db_->Prepare("insert partition",
                                    "INSERT INTO partitions (deployment_id, board_id, cores, "
                                    "created_ms) VALUES (?1, ?2, ?3, ?4)"));
  SPK_RETURN_IF_ERROR(partition.BindAll(id, board_id, FormatCoreList(cores), now).Run());
  SPK_ASSIGN_OR_RETURN(Statement book, db_->Prepare("book core",
                                                    "INSERT INTO partition_cores (board_id, "
                                                    "core, deployment_id) VALUES (?1, ?2, ?3)"));
  for (uint32_t core : cores) {
    book.Reset();
    SPK_RETURN_IF_ERROR(book.BindAll(board_id, core, id).Run());
    if (core == cores[cores.size() / 2]) Fault(std::string(fault_prefix) + ":mid_cores");
  }
  return Status::Ok();
}

StatusOr<Deployment> StateStore::MoveDeployment(std::string_view id, std::string_view board_id,
                                                const std::vector<uint32_t>& cores,
                                                std::string_view home_board_id) {
  SPK_ASSIGN_OR_RETURN(std::vector<uint32_t> sorted, SortedCores(cores));
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(Deployment d, ReadDeploymentLocked(id));
  if (d.state != DeploymentState::kReady) {
    return FailedPreconditionError("deployment " + d.id + " is " +
                                   std::string(DeploymentStateName(d.state)) +
                                   "; only a ready deployment moves to another board");
  }
  BoardRecord board;
  SPK_RETURN_IF_ERROR(RequireBoardLocked(board_id, &board));
  if (!home_board_id.empty()) SPK_RETURN_IF_ERROR(RequireBoardLocked(home_board_id, nullptr));
  // Its own cores are released first: it may move onto cores it holds.
  SPK_RETURN_IF_ERROR(FreePartitionLocked(d.id));
  SPK_RETURN_IF_ERROR(CheckCoresFreeLocked(board, sorted));
  const int64_t now = NowMs();
  SPK_ASSIGN_OR_RETURN(Statement update,
                       db_->Prepare("move deployment",
                                    "UPDATE deployments SET board_id = ?2, home_board_id = "
                                    "NULLIF(?3, ''), updated_ms = ?4 WHERE id = ?1"));
  SPK_RETURN_IF_ERROR(update.BindAll(d.id, board.id, home_board_id, now).Run());
  Fault("move_deployment:after_board");
  SPK_RETURN_IF_ERROR(BookPartitionLocked(d.id, board.id, sorted, now, "move_deployment"));
  Fault("move_deployment:before_commit");
  SPK_RETURN_IF_ERROR(txn.Commit());
  d.board_id = board.id;
  d.home_board_id = std::string(home_board_id);
  d.cores = std::move(sorted);
  d.updated_ms = now;
  return d;
}

Status StateStore::FreePartitionLocked(std::string_view deployment_id) {
  // partition_cores rows go with it (ON DELETE CASCADE).
  SPK_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("free partition",
                                                    "DELETE FROM partitions "
                                                    "WHERE deployment_id = ?1"));
  return stmt.BindAll(deployment_id).Run();
}

StatusOr<Deployment> StateStore::TransitionLocked(std::string_view id, DeploymentState to,
                                                  std::string_view artifact_key,
                                                  std::string_view message) {
  SPK_ASSIGN_OR_RETURN(Deployment d, ReadDeploymentLocked(id));
  if (!IsLegalTransition(d.state, to)) {
    auto next = NextStates(d.state);
    std::string allowed = next.empty() ? std::string(DeploymentStateName(d.state)) + " is final"
                                       : "from " + std::string(DeploymentStateName(d.state)) +
                                             " it may become " + StateList(next);
    return FailedPreconditionError(
        "deployment " + d.id + " is " + std::string(DeploymentStateName(d.state)) +
        "; it cannot become " + std::string(DeploymentStateName(to)) + " (" + allowed + ")");
  }
  if (!artifact_key.empty()) {
    SPK_ASSIGN_OR_RETURN(Statement exists, db_->Prepare("check artifact",
                                                        "SELECT 1 FROM artifacts "
                                                        "WHERE cache_key = ?1"));
    SPK_ASSIGN_OR_RETURN(bool found, exists.BindAll(artifact_key).Step());
    if (!found) {
      return NotFoundError("artifact " + std::string(artifact_key) + " is not in the cache");
    }
    d.artifact_key = std::string(artifact_key);
  }
  if ((to == DeploymentState::kLoading || to == DeploymentState::kReady) &&
      d.artifact_key.empty()) {
    return FailedPreconditionError("deployment " + d.id + " has no artifact; it cannot become " +
                                   std::string(DeploymentStateName(to)));
  }
  if (!IsActive(to)) {
    SPK_RETURN_IF_ERROR(FreePartitionLocked(d.id));
    d.cores.clear();
  }
  if (!message.empty()) d.error = std::string(message);
  d.state = to;
  d.updated_ms = NowMs();
  SPK_ASSIGN_OR_RETURN(Statement update,
                       db_->Prepare("update deployment state",
                                    "UPDATE deployments SET state = ?2, artifact_key = NULLIF(?3, "
                                    "''), error = ?4, updated_ms = ?5 WHERE id = ?1"));
  SPK_RETURN_IF_ERROR(
      update.BindAll(d.id, DeploymentStateName(to), d.artifact_key, d.error, d.updated_ms).Run());
  return d;
}

StatusOr<Deployment> StateStore::Advance(std::string_view id, DeploymentState to,
                                         std::string_view message) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(Deployment d, TransitionLocked(id, to, "", message));
  Fault("transition:before_commit");
  SPK_RETURN_IF_ERROR(txn.Commit());
  return d;
}

StatusOr<Deployment> StateStore::StartCompiling(std::string_view id) {
  return Advance(id, DeploymentState::kCompiling);
}

StatusOr<Deployment> StateStore::StartLoading(std::string_view id, std::string_view artifact_key) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(Deployment d,
                       TransitionLocked(id, DeploymentState::kLoading, artifact_key, ""));
  Fault("transition:before_commit");
  SPK_RETURN_IF_ERROR(txn.Commit());
  return d;
}

StatusOr<Deployment> StateStore::MarkReady(std::string_view id) {
  return Advance(id, DeploymentState::kReady);
}

StatusOr<Deployment> StateStore::MarkFailed(std::string_view id, std::string_view error) {
  return Advance(id, DeploymentState::kFailed, error.empty() ? "failed (no reason given)" : error);
}

StatusOr<Deployment> StateStore::BeginUndeploy(std::string_view id) {
  return Advance(id, DeploymentState::kUndeploying);
}

StatusOr<Deployment> StateStore::FinishUndeploy(std::string_view id) {
  return Advance(id, DeploymentState::kUndeployed);
}

StatusOr<Deployment> StateStore::GetDeployment(std::string_view id_or_name) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kRead));
  SPK_ASSIGN_OR_RETURN(Deployment d, ReadDeploymentLocked(id_or_name));
  SPK_RETURN_IF_ERROR(txn.Commit());
  return d;
}

StatusOr<std::vector<Deployment>> StateStore::ListDeployments(const DeploymentFilter& filter) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kRead));
  std::vector<Deployment> out;
  {
    SPK_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("list deployments",
                     Sql({"SELECT ", kDeploymentColumns,
                          " FROM deployments WHERE (?1 OR state "
                          "NOT IN ",
                          kInactiveStatesSql, ") AND (?2 = '' OR board_id = ?2) ORDER BY rowid"})));
    stmt.BindAll(filter.include_inactive, filter.board_id);
    while (true) {
      SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      SPK_ASSIGN_OR_RETURN(Deployment d, DeploymentFromRow(stmt, Where()));
      out.push_back(std::move(d));
    }
  }
  for (Deployment& d : out) {
    if (IsActive(d.state)) {
      SPK_ASSIGN_OR_RETURN(d.cores, ReadCoresLocked(d.id));
    }
  }
  SPK_RETURN_IF_ERROR(txn.Commit());
  return out;
}

StatusOr<int64_t> StateStore::PruneDeploymentHistory(int64_t before_ms) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("prune deployment history", Sql({"DELETE FROM deployments WHERE state IN ",
                                                    kInactiveStatesSql, " AND updated_ms < ?1"})));
  SPK_RETURN_IF_ERROR(stmt.BindAll(before_ms).Run());
  return db_->changes();
}

// --- Restart recovery -------------------------------------------------------

StatusOr<RecoveryReport> StateStore::Recover() {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  std::vector<std::string> ids;
  {
    SPK_ASSIGN_OR_RETURN(Statement stmt,
                         db_->Prepare("list active deployments",
                                      Sql({"SELECT id FROM deployments WHERE state NOT IN ",
                                           kInactiveStatesSql, " ORDER BY rowid"})));
    while (true) {
      SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      ids.push_back(stmt.ColumnText(0));
    }
  }
  RecoveryReport report;
  for (const std::string& id : ids) {
    SPK_ASSIGN_OR_RETURN(Deployment d, ReadDeploymentLocked(id));
    std::string was(DeploymentStateName(d.state));
    if (d.state == DeploymentState::kReady && !d.cores.empty()) {
      report.restore.push_back(std::move(d));
      continue;
    }
    // Nothing a half-done step left on a board survives the restart (boards
    // are reset when the daemon takes them), so rolling back only has to
    // free the cores and say what happened.
    DeploymentState to;
    std::string message;
    if (d.state == DeploymentState::kUndeploying) {
      to = DeploymentState::kUndeployed;
      message = "interrupted by a daemon restart while undeploying; finished at restart";
    } else if (d.state == DeploymentState::kReady) {
      to = DeploymentState::kFailed;
      message = "was ready but no partition was recorded; deploy it again";
    } else {
      to = DeploymentState::kFailed;
      message = "interrupted by a daemon restart while " + was + "; deploy it again";
    }
    SPK_ASSIGN_OR_RETURN(Deployment rolled, TransitionLocked(d.id, to, "", message));
    report.rolled_back.push_back(std::move(rolled));
  }
  Fault("recover:before_commit");
  SPK_RETURN_IF_ERROR(txn.Commit());
  return report;
}

// --- Telemetry --------------------------------------------------------------

Status StateStore::InsertTelemetry(std::span<const TelemetrySample> samples) {
  for (const TelemetrySample& sample : samples) {
    for (const auto& [field, value] : sample.fields) {
      if (field.empty()) {
        return InvalidArgumentError("telemetry of board " + sample.board_id +
                                    " has an empty field name");
      }
      // SQLite stores NaN as NULL; a field without a value is left out.
      if (std::isnan(value)) {
        return InvalidArgumentError("telemetry of board " + sample.board_id + ": field " + field +
                                    " is NaN; leave unsupported fields out");
      }
    }
  }
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  SPK_ASSIGN_OR_RETURN(Statement insert_sample,
                       db_->Prepare("insert telemetry sample",
                                    "INSERT INTO telemetry_samples (board_id, ts_ms) "
                                    "VALUES (?1, ?2)"));
  SPK_ASSIGN_OR_RETURN(Statement insert_value,
                       db_->Prepare("insert telemetry value",
                                    "INSERT INTO telemetry_values (sample_id, field, value) "
                                    "VALUES (?1, ?2, ?3)"));
  std::set<std::string, std::less<>> known_boards;
  for (const TelemetrySample& sample : samples) {
    if (!known_boards.contains(sample.board_id)) {
      SPK_RETURN_IF_ERROR(RequireBoardLocked(sample.board_id, nullptr));
      known_boards.insert(sample.board_id);
    }
    insert_sample.Reset();
    SPK_RETURN_IF_ERROR(insert_sample.BindAll(sample.board_id, sample.timestamp_ms).Run());
    int64_t sample_id = db_->last_insert_rowid();
    for (const auto& [field, value] : sample.fields) {
      insert_value.Reset();
      SPK_RETURN_IF_ERROR(insert_value.BindAll(sample_id, field, value).Run());
    }
  }
  return txn.Commit();
}

StatusOr<std::vector<TelemetrySample>> StateStore::QueryTelemetry(const TelemetryQuery& query) {
  if (query.limit <= 0) return InvalidArgumentError("telemetry query limit must be positive");
  std::lock_guard lock(mu_);
  // The newest `limit` samples of the range, then their fields, oldest first.
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("query telemetry",
                   "SELECT s.id, s.board_id, s.ts_ms, v.field, v.value FROM "
                   "(SELECT id, board_id, ts_ms FROM telemetry_samples "
                   " WHERE (?1 = '' OR board_id = ?1) AND ts_ms >= ?2 AND ts_ms < ?3 "
                   " ORDER BY ts_ms DESC, id DESC LIMIT ?4) AS s "
                   "LEFT JOIN telemetry_values AS v ON v.sample_id = s.id "
                   "ORDER BY s.ts_ms, s.id, v.field"));
  stmt.BindAll(query.board_id, query.since_ms, query.until_ms, query.limit);
  std::vector<TelemetrySample> out;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    int64_t id = stmt.ColumnInt64(0);
    if (out.empty() || out.back().id != id) {
      TelemetrySample& sample = out.emplace_back();
      sample.id = id;
      sample.board_id = stmt.ColumnText(1);
      sample.timestamp_ms = stmt.ColumnInt64(2);
    }
    if (!stmt.IsNull(3)) out.back().fields[stmt.ColumnText(3)] = stmt.ColumnDouble(4);
  }
}

StatusOr<int64_t> StateStore::PruneTelemetry(const TelemetryRetention& retention) {
  if (retention.max_age_ms < 0 || retention.max_samples_per_board < 0) {
    return InvalidArgumentError("telemetry retention limits must not be negative");
  }
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  int64_t deleted = 0;
  SPK_ASSIGN_OR_RETURN(Statement by_age, db_->Prepare("prune telemetry by age",
                                                      "DELETE FROM telemetry_samples "
                                                      "WHERE ts_ms < ?1"));
  SPK_RETURN_IF_ERROR(by_age.BindAll(NowMs() - retention.max_age_ms).Run());
  deleted += db_->changes();

  std::vector<std::string> boards;
  {
    SPK_ASSIGN_OR_RETURN(Statement list, db_->Prepare("list telemetry boards",
                                                      "SELECT DISTINCT board_id "
                                                      "FROM telemetry_samples"));
    while (true) {
      SPK_ASSIGN_OR_RETURN(bool row, list.Step());
      if (!row) break;
      boards.push_back(list.ColumnText(0));
    }
  }
  SPK_ASSIGN_OR_RETURN(Statement by_count,
                       db_->Prepare("prune telemetry by count",
                                    "DELETE FROM telemetry_samples WHERE id IN "
                                    "(SELECT id FROM telemetry_samples WHERE board_id = ?1 "
                                    " ORDER BY ts_ms DESC, id DESC LIMIT -1 OFFSET ?2)"));
  for (const std::string& board : boards) {
    by_count.Reset();
    SPK_RETURN_IF_ERROR(by_count.BindAll(board, retention.max_samples_per_board).Run());
    deleted += db_->changes();
  }
  SPK_RETURN_IF_ERROR(txn.Commit());
  return deleted;
}

// --- Audit log --------------------------------------------------------------

StatusOr<int64_t> StateStore::AppendAudit(const AuditEntry& entry) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Statement stmt,
                       db_->Prepare("append audit entry",
                                    "INSERT INTO audit_log (time_ms, uid, gid, pid, user_name, "
                                    "operation, target, result_code, message) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  SPK_RETURN_IF_ERROR(stmt.BindAll(NowMs(), entry.uid, entry.gid, entry.pid, entry.user_name,
                                   entry.operation, entry.target, StatusCodeName(entry.result),
                                   entry.message)
                          .Run());
  return db_->last_insert_rowid();
}

StatusOr<std::vector<AuditEntry>> StateStore::QueryAudit(const AuditQuery& query) {
  if (query.limit <= 0) return InvalidArgumentError("audit query limit must be positive");
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("query audit log",
                   "SELECT id, time_ms, uid, gid, pid, user_name, operation, target, result_code, "
                   "message FROM audit_log WHERE time_ms >= ?1 AND time_ms < ?2 "
                   "AND (?3 IS NULL OR uid = ?3) AND (?4 = '' OR operation = ?4) "
                   "AND (?5 = '' OR target = ?5) ORDER BY id DESC LIMIT ?6"));
  std::optional<int64_t> uid;
  if (query.uid) uid = *query.uid;
  stmt.BindAll(query.since_ms, query.until_ms, uid, query.operation, query.target, query.limit);
  std::vector<AuditEntry> out;
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    AuditEntry& e = out.emplace_back();
    e.id = stmt.ColumnInt64(0);
    e.time_ms = stmt.ColumnInt64(1);
    e.uid = static_cast<uint32_t>(stmt.ColumnInt64(2));
    e.gid = static_cast<uint32_t>(stmt.ColumnInt64(3));
    e.pid = static_cast<int32_t>(stmt.ColumnInt64(4));
    e.user_name = stmt.ColumnText(5);
    e.operation = stmt.ColumnText(6);
    e.target = stmt.ColumnText(7);
    e.result = StatusCodeFromName(stmt.ColumnText(8)).value_or(StatusCode::kUnknown);
    e.message = stmt.ColumnText(9);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

StatusOr<int64_t> StateStore::PruneAudit(int64_t before_ms) {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Statement stmt,
                       db_->Prepare("prune audit log", "DELETE FROM audit_log WHERE time_ms < ?1"));
  SPK_RETURN_IF_ERROR(stmt.BindAll(before_ms).Run());
  return db_->changes();
}

// --- Checks -----------------------------------------------------------------

Status StateStore::CheckConsistency() {
  std::lock_guard lock(mu_);
  SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kRead));
  std::vector<std::string> problems;
  // Each query yields one problem description per row.
  const std::pair<std::string_view, std::string> checks[] = {
      {"integrity check",
       "SELECT integrity_check FROM pragma_integrity_check(20) WHERE integrity_check != 'ok'"},
      {"foreign key check",
       "SELECT 'table ' || \"table\" || ' row ' || ifnull(rowid, '?') || ' refers to a missing "
       "row of ' || parent FROM pragma_foreign_key_check"},
      {"check partitions of inactive deployments",
       Sql({"SELECT 'inactive deployment ' || d.id || ' (' || d.state || ') holds a partition' "
            "FROM partitions AS p JOIN deployments AS d ON d.id = p.deployment_id "
            "WHERE d.state IN ",
            kInactiveStatesSql})},
      {"check active deployments without partition",
       Sql({"SELECT 'active deployment ' || id || ' (' || state || ') holds no partition' "
            "FROM deployments WHERE state NOT IN ",
            kInactiveStatesSql,
            " AND NOT EXISTS (SELECT 1 FROM partition_cores WHERE deployment_id = id)"})},
      {"check doubly booked cores",
       "SELECT 'board ' || board_id || ' core ' || core || ' is booked ' || count(*) || ' times' "
       "FROM partition_cores GROUP BY board_id, core HAVING count(*) > 1"},
  };
  for (const auto& [op, sql] : checks) {
    SPK_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare(op, sql));
    while (true) {
      SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      problems.push_back(stmt.ColumnText(0));
    }
  }
  // The text form must say the same as the per-core rows.
  {
    SPK_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("read partitions",
                                                      "SELECT deployment_id, cores "
                                                      "FROM partitions ORDER BY rowid"));
    std::vector<std::pair<std::string, std::string>> partitions;
    while (true) {
      SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      partitions.emplace_back(stmt.ColumnText(0), stmt.ColumnText(1));
    }
    for (const auto& [id, text] : partitions) {
      SPK_ASSIGN_OR_RETURN(std::vector<uint32_t> cores, ReadCoresLocked(id));
      std::string actual = FormatCoreList(cores);
      if (actual != text) {
        problems.push_back("partition of " + id + " says cores " + Quote(text) + " but books " +
                           Quote(actual));
      }
    }
  }
  SPK_RETURN_IF_ERROR(txn.Commit());
  if (problems.empty()) return Status::Ok();
  std::string message = Where() + " is inconsistent: ";
  for (size_t i = 0; i < problems.size(); ++i) {
    message += (i == 0 ? "" : "; ") + problems[i];
  }
  return DataLossError(message);
}

}  // namespace spk::daemon::state

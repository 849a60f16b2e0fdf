#include "daemon/state/schema.h"

#include <array>
#include <string>

#include "base/check.h"

namespace spk::daemon::state {
namespace {

// Version 1: the first schema. Tables are STRICT so a wrongly typed value is
// refused rather than stored. Invariants that matter for "nothing is lost"
// are constraints here, not only code in the store: a core is booked by at
// most one deployment (partition_cores' primary key), a partition belongs to
// a deployment on the same board (composite foreign keys), and only active
// deployments hold partitions (two triggers).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE models (
  sha256        TEXT PRIMARY KEY
                CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  name          TEXT NOT NULL,
  path          TEXT NOT NULL,
  size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
  first_seen_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE artifacts (
  cache_key        TEXT PRIMARY KEY CHECK (cache_key != ''),
  model_sha256     TEXT NOT NULL REFERENCES models(sha256),
  compile_options  TEXT NOT NULL CHECK (json_valid(compile_options)),
  chip_profile     TEXT NOT NULL,
  compiler_version TEXT NOT NULL,
  path             TEXT NOT NULL,
  size_bytes       INTEGER NOT NULL CHECK (size_bytes >= 0),
  checksum         TEXT NOT NULL,
  created_ms       INTEGER NOT NULL,
  last_used_ms     INTEGER NOT NULL
) STRICT;
CREATE INDEX artifacts_by_model ON artifacts(model_sha256);
CREATE INDEX artifacts_by_last_use ON artifacts(last_used_ms);

CREATE TABLE boards (
  id            TEXT PRIMARY KEY CHECK (id != ''),
  driver        TEXT NOT NULL,
  serial        TEXT NOT NULL,
  board_profile TEXT NOT NULL,
  chip_profile  TEXT NOT NULL,
  total_cores   INTEGER NOT NULL CHECK (total_cores > 0),
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('online', 'degraded', 'failed', 'offline'))
) STRICT;

CREATE TABLE deployments (
  id           TEXT PRIMARY KEY CHECK (id GLOB 'd-[0-9a-f]*'),
  name         TEXT NOT NULL DEFAULT '',
  model_sha256 TEXT NOT NULL REFERENCES models(sha256),
  artifact_key TEXT REFERENCES artifacts(cache_key) ON DELETE SET NULL,
  board_id     TEXT NOT NULL REFERENCES boards(id),
  state        TEXT NOT NULL CHECK (state IN ('pending', 'compiling', 'loading', 'ready',
                                              'failed', 'undeploying', 'undeployed')),
  failover     TEXT NOT NULL CHECK (failover IN ('none', 'emulator')),
  options_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(options_json)),
  error        TEXT NOT NULL DEFAULT '',
  created_ms   INTEGER NOT NULL,
  updated_ms   INTEGER NOT NULL,
  UNIQUE (id, board_id),
  CHECK (state NOT IN ('loading', 'ready') OR artifact_key IS NOT NULL)
) STRICT;
CREATE UNIQUE INDEX deployments_active_name ON deployments(name)
  WHERE name != '' AND state NOT IN ('failed', 'undeployed');
CREATE INDEX deployments_by_state ON deployments(state);
CREATE INDEX deployments_by_artifact ON deployments(artifact_key);

CREATE TABLE partitions (
  deployment_id TEXT PRIMARY KEY,
  board_id      TEXT NOT NULL,
  cores         TEXT NOT NULL CHECK (cores != ''),
  created_ms    INTEGER NOT NULL,
  UNIQUE (deployment_id, board_id),
  FOREIGN KEY (deployment_id, board_id) REFERENCES deployments(id, board_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE partition_cores (
  board_id      TEXT NOT NULL,
  core          INTEGER NOT NULL CHECK (core >= 0),
  deployment_id TEXT NOT NULL,
  PRIMARY KEY (board_id, core),
  FOREIGN KEY (deployment_id, board_id)
    REFERENCES partitions(deployment_id, board_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX partition_cores_by_deployment ON partition_cores(deployment_id, board_id);

CREATE TRIGGER partitions_need_active_deployment
BEFORE INSERT ON partitions
WHEN (SELECT state FROM deployments WHERE id = NEW.deployment_id) IN ('failed', 'undeployed')
BEGIN
  SELECT RAISE(ABORT, 'a partition can only belong to an active deployment');
END;

CREATE TRIGGER deployments_release_partition_first
BEFORE UPDATE OF state ON deployments
WHEN NEW.state IN ('failed', 'undeployed')
  AND EXISTS (SELECT 1 FROM partitions WHERE deployment_id = NEW.id)
BEGIN
  SELECT RAISE(ABORT, 'a deployment must release its partition before it becomes inactive');
END;

CREATE TABLE telemetry_samples (
  id       INTEGER PRIMARY KEY,
  board_id TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  ts_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX telemetry_by_board_time ON telemetry_samples(board_id, ts_ms);
CREATE INDEX telemetry_by_time ON telemetry_samples(ts_ms);

CREATE TABLE telemetry_values (
  sample_id INTEGER NOT NULL REFERENCES telemetry_samples(id) ON DELETE CASCADE,
  field     TEXT NOT NULL CHECK (field != ''),
  value     REAL NOT NULL,
  PRIMARY KEY (sample_id, field)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY,
  time_ms     INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  gid         INTEGER NOT NULL,
  pid         INTEGER NOT NULL,
  user_name   TEXT NOT NULL,
  operation   TEXT NOT NULL,
  target      TEXT NOT NULL,
  result_code TEXT NOT NULL,
  message     TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_time ON audit_log(time_ms);
)sql";

// Version 2: where a deployment that failed over to an emulated board came
// from, so that it can go home when its board returns, even across restarts.
// NULL: it runs on its own board.
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE deployments ADD COLUMN home_board_id TEXT REFERENCES boards(id);
)sql";

constexpr std::array<Migration, 2> kMigrations = {{
    {1, "create the initial schema", kSchemaV1},
    {2, "record the home board of a failed-over deployment", kSchemaV2},
}};

void CheckNumbering(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    SPK_CHECK_EQ(migrations[i].version, static_cast<int>(i + 1))
        << "migrations must be numbered 1, 2, ... without gaps";
  }
}

std::string Where(const Database& db) { return "state database " + db.path(); }

// Refuses files that are not ours or are newer than `latest`. Runs under the
// write lock, so the answer cannot change before the step is applied.
Status CheckOwnership(Database& db, int version, int latest) {
  SPK_ASSIGN_OR_RETURN(int64_t app_id,
                       db.QueryInt64("read application id", "PRAGMA application_id"));
  if (app_id != kStateApplicationId) {
    SPK_ASSIGN_OR_RETURN(int64_t objects, db.QueryInt64("count schema objects",
                                                        "SELECT count(*) FROM sqlite_schema"));
    if (app_id != 0 || version != 0 || objects != 0) {
      return FailedPreconditionError(Where(db) + " is not a spiked state file (application_id " +
                                     std::to_string(app_id) + ", user_version " +
                                     std::to_string(version) + ", " + std::to_string(objects) +
                                     " schema objects); move it aside or choose another path");
    }
  }
  if (version > latest) {
    return FailedPreconditionError(
        Where(db) + " has schema version " + std::to_string(version) +
        ", written by a newer spiked; this spiked knows versions up to " + std::to_string(latest) +
        ". Run the newer spiked, or restore a backup made by this version");
  }
  return Status::Ok();
}

}  // namespace

std::span<const Migration> SchemaMigrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations.back().version; }

StatusOr<int> ReadSchemaVersion(Database& db) {
  SPK_ASSIGN_OR_RETURN(int64_t version,
                       db.QueryInt64("read schema version", "PRAGMA user_version"));
  return static_cast<int>(version);
}

Status MigrateSchema(Database& db) { return MigrateSchema(db, kMigrations); }

Status MigrateSchema(Database& db, std::span<const Migration> migrations) {
  CheckNumbering(migrations);
  const int latest = static_cast<int>(migrations.size());
  while (true) {
    SPK_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db, Transaction::Kind::kWrite));
    SPK_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(db));
    SPK_RETURN_IF_ERROR(CheckOwnership(db, version, latest));
    if (version == latest) return txn.Commit();

    const Migration& step = migrations[static_cast<size_t>(version)];
    std::string op =
        "migration " + std::to_string(step.version) + " (" + std::string(step.name) + ")";
    SPK_RETURN_IF_ERROR(db.Exec(op, step.sql));
    // A step must leave every foreign key satisfied; foreign_keys=ON does not
    // check rows that a step rewrites in bulk.
    SPK_ASSIGN_OR_RETURN(Statement fk_check,
                         db.Prepare(op + ": foreign key check", "PRAGMA foreign_key_check"));
    SPK_ASSIGN_OR_RETURN(bool violation, fk_check.Step());
    if (violation) {
      return FailedPreconditionError(Where(db) + ": " + op + " leaves table " +
                                     fk_check.ColumnText(0) + " with a dangling foreign key");
    }
    fk_check.Reset();
    if (version == 0) {
      SPK_RETURN_IF_ERROR(
          db.Exec(op + ": set application id",
                  "PRAGMA application_id = " + std::to_string(kStateApplicationId)));
    }
    SPK_RETURN_IF_ERROR(db.Exec(op + ": set schema version",
                                "PRAGMA user_version = " + std::to_string(step.version)));
    SPK_RETURN_IF_ERROR(txn.Commit());
  }
}

}  // namespace spk::daemon::state

// The state file's schema and its numbered migrations.
//
// The schema version lives in the file header (PRAGMA user_version) and the
// file is marked as spiked's with PRAGMA application_id. Migration N takes a
// file from version N-1 to N; each runs in its own write transaction together
// with the version bump and a foreign-key check, so a crash or a failing step
// leaves the file at the previous version, never in between. Migrations are
// append-only: a released step is never edited (docs/state.md has the rules).
//
// Thread safety: functions of a Database, which belongs to one thread at a
// time. Two processes migrating the same file at once are safe: each step
// re-reads the version under the write lock.
#ifndef SPK_DAEMON_STATE_SCHEMA_H_
#define SPK_DAEMON_STATE_SCHEMA_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "base/status.h"
#include "daemon/state/sqlite.h"

namespace spk::daemon::state {

// "spkd": tells a spiked state file from any other SQLite file.
inline constexpr int32_t kStateApplicationId = 0x73706b64;

struct Migration {
  int version;            // 1, 2, ...: the version the step leads to
  std::string_view name;  // one line, for logs and errors
  std::string_view sql;   // one or more statements
};

// The built-in migrations, in order; the last one's version is the schema
// this build writes.
std::span<const Migration> SchemaMigrations();
int LatestSchemaVersion();

// The file's schema version; 0 for an empty file.
StatusOr<int> ReadSchemaVersion(Database& db);

// Brings the file to the latest version of `migrations` (the built-in ones by
// default). Errors:
//   FAILED_PRECONDITION  the file was written by a newer spiked (the message
//                        names both versions), or is some other program's
//                        SQLite file;
//   DATA_LOSS            the file is not a database or is corrupt;
//   other codes          from the failing step, named in the message; the
//                        file stays at the version before that step.
// `migrations` must be numbered 1, 2, ... without gaps (checked).
Status MigrateSchema(Database& db);
Status MigrateSchema(Database& db, std::span<const Migration> migrations);

}  // namespace spk::daemon::state

#endif  // SPK_DAEMON_STATE_SCHEMA_H_

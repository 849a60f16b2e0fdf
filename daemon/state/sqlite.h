// A small RAII layer over SQLite's C API, made for the daemon's state file.
//
// Database owns one connection, opened with the settings the state file
// relies on: WAL journal, foreign keys enforced, a busy timeout, and
// synchronous=FULL by default (docs/state.md says why). A Statement owns one
// prepared statement and borrows its Database, which must outlive it. A
// Transaction borrows its Database and rolls back when destroyed without a
// successful Commit().
//
// Every SQLite failure becomes a Status whose message names the database file
// and the operation ("state database /var/lib/spiked/state.db: insert
// deployment: UNIQUE constraint failed: ..."), and whose code tells the caller
// what to do:
//   SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_PROTOCOL -> UNAVAILABLE
//   SQLITE_CORRUPT, SQLITE_NOTADB                            -> DATA_LOSS
//   constraint: UNIQUE, PRIMARY KEY                          -> ALREADY_EXISTS
//               FOREIGN KEY, TRIGGER (RAISE)                 -> FAILED_PRECONDITION
//               CHECK, NOT NULL, DATATYPE                    -> INVALID_ARGUMENT
//   SQLITE_FULL, SQLITE_NOMEM                                -> RESOURCE_EXHAUSTED
//   SQLITE_CANTOPEN                                          -> FAILED_PRECONDITION
//   SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH                -> PERMISSION_DENIED
//   SQLITE_INTERRUPT                                         -> CANCELLED
//   SQL errors, misuse, bad bind index, type mismatch        -> INTERNAL (a bug)
//
// Thread safety: none. A Database and the Statements and Transactions made
// from it belong to one thread at a time; StateStore serialises access to its
// Database with a mutex. The connection is opened without SQLite's own
// mutexes for that reason.
#ifndef SPK_DAEMON_STATE_SQLITE_H_
#define SPK_DAEMON_STATE_SQLITE_H_

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace spk::daemon::state {

enum class Synchronous {
  kNormal,  // WAL synced at checkpoints: survives a process crash, not power loss
  kFull,    // WAL synced at every commit: survives both
};

struct DatabaseOptions {
  // How long a statement waits for another connection's lock before it
  // fails with UNAVAILABLE.
  int busy_timeout_ms = 5000;
  Synchronous synchronous = Synchronous::kFull;
};

// The Status code for an SQLite result code (primary or extended).
StatusCode StatusCodeForSqlite(int result_code);

class Database;

// One prepared statement. Bind indexes are 1-based, as in SQL's ?1; column
// indexes are 0-based, as in SQLite's API. A failed Bind is remembered and
// returned by the next Step() or Run(), so binds can be chained.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  template <std::integral T>
  Statement& Bind(int index, T value) {
    static_assert(std::is_signed_v<T> || sizeof(T) < sizeof(int64_t),
                  "uint64_t does not fit SQLite's INTEGER");
    return BindInt64(index, static_cast<int64_t>(value));
  }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view value);  // copied
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, std::string_view(value));
  }
  Statement& Bind(int index, std::nullopt_t);  // NULL
  template <typename T>
  Statement& Bind(int index, const std::optional<T>& value) {
    return value.has_value() ? Bind(index, *value) : Bind(index, std::nullopt);
  }

  // Binds the values to ?1, ?2, ... in order.
  template <typename... Ts>
  Statement& BindAll(const Ts&... values) {
    int index = 0;
    (Bind(++index, values), ...);
    return *this;
  }

  // Runs the statement up to its next row: true when a row can be read with
  // the Column accessors, false when the statement is done.
  StatusOr<bool> Step();
  // Steps to the end, discarding rows: for INSERT, UPDATE, DELETE, DDL.
  Status Run();
  // Makes the statement ready to run again. Bindings stay until rebound.
  void Reset();

  int column_count() const;
  bool IsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;  // "" for NULL
  std::optional<std::string> ColumnOptionalText(int column) const;
  std::optional<int64_t> ColumnOptionalInt64(int column) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt, std::string_view operation);
  Statement& BindInt64(int index, int64_t value);
  Statement& Record(int rc, int index);

  Database* db_;        // borrowed; outlives this statement
  sqlite3_stmt* stmt_;  // owned
  std::string operation_;
  Status bind_status_;  // first bind failure, returned by Step()/Run()
};

// One connection to an SQLite database file.
class Database {
 public:
  // Opens (creating when missing) the database at `path` and applies the
  // connection settings. Opening does not read the file; the first statement
  // does, so a file that is not a database is reported by the first use as
  // DATA_LOSS. FAILED_PRECONDITION when the file cannot be opened or WAL mode
  // is not available (for example on a file system without shared memory).
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                  const DatabaseOptions& options = {});

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  const std::string& path() const { return path_; }

  // Compiles `sql`; `operation` names it in every error ("insert deployment").
  StatusOr<Statement> Prepare(std::string_view operation, std::string_view sql);
  // Runs one or more `;`-separated statements that return no rows needed.
  Status Exec(std::string_view operation, std::string_view sql);
  // Runs a statement expected to yield one integer (PRAGMA user_version,
  // SELECT count(*)); NOT_FOUND when it yields no row.
  StatusOr<int64_t> QueryInt64(std::string_view operation, std::string_view sql);

  // Rows changed by the last INSERT, UPDATE or DELETE on this connection.
  int64_t changes() const;
  int64_t last_insert_rowid() const;
  // True while a transaction is open on this connection.
  bool in_transaction() const;

  // The Status for `result_code` returned by the call just made on this
  // connection for `operation`.
  Status Error(int result_code, std::string_view operation) const;

 private:
  Database(std::string path, sqlite3* db);
  Status Configure(const DatabaseOptions& options);

  std::string path_;
  sqlite3* db_;  // owned
};

// A transaction on a Database; rolls back when destroyed uncommitted.
class Transaction {
 public:
  enum class Kind {
    kRead,   // BEGIN DEFERRED: a consistent snapshot for several reads
    kWrite,  // BEGIN IMMEDIATE: takes the write lock at once, so a writer
             // never fails half-way with SQLITE_BUSY on lock upgrade
  };

  // UNAVAILABLE when another connection holds the write lock past the busy
  // timeout.
  static StatusOr<Transaction> Begin(Database& db, Kind kind);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Makes the changes durable (per the connection's synchronous setting). On
  // failure the transaction stays open and is rolled back by the destructor.
  Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}

  Database* db_;  // borrowed; null once committed or moved from
};

}  // namespace spk::daemon::state

#endif  // SPK_DAEMON_STATE_SQLITE_H_

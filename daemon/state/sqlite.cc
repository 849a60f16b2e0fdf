#include "daemon/state/sqlite.h"

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <utility>

#include "base/check.h"
#include "spdlog/spdlog.h"

namespace spk::daemon::state {
namespace {

// SQLITE_TRANSIENT spelled without the C-style cast of sqlite3.h's macro.
const sqlite3_destructor_type kTransient =
    reinterpret_cast<sqlite3_destructor_type>(static_cast<intptr_t>(-1));

// Names for messages; sqlite3_errstr() gives prose, not the constant to search for.
constexpr std::pair<int, std::string_view> kPrimaryCodeNames[] = {
    {SQLITE_ERROR, "SQLITE_ERROR"},         {SQLITE_INTERNAL, "SQLITE_INTERNAL"},
    {SQLITE_PERM, "SQLITE_PERM"},           {SQLITE_ABORT, "SQLITE_ABORT"},
    {SQLITE_BUSY, "SQLITE_BUSY"},           {SQLITE_LOCKED, "SQLITE_LOCKED"},
    {SQLITE_NOMEM, "SQLITE_NOMEM"},         {SQLITE_READONLY, "SQLITE_READONLY"},
    {SQLITE_INTERRUPT, "SQLITE_INTERRUPT"}, {SQLITE_IOERR, "SQLITE_IOERR"},
    {SQLITE_CORRUPT, "SQLITE_CORRUPT"},     {SQLITE_NOTFOUND, "SQLITE_NOTFOUND"},
    {SQLITE_FULL, "SQLITE_FULL"},           {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
    {SQLITE_PROTOCOL, "SQLITE_PROTOCOL"},   {SQLITE_SCHEMA, "SQLITE_SCHEMA"},
    {SQLITE_TOOBIG, "SQLITE_TOOBIG"},       {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
    {SQLITE_MISMATCH, "SQLITE_MISMATCH"},   {SQLITE_MISUSE, "SQLITE_MISUSE"},
    {SQLITE_AUTH, "SQLITE_AUTH"},           {SQLITE_RANGE, "SQLITE_RANGE"},
    {SQLITE_NOTADB, "SQLITE_NOTADB"},
};

std::string_view PrimaryCodeName(int primary) {
  for (const auto& [code, name] : kPrimaryCodeNames) {
    if (code == primary) return name;
  }
  return "SQLITE_UNKNOWN";
}

}  // namespace

StatusCode StatusCodeForSqlite(int result_code) {
  switch (result_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return StatusCode::kAlreadyExists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    case SQLITE_CONSTRAINT_TRIGGER:
      return StatusCode::kFailedPrecondition;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_DATATYPE:
      return StatusCode::kInvalidArgument;
    default:
      break;
  }
  switch (result_code & 0xff) {
    case SQLITE_OK:
      return StatusCode::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kDataLoss;
    case SQLITE_CONSTRAINT:
      return StatusCode::kFailedPrecondition;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return StatusCode::kResourceExhausted;
    case SQLITE_CANTOPEN:
      return StatusCode::kFailedPrecondition;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return StatusCode::kPermissionDenied;
    case SQLITE_INTERRUPT:
      return StatusCode::kCancelled;
    case SQLITE_ABORT:
      return StatusCode::kAborted;
    case SQLITE_TOOBIG:
      return StatusCode::kInvalidArgument;
    case SQLITE_ERROR:
    case SQLITE_INTERNAL:
    case SQLITE_SCHEMA:
    case SQLITE_MISMATCH:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_NOTFOUND:
      return StatusCode::kInternal;
    default:
      return StatusCode::kUnknown;
  }
}

// --- Statement --------------------------------------------------------------

Statement::Statement(Database* db, sqlite3_stmt* stmt, std::string_view operation)
    : db_(db), stmt_(stmt), operation_(operation) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      operation_(std::move(other.operation_)),
      bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    operation_ = std::move(other.operation_);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Record(int rc, int index) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = db_->Error(rc, operation_ + ": bind ?" + std::to_string(index));
  }
  return *this;
}

Statement& Statement::BindInt64(int index, int64_t value) {
  return Record(sqlite3_bind_int64(stmt_, index, value), index);
}

Statement& Statement::Bind(int index, double value) {
  return Record(sqlite3_bind_double(stmt_, index, value), index);
}

Statement& Statement::Bind(int index, std::string_view value) {
  return Record(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), kTransient, SQLITE_UTF8),
      index);
}

Statement& Statement::Bind(int index, std::nullopt_t) {
  return Record(sqlite3_bind_null(stmt_, index), index);
}

StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status error = db_->Error(rc, operation_);
  // Leaves the statement re-runnable and releases any read lock it held.
  sqlite3_reset(stmt_);
  return error;
}

Status Statement::Run() {
  while (true) {
    SPK_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

void Statement::Reset() {
  // The result repeats the last Step()'s, which was already reported.
  sqlite3_reset(stmt_);
  bind_status_ = Status::Ok();
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  // column_bytes after column_text: the length of the UTF-8 form just made.
  int size = sqlite3_column_bytes(stmt_, column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::optional<std::string> Statement::ColumnOptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return ColumnText(column);
}

std::optional<int64_t> Statement::ColumnOptionalInt64(int column) const {
  if (IsNull(column)) return std::nullopt;
  return ColumnInt64(column);
}

// --- Database ---------------------------------------------------------------

Database::Database(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

Database::~Database() {
  // Statements are finalised by their owners first (they borrow this); a
  // busy close here means one outlived us, which is a bug.
  int rc = sqlite3_close(db_);
  SPK_CHECK(rc == SQLITE_OK) << "closing " << path_ << ": " << sqlite3_errstr(rc);
}

StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                   const DatabaseOptions& options) {
  sqlite3* handle = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "state database " + path + ": open: " +
                          (handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
    sqlite3_close(handle);
    return Status(StatusCodeForSqlite(rc), message);
  }
  auto db = std::unique_ptr<Database>(new Database(path, handle));
  SPK_RETURN_IF_ERROR(db->Configure(options));
  return db;
}

Status Database::Configure(const DatabaseOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  int rc = sqlite3_busy_timeout(db_, options.busy_timeout_ms);
  if (rc != SQLITE_OK) return Error(rc, "set busy timeout");

  // The first statement that reads the file: a file that is not a database
  // fails here with DATA_LOSS.
  SPK_ASSIGN_OR_RETURN(Statement journal,
                       Prepare("set journal_mode=WAL", "PRAGMA journal_mode=WAL"));
  SPK_ASSIGN_OR_RETURN(bool row, journal.Step());
  std::string mode = row ? journal.ColumnText(0) : "";
  journal.Reset();
  if (mode != "wal" && path_ != ":memory:") {
    return FailedPreconditionError("state database " + path_ +
                                   ": WAL journal mode is not available (got \"" + mode +
                                   "\"); the state directory must be on a local file system");
  }
  const char* sync = options.synchronous == Synchronous::kFull ? "PRAGMA synchronous=FULL"
                                                               : "PRAGMA synchronous=NORMAL";
  SPK_RETURN_IF_ERROR(Exec("set synchronous", sync));
  SPK_RETURN_IF_ERROR(Exec("enable foreign keys", "PRAGMA foreign_keys=ON"));
  // Keeps the -wal file from staying large after a burst of writes.
  SPK_RETURN_IF_ERROR(Exec("limit journal size", "PRAGMA journal_size_limit=4194304"));
  return Status::Ok();
}

Status Database::Error(int result_code, std::string_view operation) const {
  std::string message = "state database " + path_ + ": " + std::string(operation) + ": ";
  const char* detail = sqlite3_errmsg(db_);
  message += detail != nullptr ? detail : sqlite3_errstr(result_code);
  message += " (";
  message += PrimaryCodeName(result_code & 0xff);
  if ((result_code & 0xff) != result_code) {
    message += ", extended code " + std::to_string(result_code);
  }
  message += ")";
  return Status(StatusCodeForSqlite(result_code), message);
}

StatusOr<Statement> Database::Prepare(std::string_view operation, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Error(rc, operation);
  }
  SPK_CHECK(stmt != nullptr) << "empty SQL for " << operation;
  return Statement(this, stmt, operation);
}

Status Database::Exec(std::string_view operation, std::string_view sql) {
  std::string text(sql);  // sqlite3_exec wants a terminated string
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  sqlite3_free(error);  // the same text is still available from sqlite3_errmsg
  if (rc != SQLITE_OK) return Error(rc, operation);
  return Status::Ok();
}

StatusOr<int64_t> Database::QueryInt64(std::string_view operation, std::string_view sql) {
  SPK_ASSIGN_OR_RETURN(Statement stmt, Prepare(operation, sql));
  SPK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row)
    return NotFoundError("state database " + path_ + ": " + std::string(operation) + ": no row");
  return stmt.ColumnInt64(0);
}

int64_t Database::changes() const { return sqlite3_changes64(db_); }

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

// --- Transaction ------------------------------------------------------------

StatusOr<Transaction> Transaction::Begin(Database& db, Kind kind) {
  SPK_CHECK(!db.in_transaction()) << "nested transaction on " << db.path();
  if (kind == Kind::kWrite) {
    SPK_RETURN_IF_ERROR(db.Exec("begin write transaction", "BEGIN IMMEDIATE"));
  } else {
    SPK_RETURN_IF_ERROR(db.Exec("begin read transaction", "BEGIN DEFERRED"));
  }
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  // SQLite may already have rolled back on some errors (SQLITE_FULL, IOERR).
  if (db_ == nullptr || !db_->in_transaction()) return;
  Status status = db_->Exec("roll back transaction", "ROLLBACK");
  if (!status.ok()) spdlog::warn("{}", status.ToString());
}

Status Transaction::Commit() {
  SPK_CHECK(db_ != nullptr) << "Commit() on a finished transaction";
  SPK_RETURN_IF_ERROR(db_->Exec("commit transaction", "COMMIT"));
  db_ = nullptr;
  return Status::Ok();
}

}  // namespace spk::daemon::state

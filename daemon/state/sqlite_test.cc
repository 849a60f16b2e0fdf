#include "daemon/state/sqlite.h"

#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <string>

#include "daemon/state/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spk::daemon::state {
namespace {

using ::spk::daemon::state::testing::TempDir;
using ::testing::HasSubstr;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SPK_ASSERT_OK_AND_ASSIGN(db_, Database::Open(dir_.File("t.db")));
    SPK_ASSERT_OK(db_->Exec("create tables",
                            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL "
                            "UNIQUE CHECK (name != ''));"
                            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL "
                            "REFERENCES parent(id));"
                            "CREATE TABLE kv (k TEXT, i INTEGER, r REAL, t TEXT);"
                            "CREATE TRIGGER no_zebra BEFORE INSERT ON parent WHEN NEW.name = "
                            "'zebra' BEGIN SELECT RAISE(ABORT, 'no zebras'); END;"));
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SqliteTest, OpensWithDurableSettings) {
  SPK_ASSERT_OK_AND_ASSIGN(Statement mode, db_->Prepare("journal mode", "PRAGMA journal_mode"));
  SPK_ASSERT_OK_AND_ASSIGN(bool row, mode.Step());
  ASSERT_TRUE(row);
  EXPECT_EQ(mode.ColumnText(0), "wal");
  EXPECT_EQ(db_->QueryInt64("sync", "PRAGMA synchronous").value(), 2);  // FULL
  EXPECT_EQ(db_->QueryInt64("fk", "PRAGMA foreign_keys").value(), 1);
  EXPECT_EQ(db_->QueryInt64("busy", "PRAGMA busy_timeout").value(), 5000);
}

TEST_F(SqliteTest, NormalSynchronousIsSelectable) {
  DatabaseOptions options;
  options.synchronous = Synchronous::kNormal;
  SPK_ASSERT_OK_AND_ASSIGN(auto db, Database::Open(dir_.File("n.db"), options));
  EXPECT_EQ(db->QueryInt64("sync", "PRAGMA synchronous").value(), 1);
}

TEST_F(SqliteTest, TypedBindsRoundTrip) {
  const std::string with_nul("a\0b", 3);
  SPK_ASSERT_OK_AND_ASSIGN(Statement insert,
                           db_->Prepare("insert kv", "INSERT INTO kv VALUES (?1, ?2, ?3, ?4)"));
  SPK_ASSERT_OK(insert.BindAll("max", std::numeric_limits<int64_t>::max(), 1.5, with_nul).Run());
  insert.Reset();
  SPK_ASSERT_OK(insert
                    .BindAll(std::string("min"), std::numeric_limits<int64_t>::min(), -0.25,
                             std::optional<std::string>())
                    .Run());
  insert.Reset();
  SPK_ASSERT_OK(
      insert.BindAll(std::string_view("u32"), uint32_t{4000000000u}, 0.0, std::string("héllo"))
          .Run());

  SPK_ASSERT_OK_AND_ASSIGN(Statement select,
                           db_->Prepare("select kv", "SELECT k, i, r, t FROM kv ORDER BY rowid"));
  ASSERT_TRUE(select.Step().value());
  EXPECT_EQ(select.column_count(), 4);
  EXPECT_EQ(select.ColumnText(0), "max");
  EXPECT_EQ(select.ColumnInt64(1), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(select.ColumnDouble(2), 1.5);
  EXPECT_EQ(select.ColumnText(3), with_nul);
  ASSERT_TRUE(select.Step().value());
  EXPECT_EQ(select.ColumnInt64(1), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(select.IsNull(3));
  EXPECT_EQ(select.ColumnOptionalText(3), std::nullopt);
  EXPECT_EQ(select.ColumnText(3), "");
  ASSERT_TRUE(select.Step().value());
  EXPECT_EQ(select.ColumnInt64(1), 4000000000);
  EXPECT_EQ(select.ColumnOptionalInt64(1), 4000000000);
  EXPECT_EQ(select.ColumnText(3), "héllo");
  EXPECT_FALSE(select.Step().value());
}

TEST_F(SqliteTest, BadBindIndexIsReportedByStep) {
  SPK_ASSERT_OK_AND_ASSIGN(Statement stmt,
                           db_->Prepare("insert kv", "INSERT INTO kv (k) VALUES (?1)"));
  Status status = stmt.Bind(1, "a").Bind(5, "b").Run();
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("insert kv: bind ?5"));
  EXPECT_THAT(status.message(), HasSubstr("SQLITE_RANGE"));
}

TEST_F(SqliteTest, SyntaxErrorNamesOperationAndPath) {
  auto stmt = db_->Prepare("list frobs", "SELEKT * FROM frobs");
  ASSERT_FALSE(stmt.ok());
  EXPECT_EQ(stmt.status().code(), StatusCode::kInternal);
  EXPECT_THAT(stmt.status().message(), HasSubstr(dir_.File("t.db")));
  EXPECT_THAT(stmt.status().message(), HasSubstr("list frobs"));
}

TEST_F(SqliteTest, ConstraintsMapToMeaningfulCodes) {
  SPK_ASSERT_OK(db_->Exec("seed", "INSERT INTO parent (id, name) VALUES (1, 'a')"));
  struct Case {
    const char* sql;
    StatusCode code;
    const char* detail;
  } cases[] = {
      {"INSERT INTO parent (id, name) VALUES (2, 'a')", StatusCode::kAlreadyExists, "UNIQUE"},
      {"INSERT INTO parent (id, name) VALUES (1, 'b')", StatusCode::kAlreadyExists, "UNIQUE"},
      {"INSERT INTO child (parent) VALUES (99)", StatusCode::kFailedPrecondition, "FOREIGN KEY"},
      {"INSERT INTO parent (name) VALUES ('')", StatusCode::kInvalidArgument, "CHECK"},
      {"INSERT INTO parent (name) VALUES (NULL)", StatusCode::kInvalidArgument, "NOT NULL"},
      {"INSERT INTO parent (name) VALUES ('zebra')", StatusCode::kFailedPrecondition, "no zebras"},
  };
  for (const Case& c : cases) {
    Status status = db_->Exec("insert row", c.sql);
    EXPECT_EQ(status.code(), c.code) << c.sql << " -> " << status;
    EXPECT_THAT(status.message(), HasSubstr(c.detail)) << c.sql;
    EXPECT_THAT(status.message(), HasSubstr("insert row")) << c.sql;
  }
}

TEST(SqliteCodes, MapToStatusCodes) {
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_OK), StatusCode::kOk);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_BUSY), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_BUSY_SNAPSHOT), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_LOCKED), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_IOERR_FSYNC), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CORRUPT), StatusCode::kDataLoss);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_NOTADB), StatusCode::kDataLoss);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_FULL), StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CANTOPEN), StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_READONLY), StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_INTERRUPT), StatusCode::kCancelled);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_MISUSE), StatusCode::kInternal);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_PRIMARYKEY), StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_FOREIGNKEY), StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusCodeForSqlite(SQLITE_CONSTRAINT_CHECK), StatusCode::kInvalidArgument);
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
  {
    SPK_ASSERT_OK_AND_ASSIGN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
    SPK_ASSERT_OK(db_->Exec("insert", "INSERT INTO parent (name) VALUES ('dropped')"));
    EXPECT_TRUE(db_->in_transaction());
  }
  EXPECT_FALSE(db_->in_transaction());
  EXPECT_EQ(db_->QueryInt64("count", "SELECT count(*) FROM parent").value(), 0);
  {
    SPK_ASSERT_OK_AND_ASSIGN(Transaction txn, Transaction::Begin(*db_, Transaction::Kind::kWrite));
    SPK_ASSERT_OK(db_->Exec("insert", "INSERT INTO parent (name) VALUES ('kept')"));
    SPK_ASSERT_OK(txn.Commit());
  }
  // Visible to another connection: it is in the file, not only in ours.
  SPK_ASSERT_OK_AND_ASSIGN(auto other, Database::Open(dir_.File("t.db")));
  EXPECT_EQ(other->QueryInt64("count", "SELECT count(*) FROM parent").value(), 1);
}

TEST_F(SqliteTest, TransactionSurvivesMove) {
  SPK_ASSERT_OK_AND_ASSIGN(Transaction first, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  Transaction second(std::move(first));
  SPK_ASSERT_OK(db_->Exec("insert", "INSERT INTO parent (name) VALUES ('moved')"));
  SPK_ASSERT_OK(second.Commit());
  EXPECT_EQ(db_->QueryInt64("count", "SELECT count(*) FROM parent").value(), 1);
}

TEST_F(SqliteTest, LockedWriterIsUnavailable) {
  DatabaseOptions quick;
  quick.busy_timeout_ms = 20;
  SPK_ASSERT_OK_AND_ASSIGN(auto other, Database::Open(dir_.File("t.db"), quick));
  SPK_ASSERT_OK_AND_ASSIGN(Transaction holder, Transaction::Begin(*db_, Transaction::Kind::kWrite));
  auto blocked = Transaction::Begin(*other, Transaction::Kind::kWrite);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(blocked.status().message(), HasSubstr("begin write transaction"));
  // Readers are not blocked by a writer in WAL mode.
  EXPECT_EQ(other->QueryInt64("count", "SELECT count(*) FROM parent").value(), 0);
}

TEST(SqliteOpen, GarbageFileIsDataLossNamingThePath) {
  TempDir dir;
  std::string path = dir.File("garbage.db");
  testing::WriteFile(path, std::string(8192, 'x'));
  auto db = Database::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(db.status().message(), HasSubstr(path));
}

TEST(SqliteOpen, MissingDirectoryIsFailedPrecondition) {
  TempDir dir;
  std::string path = dir.File("no/such/dir/state.db");
  auto db = Database::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(db.status().message(), HasSubstr(path));
}

}  // namespace
}  // namespace spk::daemon::state

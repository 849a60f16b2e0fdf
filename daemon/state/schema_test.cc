#include "daemon/state/schema.h"

#include <string>
#include <vector>

#include "daemon/state/state_store.h"
#include "daemon/state/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spk::daemon::state {
namespace {

using ::spk::daemon::state::testing::TempDir;
using ::testing::HasSubstr;

std::vector<std::string> TableNames(Database& db) {
  auto stmt = db.Prepare("list tables",
                         "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
  std::vector<std::string> names;
  while (stmt->Step().value()) names.push_back(stmt->ColumnText(0));
  return names;
}

TEST(Schema, MigratesAnEmptyFileToTheLatestVersion) {
  TempDir dir;
  SPK_ASSERT_OK_AND_ASSIGN(auto db, Database::Open(dir.File("s.db")));
  EXPECT_EQ(ReadSchemaVersion(*db).value(), 0);
  SPK_ASSERT_OK(MigrateSchema(*db));
  EXPECT_EQ(ReadSchemaVersion(*db).value(), LatestSchemaVersion());
  EXPECT_EQ(db->QueryInt64("app id", "PRAGMA application_id").value(), kStateApplicationId);
  EXPECT_THAT(TableNames(*db),
              ::testing::ElementsAre("artifacts", "audit_log", "boards", "deployments", "models",
                                     "partition_cores", "partitions", "telemetry_samples",
                                     "telemetry_values"));
  // Migrating again is a no-op.
  SPK_ASSERT_OK(MigrateSchema(*db));
  EXPECT_EQ(ReadSchemaVersion(*db).value(), LatestSchemaVersion());
}

TEST(Schema, ReopenKeepsData) {
  TempDir dir;
  std::string path = dir.File("s.db");
  {
    SPK_ASSERT_OK_AND_ASSIGN(auto store, StateStore::Create(path));
    SPK_ASSERT_OK(store->RegisterModel(testing::SampleModel(7)));
  }
  SPK_ASSERT_OK_AND_ASSIGN(auto store, StateStore::Create(path));
  SPK_ASSERT_OK_AND_ASSIGN(ModelRecord model, store->GetModel(testing::FakeSha256(7)));
  EXPECT_EQ(model.name, "model-7.pt");
}

TEST(Schema, RefusesAFileFromANewerSpiked) {
  TempDir dir;
  std::string path = dir.File("s.db");
  {
    SPK_ASSERT_OK_AND_ASSIGN(auto db, Database::Open(path));
    SPK_ASSERT_OK(MigrateSchema(*db));
    SPK_ASSERT_OK(db->Exec("pretend newer",
                           "PRAGMA user_version = " + std::to_string(LatestSchemaVersion() + 5)));
  }
  auto store = StateStore::Create(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(store.status().message(),
              HasSubstr("schema version " + std::to_string(LatestSchemaVersion() + 5)));
  EXPECT_THAT(store.status().message(),
              HasSubstr("versions up to " + std::to_string(LatestSchemaVersion())));
}

TEST(Schema, RefusesAnotherProgramsDatabase) {
  TempDir dir;
  std::string path = dir.File("other.db");
  {
    SPK_ASSERT_OK_AND_ASSIGN(auto db, Database::Open(path));
    SPK_ASSERT_OK(db->Exec("make foreign table", "CREATE TABLE recipes (name TEXT)"));
  }
  auto store = StateStore::Create(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("not a spiked state file"));
}

constexpr Migration kStep1 = {1, "create t", "CREATE TABLE t (x INTEGER NOT NULL)"};
constexpr Migration kStep2 = {2, "insert two", "INSERT INTO t VALUES (2)"};
constexpr Migration kStep3Broken = {3, "insert three", "INSERT INTO t VALUES (3); BOGUS SQL"};
constexpr Migration kStep3 = {3, "insert three", "INSERT INTO t VALUES (3)"};

TEST(Schema, EachStepRunsOnceAndAFailingStepLeavesThePreviousVersion) {
  TempDir dir;
  SPK_ASSERT_OK_AND_ASSIGN(auto db, Database::Open(dir.File("m.db")));
  const Migration two[] = {kStep1, kStep2};
  SPK_ASSERT_OK(MigrateSchema(*db, two));
  EXPECT_EQ(ReadSchemaVersion(*db).value(), 2);

  const Migration broken[] = {kStep1, kStep2, kStep3Broken};
  Status status = MigrateSchema(*db, broken);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("migration 3 (insert three)"));
  EXPECT_EQ(ReadSchemaVersion(*db).value(), 2);
  // Step 3's first statement was rolled back with the rest of it.
  EXPECT_EQ(db->QueryInt64("count", "SELECT count(*) FROM t").value(), 1);

  const Migration fixed[] = {kStep1, kStep2, kStep3};
  SPK_ASSERT_OK(MigrateSchema(*db, fixed));
  EXPECT_EQ(ReadSchemaVersion(*db).value(), 3);
  EXPECT_EQ(db->QueryInt64("sum", "SELECT sum(x) FROM t").value(), 5);  // step 2 ran once
}

TEST(Schema, BuiltInMigrationsAreNumberedInOrder) {
  auto migrations = SchemaMigrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i + 1));
    EXPECT_FALSE(migrations[i].name.empty());
  }
}

}  // namespace
}  // namespace spk::daemon::state

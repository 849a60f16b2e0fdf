// Helpers shared by the state tests: a temporary directory that removes
// itself, a settable clock, status assertions, and seed records.
#ifndef SPK_DAEMON_STATE_TEST_UTIL_H_
#define SPK_DAEMON_STATE_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "daemon/state/records.h"
#include "gtest/gtest.h"

#define SPK_EXPECT_OK(expr) EXPECT_EQ(::spk::internal_status::AsStatus(expr), ::spk::Status())
#define SPK_ASSERT_OK(expr) ASSERT_EQ(::spk::internal_status::AsStatus(expr), ::spk::Status())
#define SPK_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  SPK_ASSERT_OK_AND_ASSIGN_IMPL_(SPK_STATUS_CONCAT_(spk_test_or_, __LINE__), lhs, rexpr)
#define SPK_ASSERT_OK_AND_ASSIGN_IMPL_(var, lhs, rexpr) \
  auto var = (rexpr);                                   \
  SPK_ASSERT_OK(var.status());                          \
  lhs = std::move(var).value()

namespace spk::daemon::state::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A clock the test moves by hand; copies share the same time.
class FakeClock {
 public:
  explicit FakeClock(int64_t start_ms = 1'700'000'000'000)
      : now_(new std::atomic<int64_t>(start_ms)) {}
  int64_t now() const { return *now_; }
  void Advance(int64_t ms) { *now_ += ms; }
  std::function<int64_t()> AsFunction() const {
    auto now = now_;
    return [now] { return now->load(); };
  }

 private:
  std::shared_ptr<std::atomic<int64_t>> now_;
};

// A SHA-256-shaped hex string made from `seed`.
std::string FakeSha256(int seed);

ModelRecord SampleModel(int seed = 1);
ArtifactRecord SampleArtifact(std::string_view model_sha256, std::string_view key = "key-1");
BoardRecord SampleBoard(std::string_view id, uint32_t cores);

// Whole-file helpers for corruption tests.
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

}  // namespace spk::daemon::state::testing

#endif  // SPK_DAEMON_STATE_TEST_UTIL_H_

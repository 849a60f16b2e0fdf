// The subprocess helper of the CLI tests: a program that never ends is
// killed at the deadline instead of hanging the suite, and a pipe-driven
// program answers line by line.
#include "tests/cli/process.h"

#include <gtest/gtest.h>

namespace spk::testing {
namespace {

TEST(RunProcessTest, ReturnsOutputAndExitCode) {
  ProcessResult r = RunProcess({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(RunProcessTest, KillsAProgramThatOutlivesTheDeadline) {
  // The child's own child is killed too: it holds no pipe open afterwards.
  ProcessResult r =
      RunProcess({"/bin/sh", "-c", "sleep 600 & wait"}, "", {}, std::chrono::milliseconds(200));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_NE(r.err.find("killed after 200 ms"), std::string::npos) << r.err;
}

TEST(SubprocessTest, AnswersLineByLineBeforeStdinCloses) {
  Subprocess cat({"/bin/cat"});
  ASSERT_TRUE(cat.started());
  ASSERT_TRUE(cat.Write("one\n"));
  EXPECT_EQ(cat.ReadLine(std::chrono::seconds(30)), "one");
  ASSERT_TRUE(cat.Write("two\nthree"));
  EXPECT_EQ(cat.ReadLine(std::chrono::seconds(30)), "two");
  ProcessResult r = cat.Finish();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "three");
}

TEST(SubprocessTest, KillsAProgramThatOutlivesTheDeadline) {
  Subprocess sleeper({"/bin/sleep", "600"});
  ASSERT_TRUE(sleeper.started());
  EXPECT_EQ(sleeper.ReadLine(std::chrono::milliseconds(50)), std::nullopt);
  ProcessResult r = sleeper.Finish(std::chrono::milliseconds(100));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + 9);
}

}  // namespace
}  // namespace spk::testing

#include "base/logging.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace spk {
namespace {

using ::testing::HasSubstr;

// Runs `body` with stdout redirected to a pipe and returns what it wrote.
template <typename F>
std::string CaptureStdout(F body) {
  std::fflush(stdout);
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  int saved = ::dup(STDOUT_FILENO);
  ::dup2(fds[1], STDOUT_FILENO);
  body();
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  return out;
}

TEST(LoggingTest, JsonLinesAreValidJsonWithEscapedMessage) {
  std::string out = CaptureStdout([] {
    LoggingOptions options;
    options.name = "spiked-test";
    options.format = LogFormat::kJson;
    options.to_stderr = false;
    ASSERT_TRUE(InitLogging(options).ok());
    spdlog::info("deploy \"{}\"\non board {}", "mlp", 2);
    spdlog::debug("below the level");
    spdlog::default_logger()->flush();
  });
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  out.pop_back();
  ASSERT_EQ(out.find('\n'), std::string::npos) << "one record, one line: " << out;
  auto record = nlohmann::json::parse(out);
  EXPECT_EQ(record["level"], "info");
  EXPECT_EQ(record["logger"], "spiked-test");
  EXPECT_EQ(record["msg"], "deploy \"mlp\"\non board 2");
  EXPECT_EQ(record["pid"], static_cast<int>(::getpid()));
  EXPECT_GT(record["ts"].get<double>(), 1.6e9);
}

TEST(LoggingTest, TextFormatIsReadable) {
  std::string out = CaptureStdout([] {
    LoggingOptions options;
    options.name = "spikectl";
    options.to_stderr = false;
    options.level = "debug";
    ASSERT_TRUE(InitLogging(options).ok());
    spdlog::debug("compiling {}", "model.pt");
    spdlog::default_logger()->flush();
  });
  EXPECT_THAT(out, HasSubstr("spikectl: compiling model.pt"));
  EXPECT_THAT(out, HasSubstr("debug"));
}

TEST(LoggingTest, UnknownLevelIsRejected) {
  LoggingOptions options;
  options.level = "loud";
  Status s = InitLogging(options);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'loud'"));
}

TEST(LoggingTest, ParseLogFormat) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("xml").status().code(), StatusCode::kInvalidArgument);
}

TEST(LoggingTest, JsonEscapeControlCharacters) {
  EXPECT_EQ(JsonEscape(std::string("a\x01z\t", 4)), "a\\u0001z\\t");
}

}  // namespace
}  // namespace spk

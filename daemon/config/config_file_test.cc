#include "daemon/config/config_file.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spk::daemon {
namespace {

TEST(ConfigFileTest, SectionsCommentsAndQuotes) {
  const std::string text =
      "# spiked\n"
      "; another comment style\n"
      "\n"
      "[server]\n"
      "socket = /run/spiked/spiked.sock   # trailing comment\n"
      "  max_connections=32\n"
      "socket_group =\n"
      "\n"
      "[ metrics ]   # spaces inside the brackets are fine\n"
      "bind = \"::1\"\n"
      "[state]\n"
      "dir = \"/srv/my state # not a comment\"\n"
      "[log]\n"
      "level = debug;no-space-so-not-a-comment\n";
  auto entries = ParseConfigText(text, "test.conf");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 6u);
  const auto& e = *entries;
  EXPECT_EQ(e[0].section, "server");
  EXPECT_EQ(e[0].key, "socket");
  EXPECT_EQ(e[0].value, "/run/spiked/spiked.sock");
  EXPECT_EQ(e[0].line, 5);
  EXPECT_EQ(e[1].key, "max_connections");
  EXPECT_EQ(e[1].value, "32");
  EXPECT_EQ(e[2].key, "socket_group");
  EXPECT_EQ(e[2].value, "");
  EXPECT_EQ(e[3].section, "metrics");
  EXPECT_EQ(e[3].value, "::1");
  EXPECT_EQ(e[4].value, "/srv/my state # not a comment");
  EXPECT_EQ(e[5].value, "debug;no-space-so-not-a-comment");
}

TEST(ConfigFileTest, DottedKeysOutsideSections) {
  auto entries = ParseConfigText("metrics.port = 9000\nlog.level = warn\n", "f");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].section, "metrics");
  EXPECT_EQ((*entries)[0].key, "port");
  EXPECT_EQ((*entries)[1].line, 2);
}

TEST(ConfigFileTest, EscapesByteOrderMarkAndCrlf) {
  auto entries = ParseConfigText(
      "\xEF\xBB\xBF[a]\r\nb = \"tab\\there \\\"quoted\\\" back\\\\slash\"\r\n", "f");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].value, "tab\there \"quoted\" back\\slash");
}

TEST(ConfigFileTest, EverySyntaxErrorIsReportedWithItsLine) {
  const std::string text =
      "orphan = 1\n"                // 1
      "[server\n"                   // 2
      "[bad name]\n"                // 3
      "[server]\n"                  // 4
      "just words\n"                // 5
      "socket = \"/x\n"             // 6
      "socket = \"/x\" trailing\n"  // 7
      "mode = \"\\q\"\n"            // 8
      "metrics.port = 1\n"          // 9
      "max_connections = 1\n"       // 10
      "max_connections = 2\n"       // 11
      "bad key = 3\n";              // 12
  auto entries = ParseConfigText(text, "/etc/spiked/spiked.conf");
  EXPECT_EQ(entries.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(entries.status().message(),
            "/etc/spiked/spiked.conf:1: key 'orphan' is outside any section; put it under a "
            "[section] or write section.orphan\n"
            "/etc/spiked/spiked.conf:2: section header must end with ']'\n"
            "/etc/spiked/spiked.conf:3: section name 'bad name' must be letters, digits, '_' or "
            "'-'\n"
            "/etc/spiked/spiked.conf:5: expected 'key = value', a [section] or a # comment, got "
            "'just words'\n"
            "/etc/spiked/spiked.conf:6: unterminated quoted value\n"
            "/etc/spiked/spiked.conf:7: text after the closing quote\n"
            "/etc/spiked/spiked.conf:8: unknown escape \\q in a quoted value\n"
            "/etc/spiked/spiked.conf:9: key 'metrics.port' inside [server] must not contain '.'; "
            "write it as 'port' under [metrics]\n"
            "/etc/spiked/spiked.conf:11: server.max_connections is set again (first set on line "
            "10)\n"
            "/etc/spiked/spiked.conf:12: key 'bad key' must be letters, digits, '_' or '-'");
}

TEST(ConfigFileTest, QuoteRoundTrips) {
  for (const std::string value :
       {"plain", "", " leading", "trailing ", "has # hash", "semi;colon", "quote\"d", "back\\slash",
        "tab\tand\nnewline", "/run/spiked/spiked.sock"}) {
    const std::string text = "[s]\nk = " + QuoteConfigValue(value) + "  # comment\n";
    auto entries = ParseConfigText(text, "f");
    ASSERT_TRUE(entries.ok()) << value << ": " << entries.status();
    ASSERT_EQ(entries->size(), 1u);
    EXPECT_EQ((*entries)[0].value, value);
  }
  EXPECT_EQ(QuoteConfigValue("plain"), "plain");
  EXPECT_EQ(QuoteConfigValue(""), "\"\"");
}

}  // namespace
}  // namespace spk::daemon

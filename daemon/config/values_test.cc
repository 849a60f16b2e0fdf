#include "daemon/config/values.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace spk::daemon {
namespace {

using std::chrono::milliseconds;

TEST(ValuesTest, Bool) {
  for (const char* yes : {"true", "TRUE", "yes", "on", "1"}) EXPECT_TRUE(*ParseBool(yes)) << yes;
  for (const char* no : {"false", "No", "off", "0"}) EXPECT_FALSE(*ParseBool(no)) << no;
  EXPECT_EQ(ParseBool("maybe").status().message(), "must be true or false, got 'maybe'");
  EXPECT_EQ(ParseBool("").status().code(), StatusCode::kInvalidArgument);
}

TEST(ValuesTest, Uint) {
  EXPECT_EQ(*ParseUint("9477", 1, 65535), 9477u);
  EXPECT_EQ(ParseUint("70000", 1, 65535).status().message(), "must be 1..65535, got 70000");
  EXPECT_EQ(ParseUint("0", 1, 65535).status().message(), "must be 1..65535, got 0");
  EXPECT_EQ(ParseUint("-1", 1, 65535).status().message(),
            "must be a whole number in 1..65535, got '-1'");
  EXPECT_EQ(ParseUint("12ab", 1, 65535).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseUint("99999999999999999999999", 1, 65535).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ValuesTest, Size) {
  EXPECT_EQ(*ParseSize("16MiB", 0, ~0ull), 16u << 20);
  EXPECT_EQ(*ParseSize("16M", 0, ~0ull), 16u << 20);
  EXPECT_EQ(*ParseSize("2G", 0, ~0ull), 2ull << 30);
  EXPECT_EQ(*ParseSize("3TiB", 0, ~0ull), 3ull << 40);
  EXPECT_EQ(*ParseSize("512", 0, ~0ull), 512u);
  EXPECT_EQ(*ParseSize("0", 0, ~0ull), 0u);
  EXPECT_EQ(ParseSize("16MB", 0, ~0ull).status().message(),
            "must be a size like 512MiB or 2G (units K, M, G, T or KiB, MiB, GiB, TiB), got "
            "'16MB'");
  EXPECT_EQ(ParseSize("1.5G", 0, ~0ull).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("1K", 64 << 10, 1 << 30).status().message(), "must be 64KiB..1GiB, got 1K");
  EXPECT_EQ(ParseSize("99999999999T", 0, ~0ull).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatSize(16u << 20), "16MiB");
  EXPECT_EQ(FormatSize(1536), "1536");  // 1.5 KiB has no exact unit
  EXPECT_EQ(FormatSize(3ull << 40), "3TiB");
  EXPECT_EQ(FormatSize(0), "0");
}

TEST(ValuesTest, Duration) {
  const milliseconds any_max(1ll << 60);
  EXPECT_EQ(*ParseDuration("250ms", milliseconds(0), any_max), milliseconds(250));
  EXPECT_EQ(*ParseDuration("30", milliseconds(0), any_max), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("30s", milliseconds(0), any_max), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("5m", milliseconds(0), any_max), milliseconds(300000));
  EXPECT_EQ(*ParseDuration("5min", milliseconds(0), any_max), milliseconds(300000));
  EXPECT_EQ(*ParseDuration("2h", milliseconds(0), any_max), milliseconds(7200000));
  EXPECT_EQ(*ParseDuration("7d", milliseconds(0), any_max), milliseconds(604800000));
  EXPECT_EQ(ParseDuration("5 min", milliseconds(0), any_max).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDuration("soon", milliseconds(0), any_max).status().message(),
            "must be a duration like 250ms, 30s, 5min, 2h or 7d (a bare number is seconds), got "
            "'soon'");
  EXPECT_EQ(ParseDuration("50ms", milliseconds(100), milliseconds(3600000)).status().message(),
            "must be 100ms..1h, got 50ms");
  EXPECT_EQ(ParseDuration("99999999999999999d", milliseconds(0), any_max).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatDuration(milliseconds(300000)), "5min");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(86400000)), "1d");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0");
}

TEST(ValuesTest, SocketMode) {
  EXPECT_EQ(*ParseSocketMode("0660"), 0660u);
  EXPECT_EQ(*ParseSocketMode("600"), 0600u);
  EXPECT_EQ(FormatMode(0660), "0660");
  EXPECT_EQ(ParseSocketMode("0860").status().message(),
            "must be octal permission bits 0000..0777 such as 0660, got '0860'");
  EXPECT_EQ(ParseSocketMode("1777").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSocketMode("0460").status().message(),
            "must give the owner read and write (0600), got 0460");
}

TEST(ValuesTest, UsbId) {
  EXPECT_EQ(*ParseUsbId("0x1209"), 0x1209);
  EXPECT_EQ(*ParseUsbId("0XFFFF"), 0xFFFF);
  EXPECT_EQ(*ParseUsbId("4617"), 0x1209);
  EXPECT_EQ(FormatUsbId(0x1209), "0x1209");
  EXPECT_EQ(ParseUsbId("0x10000").status().message(),
            "must be a 16-bit USB id such as 0x1209, got '0x10000'");
  EXPECT_EQ(ParseUsbId("0x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseUsbId("12g").status().code(), StatusCode::kInvalidArgument);
}

TEST(ValuesTest, NamesPathsAndAddresses) {
  EXPECT_EQ(*ParseChoice("json", {"text", "json"}), "json");
  EXPECT_EQ(ParseChoice("xml", {"text", "json"}).status().message(),
            "must be one of text, json, got 'xml'");
  EXPECT_EQ(*ParseAbsolutePath("/var/lib/spiked//", 100), "/var/lib/spiked");
  EXPECT_EQ(*ParseAbsolutePath("/", 100), "/");
  EXPECT_EQ(ParseAbsolutePath("state", 100).status().message(),
            "must be an absolute path, got 'state'");
  EXPECT_EQ(ParseAbsolutePath("/" + std::string(120, 'a'), 107).status().message(),
            "must be at most 107 bytes long, got 121 in '/" + std::string(120, 'a') + "'");
  EXPECT_EQ(*ParseGroupName("spiked", false), "spiked");
  EXPECT_EQ(*ParseGroupName("", true), "");
  EXPECT_EQ(ParseGroupName("", false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseGroupName("9lives", false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseGroupName("a b", true).status().message(),
            "must be a group name ([A-Za-z_][A-Za-z0-9_.-]*, at most 32 characters) or empty, "
            "got 'a b'");
  EXPECT_EQ(*ParseProfileName("kapoho-point-8"), "kapoho-point-8");
  EXPECT_EQ(ParseProfileName("Kapoho").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProfileName("../x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseIpAddress("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(*ParseIpAddress("::1"), "::1");
  EXPECT_EQ(ParseIpAddress("localhost").status().message(),
            "must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got 'localhost'");
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0"));
}

TEST(ValuesTest, ClosestMatch) {
  const std::vector<std::string> keys = {"metrics.port", "metrics.bind", "server.socket",
                                         "server.max_connections"};
  EXPECT_EQ(ClosestMatch("metrics.prot", keys), "metrics.port");  // a swap counts once
  EXPECT_EQ(ClosestMatch("metric.port", keys), "metrics.port");
  EXPECT_EQ(ClosestMatch("server.sockt", keys), "server.socket");
  EXPECT_EQ(ClosestMatch("server.max_conections", keys), "server.max_connections");
  EXPECT_EQ(ClosestMatch("METRICS.PORT", keys), "metrics.port");
  EXPECT_EQ(ClosestMatch("telemetry.period", keys), "");
}

}  // namespace
}  // namespace spk::daemon

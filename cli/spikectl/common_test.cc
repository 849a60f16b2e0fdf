#include "cli/spikectl/common.h"

#include <sstream>

#include <gtest/gtest.h>

#include "cli/spikectl/infer.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

TEST(ParseArgsTest, ValuesSwitchesAndPositionals) {
  auto args = ParseArgs({"model.pt", "--name=m", "--board", "sim0", "--replace", "--", "--x"},
                        {"name", "board"}, {"replace"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->positional, (std::vector<std::string>{"model.pt", "--x"}));
  EXPECT_EQ(args->Value("name"), "m");
  EXPECT_EQ(args->Value("board"), "sim0");
  EXPECT_TRUE(args->Has("replace"));
  EXPECT_FALSE(ParseArgs({"--nope"}, {}, {}).ok());
  EXPECT_FALSE(ParseArgs({"--name"}, {"name"}, {}).ok());
  EXPECT_FALSE(ParseArgs({"--replace=yes"}, {}, {"replace"}).ok());
}

TEST(ParseArgsTest, NumbersAndDurations) {
  auto args =
      ParseArgs({"-n", "50", "--interval", "500ms", "--bad", "-1"}, {"n", "interval", "bad"}, {});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(**args->Uint("n", 1, 100), 50u);
  EXPECT_FALSE(args->Uint("n", 1, 10).ok());
  EXPECT_FALSE(args->Uint("bad", 0, 10).ok());
  EXPECT_DOUBLE_EQ(**args->Seconds("interval"), 0.5);
  EXPECT_FALSE(args->Uint("missing", 0, 1)->has_value());
}

TEST(ExitCodeTest, MapsStatusCodes) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), kExitOk);
  EXPECT_EQ(ExitCodeFor(UnavailableError("x")), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(NotFoundError("x")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(PermissionDeniedError("x")), kExitPermission);
  EXPECT_EQ(ExitCodeFor(FailedPreconditionError("x")), kExitNotReady);
  EXPECT_EQ(ExitCodeFor(DeadlineExceededError("x")), kExitTimeout);
  EXPECT_EQ(ExitCodeFor(InvalidArgumentError("x")), kExitFailed);
}

TEST(RunSpikectlTest, UsageAndUnknownVerb) {
  std::ostringstream out, err;
  EXPECT_EQ(RunSpikectl({}, out, err, false), kExitUsage);
  EXPECT_NE(out.str().find("deploy"), std::string::npos);
  std::ostringstream out2, err2;
  EXPECT_EQ(RunSpikectl({"frobnicate", "--json"}, out2, err2, false), kExitUsage);
  auto j = nlohmann::json::parse(out2.str());
  EXPECT_EQ(j["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(j["exit_code"], kExitUsage);
  std::ostringstream out3, err3;
  EXPECT_EQ(RunSpikectl({"deploy", "--help"}, out3, err3, false), kExitOk);
  EXPECT_NE(out3.str().find("usage: spikectl deploy"), std::string::npos);
}

TEST(RunSpikectlTest, UnreachableDaemonSaysWhatToDo) {
  std::ostringstream out, err;
  const std::string socket = ::testing::TempDir() + "/no-such-daemon.sock";
  EXPECT_EQ(RunSpikectl({"--socket", socket, "--json", "ls"}, out, err, false), kExitUnreachable);
  auto j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["error"]["code"], "UNAVAILABLE");
  EXPECT_NE(j["error"]["message"].get<std::string>().find(socket), std::string::npos);
  EXPECT_NE(err.str().find("hint: is spiked running?"), std::string::npos) << err.str();
}

// A model that does not exist is NOT_FOUND for compile as for deploy, and
// says so before looking for the compiler.
TEST(RunSpikectlTest, CompileOfAMissingModelIsNotFound) {
  std::ostringstream out, err;
  const std::string model = ::testing::TempDir() + "/no-such-model.pt";
  EXPECT_EQ(RunSpikectl({"--json", "compile", model, "-o", ::testing::TempDir() + "/x.spkimg",
                         "--compiler", "/nonexistent/spk-compile"},
                        out, err, false),
            kExitNotFound);
  auto j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
  EXPECT_NE(j["error"]["message"].get<std::string>().find(model), std::string::npos);
}

// doctor with no daemon: the socket check fails with a fix, and the exit
// code is the documented "not ready".
TEST(RunSpikectlTest, DoctorWithoutADaemonSaysHowToStartOne) {
  std::ostringstream out, err;
  const std::string socket = ::testing::TempDir() + "/no-such-daemon.sock";
  EXPECT_EQ(RunSpikectl({"--socket", socket, "--json", "doctor"}, out, err, false), kExitNotReady);
  auto j = nlohmann::json::parse(out.str());
  EXPECT_FALSE(j["ok"].get<bool>());
  bool socket_checked = false;
  for (const auto& c : j["checks"]) {
    if (c["check"] != "socket") continue;
    socket_checked = true;
    EXPECT_EQ(c["status"], "fail");
    EXPECT_NE(c["detail"].get<std::string>().find(socket), std::string::npos) << c.dump();
    EXPECT_NE(c["fix"].get<std::string>().find("start spiked"), std::string::npos) << c.dump();
  }
  EXPECT_TRUE(socket_checked) << j.dump();
  // Nothing to connect to: no connect check pretends it ran.
  for (const auto& c : j["checks"]) EXPECT_NE(c["check"], "connect") << j.dump();
}

nlohmann::json RealBoard(const std::string& firmware, uint32_t protocol) {
  return {{"board", "usb0"},
          {"board_profile", "loihi3-dev"},
          {"emulated", false},
          {"firmware_version", firmware},
          {"protocol_version", protocol},
          {"health", {{"state", "ok"}}}};
}

TEST(CheckBoardTest, EmulatedBoardNeedsNoFirmware) {
  const auto c = CheckBoard({{"board", "sim0"},
                             {"board_profile", "kapoho-point-8"},
                             {"emulated", true},
                             {"health", {{"state", "ok"}}}});
  EXPECT_EQ(c["check"], "board sim0");
  EXPECT_EQ(c["status"], "ok");
  EXPECT_NE(c["detail"].get<std::string>().find("emulated, no firmware"), std::string::npos);
  EXPECT_FALSE(c.contains("fix"));
}

TEST(CheckBoardTest, SupportedFirmwareAndProtocolPass) {
  const auto c = CheckBoard(RealBoard("1.4.2", 0x0103));
  EXPECT_EQ(c["status"], "ok") << c.dump();
  EXPECT_NE(c["detail"].get<std::string>().find("firmware 1.4.2, board protocol 1.3"),
            std::string::npos)
      << c.dump();
}

TEST(CheckBoardTest, TooOldFirmwareFailsWithAFix) {
  const auto c = CheckBoard(RealBoard("0.9.7", 0x0100));
  EXPECT_EQ(c["status"], "fail");
  EXPECT_NE(c["fix"].get<std::string>().find("firmware >= 1.0.0"), std::string::npos) << c.dump();
}

TEST(CheckBoardTest, OtherBoardProtocolMajorFails) {
  const auto c = CheckBoard(RealBoard("2.0.0", 0x0200));
  EXPECT_EQ(c["status"], "fail");
  EXPECT_NE(c["detail"].get<std::string>().find("board protocol 2.0"), std::string::npos);
  EXPECT_NE(c["fix"].get<std::string>().find("board protocol 1.x"), std::string::npos) << c.dump();
}

TEST(CheckBoardTest, UnhealthyBoardFailsAndDegradedWarns) {
  auto gone = RealBoard("1.0.0", 0x0100);
  gone["health"] = {{"state", "failed"}, {"detail", "unplugged"}};
  const auto c = CheckBoard(gone);
  EXPECT_EQ(c["status"], "fail");
  EXPECT_NE(c["detail"].get<std::string>().find("(unplugged)"), std::string::npos);
  EXPECT_NE(c["fix"].get<std::string>().find("spikectl health"), std::string::npos);
  auto slow = RealBoard("1.0.0", 0x0100);
  slow["health"] = {{"state", "degraded"}};
  EXPECT_EQ(CheckBoard(slow)["status"], "warn");
}

// Outputs are listed, and the prediction read, in the response's port order.
TEST(OutputsJsonTest, FollowsTheResponsesPortOrder) {
  client::InferResult result;
  result.tensors["a_aux"] = protocol::Tensor::FromValues<float>({1, 2}, std::vector<float>{5, 6});
  result.tensors["z_scores"] =
      protocol::Tensor::FromValues<float>({1, 3}, std::vector<float>{0, 2, 1});
  result.ports = {"z_scores", "a_aux"};
  const auto outputs = OutputsJson(result);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0]["port"], "z_scores");
  EXPECT_EQ(outputs[1]["port"], "a_aux");
  EXPECT_EQ(Prediction(*result.FirstTensor()), 1u);
}

}  // namespace
}  // namespace spk::spikectl

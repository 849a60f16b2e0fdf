// spk::client streaming sessions and `spikectl stream` against the real
// spiked, on the small hand-made board image (no compiler, no LibTorch),
// whose model emits an output every step. The point is the output window
// (docs/protocol.md, "Streaming sessions"): a client that pushes far more
// steps than output_window without receiving must neither deadlock nor
// lose or reorder outputs. The C API is checked here too, since this test
// needs no LibTorch.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/client/client.h"
#include "cli/spikectl/verbs.h"
#include "tests/cli/process.h"
#include "tests/daemon/daemon_fixture.h"

namespace spk::testing {
namespace {

using ClientLib = spk::client::Client;

class ClientSessionTest : public DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    StartDaemon();
    client::ConnectOptions options;
    options.socket = socket_;
    // Only a guard: were the client to deadlock, Push fails here instead of
    // hanging the test.
    options.timeout = std::chrono::seconds(30);
    auto connected = ClientLib::Connect(options);
    ASSERT_TRUE(connected.ok()) << connected.status();
    client_ = std::move(connected).value();
    protocol::DeployRequest deploy;
    deploy.name = "small";
    deploy.model.path = image_path_;
    auto deployed = client_->Deploy(deploy);
    ASSERT_TRUE(deployed.ok()) << deployed.status();
  }

  std::unique_ptr<client::Session> Open(uint32_t input_window, uint32_t output_window) {
    protocol::SessionOpenRequest request;
    request.deployment = "small";
    request.input_window = input_window;
    request.output_window = output_window;
    auto session = client_->OpenSession(request);
    EXPECT_TRUE(session.ok()) << session.status();
    if (!session.ok()) return nullptr;
    EXPECT_EQ((*session)->info()["output_window"], output_window);
    return std::move(session).value();
  }

  // The chunks by step, checking they came one step each, in step order.
  static std::map<int64_t, std::vector<float>> ByStep(
      const std::vector<protocol::StreamChunk>& chunks) {
    std::map<int64_t, std::vector<float>> got;
    int64_t last = -1;
    for (const auto& chunk : chunks) {
      EXPECT_EQ(chunk.steps, 1u);
      EXPECT_EQ(chunk.port, 0);
      EXPECT_GT(static_cast<int64_t>(chunk.first_step), last) << "outputs out of order";
      last = static_cast<int64_t>(chunk.first_step);
      got[last] = std::get<protocol::Tensor>(chunk.body).ToFloat();
    }
    return got;
  }

  std::unique_ptr<ClientLib> client_;
};

// The bug: Push kept the outputs that arrived while it waited for input
// credit without acknowledging them. With 8-step chunks and an output window
// of 2, the server stops after two outputs of the first chunk, so its CREDIT
// never came and the ninth Push waited forever.
TEST_F(ClientSessionTest, PushFarBeyondTheOutputWindowThenReceiveEverything) {
  constexpr uint32_t kChunk = 8, kChunks = 60, kSteps = kChunk * kChunks;
  auto session = Open(/*input_window=*/4, /*output_window=*/2);
  ASSERT_NE(session, nullptr);
  for (uint32_t i = 0; i < kChunks; ++i) {
    Status pushed = session->Push(0, kChunk, Chunk(uint64_t{i} * kChunk, kChunk).body);
    ASSERT_TRUE(pushed.ok()) << "chunk " << i << ": " << pushed;
  }
  // Far more than the window arrived and was acknowledged while pushing.
  EXPECT_GT(session->buffered_outputs(), 2u);

  const auto expected = ExpectedStream(kSteps);
  ASSERT_GT(expected.size(), kSteps / 2);
  std::vector<protocol::StreamChunk> received;
  while (received.size() < expected.size()) {
    auto chunk = session->Receive(std::chrono::seconds(30));
    ASSERT_TRUE(chunk.ok()) << "after " << received.size() << " outputs: " << chunk.status();
    received.push_back(std::move(chunk).value());
  }
  std::vector<protocol::StreamChunk> rest;
  auto totals = session->Close(/*drain=*/true, &rest);
  ASSERT_TRUE(totals.ok()) << totals.status();
  EXPECT_TRUE(rest.empty()) << rest.size() << " outputs beyond the emulator's";
  EXPECT_EQ((*totals)["steps"], kSteps);
  EXPECT_EQ(ByStep(received), expected);
}

// The client's own buffer is bounded: past it Push refuses instead of
// reading (and acknowledging) more, and the session goes on once the
// application receives.
TEST_F(ClientSessionTest, FullOutputBufferRefusesPushUntilReceived) {
  constexpr uint32_t kChunk = 8, kChunks = 12, kSteps = kChunk * kChunks;
  auto session = Open(/*input_window=*/1, /*output_window=*/1);
  ASSERT_NE(session, nullptr);
  session->set_output_buffer_bytes(1);  // one chunk at most
  std::vector<protocol::StreamChunk> received;
  int refused = 0;
  for (uint32_t i = 0; i < kChunks; ++i) {
    for (;;) {
      Status pushed = session->Push(0, kChunk, Chunk(uint64_t{i} * kChunk, kChunk).body);
      if (pushed.ok()) break;
      ASSERT_EQ(pushed.code(), StatusCode::kResourceExhausted) << pushed;
      ++refused;
      EXPECT_EQ(session->buffered_outputs(), 1u);
      auto chunk = session->Receive(std::chrono::seconds(30));
      ASSERT_TRUE(chunk.ok()) << chunk.status();
      received.push_back(std::move(chunk).value());
    }
    EXPECT_LE(session->buffered_outputs(), 1u);
  }
  EXPECT_GT(refused, 0);
  std::vector<protocol::StreamChunk> rest;
  auto totals = session->Close(/*drain=*/true, &rest);
  ASSERT_TRUE(totals.ok()) << totals.status();
  received.insert(received.end(), rest.begin(), rest.end());
  EXPECT_EQ(ByStep(received), ExpectedStream(kSteps));
}

// spikectl stream pushes chunk after chunk and prints what has arrived; with
// more steps per chunk than the output window and more chunks than the input
// window it hung on the same bug.
TEST_F(ClientSessionTest, SpikectlStreamsChunksLargerThanTheOutputWindow) {
  constexpr uint64_t kSteps = 600;  // 19 chunks of 32 steps; windows 8 and 16
  const std::string events = dir_.path() + "/events.txt";
  {
    std::ofstream out(events);
    for (uint64_t t = 0; t < kSteps; ++t) {
      const auto in = StepInput(t);
      for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != 0) out << t << " " << i << "\n";
      }
    }
  }
  ProcessResult r = RunProcess({SPIKECTL_BINARY, "stream", "small", events, "--steps-per-chunk",
                                "32", "--json", "--timeout=30", "--socket=" + socket_});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::map<int64_t, std::vector<float>> got;
  int64_t last = -1;
  nlohmann::json closed;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    if (j.contains("closed")) {
      closed = j["closed"];
      continue;
    }
    const auto step = j["first_step"].get<int64_t>();
    EXPECT_GT(step, last) << "outputs out of order";
    last = step;
    got[step] = j["values"].get<std::vector<float>>();
  }
  EXPECT_EQ(got, ExpectedStream(kSteps));
  EXPECT_EQ(closed["steps"], kSteps);
}

// spikectl stream is live: it opens the session before reading its input
// and prints outputs while the input is still open (a sensor piped in),
// instead of reading to the end of stdin first.
TEST_F(ClientSessionTest, SpikectlStreamPrintsOutputsBeforeItsInputEnds) {
  constexpr uint64_t kSteps = 20;
  const auto events = [](uint64_t from, uint64_t to) {
    std::string text;
    for (uint64_t t = from; t < to; ++t) {
      const auto in = StepInput(t);
      for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != 0) text += std::to_string(t) + " " + std::to_string(i) + "\n";
      }
    }
    return text;
  };
  // Steps up to the first with an event past 10: that event completes the
  // chunks before it.
  uint64_t split = 10;
  while (StepInput(split) == std::vector<int32_t>{0, 0}) ++split;
  ASSERT_LT(split, kSteps);
  const auto expected = ExpectedStream(kSteps);
  ASSERT_FALSE(expected.empty());
  ASSERT_LT(expected.begin()->first, static_cast<int64_t>(split));

  Subprocess stream({SPIKECTL_BINARY, "stream", "small", "-", "--steps", std::to_string(kSteps),
                     "--json", "--timeout=60", "--socket=" + socket_});
  ASSERT_TRUE(stream.started());
  ASSERT_TRUE(stream.Write(events(0, split + 1)));
  // The guard only bounds a failure; the output comes once the chunks are in.
  const auto first = stream.ReadLine(std::chrono::seconds(60));
  ASSERT_TRUE(first.has_value()) << "no output while stdin is open\n" << stream.Finish().err;
  std::vector<std::string> lines = {*first};
  ASSERT_TRUE(stream.Write(events(split + 1, kSteps)));
  ProcessResult rest = stream.Finish();
  ASSERT_EQ(rest.exit_code, 0) << rest.err << rest.out;
  std::istringstream more(rest.out);
  for (std::string line; std::getline(more, line);) lines.push_back(line);

  std::map<int64_t, std::vector<float>> got;
  nlohmann::json closed;
  for (const std::string& line : lines) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    if (j.contains("closed")) {
      closed = j["closed"];
    } else {
      got[j["first_step"].get<int64_t>()] = j["values"].get<std::vector<float>>();
    }
  }
  const auto head = nlohmann::json::parse(*first);
  EXPECT_EQ(head["first_step"], expected.begin()->first) << *first;
  EXPECT_EQ(got, expected);
  EXPECT_EQ(closed["steps"], kSteps);
}

// deploy on a terminal: one status line on stderr, rewritten in place with
// the daemon's PROGRESS stages and cleared before the summary; stdout has
// only the summary and the id.
TEST_F(ClientSessionTest, DeployShowsProgressOnATerminal) {
  std::ostringstream out, err;
  const int rc = spikectl::RunSpikectl(
      {"--socket", socket_, "--timeout=60", "deploy", image_path_, "--name", "tty"}, out, err,
      /*tty=*/true);
  ASSERT_EQ(rc, spikectl::kExitOk) << err.str() << out.str();
  const std::string line = err.str();
  EXPECT_EQ(line.rfind("\r\033[Kdeploying small.spkimg: ", 0), 0u) << line;
  for (const char* stage : {"load_model", "compile", "place", "load_image"}) {
    EXPECT_NE(line.find("deploying small.spkimg: " + std::string(stage)), std::string::npos)
        << stage << " in " << line;
  }
  EXPECT_EQ(line.find('\n'), std::string::npos) << "a terminal gets one rewritten line";
  EXPECT_TRUE(line.ends_with("\r\033[K")) << "the line is cleared before the summary";
  EXPECT_NE(out.str().find("deployed small.spkimg on "), std::string::npos) << out.str();
  EXPECT_TRUE(out.str().ends_with("deployment id: tty\n")) << out.str();
  EXPECT_EQ(out.str().find('\033'), std::string::npos);

  // --no-progress: nothing on stderr at all.
  std::ostringstream quiet_out, quiet_err;
  EXPECT_EQ(spikectl::RunSpikectl({"--socket", socket_, "deploy", image_path_, "--name", "tty",
                                   "--replace", "--no-progress"},
                                  quiet_out, quiet_err, /*tty=*/true),
            spikectl::kExitOk);
  EXPECT_EQ(quiet_err.str(), "");
}

// --progress without a terminal: one plain line per PROGRESS for logs, no
// escape sequences; with --json stdout is still the one document.
TEST_F(ClientSessionTest, DeployProgressWithoutATerminalIsOneLinePerStage) {
  ProcessResult r = RunProcess({SPIKECTL_BINARY, "deploy", image_path_, "--name", "logged",
                                "--progress", "--json", "--timeout=60", "--socket=" + socket_});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(r.err.find('\033'), std::string::npos) << r.err;
  std::vector<std::string> stages;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    ASSERT_EQ(line.rfind("deploy: ", 0), 0u) << line;
    stages.push_back(line.substr(8, line.find_first_of(" :", 8) - 8));
  }
  EXPECT_EQ(stages,
            (std::vector<std::string>{"queued", "load_model", "compile", "place", "load_image"}))
      << r.err;
  const auto doc = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["deployment"], "logged");

  // Without --progress and without a terminal, stderr stays empty.
  ProcessResult plain = RunProcess({SPIKECTL_BINARY, "deploy", image_path_, "--name", "logged",
                                    "--replace", "--timeout=60", "--socket=" + socket_});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.err, "");
  EXPECT_TRUE(plain.out.ends_with("deployment id: logged\n")) << plain.out;
}

// The C API, from a program compiled as C, against the same daemon and
// image: its scores are the C++ client's.
TEST_F(ClientSessionTest, CApiAgreesWithTheCppClient) {
  protocol::InferRequest request;
  request.deployment = "small";
  const std::vector<float> values = {1, 0};
  const client::InferInput input{"", protocol::Tensor::FromValues<float>({2}, values)};
  auto result = client_->Infer(request, std::span<const client::InferInput>(&input, 1));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(result->ports.empty());
  const std::vector<float> scores = result->tensors.at(result->ports.front()).ToFloat();
  const auto best = client::ArgMax(scores);
  ASSERT_TRUE(best.has_value());

  ProcessResult c =
      RunProcess({SPK_C_API_CHECK, socket_, image_path_, "values:1,0", std::to_string(*best)});
  ASSERT_EQ(c.exit_code, 0) << c.err << c.out;
  EXPECT_NE(c.out.find("all checks passed"), std::string::npos) << c.out;
  std::vector<float> c_scores;
  std::istringstream lines(c.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("scores:", 0) != 0) continue;
    std::istringstream numbers(line.substr(7));
    for (std::string v; numbers >> v;) c_scores.push_back(std::strtof(v.c_str(), nullptr));
  }
  EXPECT_EQ(c_scores, scores) << c.out;

  // "-": no expected prediction, the other checks still run.
  ProcessResult any = RunProcess({SPK_C_API_CHECK, socket_, image_path_, "values:1,0", "-"});
  EXPECT_EQ(any.exit_code, 0) << any.err;
  // A wrong expectation fails: the check can fail.
  ProcessResult wrong =
      RunProcess({SPK_C_API_CHECK, socket_, image_path_, "values:1,0", std::to_string(*best + 1)});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_NE(wrong.err.find("prediction"), std::string::npos) << wrong.err;
}

}  // namespace
}  // namespace spk::testing

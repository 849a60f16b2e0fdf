// End-to-end tests of spikectl: the real spiked on a temporary socket, the
// real spikectl binary as a subprocess, every verb's --json parsed and
// checked, and infer's predictions compared with PyTorch's (from the
// fixture) and with the C++ and Python clients.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/client/client.h"
#include "cli/spikectl/input.h"
#include "tests/cli/process.h"
#include "tests/daemon/daemon_harness.h"
#include "tests/support/digits.h"

namespace spk::testing {
namespace {

using nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kFixtures = SPK_FIXTURE_DIR;
const std::string kModel = "spiking_mlp";
// Samples of the digits test split that the tests classify.
constexpr uint32_t kSamples = 12;

class SpikectlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    socket_ = dir_->path() + "/spiked.sock";
    log_ = dir_->path() + "/spiked.log";
    DaemonOptions options;
    options.socket = socket_;
    options.env = {{"HOME", dir_->path()}, {"SPK_PROFILE_DIR", SPK_SOURCE_DIR "/hal/profiles"}};
    options.args = {"--socket=" + socket_, "--state-dir=" + dir_->path() + "/state",
                    "--metrics.enabled=false", "--compile.command=" + std::string(SPK_COMPILE)};
    daemon_ = new Daemon();
    start_ = daemon_->Start(options, log_);
  }

  static void TearDownTestSuite() {
    delete daemon_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_TRUE(start_.ok()) << start_ << "\n" << Slurp(log_);
    auto digits = ReadDigits(kFixtures + "/data/digits_test.bin");
    ASSERT_TRUE(digits.ok()) << digits.status();
    digits_ = std::move(digits).value();
    meta_ = json::parse(Slurp(kFixtures + "/models/" + kModel + ".json"));
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "--- spiked log ---\n" << Slurp(log_) << "\n";
  }

  // spikectl ARGS --socket S, with a client timeout well below the test's
  // own (spikectl's default equals ctest's TIMEOUT), so a stuck call fails
  // as spikectl's DEADLINE_EXCEEDED instead of hanging the suite.
  ProcessResult Spikectl(std::vector<std::string> args, const std::string& stdin_path = "") {
    args.insert(args.begin(), SPIKECTL_BINARY);
    args.push_back("--socket=" + socket_);
    args.push_back("--timeout=120");
    return RunProcess(args, stdin_path);
  }

  json SpikectlJson(std::vector<std::string> args, int expected_exit = 0) {
    args.push_back("--json");
    ProcessResult r = Spikectl(args);
    EXPECT_EQ(r.exit_code, expected_exit) << r.err << r.out;
    json parsed = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << r.out;
    return parsed;
  }

  std::string TempFile(const std::string& name) { return dir_->path() + "/" + name; }

  // Deploys the fixture as `name` (once per test suite run; replace keeps
  // tests independent of order).
  json DeployFixture(const std::string& name) {
    return SpikectlJson(
        {"deploy", kFixtures + "/models/" + kModel + ".pt", "--name", name, "--replace"});
  }

  std::string WriteNpy(uint32_t i) {
    const std::vector<float> image = digits_.Image(i);
    const protocol::Tensor t =
        protocol::Tensor::FromValues<float>({1, 1, digits_.rows, digits_.cols}, image);
    const std::vector<uint8_t> bytes = spikectl::EncodeNpy(t);
    const std::string path = TempFile("digit" + std::to_string(i) + ".npy");
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  static TempDir* dir_;
  static Daemon* daemon_;
  static Status start_;
  static std::string socket_, log_;
  Digits digits_;
  json meta_;
};

TempDir* SpikectlTest::dir_ = nullptr;
Daemon* SpikectlTest::daemon_ = nullptr;
Status SpikectlTest::start_ = Status::Ok();
std::string SpikectlTest::socket_, SpikectlTest::log_;

TEST_F(SpikectlTest, VersionHealthBoardsJson) {
  json v = SpikectlJson({"version"});
  EXPECT_EQ(v["client"]["spikectl"], "0.1.0");
  EXPECT_EQ(v["client"]["protocol_max"], "1.0");
  EXPECT_EQ(v["server"]["protocol"], "1.0");
  EXPECT_TRUE(v["server"]["operations"].is_array());
  EXPECT_EQ(v["socket"], socket_);

  // The emulator is up and nothing is failing: ready, so exit 0.
  json health = SpikectlJson({"health"});
  EXPECT_TRUE(health["live"].get<bool>());
  EXPECT_TRUE(health["ready"].get<bool>()) << health.dump();
  ASSERT_TRUE(health["boards"].is_array());
  ASSERT_FALSE(health["boards"].empty());
  EXPECT_EQ(health["boards"][0]["board"], "sim0");
  EXPECT_EQ(health["boards"][0]["state"], "ok");

  json boards = SpikectlJson({"boards"});
  ASSERT_FALSE(boards["boards"].empty());
  const json& b = boards["boards"][0];
  EXPECT_EQ(b["board"], "sim0");
  EXPECT_GT(b["cores_total"].get<uint64_t>(), 0u);
  EXPECT_LE(b["cores_free"].get<uint64_t>(), b["cores_total"].get<uint64_t>());

  // The human forms are aligned tables with headers.
  ProcessResult table = Spikectl({"boards"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_EQ(table.out.rfind("BOARD  ", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("sim0"), std::string::npos);
}

TEST_F(SpikectlTest, DeployInferLsDescribeUndeploy) {
  json d = DeployFixture("mlp");
  EXPECT_EQ(d["deployment"], "mlp");
  EXPECT_EQ(d["board"], "sim0");
  EXPECT_FALSE(d["partition"]["cores"].empty());
  // Whether the first deploy compiled depends on the tests before it; the
  // same model again must come from the cache.
  json cached = DeployFixture("mlp");
  EXPECT_EQ(cached["cache"], "hit") << cached.dump();
  EXPECT_EQ(cached["model_sha256"], d["model_sha256"]);

  // Deploying over it without --replace says what to do.
  json again =
      SpikectlJson({"deploy", kFixtures + "/models/" + kModel + ".pt", "--name", "mlp"}, 1);
  EXPECT_EQ(again["error"]["code"], "ALREADY_EXISTS");
  EXPECT_NE(again["error"]["hint"].get<std::string>().find("--replace"), std::string::npos);

  json ls = SpikectlJson({"ls"});
  bool listed = false;
  for (const auto& x : ls["deployments"]) {
    if (x["deployment"] == "mlp") {
      listed = true;
      EXPECT_EQ(x["state"], "ready");
    }
  }
  EXPECT_TRUE(listed) << ls.dump();

  json describe = SpikectlJson({"describe", "mlp"});
  EXPECT_EQ(describe["deployment"], "mlp");
  ASSERT_EQ(describe["inputs"].size(), 1u) << describe.dump();
  EXPECT_TRUE(describe["outputs"].is_array());

  // Each input format gives PyTorch's prediction.
  const json& torch = meta_["predictions"];
  uint32_t agree = 0;
  for (uint32_t i = 0; i < kSamples; ++i) {
    std::string input;
    std::vector<std::string> extra;
    const std::vector<float> image = digits_.Image(i);
    if (i % 3 == 0) {
      input = WriteNpy(i);
    } else if (i % 3 == 1) {
      input = TempFile("digit" + std::to_string(i) + ".json");
      std::ofstream(input) << json(image).dump();  // flat: reshaped to the port
    } else {
      input = TempFile("digit" + std::to_string(i) + ".f32");
      std::ofstream(input, std::ios::binary)
          .write(reinterpret_cast<const char*>(image.data()),
                 static_cast<std::streamsize>(image.size() * sizeof(float)));
      extra = {"--dtype", "f32", "--shape", "1,1,8,8"};
    }
    std::vector<std::string> args = {"infer", "mlp", input};
    args.insert(args.end(), extra.begin(), extra.end());
    json r = SpikectlJson(args);
    ASSERT_TRUE(r["prediction"].is_number()) << r.dump();
    agree += r["prediction"].get<int>() == torch[i].get<int>();
    EXPECT_GT(r["latency_seconds"].get<double>(), 0);
    EXPECT_GT(r["energy_joules"]["total"].get<double>(), 0);
    ASSERT_FALSE(r["outputs"].empty());
    EXPECT_EQ(r["outputs"][0]["kind"], "tensor");
  }
  EXPECT_EQ(agree, kSamples) << "spikectl infer disagrees with PyTorch";

  // Human output: prediction, latency and energy, aligned.
  ProcessResult human = Spikectl({"infer", "mlp", WriteNpy(0)});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("prediction  " + std::to_string(torch[0].get<int>())), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("latency"), std::string::npos);
  EXPECT_NE(human.out.find("energy"), std::string::npos);

  json undeployed = SpikectlJson({"undeploy", "mlp"});
  EXPECT_EQ(undeployed["deployment"], "mlp");
  EXPECT_GT(undeployed["cores_freed"].get<uint64_t>(), 0u);
  json gone = SpikectlJson({"describe", "mlp"}, 4);
  EXPECT_EQ(gone["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(gone["exit_code"], 4);
}

TEST_F(SpikectlTest, CppClientAgreesWithSpikectl) {
  DeployFixture("agree");
  client::ConnectOptions options;
  options.socket = socket_;
  auto c = client::Client::Connect(options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->hello().version.ToString(), "1.0");
  for (uint32_t i = 0; i < 4; ++i) {
    const std::vector<float> image = digits_.Image(i);
    protocol::InferRequest request;
    request.deployment = "agree";
    const client::InferInput input{
        "", protocol::Tensor::FromValues<float>({1, 1, digits_.rows, digits_.cols}, image)};
    auto result = (*c)->Infer(request, std::span<const client::InferInput>(&input, 1));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->tensors.size(), 1u);
    const std::vector<float> scores = result->tensors.begin()->second.ToFloat();
    json r = SpikectlJson({"infer", "agree", WriteNpy(i)});
    EXPECT_EQ(r["outputs"][0]["values"].get<std::vector<float>>(), scores);
  }
  // Errors carry the daemon's code and message.
  auto missing = (*c)->DescribeDeployment("no-such-deployment");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no-such-deployment"), std::string::npos);
  SpikectlJson({"undeploy", "agree"});
}

TEST_F(SpikectlTest, PythonClientAgreesWithSpikectl) {
  DeployFixture("py");
  const std::vector<uint32_t> samples = {0, 1, 2, 3};
  const std::string npy_dir = TempFile("numpy");
  ASSERT_EQ(::mkdir(npy_dir.c_str(), 0755), 0);
  std::vector<std::string> args = {
      SPK_PYTHON, SPK_SOURCE_DIR "/tests/cli/python_infer.py", socket_,
      "py",       kFixtures + "/data/digits_test.bin",         "--npy-dir=" + npy_dir};
  for (uint32_t i : samples) args.push_back(std::to_string(i));
  ProcessResult py = RunProcess(args, "", {{"PYTHONDONTWRITEBYTECODE", "1"}});
  ASSERT_EQ(py.exit_code, 0) << py.err;
  json results = json::parse(py.out);
  ASSERT_EQ(results.size(), samples.size());
  for (size_t k = 0; k < samples.size(); ++k) {
    json r = SpikectlJson({"infer", "py", WriteNpy(samples[k])});
    EXPECT_EQ(results[k]["prediction"], r["prediction"]) << k;
    EXPECT_EQ(results[k]["scores"].get<std::vector<float>>(),
              r["outputs"][0]["values"].get<std::vector<float>>());
    // The same digit as NumPy wrote it (float32 [1,1,8,8] or float64
    // [8,8]): the same scores, so the reader took every byte as NumPy meant.
    json from_numpy = SpikectlJson({"infer", "py", results[k]["npy"].get<std::string>()});
    EXPECT_EQ(from_numpy["prediction"], meta_["predictions"][samples[k]]) << k;
    EXPECT_EQ(from_numpy["outputs"][0]["values"], r["outputs"][0]["values"]) << k;
  }
  SpikectlJson({"undeploy", "py"});
}

TEST_F(SpikectlTest, MeasureTelemetryDoctor) {
  DeployFixture("m");
  json m = SpikectlJson({"measure", "m", WriteNpy(0), "-n", "5", "--warmup", "1", "--per-layer"});
  EXPECT_EQ(m["inferences"], 5);
  EXPECT_EQ(m["prediction"], meta_["predictions"][0]);
  for (const char* key : {"latency_seconds", "chip_seconds", "round_trip_seconds"}) {
    const json& s = m[key];
    EXPECT_GT(s["min"].get<double>(), 0) << key;
    // The mean is summed apart from the sorted percentiles (rounding aside).
    const double slack = 1e-9 * s["max"].get<double>();
    EXPECT_GE(s["mean"].get<double>(), s["min"].get<double>() - slack) << key;
    EXPECT_LE(s["mean"].get<double>(), s["max"].get<double>() + slack) << key;
  }
  // Each round trip contains its in-daemon latency, so every percentile of
  // the one bounds the other's: mixed-up columns fail here.
  for (const char* p : {"min", "p50", "p90", "p99", "max"}) {
    EXPECT_GE(m["round_trip_seconds"][p].get<double>(), m["latency_seconds"][p].get<double>()) << p;
  }
  // The chip's timing model is the same for the same input: measure's chip
  // time is infer's.
  json one = SpikectlJson({"infer", "m", WriteNpy(0)});
  EXPECT_DOUBLE_EQ(m["chip_seconds"]["p50"].get<double>(), one["chip_seconds"].get<double>());
  EXPECT_DOUBLE_EQ(m["chip_seconds"]["min"].get<double>(), m["chip_seconds"]["max"].get<double>());
  const json& e = m["energy_joules_per_inference"];
  EXPECT_GT(e["total"].get<double>(), 0);
  EXPECT_NEAR(e["total"].get<double>(), e["static"].get<double>() + e["dynamic"].get<double>(),
              1e-9 * std::max(1.0, e["total"].get<double>()) + 1e-15);
  ASSERT_TRUE(m["layers"].is_array());
  EXPECT_FALSE(m["layers"].empty()) << m.dump();
  for (const json& layer : m["layers"]) {
    EXPECT_FALSE(layer["name"].get<std::string>().empty());
    EXPECT_GE(layer["energy_joules"].get<double>(), 0) << layer.dump();
  }
  EXPECT_GT(m["spikes_per_inference"].get<double>(), 0);

  // The documented telemetry.latest fields; the emulator measures them all.
  json t = SpikectlJson({"telemetry"});
  ASSERT_FALSE(t["boards"].empty());
  const json& sim = t["boards"][0];
  EXPECT_EQ(sim["board"], "sim0");
  EXPECT_GT(sim["timestamp"].get<double>(), 0);
  ASSERT_TRUE(sim["power_watts"].is_object()) << sim.dump();
  EXPECT_FALSE(sim["power_watts"].empty()) << sim.dump();
  for (const auto& [rail, watts] : sim["power_watts"].items()) {
    EXPECT_GT(watts.get<double>(), 0) << rail;
  }
  EXPECT_TRUE(sim["temperature_celsius"].is_number()) << sim.dump();
  EXPECT_GT(sim["energy_joules_total"].get<double>(), 0);
  EXPECT_GT(sim["steps_total"].get<uint64_t>(), 0u) << "measure ran steps on sim0";
  EXPECT_EQ(sim["errors_total"], 0);

  // --watch --json: one JSON object per line, --count of them.
  ProcessResult watch =
      Spikectl({"telemetry", "--watch", "--count", "2", "--interval", "100ms", "--json"});
  ASSERT_EQ(watch.exit_code, 0) << watch.err;
  std::istringstream lines(watch.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    json sample = json::parse(line, nullptr, false);
    ASSERT_FALSE(sample.is_discarded()) << line;
    EXPECT_TRUE(sample["boards"].is_array());
    ++n;
  }
  EXPECT_EQ(n, 2);

  json checks = SpikectlJson({"doctor", "--compiler", SPK_COMPILE});
  EXPECT_TRUE(checks["ok"].get<bool>()) << checks.dump();
  std::map<std::string, std::string> status;
  for (const auto& c : checks["checks"]) status[c["check"]] = c["status"];
  EXPECT_EQ(status["socket"], "ok") << checks.dump();
  EXPECT_EQ(status["connect"], "ok");
  EXPECT_EQ(status["permissions"], "ok");
  EXPECT_EQ(status["board sim0"], "ok");
  EXPECT_EQ(status["compiler"], "ok");
  SpikectlJson({"undeploy", "m"});
}

TEST_F(SpikectlTest, CompileOfflineThenDeployTheImage) {
  const std::string image = TempFile("mlp.spkimg");
  json c = SpikectlJson({"compile", kFixtures + "/models/" + kModel + ".pt", "-o", image,
                         "--report", "--compiler", SPK_COMPILE});
  EXPECT_EQ(c["output"], image);
  EXPECT_GT(c["output_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(c["report"].is_object()) << c.dump();
  struct stat st {};
  ASSERT_EQ(::stat(image.c_str(), &st), 0);
  ::chmod(image.c_str(), 0644);

  json d = SpikectlJson({"deploy", image, "--name", "img", "--replace"});
  EXPECT_EQ(d["deployment"], "img");
  json r = SpikectlJson({"infer", "img", WriteNpy(1)});
  EXPECT_EQ(r["prediction"], meta_["predictions"][1]);
  SpikectlJson({"undeploy", "img"});

  // A file that is not a model: exit 1 with spk-compile's diagnostics.
  const std::string bogus = TempFile("bogus.pt");
  std::ofstream(bogus) << "not a model";
  ProcessResult bad = Spikectl(
      {"compile", bogus, "-o", TempFile("bogus.spkimg"), "--compiler", SPK_COMPILE, "--json"});
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_EQ(json::parse(bad.out)["error"]["code"], "INVALID_ARGUMENT");
}

TEST_F(SpikectlTest, InputErrorsAreUsageErrors) {
  DeployFixture("errs");
  // Raw input without --shape takes the port's shape and dtype; a file of
  // the wrong size is refused before anything is sent.
  const std::string raw = TempFile("short.bin");
  std::ofstream(raw, std::ios::binary) << "abc";
  json r = SpikectlJson({"infer", "errs", raw}, 2);
  EXPECT_EQ(r["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_NE(r["error"]["message"].get<std::string>().find("file has 3"), std::string::npos)
      << r.dump();
  // A shape the daemon refuses: its message names the port.
  const std::string wrong = TempFile("wrong.json");
  std::ofstream(wrong) << "[[1, 2, 3]]";
  json w = SpikectlJson({"infer", "errs", wrong}, 1);
  EXPECT_EQ(w["error"]["code"], "INVALID_ARGUMENT");
  json missing = SpikectlJson({"infer", "errs", TempFile("nope.npy")}, 2);
  EXPECT_EQ(missing["error"]["code"], "NOT_FOUND");
  json unknown = SpikectlJson({"infer", "no-such", WriteNpy(0)}, 4);
  EXPECT_NE(unknown["error"]["hint"].get<std::string>().find("spikectl ls"), std::string::npos);
  SpikectlJson({"undeploy", "errs"});
}

// stream: events in, one JSON line per output chunk, then the totals.
TEST_F(SpikectlTest, StreamEventsThroughASession) {
  DeployFixture("st");
  const std::string events = TempFile("events.txt");
  std::ofstream(events) << "# t index\n0 3\n0 10\n1 20\n3 63\n";
  ProcessResult r = Spikectl({"stream", "st", events, "--steps", "6", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  json last;
  int chunks = 0;
  while (std::getline(lines, line)) {
    last = json::parse(line, nullptr, false);
    ASSERT_FALSE(last.is_discarded()) << line;
    if (!last.contains("closed")) {
      EXPECT_TRUE(last["first_step"].is_number());
      ++chunks;
    }
  }
  ASSERT_TRUE(last.contains("closed")) << r.out;
  EXPECT_EQ(last["closed"]["steps"], 6) << last.dump();
  // The fixture's head reduces over time and answers per window: scores
  // with a class.
  EXPECT_GT(chunks, 0) << r.out;
  bool predicted = false;
  std::istringstream again(r.out);
  for (std::string l; std::getline(again, l);) {
    const json chunk = json::parse(l);
    if (chunk.contains("closed")) continue;
    EXPECT_FALSE(chunk["values"].empty()) << l;
    if (chunk["prediction"].is_number()) {
      predicted = true;
      EXPECT_LT(chunk["prediction"].get<int>(), 10) << l;
    }
  }
  EXPECT_TRUE(predicted) << r.out;
  // The same events from stdin.
  ProcessResult piped = RunProcess({SPIKECTL_BINARY, "stream", "st", "-", "--steps", "6", "--json",
                                    "--socket=" + socket_, "--timeout=120"},
                                   events);
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  // Same chunks and totals; only the measured times may differ.
  auto without_times = [](const std::string& out) {
    std::vector<json> docs;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      json doc = json::parse(l, nullptr, false);
      if (doc.contains("closed")) doc["closed"].erase("latency_seconds");
      docs.push_back(doc);
    }
    return docs;
  };
  EXPECT_EQ(without_times(piped.out), without_times(r.out));
  // The same events as dense tensors, four steps a chunk: the chip does the
  // same work, so steps and energy are equal.
  ProcessResult dense = Spikectl(
      {"stream", "st", events, "--steps", "6", "--dense", "--steps-per-chunk", "4", "--json"});
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  const json dense_closed = without_times(dense.out).back()["closed"];
  EXPECT_EQ(dense_closed["steps"], 6);
  EXPECT_EQ(dense_closed["chunks"], 2);
  EXPECT_EQ(dense_closed["energy_joules"], last["closed"]["energy_joules"]);
  // An index beyond the port is refused before anything is streamed.
  const std::string bad = TempFile("bad-events.txt");
  std::ofstream(bad) << "0 64\n";
  EXPECT_EQ(Spikectl({"stream", "st", bad}).exit_code, 2);
  SpikectlJson({"undeploy", "st"});
}

// The edge examples, in C++ and Python, make the same events and must
// report the same predictions.
TEST_F(SpikectlTest, EdgeExamplesAgree) {
  DeployFixture("edge");
  const std::string data = kFixtures + "/data/digits_test.bin";
  ProcessResult cc = RunProcess({EDGE_STREAM_BINARY, "--socket", socket_, "--deployment", "edge",
                                 "--data", data, "--count", "6", "--json"});
  ASSERT_EQ(cc.exit_code, 0) << cc.err;
  ProcessResult py =
      RunProcess({SPK_PYTHON, SPK_SOURCE_DIR "/examples/edge_stream.py", "--socket", socket_,
                  "--deployment", "edge", "--data", data, "--count", "6", "--json"},
                 "", {{"PYTHONDONTWRITEBYTECODE", "1"}});
  ASSERT_EQ(py.exit_code, 0) << py.err;
  const json a = json::parse(cc.out), b = json::parse(py.out);
  EXPECT_EQ(a["count"], 6);
  EXPECT_EQ(a["timesteps"], b["timesteps"]);
  EXPECT_EQ(a["predictions"], b["predictions"]);
  EXPECT_EQ(a["accuracy"], b["accuracy"]);
  // A session that never answered would leave every prediction at -1.
  ASSERT_EQ(a["predictions"].size(), 6u) << cc.out;
  for (const json& p : a["predictions"]) {
    EXPECT_GE(p.get<int>(), 0) << cc.out;
    EXPECT_LE(p.get<int>(), 9) << cc.out;
  }
  // The events are a rate code of the digit, not the image itself, so allow
  // some disagreement with PyTorch; a broken stream scores near chance (10%).
  EXPECT_GE(a["accuracy"].get<double>(), 0.5) << cc.out;
  EXPECT_GT(a["latency_per_timestep_seconds"]["p50"].get<double>(), 0);
  EXPECT_GT(b["latency_per_timestep_seconds"]["p50"].get<double>(), 0);
  SpikectlJson({"undeploy", "edge"});
}

// The C API, from a program compiled as C.
TEST_F(SpikectlTest, CApiFromC) {
  ProcessResult c = RunProcess({SPK_C_API_CHECK, socket_, kFixtures + "/models/" + kModel + ".pt",
                                kFixtures + "/data/digits_test.bin",
                                std::to_string(meta_["predictions"][0].get<int>())});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("all checks passed"), std::string::npos);
  // The fixture's ten class scores.
  const size_t line = c.out.find("scores:");
  ASSERT_NE(line, std::string::npos) << c.out;
  std::istringstream scores(c.out.substr(line + 7, c.out.find('\n', line) - line - 7));
  size_t n = 0;
  for (std::string v; scores >> v;) ++n;
  EXPECT_EQ(n, 10u) << c.out;
}

}  // namespace
}  // namespace spk::testing

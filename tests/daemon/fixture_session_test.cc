// Streaming sessions over the trained fixture models (their head is a linear
// layer after a mean over T): a session answers once per window of the
// model's timesteps, with the scores `infer` gives for the same input
// (docs/protocol.md "Streaming sessions").
#include "tests/daemon/daemon_fixture.h"

namespace spk::testing {
namespace {

using protocol::FrameType;
using protocol::Tensor;

class FixtureSessionTest : public DaemonFixture {
 protected:
  struct Model {
    uint32_t timesteps = 0;
    std::vector<uint32_t> shape;  // per step
    size_t neurons = 1;
  };

  // Deploys fixtures/models/<name>.pt through the real spk-compile.
  Model Deploy(Client& client, const std::string& name) {
    auto r = client.Call({{"op", "deploy"},
                          {"name", name},
                          {"model", {{"path", SPK_FIXTURE_DIR "/models/" + name + ".pt"}}}});
    Model m;
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return m;
    EXPECT_TRUE(r->status.ok()) << r->status;
    if (!r->status.ok()) return m;
    m.timesteps = r->body["timesteps"];
    for (uint32_t d : r->body["inputs"][0]["shape"]) {
      m.shape.push_back(d);
      m.neurons *= d;
    }
    return m;
  }

  // A deterministic spike train [T, ...shape], different for each `seed`.
  static std::vector<float> Train(const Model& m, uint32_t seed) {
    std::vector<float> v(m.neurons * m.timesteps);
    for (size_t i = 0; i < v.size(); ++i) v[i] = ((i * 2654435761u + seed * 40503u) >> 7) % 5 < 2;
    return v;
  }

  std::vector<float> InferScores(Client& client, const std::string& name, const Model& m,
                                 const std::vector<float>& train) {
    std::vector<uint32_t> shape = {m.timesteps};
    shape.insert(shape.end(), m.shape.begin(), m.shape.end());
    auto r = client.Call({{"op", "infer"}, {"deployment", name}, {"inputs", {{{"attachment", 0}}}}},
                         {TensorFrame(Tensor::FromValues<float>(shape, train))});
    EXPECT_TRUE(r.ok() && r->status.ok()) << (r.ok() ? r->status.ToString() : "");
    if (!r.ok() || !r->status.ok() || r->attachments.empty()) return {};
    auto tensor = protocol::DecodeTensor(r->attachments[0].payload);
    EXPECT_TRUE(tensor.ok());
    return tensor.ok() ? tensor->ToFloat() : std::vector<float>{};
  }

  // Streams the trains one step per chunk through one session; returns the
  // STREAM_OUTPUT values by step.
  std::map<uint64_t, std::vector<float>> Stream(Client& client, const std::string& name,
                                                const Model& m,
                                                const std::vector<std::vector<float>>& trains) {
    std::map<uint64_t, std::vector<float>> outputs;
    nlohmann::json opened;
    const uint64_t session = OpenSession(client, {{"output_window", 1024}}, &opened, name);
    if (session == 0) return outputs;
    EXPECT_EQ(opened["outputs"].size(), 1u) << opened.dump();
    // The scores are reduced over T: a session sends them once per window.
    EXPECT_EQ(opened["outputs"][0]["per_step"], false) << opened.dump();
    EXPECT_EQ(opened["outputs"][0]["kind"], "dense");
    uint64_t step = 0;
    std::vector<uint32_t> shape = {1};
    shape.insert(shape.end(), m.shape.begin(), m.shape.end());
    int credits = 0;
    for (const auto& train : trains) {
      for (uint32_t t = 0; t < m.timesteps; ++t, ++step) {
        std::vector<float> one(train.begin() + t * m.neurons, train.begin() + (t + 1) * m.neurons);
        protocol::StreamChunk chunk{.first_step = step,
                                    .steps = 1,
                                    .port = 0,
                                    .body = Tensor::FromValues<float>(shape, one)};
        EXPECT_TRUE(Push(client, session, chunk).ok());
        // Wait for the credit, as an edge application pacing its input does.
        const int want = credits + 1;
        while (credits < want) {
          auto frame = client.Next(std::chrono::seconds(60));
          EXPECT_TRUE(frame.ok()) << frame.status();
          if (!frame.ok()) return outputs;
          if (frame->header.type == FrameType::kCredit) {
            ++credits;
          } else if (frame->header.type == FrameType::kStreamOutput) {
            auto out = protocol::DecodeStreamChunk(frame->payload);
            EXPECT_TRUE(out.ok());
            if (out.ok()) outputs[out->first_step] = std::get<Tensor>(out->body).ToFloat();
          } else {
            ADD_FAILURE() << frame->payload_text();
            return outputs;
          }
        }
      }
    }
    EXPECT_TRUE(SendJson(client, FrameType::kRequest, session, {{"op", "session.close"}}).ok());
    auto end = client.Next(std::chrono::seconds(60));
    EXPECT_TRUE(end.ok() && end->header.type == FrameType::kResponse)
        << (end.ok() ? end->payload_text() : end.status().ToString());
    return outputs;
  }

  void CheckSessionMatchesInfer(const std::string& name) {
    StartDaemon({"--compile.command=" + std::string(SPK_COMPILE)});
    Client client;
    Connect(client);
    const Model m = Deploy(client, name);
    ASSERT_GT(m.timesteps, 0u);
    const std::vector<std::vector<float>> trains = {Train(m, 1), Train(m, 2)};
    const std::vector<float> first = InferScores(client, name, m, trains[0]);
    const std::vector<float> second = InferScores(client, name, m, trains[1]);
    ASSERT_FALSE(first.empty());
    ASSERT_NE(first, second);  // else the test could not tell the windows apart

    const auto got = Stream(client, name, m, trains);
    // One answer per window, at its last step; the second window does not
    // see the first one's membrane state.
    ASSERT_EQ(got.size(), 2u);
    ASSERT_TRUE(got.count(m.timesteps - 1));
    ASSERT_TRUE(got.count(2 * m.timesteps - 1));
    EXPECT_EQ(got.at(m.timesteps - 1), first);
    EXPECT_EQ(got.at(2 * m.timesteps - 1), second);
  }
};

TEST_F(FixtureSessionTest, MlpSessionGivesInferScoresPerWindow) {
  CheckSessionMatchesInfer("spiking_mlp");
}

TEST_F(FixtureSessionTest, CnnSessionGivesInferScoresPerWindow) {
  CheckSessionMatchesInfer("spiking_cnn");
}

}  // namespace
}  // namespace spk::testing

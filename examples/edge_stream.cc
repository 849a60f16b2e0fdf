// An edge application: streams N-MNIST-like spike events to a deployed
// model through a streaming session, one timestep per chunk, and reports
// accuracy and per-timestep latency.
//
//   edge_stream --socket PATH --deployment NAME --data digits_test.bin
//               [--count N] [--timesteps T] [--json]
//
// Events are synthesised from the digits test split the way a
// neuromorphic camera would see a still digit flickering: at each timestep
// pixel i fires with probability equal to its intensity, from a fixed hash
// so that every run (and examples/edge_stream.py) makes the same events.
// Each digit gets a fresh session, so no state carries over between
// digits. The prediction is the class with the highest score summed over
// the timesteps' outputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/client/client.h"

namespace {

struct Digits {
  uint32_t count = 0, rows = 0, cols = 0;
  std::vector<float> pixels;
  std::vector<int32_t> labels;
};

bool LoadDigits(const std::string& path, Digits& d) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string b = s.str();
  if (b.size() < 24 || b.compare(0, 8, "SPKDIGIT") != 0) return false;
  std::memcpy(&d.count, b.data() + 12, 4);
  std::memcpy(&d.rows, b.data() + 16, 4);
  std::memcpy(&d.cols, b.data() + 20, 4);
  const size_t n = size_t{d.count} * d.rows * d.cols;
  if (b.size() != 24 + 4 * (n + d.count)) return false;
  d.pixels.resize(n);
  std::memcpy(d.pixels.data(), b.data() + 24, 4 * n);
  d.labels.resize(d.count);
  std::memcpy(d.labels.data(), b.data() + 24 + 4 * n, 4 * size_t{d.count});
  return true;
}

// The event generator shared with edge_stream.py: a 32-bit integer hash of
// (sample, timestep, pixel) compared against the intensity in 24 bits.
bool Fires(uint32_t sample, uint32_t t, uint32_t pixel, float intensity) {
  uint32_t h = sample * 1000003u + t * 7919u + pixel * 2654435761u;
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  const double threshold = static_cast<double>(intensity) * 16777216.0;
  return static_cast<double>(h >> 8) < threshold;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::max(1.0, std::ceil(p / 100.0 * v.size())));
  return v[std::min(v.size(), rank) - 1];
}

int Usage() {
  std::cerr << "usage: edge_stream --socket PATH --deployment NAME --data digits_test.bin "
               "[--count N] [--timesteps T] [--json]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, deployment, data;
  uint32_t count = 20, timesteps = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--socket")
      socket = value();
    else if (a == "--deployment")
      deployment = value();
    else if (a == "--data")
      data = value();
    else if (a == "--count")
      count = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--timesteps")
      timesteps = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--json")
      json = true;
    else
      return Usage();
  }
  if (deployment.empty() || data.empty()) return Usage();
  Digits digits;
  if (!LoadDigits(data, digits)) {
    std::cerr << "edge_stream: " << data << " is not a digits file\n";
    return 2;
  }

  spk::client::ConnectOptions options;
  options.socket = socket;
  options.client_name = "edge_stream 0.1.0";
  auto client = spk::client::Client::Connect(options);
  if (!client.ok()) {
    std::cerr << "edge_stream: " << client.status() << "\n";
    if (client.status().code() == spk::StatusCode::kUnavailable) {
      std::cerr << "hint: is spiked running? start it, or pass --socket PATH\n";
    }
    return 3;
  }
  auto described = (*client)->DescribeDeployment(deployment);
  if (!described.ok()) {
    std::cerr << "edge_stream: " << described.status() << "\n";
    return 1;
  }
  if (timesteps == 0) timesteps = described->value("timesteps", 4u);
  if (timesteps == 0) timesteps = 4;

  const uint32_t pixels = digits.rows * digits.cols;
  count = std::min(count, digits.count);
  std::vector<int> predictions;
  std::vector<double> step_latency;
  uint32_t correct = 0;
  for (uint32_t sample = 0; sample < count; ++sample) {
    spk::protocol::SessionOpenRequest request;
    request.deployment = deployment;
    auto session = (*client)->OpenSession(request);
    if (!session.ok()) {
      std::cerr << "edge_stream: " << session.status() << "\n";
      return 1;
    }
    // A chunk is [1, ...the port's shape]; the port holds the 8x8 pixels.
    std::vector<uint32_t> chunk_shape = {1};
    const auto inputs = (*session)->info().value("inputs", nlohmann::json::array());
    if (!inputs.empty() && inputs[0].contains("shape")) {
      for (const auto& d : inputs[0]["shape"]) chunk_shape.push_back(d.get<uint32_t>());
    } else {
      chunk_shape.insert(chunk_shape.end(), {digits.rows, digits.cols});
    }
    std::vector<float> sum;
    auto add = [&](const std::vector<spk::protocol::StreamChunk>& chunks) {
      for (const auto& chunk : chunks) {
        const auto* t = std::get_if<spk::protocol::Tensor>(&chunk.body);
        if (t == nullptr || t->shape.empty()) continue;
        const std::vector<float> v = t->ToFloat();
        const size_t classes = t->shape.back();
        if (sum.empty()) sum.assign(classes, 0.0f);
        for (size_t k = 0; k < v.size(); ++k) sum[k % classes] += v[k];
      }
    };
    const float* image = digits.pixels.data() + size_t{sample} * pixels;
    for (uint32_t t = 0; t < timesteps; ++t) {
      std::vector<float> frame(pixels, 0.0f);
      for (uint32_t p = 0; p < pixels; ++p) frame[p] = Fires(sample, t, p, image[p]) ? 1.0f : 0.0f;
      const auto start = std::chrono::steady_clock::now();
      spk::Status pushed = (*session)->Push(
          0, 1,
          spk::protocol::Tensor::FromValues<float>(chunk_shape, std::span<const float>(frame)));
      if (pushed.ok()) pushed = (*session)->WaitConsumed();
      if (!pushed.ok()) {
        std::cerr << "edge_stream: " << pushed << "\n";
        return 1;
      }
      step_latency.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      auto arrived = (*session)->TakeArrived();
      if (arrived.ok()) add(*arrived);
    }
    std::vector<spk::protocol::StreamChunk> rest;
    auto closed = (*session)->Close(/*drain=*/true, &rest);
    if (!closed.ok()) {
      std::cerr << "edge_stream: " << closed.status() << "\n";
      return 1;
    }
    add(rest);
    int predicted = -1;
    if (!sum.empty()) {
      predicted = static_cast<int>(std::max_element(sum.begin(), sum.end()) - sum.begin());
    }
    predictions.push_back(predicted);
    correct += predicted == digits.labels[sample];
  }
  const double accuracy = count == 0 ? 0 : static_cast<double>(correct) / count;
  if (json) {
    nlohmann::json out = {
        {"count", count},
        {"timesteps", timesteps},
        {"accuracy", accuracy},
        {"predictions", predictions},
        {"latency_per_timestep_seconds",
         {{"p50", Percentile(step_latency, 50)}, {"p99", Percentile(step_latency, 99)}}}};
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%u digits streamed as events over %u timesteps each\n", count, timesteps);
    std::printf("accuracy %.1f%%, latency per timestep p50 %.3f ms, p99 %.3f ms\n", 100 * accuracy,
                1e3 * Percentile(step_latency, 50), 1e3 * Percentile(step_latency, 99));
  }
  return 0;
}

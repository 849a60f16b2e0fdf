// Loads the TorchScript fixtures that python/gen_fixtures.py writes and checks that LibTorch
// reproduces what PyTorch measured when it saved them: the same predictions and accuracy on the
// digits test split for the trained models; the same parameter count, output shape and probe
// output for the large random-weight ones. The frontend reads these files, so if LibTorch cannot
// run them the way PyTorch did, nothing built on top of them can be trusted either.

#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace spk::compiler::frontend {
namespace {

using nlohmann::json;

const std::string kFixtureDir = SPK_FIXTURE_DIR;

// The generator runs single-threaded; so do we, so that every reduction adds in the same order
// and spikes sitting exactly on a threshold fall the same way.
constexpr int kThreads = 1;

// One digits file as described in python/README.md.
struct Digits {
  int64_t count = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> pixels;    // count * rows * cols, image after image
  std::vector<int64_t> labels;  // count
};

uint32_t LoadLittleU32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// Returns an empty string on success, else what is wrong with the file.
std::string ReadDigits(const std::string& path, Digits* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open " + path;
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                         std::istreambuf_iterator<char>());
  constexpr size_t kHeaderSize = 8 + 4 * 4;
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), "SPKDIGIT", 8) != 0) {
    return path + ": not a SPKDIGIT file";
  }
  const uint32_t version = LoadLittleU32(&bytes[8]);
  if (version != 1) return path + ": unsupported version " + std::to_string(version);
  const uint64_t count = LoadLittleU32(&bytes[12]);
  const uint64_t rows = LoadLittleU32(&bytes[16]);
  const uint64_t cols = LoadLittleU32(&bytes[20]);
  const uint64_t pixel_count = count * rows * cols;
  if (bytes.size() != kHeaderSize + 4 * pixel_count + 4 * count) {
    return path + ": size " + std::to_string(bytes.size()) + " does not match its header";
  }
  out->count = static_cast<int64_t>(count);
  out->rows = static_cast<int64_t>(rows);
  out->cols = static_cast<int64_t>(cols);
  out->pixels.resize(pixel_count);
  out->labels.resize(count);
  const unsigned char* p = bytes.data() + kHeaderSize;
  for (uint64_t i = 0; i < pixel_count; ++i, p += 4) {
    out->pixels[i] = std::bit_cast<float>(LoadLittleU32(p));
  }
  for (uint64_t i = 0; i < count; ++i, p += 4) {
    out->labels[i] = std::bit_cast<int32_t>(LoadLittleU32(p));
  }
  return "";
}

std::optional<json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string ModelPath(const std::string& name, const std::string& ext) {
  return kFixtureDir + "/models/" + name + ext;
}

// LibTorch reports unreadable archives with c10::Error; a test wants a message instead.
std::optional<torch::jit::Module> LoadModule(const std::string& path, std::string* error) {
  try {
    torch::jit::Module module = torch::jit::load(path);
    module.eval();
    return module;
  } catch (const c10::Error& e) {
    *error = e.what_without_backtrace();
    return std::nullopt;
  }
}

int64_t ParameterCount(const torch::jit::Module& module) {
  int64_t n = 0;
  for (const at::Tensor& p : module.parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

// The generator's probe image: x[i] = ((i * 2654435761) mod 2^32 >> 8) / 2^24, exact in float.
torch::Tensor ProbeInput(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
    values[static_cast<size_t>(i)] = static_cast<float>(h >> 8) / 16777216.0f;
  }
  return torch::from_blob(values.data(), shape, torch::kFloat32).clone();
}

// Loads <name>.json and <name>.pt for the test's parameter.
class FixtureTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { at::set_num_threads(kThreads); }

  void SetUp() override {
    std::ifstream stamp(kFixtureDir + "/stamp");
    ASSERT_TRUE(stamp.good()) << "no fixtures in " << kFixtureDir
                              << "; build the spk_fixtures target first";
    std::optional<json> meta = ReadJson(ModelPath(GetParam(), ".json"));
    ASSERT_TRUE(meta.has_value()) << "missing or malformed " << ModelPath(GetParam(), ".json");
    meta_ = std::move(*meta);
    std::string error;
    std::optional<torch::jit::Module> module = LoadModule(ModelPath(GetParam(), ".pt"), &error);
    ASSERT_TRUE(module.has_value()) << ModelPath(GetParam(), ".pt") << ": " << error;
    module_ = std::move(*module);
    std::cout << "[fixture] " << GetParam() << ": saved by torch "
              << meta_.at("torch_version").get<std::string>() << ", run with LibTorch "
              << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH
              << "\n";
  }

  torch::Tensor Forward(const torch::Tensor& input) {
    torch::NoGradGuard no_grad;
    return module_.forward({input}).toTensor();
  }

  json meta_;
  torch::jit::Module module_;
};

// --- Trained on digits: LibTorch must give PyTorch's predictions. ---

class TrainedFixtureTest : public FixtureTest {};

TEST_P(TrainedFixtureTest, ReproducesPyTorchOnTestSplit) {
  ASSERT_TRUE(meta_.at("trained").get<bool>());
  Digits digits;
  const std::string error = ReadDigits(kFixtureDir + "/data/digits_test.bin", &digits);
  ASSERT_EQ(error, "");
  ASSERT_EQ(digits.count, meta_.at("split").at("n_test").get<int64_t>());

  const auto expected = meta_.at("predictions").get<std::vector<int64_t>>();
  ASSERT_EQ(static_cast<int64_t>(expected.size()), digits.count);
  EXPECT_EQ(ParameterCount(module_), meta_.at("param_count").get<int64_t>());

  // One batch, as the generator ran it: eval-mode BN makes samples independent, and the same
  // batch keeps the matrix shapes (and so the summation order) the same.
  const torch::Tensor images = torch::from_blob(
      digits.pixels.data(), {digits.count, 1, digits.rows, digits.cols}, torch::kFloat32);
  const torch::Tensor scores = Forward(images);
  ASSERT_EQ(scores.dim(), 2);
  ASSERT_EQ(scores.size(0), digits.count);
  ASSERT_EQ(scores.size(1), meta_.at("num_classes").get<int64_t>());

  const torch::Tensor predicted = scores.argmax(1).contiguous();
  const int64_t* pred = predicted.data_ptr<int64_t>();
  int64_t agree = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < digits.count; ++i) {
    agree += pred[i] == expected[static_cast<size_t>(i)];
    correct += pred[i] == digits.labels[static_cast<size_t>(i)];
  }
  const double n = static_cast<double>(digits.count);
  const double accuracy = static_cast<double>(correct) / n;
  const double saved_accuracy = meta_.at("accuracy").get<double>();
  std::cout << "[fixture] " << GetParam() << ": LibTorch accuracy " << 100.0 * accuracy
            << "%, PyTorch accuracy " << 100.0 * saved_accuracy << "%, predictions agree on "
            << agree << "/" << digits.count << "\n";

  EXPECT_GE(static_cast<double>(agree) / n, 0.99)
      << "LibTorch and PyTorch disagree on " << digits.count - agree << " samples";
  EXPECT_NEAR(accuracy, saved_accuracy, 0.01);
}

INSTANTIATE_TEST_SUITE_P(Digits, TrainedFixtureTest,
                         ::testing::Values("spiking_mlp", "spiking_cnn", "spikformer_digits",
                                           "sdt_digits"));

// --- Random weights at published sizes: load, count, run once. ---

class RandomFixtureTest : public FixtureTest {};

TEST_P(RandomFixtureTest, LoadsAndRunsAtFullSize) {
  ASSERT_FALSE(meta_.at("trained").get<bool>());
  const int64_t params = ParameterCount(module_);
  std::cout << "[fixture] " << GetParam() << ": " << params << " parameters\n";
  EXPECT_EQ(params, meta_.at("param_count").get<int64_t>());

  const auto input_shape = meta_.at("input_shape").get<std::vector<int64_t>>();
  const auto output_shape = meta_.at("output_shape").get<std::vector<int64_t>>();
  ASSERT_EQ(input_shape.size(), 4u);
  ASSERT_EQ(input_shape[0], 1) << "one sample: the ImageNet-size forward is slow on a CPU";
  const torch::Tensor out = Forward(ProbeInput(input_shape));
  ASSERT_EQ(out.sizes().vec(), output_shape);

  // Same library, same thread count, same input: the logits should match to printing precision.
  const auto expected = meta_.at("probe").at("output").get<std::vector<double>>();
  const torch::Tensor flat = out.flatten().contiguous();
  ASSERT_GE(flat.numel(), static_cast<int64_t>(expected.size()));
  const float* got = flat.data_ptr<float>();
  double max_diff = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double diff = std::abs(static_cast<double>(got[i]) - expected[i]);
    max_diff = std::max(max_diff, diff);
    EXPECT_NEAR(got[i], expected[i], 1e-4 + 1e-4 * std::abs(expected[i])) << "logit " << i;
  }
  std::cout << "[fixture] " << GetParam() << ": probe logits match PyTorch within " << max_diff
            << "\n";
}

INSTANTIATE_TEST_SUITE_P(PublishedSizes, RandomFixtureTest,
                         ::testing::Values("spikformer_4_384_cifar", "spikformer_8_384_imagenet"));

// --- The reader itself must reject what it cannot read. ---

TEST(DigitsReaderTest, RejectsTruncatedFile) {
  const std::string path = ::testing::TempDir() + "/truncated_digits.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << "SPKDIGIT";
    const unsigned char header[16] = {1, 0, 0, 0, 2, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0};
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
  }
  Digits digits;
  EXPECT_NE(ReadDigits(path, &digits), "");
}

TEST(DigitsReaderTest, ReadsTheTrainSplit) {
  Digits digits;
  ASSERT_EQ(ReadDigits(kFixtureDir + "/data/digits_train.bin", &digits), "");
  EXPECT_EQ(digits.rows, 8);
  EXPECT_EQ(digits.cols, 8);
  EXPECT_GT(digits.count, 1000);
  const auto [lo, hi] = std::minmax_element(digits.pixels.begin(), digits.pixels.end());
  EXPECT_GE(*lo, 0.0f);
  EXPECT_LE(*hi, 1.0f);
  for (int64_t label : digits.labels) {
    ASSERT_GE(label, 0);
    ASSERT_LE(label, 9);
  }
}

}  // namespace
}  // namespace spk::compiler::frontend

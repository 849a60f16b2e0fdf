#include "hal/format/chip_profile.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace spk::hal::format {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

const std::filesystem::path kShipped = std::filesystem::path(SPK_SOURCE_DIR) / "hal/profiles";

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Json Shipped(const std::string& file) { return Json::parse(ReadText(kShipped / file)); }

// Sets SPK_PROFILE_DIR for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ChipProfileTest, ShippedChipProfilesParse) {
  auto loihi2 = ParseChipProfile(ReadText(kShipped / "chip-loihi2.json"));
  ASSERT_TRUE(loihi2.ok()) << loihi2.status();
  EXPECT_EQ(loihi2->name, "loihi2");
  EXPECT_EQ(loihi2->cores_per_chip, 120u);
  EXPECT_EQ(loihi2->core.neurons, 8192u);
  EXPECT_EQ(loihi2->core.input_axons, 4096u);
  EXPECT_DOUBLE_EQ(loihi2->energy.synaptic_op_pj, 23.6);
  EXPECT_DOUBLE_EQ(loihi2->energy.neuron_update_active_pj, 81);
  EXPECT_DOUBLE_EQ(loihi2->energy.neuron_update_inactive_pj, 52);
  EXPECT_DOUBLE_EQ(loihi2->energy.hop_pj_north_south, 4.0);
  EXPECT_DOUBLE_EQ(loihi2->timing.barrier_ns, 465);
  ASSERT_EQ(loihi2->energy.dynamic_rail_share.size(), 3u);
  EXPECT_EQ(loihi2->energy.dynamic_rail_share[0].first, "vdd");  // file order kept
  EXPECT_EQ(loihi2->CoreX(9), 1u);
  EXPECT_EQ(loihi2->CoreY(9), 1u);

  auto loihi3 = ParseChipProfile(ReadText(kShipped / "chip-loihi3.json"));
  ASSERT_TRUE(loihi3.ok()) << loihi3.status();
  EXPECT_EQ(loihi3->name, "loihi3");
  EXPECT_EQ(loihi3->cores_per_chip, 240u);
  // The derivation rules hold: energy x 0.6 and time x 0.5 of loihi2.
  EXPECT_NEAR(loihi3->energy.synaptic_op_pj, loihi2->energy.synaptic_op_pj * 0.6, 1e-9);
  EXPECT_NEAR(loihi3->timing.synaptic_op_ns, loihi2->timing.synaptic_op_ns * 0.5, 1e-9);
  EXPECT_NEAR(loihi3->energy.hop_pj_east_west, loihi2->energy.hop_pj_east_west * 0.6, 1e-9);
}

TEST(ChipProfileTest, ShippedBoardProfilesParse) {
  auto oheo = ParseBoardProfile(ReadText(kShipped / "board-oheo-gulch-1.json"));
  ASSERT_TRUE(oheo.ok()) << oheo.status();
  EXPECT_EQ(oheo->chips, 1u);
  EXPECT_EQ(oheo->chip, "loihi2");
  auto kapoho = ParseBoardProfile(ReadText(kShipped / "board-kapoho-point-8.json"));
  ASSERT_TRUE(kapoho.ok()) << kapoho.status();
  EXPECT_EQ(kapoho->chips, 8u);
  EXPECT_EQ(kapoho->chips_x * kapoho->chips_y, 8u);
  EXPECT_EQ(kapoho->ChipX(5), 1u);
  EXPECT_EQ(kapoho->ChipY(5), 1u);
}

// Every number in a shipped profile carries a "source" or an "assumption";
// in loihi3 every one is an assumption.
void ExpectEveryNumberAttributed(const Json& j, const std::string& path, bool assumptions_only) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "notes") continue;
    std::string key = path.empty() ? it.key() : path + "." + it.key();
    const Json& v = it.value();
    if (v.is_object() && v.contains("value")) {
      bool sourced = v.contains("source") || v.contains("assumption");
      EXPECT_TRUE(sourced) << key;
      if (assumptions_only) {
        EXPECT_TRUE(v.contains("assumption")) << key;
      }
    } else if (v.is_object()) {
      ExpectEveryNumberAttributed(v, key, assumptions_only);
    } else {
      EXPECT_FALSE(v.is_number()) << key << " is a bare number";
    }
  }
}

TEST(ChipProfileTest, ShippedProfilesCarryTheirSources) {
  ExpectEveryNumberAttributed(Shipped("chip-loihi2.json"), "", false);
  ExpectEveryNumberAttributed(Shipped("chip-loihi3.json"), "", true);
  ExpectEveryNumberAttributed(Shipped("board-oheo-gulch-1.json"), "", false);
  ExpectEveryNumberAttributed(Shipped("board-kapoho-point-8.json"), "", false);
}

void CollectKeys(const Json& j, const std::string& path, std::vector<std::string>* keys) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "notes" || it.key() == "name" || it.key() == "description") continue;
    std::string key = path.empty() ? it.key() : path + "." + it.key();
    if (it.value().is_object() && !it.value().contains("value")) {
      CollectKeys(it.value(), key, keys);
    } else {
      keys->push_back(key);
    }
  }
}

TEST(ChipProfileTest, DocsListEveryShippedConstant) {
  std::string doc = ReadText(std::filesystem::path(SPK_SOURCE_DIR) / "docs/chip-model.md");
  for (const char* file : {"chip-loihi2.json", "chip-loihi3.json", "board-oheo-gulch-1.json",
                           "board-kapoho-point-8.json"}) {
    ASSERT_NE(doc.find(std::string("### `") + file + "`"), std::string::npos) << file;
    std::vector<std::string> keys;
    CollectKeys(Shipped(file), "", &keys);
    EXPECT_GT(keys.size(), 3u);
    for (const std::string& key : keys) {
      EXPECT_NE(doc.find("| `" + key + "` |"), std::string::npos)
          << key << " of " << file << " is missing from docs/chip-model.md";
    }
  }
}

struct BadKey {
  const char* what;
  std::function<void(Json&)> edit;
  const char* message;
};

TEST(ChipProfileTest, BadKeysAreNamed) {
  const BadKey cases[] = {
      {"missing", [](Json& j) { j.erase("cores_per_chip"); },
       "chip profile: key \"cores_per_chip\" is missing"},
      {"missing nested", [](Json& j) { j["energy"].erase("synaptic_op_pj"); },
       "chip profile: key \"energy.synaptic_op_pj\" is missing"},
      {"wrong type", [](Json& j) { j["core"]["neurons"] = "many"; },
       "chip profile: key \"core.neurons\" must be an unsigned integer, got string \"many\""},
      {"wrong type in wrapper", [](Json& j) { j["timing"]["barrier_ns"]["value"] = true; },
       "chip profile: key \"timing.barrier_ns\" must be a number, got boolean"},
      {"fraction for an integer", [](Json& j) { j["mesh_width"] = 8.5; },
       "key \"mesh_width\" must be an unsigned integer, got number 8.5"},
      {"negative integer", [](Json& j) { j["core"]["input_axons"] = -1; },
       "key \"core.input_axons\" = -1 is out of range (it must be >= 0)"},
      {"too wide", [](Json& j) { j["core"]["neurons"] = 5000000000ull; },
       "key \"core.neurons\" = 5000000000 is out of range (it must fit in 32 bits)"},
      {"object expected", [](Json& j) { j["timing"] = 3; },
       "key \"timing\" must be an object, got number"},
      {"unknown key", [](Json& j) { j["core"]["neuron"] = 1; },
       "chip profile: key \"core.neuron\" is not a known key"},
      {"wrapper extra key", [](Json& j) { j["ambient_c"]["why"] = "x"; },
       "key \"ambient_c.why\" is not allowed beside \"value\""},
      {"wrapper source type", [](Json& j) { j["ambient_c"]["assumption"] = 1; },
       "key \"ambient_c.assumption\" must be a string, got number"},
      {"range zero", [](Json& j) { j["core"]["neurons"] = 0; },
       "chip profile \"loihi2\": key \"core.neurons\" = 0 is below 1"},
      {"range negative energy", [](Json& j) { j["energy"]["hop_pj_east_west"] = -3; },
       "key \"energy.hop_pj_east_west\" = -3 is below 0"},
      {"range clock", [](Json& j) { j["timing"]["clock_mhz"] = 0; },
       "key \"timing.clock_mhz\" = 0 must be > 0"},
      {"mesh too small", [](Json& j) { j["mesh_height"] = 2; },
       "keys \"mesh_width\" x \"mesh_height\" = 8 x 2 cannot hold \"cores_per_chip\" = 120"},
      {"rail shares", [](Json& j) { j["energy"]["static_rail_share"]["value"]["vdd"] = 0.9; },
       "key \"energy.static_rail_share\" shares sum to 1.45, not 1"},
      {"rail share type", [](Json& j) { j["energy"]["dynamic_rail_share"]["value"]["vdd"] = "x"; },
       "key \"energy.dynamic_rail_share.vdd\" must be a number, got string"},
      {"name", [](Json& j) { j["name"] = "../etc"; },
       "key \"name\" = \"../etc\" is not a profile name"},
      {"ambient", [](Json& j) { j["ambient_c"] = 400; }, "key \"ambient_c\" = 400 is outside"},
  };
  Json base = Shipped("chip-loihi2.json");
  for (const BadKey& c : cases) {
    Json j = base;
    c.edit(j);
    auto profile = ParseChipProfile(j.dump());
    ASSERT_FALSE(profile.ok()) << c.what;
    EXPECT_EQ(profile.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(std::string(profile.status().message()), HasSubstr(c.message)) << c.what;
  }
}

TEST(ChipProfileTest, OptionalKeysTakeDefaultsAndBareNumbersWork) {
  Json j = Shipped("chip-loihi2.json");
  j["core"].erase("synapse_bits_sparse");
  j.erase("ambient_c");
  j["core"]["neurons"] = 1024;  // bare, without a source
  auto profile = ParseChipProfile(j.dump());
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->core.synapse_bits_sparse, 24u);
  EXPECT_EQ(profile->ambient_c, 25);
  EXPECT_EQ(profile->core.neurons, 1024u);
}

TEST(ChipProfileTest, NotJsonOrNotAnObject) {
  auto profile = ParseChipProfile("{\"name\": ");
  EXPECT_EQ(profile.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(profile.status().message()), HasSubstr("chip profile: not valid JSON"));
  EXPECT_THAT(std::string(ParseBoardProfile("[1]").status().message()),
              HasSubstr("board profile: the top level must be an object, got array"));
}

TEST(ChipProfileTest, BoardKeysAreNamed) {
  Json base = Shipped("board-kapoho-point-8.json");
  Json j = base;
  j["chips_x"] = 3;
  EXPECT_THAT(std::string(ParseBoardProfile(j.dump()).status().message()),
              HasSubstr("board profile \"kapoho-point-8\": keys \"chips_x\" x \"chips_y\" = 3 x 2 "
                        "is not \"chips\" = 8"));
  j = base;
  j.erase("chip");
  EXPECT_THAT(std::string(ParseBoardProfile(j.dump()).status().message()),
              HasSubstr("board profile: key \"chip\" is missing"));
  j = base;
  j["chips"] = "eight";
  EXPECT_THAT(std::string(ParseBoardProfile(j.dump()).status().message()),
              HasSubstr("key \"chips\" must be an unsigned integer, got string"));
}

TEST(ChipProfileTest, ValidateProfilesBuiltInCode) {
  auto loihi2 = ParseChipProfile(ReadText(kShipped / "chip-loihi2.json"));
  ASSERT_TRUE(loihi2.ok());
  ChipProfile p = *loihi2;
  EXPECT_TRUE(ValidateChipProfile(p).ok());
  p.energy.dynamic_rail_share.clear();
  EXPECT_THAT(std::string(ValidateChipProfile(p).message()),
              HasSubstr("key \"energy.dynamic_rail_share\" names no rail"));
  BoardProfile b{.name = "x", .chip = "loihi2", .chips = 2, .chips_x = 2, .chips_y = 1};
  EXPECT_TRUE(ValidateBoardProfile(b).ok());
}

class ProfileLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("spk_profile_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& file, const std::string& text) {
    std::ofstream(dir_ / file) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(ProfileLoadTest, LoadsShippedProfilesFromTheSourceTree) {
  ScopedEnv env("SPK_PROFILE_DIR", "");
  auto chip = LoadChipProfile("loihi2");
  ASSERT_TRUE(chip.ok()) << chip.status();
  EXPECT_EQ(chip->cores_per_chip, 120u);
  ASSERT_TRUE(LoadChipProfile("loihi3").ok());
  auto board = LoadBoardProfile("kapoho-point-8");
  ASSERT_TRUE(board.ok()) << board.status();
  EXPECT_EQ(board->chip, "loihi2");
  ASSERT_TRUE(LoadBoardProfile("oheo-gulch-1").ok());
  std::vector<std::string> path = ProfileSearchPath();
  ASSERT_GE(path.size(), 2u);
  EXPECT_EQ(path[0], kShipped.string());
  EXPECT_THAT(path[1], HasSubstr("share/spiked/profiles"));
}

TEST_F(ProfileLoadTest, EnvironmentDirectoryComesFirst) {
  Json j = Shipped("chip-loihi2.json");
  j["cores_per_chip"] = 64;
  Write("chip-loihi2.json", j.dump());
  ScopedEnv env("SPK_PROFILE_DIR", "/nonexistent:" + dir_.string());
  auto chip = LoadChipProfile("loihi2");
  ASSERT_TRUE(chip.ok()) << chip.status();
  EXPECT_EQ(chip->cores_per_chip, 64u);
  EXPECT_EQ(ProfileSearchPath()[0], "/nonexistent");
  EXPECT_EQ(ProfileSearchPath()[1], dir_.string());
  // Falls through to the source tree for what the directory lacks.
  EXPECT_TRUE(LoadChipProfile("loihi3").ok());
}

TEST_F(ProfileLoadTest, ErrorsNameTheFileAndTheSearchPath) {
  ScopedEnv env("SPK_PROFILE_DIR", dir_.string());
  auto missing = LoadChipProfile("loihi9");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("chip-loihi9.json"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir_.string()));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(kShipped.string()));

  Write("board-broken.json", R"({"name": "broken", "chip": "loihi2", "chips": 1})");
  auto broken = LoadBoardProfile("broken");
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(broken.status().message()),
              HasSubstr((dir_ / "board-broken.json").string() +
                        ": board profile: key \"chips_x\" is missing"));

  Write("board-renamed.json", ReadText(kShipped / "board-oheo-gulch-1.json"));
  EXPECT_THAT(std::string(LoadBoardProfile("renamed").status().message()),
              HasSubstr("\"oheo-gulch-1\" does not match the file name's \"renamed\""));

  EXPECT_EQ(LoadChipProfile("../loihi2").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadChipProfile("").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spk::hal::format

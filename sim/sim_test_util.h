// Helpers for the emulator's tests: a chip profile with round numbers, and a
// builder for small valid board images (routes and meta filled in).
//
// Thread safety: plain values.
#ifndef SPK_SIM_SIM_TEST_UTIL_H_
#define SPK_SIM_SIM_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"

namespace spk::sim::testing {

// A made-up chip "test": 16 cores in a 4 x 4 mesh, generous limits, and
// costs chosen so that hand-computed expectations stay readable.
hal::format::ChipProfile TestChip();
// `chips` chips in a chips_x x chips_y layout of TestChip.
hal::format::BoardProfile TestBoard(uint32_t chips = 1, uint32_t chips_x = 0, uint32_t chips_y = 0);

class ImageBuilder {
 public:
  explicit ImageBuilder(uint32_t cores = 1, std::string chip = "test");

  // Returns the input port index.
  uint32_t AddInput(const std::string& name, uint32_t size,
                    hal::format::SpikeKind kind = hal::format::SpikeKind::kBinary);
  // Adds a group with the given id; the reference stays valid until the next
  // AddGroup.
  hal::format::NeuronGroup& AddGroup(
      uint32_t id, uint32_t core, uint32_t size,
      hal::format::NeuronModel model = hal::format::NeuronModel::kCubaLif);
  hal::format::SynapseTable& AddDense(uint32_t id, hal::format::SynapseSource source,
                                      uint32_t target_group, std::vector<int16_t> weights,
                                      int8_t weight_exp = 0, uint8_t target_port = 0);
  hal::format::SynapseTable& AddTable(hal::format::SynapseTable table);
  // An output port reading a whole group.
  void AddOutput(const std::string& name, uint32_t group, hal::format::OutputSource source);

  // The image, with a route for every (source group, target core) in use.
  hal::format::BoardImage Build() const;

  static hal::format::SynapseSource Input(uint32_t port) {
    return {hal::format::SourceKind::kInputPort, port};
  }
  static hal::format::SynapseSource Group(uint32_t id) {
    return {hal::format::SourceKind::kGroup, id};
  }

 private:
  hal::format::BoardImage image_;
};

// [lo, lo + n) of one axis of a feature map.
struct Span {
  uint32_t lo = 0, n = 0;
};

// An axis cut in two, as 2x2 tiles cut a map (uneven when n is odd).
std::vector<Span> Halves(uint32_t n);

// The conv2d table of `whole` (a conv2d table between whole maps) from the
// source box channels in_c x rows ys x columns xs of its input map to the
// target box out_c x oys x oxs of its output map, reading the part of the
// source box inside the target box's receptive field, with the weights of
// the target's output channels, as the compiler lays out tiles. Extents that
// span their map (and windows that span their box) are written as count 0.
// False when the receptive field misses the source box.
bool ConvTileTable(const hal::format::SynapseTable& whole, Span in_c, Span ys, Span xs, Span out_c,
                   Span oys, Span oxs, hal::format::SynapseTable* table);

// Deterministic pseudo-random numbers for tests (splitmix64).
class TestRng {
 public:
  explicit TestRng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [lo, hi].
  int64_t Uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool Chance(double p) { return (Next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

}  // namespace spk::sim::testing

#endif  // SPK_SIM_SIM_TEST_UTIL_H_

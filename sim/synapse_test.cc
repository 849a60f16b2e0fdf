#include "sim/synapse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "sim/fixed_point.h"
#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using hal::format::Conv2dGeometry;
using hal::format::SynapseFormat;
using hal::format::SynapseTable;
using testing::ConvTileTable;
using testing::Halves;
using testing::Span;
using testing::TestRng;

SynapseTable Dense(std::vector<int16_t> weights, int8_t exp) {
  SynapseTable t;
  t.id = 7;
  t.format = SynapseFormat::kDense;
  t.weight_exp = exp;
  t.weights = std::move(weights);
  return t;
}

SpikeList Spikes(std::vector<uint32_t> index, std::vector<int32_t> payload = {}) {
  SpikeList s;
  s.index = std::move(index);
  s.payload = std::move(payload);
  return s;
}

std::vector<int64_t> Apply(const SynapseTable& table, uint32_t src, uint32_t tgt, bool graded,
                           const SpikeList& spikes, uint64_t* events = nullptr) {
  auto compiled = CompileTable(table, src, tgt, graded);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  std::vector<int64_t> acc(tgt, 0);
  FanOutScratch scratch;
  const uint64_t n = FanOut(*compiled, spikes, &scratch, acc.data());
  if (events) *events = n;
  return acc;
}

// The reference: every weight of every firing source, summed, then shifted once.
std::vector<int64_t> NaiveDense(const std::vector<int16_t>& w, uint32_t tgt, int exp,
                                const SpikeList& spikes) {
  std::vector<int64_t> sum(tgt, 0);
  for (size_t k = 0; k < spikes.size(); ++k) {
    const int64_t p = spikes.payload.empty() ? 1 : spikes.payload[k];
    for (uint32_t j = 0; j < tgt; ++j) sum[j] += p * w[spikes.index[k] * tgt + j];
  }
  for (auto& s : sum) s = exp >= 0 ? s * (int64_t{1} << exp) : s >> -exp;
  return sum;
}

TEST(SynapseTest, ExponentScalesTheSumAndFloors) {
  // Two sources x two targets; both fire.
  const std::vector<int16_t> w = {3, -5, 1, 0};
  EXPECT_EQ(Apply(Dense(w, 2), 2, 2, false, Spikes({0, 1})), (std::vector<int64_t>{16, -20}));
  // (3 + 1) >> 1 = 2; -5 >> 1 = -3: a negative sum floors.
  EXPECT_EQ(Apply(Dense(w, -1), 2, 2, false, Spikes({0, 1})), (std::vector<int64_t>{2, -3}));
  // The shift applies to the sum, not per weight: (1 + 1) >> 1 = 1, while
  // (1 >> 1) + (1 >> 1) would be 0.
  EXPECT_EQ(Apply(Dense({1, 1}, -1), 2, 1, false, Spikes({0, 1})), (std::vector<int64_t>{1}));
}

TEST(SynapseTest, GradedSpikesMultiplyPayloadByWeight) {
  // 3 * -4 + -2 * 5 = -22; >> 2 floors to -6.
  const std::vector<int16_t> w = {-4, 5};
  EXPECT_EQ(Apply(Dense(w, -2), 2, 1, true, Spikes({0, 1}, {3, -2})), (std::vector<int64_t>{-6}));
  EXPECT_EQ(Apply(Dense(w, 0), 2, 1, true, Spikes({1}, {-7})), (std::vector<int64_t>{-35}));
}

TEST(SynapseTest, StorageWidthFollowsTheWeights) {
  auto even = CompileTable(Dense({-256, 254, 0, 2}, 0), 2, 2, false);
  ASSERT_TRUE(even.ok());
  EXPECT_EQ(even->w8->size(), 4u);
  EXPECT_EQ(even->storage_shift, 1);
  auto odd = CompileTable(Dense({255, 1, 0, 3}, 0), 2, 2, false);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->w8, nullptr);
  EXPECT_EQ(odd->w16->size(), 4u);
  auto small = CompileTable(Dense({-128, 127, 5, 0}, 0), 2, 2, false);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->storage_shift, 0);
  EXPECT_EQ(small->w8->size(), 4u);
  EXPECT_EQ(Apply(Dense({-256, 254, 0, 2}, 0), 2, 2, false, Spikes({0, 1})),
            (std::vector<int64_t>{-256, 256}));
}

TEST(SynapseTest, DenseMatchesNaiveSumsAcrossWidthsAndManyRows) {
  TestRng rng(11);
  // 600 sources exceed one int16 flush block of 256 rows; odd target counts
  // leave vector tails.
  for (uint32_t tgt : {1u, 17u, 64u, 333u}) {
    for (int exp : {-7, -1, 0, 3}) {
      for (int kind = 0; kind < 3; ++kind) {
        const uint32_t src = 600;
        std::vector<int16_t> w(size_t{src} * tgt);
        for (auto& x : w) {
          // int8 storage with shift 1, int8 without shift, int16.
          x = kind == 0   ? static_cast<int16_t>(2 * rng.Uniform(-128, 127))
              : kind == 1 ? static_cast<int16_t>(rng.Uniform(-128, 127))
                          : static_cast<int16_t>(rng.Uniform(0, 255));
        }
        // All firing at the extreme weight, then a random subset.
        SpikeList all;
        for (uint32_t i = 0; i < src; ++i) all.index.push_back(i);
        SpikeList some;
        for (uint32_t i = 0; i < src; ++i) {
          if (rng.Chance(0.3)) some.index.push_back(i);
        }
        for (const SpikeList* s : {&all, &some}) {
          uint64_t events = 0;
          EXPECT_EQ(Apply(Dense(w, static_cast<int8_t>(exp)), src, tgt, false, *s, &events),
                    NaiveDense(w, tgt, exp, *s))
              << "tgt " << tgt << " exp " << exp << " kind " << kind;
          EXPECT_EQ(events, uint64_t{s->size()} * tgt);
        }
        SpikeList graded = some;
        for (size_t k = 0; k < graded.size(); ++k) {
          graded.payload.push_back(static_cast<int32_t>(rng.Uniform(-40000, 40000)));
        }
        EXPECT_EQ(Apply(Dense(w, static_cast<int8_t>(exp)), src, tgt, true, graded),
                  NaiveDense(w, tgt, exp, graded));
      }
    }
  }
}

TEST(SynapseTest, ExtremeWeightsDoNotOverflowPartialSums) {
  const uint32_t src = 1000;
  for (int16_t weight : {int16_t{-256}, int16_t{254}, int16_t{255}, int16_t{-255}}) {
    SpikeList all;
    for (uint32_t i = 0; i < src; ++i) all.index.push_back(i);
    const std::vector<int16_t> w(src, weight);
    EXPECT_EQ(Apply(Dense(w, 0), src, 1, false, all),
              (std::vector<int64_t>{int64_t{weight} * src}));
  }
}

TEST(SynapseTest, SparseMatchesDenseEquivalent) {
  TestRng rng(5);
  const uint32_t src = 50, tgt = 40;
  SynapseTable sparse;
  sparse.id = 3;
  sparse.format = SynapseFormat::kSparse;
  sparse.weight_exp = -1;
  std::vector<int16_t> dense(src * tgt, 0);
  sparse.row_ptr.push_back(0);
  for (uint32_t r = 0; r < src; ++r) {
    for (uint32_t c = 0; c < tgt; ++c) {
      if (!rng.Chance(0.2)) continue;
      const int16_t w = static_cast<int16_t>(rng.Uniform(-256, 255));
      sparse.col.push_back(c);
      sparse.weights.push_back(w);
      dense[r * tgt + c] = w;
    }
    sparse.row_ptr.push_back(static_cast<uint32_t>(sparse.col.size()));
  }
  SpikeList s;
  for (uint32_t i = 0; i < src; i += 3) s.index.push_back(i);
  uint64_t events = 0;
  EXPECT_EQ(Apply(sparse, src, tgt, false, s, &events), NaiveDense(dense, tgt, -1, s));
  uint64_t expected_events = 0;
  for (uint32_t r : s.index) expected_events += sparse.row_ptr[r + 1] - sparse.row_ptr[r];
  EXPECT_EQ(events, expected_events);
  for (uint32_t r : s.index) {
    (void)r;
    s.payload.push_back(static_cast<int32_t>(rng.Uniform(-300, 300)));
  }
  EXPECT_EQ(Apply(sparse, src, tgt, true, s), NaiveDense(dense, tgt, -1, s));
}

TEST(SynapseTest, InconsistentSizesAreRefused) {
  auto dense = CompileTable(Dense({1, 2, 3}, 0), 2, 2, false);
  EXPECT_EQ(dense.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dense.status().message().find("synapse table 7"), std::string::npos);
  SynapseTable sparse;
  sparse.format = SynapseFormat::kSparse;
  sparse.row_ptr = {0, 1, 1};
  sparse.col = {5};
  sparse.weights = {1};
  EXPECT_EQ(CompileTable(sparse, 2, 3, false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompileTable(Dense({}, 0), kMaxTableSource + 1, 0, false).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SynapseTest, SourceWindowsAreCheckedAndSliced) {
  // A dense table reading neurons [3, 5) of a source of 6: two rows.
  SynapseTable t = Dense({1, 2, 3, 4}, 0);
  t.source_offset = 3;
  t.source_count = 2;
  auto compiled = CompileTable(t, 6, 2, false);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->rows, 2u);
  EXPECT_EQ(compiled->source_offset, 3u);
  EXPECT_EQ(compiled->source_size, 6u);
  EXPECT_TRUE(compiled->windowed);
  SpikeList rows;
  SliceWindow(*compiled, Spikes({0, 2, 3, 4, 5}), &rows);
  EXPECT_EQ(rows.index, (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(rows.payload.empty());
  SliceWindow(*compiled, Spikes({1, 4, 5}, {-7, 8, 9}), &rows);
  EXPECT_EQ(rows.index, (std::vector<uint32_t>{1}));
  EXPECT_EQ(rows.payload, (std::vector<int32_t>{8}));
  SliceWindow(*compiled, Spikes({0, 5}), &rows);
  EXPECT_EQ(rows.size(), 0u);

  // A window of the whole source is no window.
  t.source_offset = 0;
  t.source_count = 2;
  compiled = CompileTable(t, 2, 2, false);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_FALSE(compiled->windowed);

  // Outside the source, an offset without a count, a window on conv2d.
  t.source_offset = 5;
  EXPECT_EQ(CompileTable(t, 6, 2, false).status().code(), StatusCode::kInvalidArgument);
  t.source_count = 0;
  t.source_offset = 1;
  t.weights.resize(12);
  const Status offset_only = CompileTable(t, 6, 2, false).status();
  EXPECT_EQ(offset_only.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(offset_only.message().find("synapse table 7: source window [1, 1)"), std::string::npos)
      << offset_only;
  SynapseTable conv;
  conv.format = SynapseFormat::kConv2d;
  conv.source_count = 4;
  EXPECT_EQ(CompileTable(conv, 4, 4, false).status().code(), StatusCode::kInvalidArgument);
  // The dense size follows the window's rows.
  t = Dense({1, 2, 3, 4, 5, 6}, 0);
  t.source_offset = 1;
  t.source_count = 2;
  EXPECT_EQ(CompileTable(t, 6, 2, false).status().code(), StatusCode::kInvalidArgument);
}

// Direct convolution over the whole input map, restricted to the source's
// channel slice and the target's output slice: the reference for the scatter.
std::vector<int64_t> NaiveConv(const Conv2dGeometry& g, const std::vector<int16_t>& w,
                               const std::vector<int32_t>& input /* slice, CHW */, int exp) {
  const uint32_t icpg = g.in_channels / g.groups, ocpg = g.out_channels / g.groups;
  std::vector<int64_t> out(size_t{g.out_c_count} * g.out_h * g.out_w, 0);
  for (uint32_t ocl = 0; ocl < g.out_c_count; ++ocl) {
    const uint32_t oc = g.out_c_offset + ocl;
    const uint32_t group = oc / ocpg;
    for (uint32_t oy = 0; oy < g.out_h; ++oy) {
      for (uint32_t ox = 0; ox < g.out_w; ++ox) {
        int64_t sum = 0;
        for (uint32_t icg = 0; icg < icpg; ++icg) {
          const uint32_t ic = group * icpg + icg;
          if (ic < g.in_c_offset || ic >= g.in_c_offset + g.in_c_count) continue;
          for (uint32_t ky = 0; ky < g.kernel_h; ++ky) {
            for (uint32_t kx = 0; kx < g.kernel_w; ++kx) {
              const int64_t y = int64_t{oy} * g.stride_h - g.pad_h + ky;
              const int64_t x = int64_t{ox} * g.stride_w - g.pad_w + kx;
              if (y < 0 || x < 0 || y >= g.in_h || x >= g.in_w) continue;
              const int64_t in = input[((ic - g.in_c_offset) * g.in_h + y) * g.in_w + x];
              sum += in * w[((size_t{ocl} * icpg + icg) * g.kernel_h + ky) * g.kernel_w + kx];
            }
          }
        }
        out[(size_t{ocl} * g.out_h + oy) * g.out_w + ox] =
            exp >= 0 ? sum * (int64_t{1} << exp) : sum >> -exp;
      }
    }
  }
  return out;
}

TEST(SynapseTest, ConvMatchesNaiveReference) {
  TestRng rng(3);
  struct Case {
    uint32_t in_c, in_h, in_w, out_c, k, stride, pad, groups, in_off, in_cnt, out_off, out_cnt;
  };
  const Case cases[] = {
      {1, 5, 5, 1, 3, 1, 0, 1, 0, 1, 0, 1},  // plain
      {2, 6, 7, 3, 3, 1, 1, 1, 0, 2, 0, 3},  // padding, rectangular map
      {3, 9, 8, 4, 3, 2, 1, 1, 0, 3, 0, 4},  // stride 2
      {4, 7, 7, 6, 2, 2, 0, 2, 0, 4, 0, 6},  // groups, even kernel
      {4, 6, 6, 4, 3, 1, 1, 4, 0, 4, 0, 4},  // depthwise
      {4, 6, 6, 6, 3, 1, 1, 2, 1, 2, 2, 3},  // channel slices crossing a group edge
      {6, 5, 5, 6, 1, 1, 0, 3, 2, 3, 1, 4},  // 1x1, sliced
      {2, 4, 4, 2, 5, 3, 2, 1, 0, 2, 0, 2},  // kernel larger than the map
  };
  for (const Case& c : cases) {
    Conv2dGeometry g;
    g.in_channels = c.in_c;
    g.in_h = c.in_h;
    g.in_w = c.in_w;
    g.out_channels = c.out_c;
    g.kernel_h = g.kernel_w = c.k;
    g.stride_h = g.stride_w = c.stride;
    g.pad_h = g.pad_w = c.pad;
    g.out_h = (c.in_h + 2 * c.pad - c.k) / c.stride + 1;
    g.out_w = (c.in_w + 2 * c.pad - c.k) / c.stride + 1;
    g.groups = c.groups;
    g.in_c_offset = c.in_off;
    g.in_c_count = c.in_cnt;
    g.out_c_offset = c.out_off;
    g.out_c_count = c.out_cnt;
    SynapseTable t;
    t.id = 9;
    t.format = SynapseFormat::kConv2d;
    t.conv = g;
    t.weight_exp = -1;
    t.weights.resize(size_t{g.out_c_count} * (g.in_channels / g.groups) * c.k * c.k);
    for (auto& w : t.weights) w = static_cast<int16_t>(rng.Uniform(-256, 255));
    const uint32_t src = g.in_c_count * g.in_h * g.in_w;
    const uint32_t tgt = g.out_c_count * g.out_h * g.out_w;
    for (bool graded : {false, true}) {
      SpikeList spikes;
      std::vector<int32_t> input(src, 0);
      for (uint32_t i = 0; i < src; ++i) {
        if (!rng.Chance(0.4)) continue;
        const int32_t p = graded ? static_cast<int32_t>(rng.Uniform(-9, 9)) : 1;
        if (p == 0) continue;
        spikes.index.push_back(i);
        if (graded) spikes.payload.push_back(p);
        input[i] = p;
      }
      EXPECT_EQ(Apply(t, src, tgt, graded, spikes), NaiveConv(g, t.weights, input, -1))
          << "case in_c " << c.in_c << " groups " << c.groups << " stride " << c.stride
          << " graded " << graded;
    }
  }
}

// A conv over a whole map gives, tile by tile, what the tables between its
// tiles give together: sources and targets cut into 2x2 spatial tiles (and
// channel blocks), a table per pair reading only the source tile's part of
// the target tile's receptive field.
TEST(SynapseTest, ConvTilesSumToTheWholeMap) {
  TestRng rng(17);
  struct Case {
    uint32_t in_c, in_h, in_w, out_c, k, stride, pad, groups;
  };
  const Case cases[] = {
      {2, 8, 8, 3, 3, 1, 1, 1},  // padding 1
      {3, 9, 7, 4, 3, 2, 1, 1},  // stride 2, odd sizes: uneven tiles
      {4, 8, 6, 4, 3, 1, 1, 2},  // grouped
      {4, 6, 6, 4, 3, 2, 1, 4},  // depthwise, stride 2
      {2, 5, 5, 2, 1, 1, 0, 1},  // 1x1: a tile reads only itself
      {2, 4, 4, 2, 5, 3, 2, 1},  // a kernel larger than a tile
  };
  for (const Case& c : cases) {
    SynapseTable whole;
    whole.id = 9;
    whole.format = SynapseFormat::kConv2d;
    Conv2dGeometry& g = whole.conv;
    g.in_channels = c.in_c;
    g.in_h = c.in_h;
    g.in_w = c.in_w;
    g.out_channels = c.out_c;
    g.kernel_h = g.kernel_w = c.k;
    g.stride_h = g.stride_w = c.stride;
    g.pad_h = g.pad_w = c.pad;
    g.out_h = (c.in_h + 2 * c.pad - c.k) / c.stride + 1;
    g.out_w = (c.in_w + 2 * c.pad - c.k) / c.stride + 1;
    g.groups = c.groups;
    g.in_c_count = c.in_c;
    g.out_c_count = c.out_c;
    whole.weights.resize(size_t{c.out_c} * (c.in_c / c.groups) * c.k * c.k);
    for (auto& w : whole.weights) w = static_cast<int16_t>(rng.Uniform(-256, 255));
    const uint32_t src = c.in_c * c.in_h * c.in_w;
    const uint32_t tgt = c.out_c * g.out_h * g.out_w;
    for (bool graded : {false, true}) {
      SCOPED_TRACE("case in_c " + std::to_string(c.in_c) + " stride " + std::to_string(c.stride) +
                   " groups " + std::to_string(c.groups) + " graded " + std::to_string(graded));
      std::vector<int32_t> input(src, 0);
      SpikeList all;
      for (uint32_t i = 0; i < src; ++i) {
        if (!rng.Chance(0.4)) continue;
        const int32_t p = graded ? static_cast<int32_t>(rng.Uniform(-9, 9)) : 1;
        if (p == 0) continue;
        input[i] = p;
        all.index.push_back(i);
        if (graded) all.payload.push_back(p);
      }
      uint64_t whole_events = 0;
      const std::vector<int64_t> expected = Apply(whole, src, tgt, graded, all, &whole_events);
      EXPECT_EQ(expected, NaiveConv(g, whole.weights, input, 0));

      // Source channels whole, target channels in two blocks (one when 1).
      const std::vector<Span> out_blocks =
          c.out_c >= 2 ? Halves(c.out_c) : std::vector<Span>{{0, c.out_c}};
      std::vector<int64_t> tiled(tgt, 0);
      uint64_t tiled_events = 0;
      size_t tables = 0;
      for (Span ys : Halves(c.in_h)) {
        for (Span xs : Halves(c.in_w)) {
          // The source tile's spikes, box-local CHW, ascending.
          SpikeList spikes;
          for (uint32_t ch = 0; ch < c.in_c; ++ch) {
            for (uint32_t y = 0; y < ys.n; ++y) {
              for (uint32_t x = 0; x < xs.n; ++x) {
                const int32_t v = input[(ch * c.in_h + ys.lo + y) * c.in_w + xs.lo + x];
                if (v == 0) continue;
                spikes.index.push_back((ch * ys.n + y) * xs.n + x);
                if (graded) spikes.payload.push_back(v);
              }
            }
          }
          for (Span oc : out_blocks) {
            for (Span oys : Halves(g.out_h)) {
              for (Span oxs : Halves(g.out_w)) {
                SynapseTable t;
                if (!ConvTileTable(whole, {0, c.in_c}, ys, xs, oc, oys, oxs, &t)) continue;
                ++tables;
                uint64_t events = 0;
                const std::vector<int64_t> part =
                    Apply(t, c.in_c * ys.n * xs.n, oc.n * oys.n * oxs.n, graded, spikes, &events);
                tiled_events += events;
                for (uint32_t o = 0; o < oc.n; ++o) {
                  for (uint32_t y = 0; y < oys.n; ++y) {
                    for (uint32_t x = 0; x < oxs.n; ++x) {
                      tiled[((oc.lo + o) * g.out_h + oys.lo + y) * g.out_w + oxs.lo + x] +=
                          part[(o * oys.n + y) * oxs.n + x];
                    }
                  }
                }
              }
            }
          }
        }
      }
      EXPECT_GE(tables, 4u);
      EXPECT_EQ(tiled, expected);
      // Every (input, tap, output channel) lands in exactly one tile pair.
      EXPECT_EQ(tiled_events, whole_events);
    }
  }
}

// A spike outside a conv table's window reaches nothing through it, even
// where the kernel would carry it into the target box.
TEST(SynapseTest, ConvWindowsRestrictDelivery) {
  SynapseTable t;
  t.id = 4;
  t.format = SynapseFormat::kConv2d;
  Conv2dGeometry& g = t.conv;
  // 1x6x6 -> 1x6x6, 3x3 pad 1; the source is rows [2, 6) x all columns, the
  // target rows [0, 3); the table reads rows [2, 4) x columns [1, 3).
  g = {.in_channels = 1,
       .in_h = 6,
       .in_w = 6,
       .out_channels = 1,
       .out_h = 6,
       .out_w = 6,
       .kernel_h = 3,
       .kernel_w = 3,
       .pad_h = 1,
       .pad_w = 1,
       .in_c_count = 1,
       .out_c_count = 1,
       .in_y_offset = 2,
       .in_y_count = 4,
       .out_y_offset = 0,
       .out_y_count = 3,
       .win_y_offset = 2,
       .win_y_count = 2,
       .win_x_offset = 1,
       .win_x_count = 2};
  t.weights.assign(9, 1);  // every tap 1: an output sums its 3x3 neighbourhood
  // Source neuron (row 2, column 1) is box-local 0 * 6 + 1 = 1; (2, 0) is 0;
  // (3, 3) is 9; (4, 1) is 13.
  uint64_t events = 0;
  // (2, 1), inside the window, is read by output rows 1..3 and columns 0..2;
  // the target box holds rows 1 and 2 of those.
  std::vector<int64_t> in = Apply(t, 24, 18, false, Spikes({1}), &events);
  std::vector<int64_t> want(18, 0);
  for (uint32_t y : {1u, 2u}) {
    for (uint32_t x : {0u, 1u, 2u}) want[y * 6 + x] = 1;
  }
  EXPECT_EQ(in, want);
  EXPECT_EQ(events, 6u);
  // (2, 0) and (3, 3) lie outside the window's columns, (4, 1) outside its
  // rows: nothing, though the kernel would carry (2, 0) and (3, 3) into the
  // target box.
  EXPECT_EQ(Apply(t, 24, 18, false, Spikes({0, 9, 13}), &events), std::vector<int64_t>(18, 0));
  EXPECT_EQ(events, 0u);
  // The same spikes without the window do arrive.
  g.win_y_offset = g.win_y_count = g.win_x_offset = g.win_x_count = 0;
  EXPECT_NE(Apply(t, 24, 18, false, Spikes({0, 9, 13}), &events), std::vector<int64_t>(18, 0));
  EXPECT_GT(events, 0u);
}

TEST(SynapseTest, ConvBoxesAreCheckedAgainstTheSourceAndTarget) {
  SynapseTable t;
  t.id = 5;
  t.format = SynapseFormat::kConv2d;
  t.conv = {.in_channels = 1,
            .in_h = 4,
            .in_w = 4,
            .out_channels = 1,
            .out_h = 4,
            .out_w = 4,
            .kernel_h = 1,
            .kernel_w = 1,
            .in_c_count = 1,
            .out_c_count = 1,
            .in_y_offset = 2,
            .in_y_count = 2,
            .out_x_offset = 1,
            .out_x_count = 2};
  t.weights = {3};
  EXPECT_TRUE(CompileTable(t, 8, 8, false).ok());
  // Sizes follow the boxes, not the maps.
  EXPECT_EQ(CompileTable(t, 16, 8, false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompileTable(t, 8, 16, false).status().code(), StatusCode::kInvalidArgument);
  // A box past its map.
  t.conv.in_y_offset = 3;
  EXPECT_EQ(CompileTable(t, 8, 8, false).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spk::sim

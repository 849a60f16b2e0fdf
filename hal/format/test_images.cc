#include "hal/format/test_images.h"

#include <string>

#include "base/check.h"
#include "base/crc32.h"
#include "hal/format/board_image_io.h"

namespace spk::hal::format::testing {
namespace {

void StoreU32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t LoadU32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8 | uint32_t{b[at + 2]} << 16 |
         uint32_t{b[at + 3]} << 24;
}
uint64_t LoadU64(const std::vector<uint8_t>& b, size_t at) {
  return uint64_t{LoadU32(b, at)} | uint64_t{LoadU32(b, at + 4)} << 32;
}

// Deterministic weights that survive the truncation of their sign mode.
std::vector<int16_t> Weights(size_t n, int lo, int hi, int multiple, int seed) {
  std::vector<int16_t> w(n);
  int span = (hi - lo) / multiple + 1;
  for (size_t i = 0; i < n; ++i) {
    int k = static_cast<int>((i * 7919 + static_cast<size_t>(seed) * 104729) % span);
    w[i] = static_cast<int16_t>(lo + k * multiple);
  }
  return w;
}

}  // namespace

BoardImage MakeRepresentativeImage() {
  BoardImage image;
  image.meta = {.model_name = "tiny-spikformer",
                .model_sha256 = std::string(64, 'a'),
                .compiler_version = "spiked 0.1.0",
                .chip_profile = "loihi2",
                .timesteps = 4,
                .run_steps = 8};
  image.cores = {{.chip = 0, .core = 0}, {.chip = 0, .core = 1}, {.chip = 1, .core = 0}};
  image.inputs = {
      {.name = "image", .shape = {1, 4, 4}, .kind = SpikeKind::kBinary, .scale = 1.0f},
      {.name = "tokens", .shape = {6}, .kind = SpikeKind::kGraded, .scale = 0.5f},
  };

  NeuronGroup conv1{.id = 10, .core = 0, .layer = "conv1.lif", .size = 32};
  conv1.du = 4095;
  conv1.dv = 2048;
  conv1.vth = 100;
  conv1.bias_exp = 2;
  for (int i = 0; i < 32; ++i) {
    conv1.bias_mant.push_back(static_cast<int16_t>(i % 7 - 3));
    conv1.v_init.push_back(i * 1000 - 16000);
  }
  conv1.bias_mant[0] = -4096;
  conv1.bias_mant[1] = 4095;
  NeuronGroup fc1{.id = 11, .core = 1, .layer = "fc1.lif", .output = SpikeKind::kGraded, .size = 8};
  fc1.du = 100;
  fc1.dv = 200;
  fc1.vth = (1u << 17) - 1;
  fc1.bias_exp = -7;
  fc1.u_init = {-(1 << 23), (1 << 23) - 1, 2, 3, 4, 5, 6, 7};
  NeuronGroup and2{.id = 12, .core = 1, .layer = "attn.and", .model = NeuronModel::kAnd2};
  and2.size = 6;
  NeuronGroup relay{.id = 13, .core = 2, .layer = "residual.relay", .model = NeuronModel::kRelay};
  relay.output = SpikeKind::kGraded;
  relay.size = 6;
  NeuronGroup acc{.id = 14, .core = 2, .layer = "head.acc", .model = NeuronModel::kAccumulator};
  acc.size = 4;
  acc.dv = 0;
  NeuronGroup pool{.id = 15, .core = 0, .layer = "pool.lif", .size = 4};
  pool.du = 4095;
  pool.vth = 7;
  // A tile of a larger conv map: 1 channel x rows [2, 6) x all 4 columns.
  NeuronGroup tile{.id = 16, .core = 0, .layer = "conv2.tile", .size = 16};
  tile.du = 4095;
  tile.vth = 50;
  image.groups = {conv1, fc1, and2, relay, acc, pool, tile};

  // Conv 1x4x4 -> 2x4x4, 3x3, pad 1: mixed 8-bit weights keep bit 0 clear.
  SynapseTable conv{.id = 1, .source = {SourceKind::kInputPort, 0}, .target_group = 10};
  conv.format = SynapseFormat::kConv2d;
  conv.conv = {.in_channels = 1,
               .in_h = 4,
               .in_w = 4,
               .out_channels = 2,
               .out_h = 4,
               .out_w = 4,
               .kernel_h = 3,
               .kernel_w = 3,
               .stride_h = 1,
               .stride_w = 1,
               .pad_h = 1,
               .pad_w = 1,
               .groups = 1,
               .in_c_offset = 0,
               .in_c_count = 1,
               .out_c_offset = 0,
               .out_c_count = 2};
  conv.weights = Weights(18, -256, 254, 2, 1);
  // Excitatory 6-bit weights: the low 2 bits are dropped.
  SynapseTable fc{.id = 2, .source = {SourceKind::kGroup, 10}, .target_group = 11};
  fc.weight_exp = 1;
  fc.num_weight_bits = 6;
  fc.weights = Weights(32 * 8, 0, 252, 4, 2);
  // Sparse identity from a graded port, inhibitory 8-bit.
  SynapseTable tok{.id = 3, .source = {SourceKind::kInputPort, 1}, .target_group = 12};
  tok.format = SynapseFormat::kSparse;
  tok.weight_exp = -3;
  tok.row_ptr = {0, 1, 2, 3, 4, 5, 6};
  tok.col = {0, 1, 2, 3, 4, 5};
  tok.weights = {-255, -1, -7, 0, -100, -3};
  // Second input of the AND: mixed 7-bit weights drop 2 bits.
  SynapseTable gate{.id = 4, .source = {SourceKind::kGroup, 11}, .target_group = 12};
  gate.target_port = 1;
  gate.num_weight_bits = 7;
  gate.weights = Weights(8 * 6, -256, 252, 4, 3);
  SynapseTable res{.id = 5, .source = {SourceKind::kGroup, 12}, .target_group = 13};
  res.format = SynapseFormat::kSparse;
  res.row_ptr = {0, 2, 2, 3, 5, 5, 6};
  res.col = {1, 4, 0, 2, 5, 3};
  res.weights = {1, 255, 3, 64, 0, 17};
  SynapseTable head{.id = 6, .source = {SourceKind::kGroup, 13}, .target_group = 14};
  head.weight_exp = -16;
  head.weights = Weights(6 * 4, -100, 100, 2, 4);
  // Depthwise 2x2/2 pooling conv on the second channel only: grouped, sliced.
  SynapseTable dw{.id = 7, .source = {SourceKind::kGroup, 10}, .target_group = 15};
  dw.format = SynapseFormat::kConv2d;
  dw.weight_exp = 15;
  dw.conv = {.in_channels = 2,
             .in_h = 4,
             .in_w = 4,
             .out_channels = 2,
             .out_h = 2,
             .out_w = 2,
             .kernel_h = 2,
             .kernel_w = 2,
             .stride_h = 2,
             .stride_w = 2,
             .pad_h = 0,
             .pad_w = 0,
             .groups = 2,
             .in_c_offset = 0,
             .in_c_count = 2,
             .out_c_offset = 1,
             .out_c_count = 1};
  dw.weights = {64, 64, 64, 64};
  // Source windows (1.1): a dense table reading relay neurons [2, 5), a
  // sparse one reading token elements [4, 6).
  SynapseTable win{.id = 8, .source = {SourceKind::kGroup, 13}, .target_group = 14};
  win.weights = Weights(3 * 4, 0, 255, 1, 5);
  win.source_offset = 2;
  win.source_count = 3;
  SynapseTable tail{.id = 9, .source = {SourceKind::kInputPort, 1}, .target_group = 13};
  tail.format = SynapseFormat::kSparse;
  tail.row_ptr = {0, 1, 3};
  tail.col = {0, 2, 5};
  tail.weights = {10, 20, 30};
  tail.source_offset = 4;
  tail.source_count = 2;
  // Conv tiles (1.1): conv1's 2x4x4 neurons as rows [0, 4) of a 2x8x4 map,
  // into the tile of rows [2, 6) of the 1x8x4 output of a 3x3 pad 1 conv;
  // that tile's receptive field meets the source in rows [1, 4).
  SynapseTable tiled{.id = 10, .source = {SourceKind::kGroup, 10}, .target_group = 16};
  tiled.format = SynapseFormat::kConv2d;
  tiled.num_weight_bits = 7;
  tiled.conv = {.in_channels = 2,
                .in_h = 8,
                .in_w = 4,
                .out_channels = 1,
                .out_h = 8,
                .out_w = 4,
                .kernel_h = 3,
                .kernel_w = 3,
                .stride_h = 1,
                .stride_w = 1,
                .pad_h = 1,
                .pad_w = 1,
                .groups = 1,
                .in_c_offset = 0,
                .in_c_count = 2,
                .out_c_offset = 0,
                .out_c_count = 1,
                .in_y_offset = 0,
                .in_y_count = 4,
                .out_y_offset = 2,
                .out_y_count = 4,
                .win_y_offset = 1,
                .win_y_count = 3};
  tiled.weights = Weights(18, -256, 252, 4, 6);
  image.tables = {conv, fc, tok, gate, res, head, dw, win, tail, tiled};

  image.routes = {{.source_group = 10, .target_core = 1, .axon_offset = 0},
                  {.source_group = 11, .target_core = 1, .axon_offset = 32},
                  {.source_group = 12, .target_core = 2, .axon_offset = 0},
                  {.source_group = 13, .target_core = 2, .axon_offset = 6},
                  {.source_group = 10, .target_core = 0, .axon_offset = 0}};

  image.outputs = {
      {.name = "spikes",
       .shape = {6},
       .source = OutputSource::kSpikes,
       .segments = {{.group = 12, .group_offset = 0, .port_offset = 0, .count = 6}},
       .delay = 2},
      {.name = "scores",
       .shape = {2, 4},
       .source = OutputSource::kVoltage,
       .segments = {{.group = 15, .group_offset = 0, .port_offset = 4, .count = 4},
                    {.group = 14, .group_offset = 0, .port_offset = 0, .count = 4}},
       .delay = 4,
       .scale = 0.125f},
      {.name = "residual",
       .shape = {3},
       .source = OutputSource::kPayload,
       .segments = {{.group = 13, .group_offset = 3, .port_offset = 0, .count = 3}},
       .delay = 3},
  };

  HostTensor weight{.name = "weight", .shape = {3, 8}};
  for (int i = 0; i < 24; ++i) weight.data.push_back(static_cast<float>(i) * 0.25f - 3.0f);
  weight.data[5] = -0.0f;
  HostTensor bias{.name = "bias", .shape = {3}, .data = {0.5f, -1.5f, 1e-30f}};
  image.host_segments = {
      {.name = "head",
       .op = "linear_head",
       .attributes = R"({"activation": "none", "time_mean": true})",
       .inputs = {"scores"},
       .outputs = {"logits"},
       .tensors = {weight, bias}},
      {.name = "softmax", .op = "softmax", .inputs = {"logits"}, .outputs = {"probs"}},
  };
  return image;
}

BoardImage MakeSmallImage() {
  BoardImage image;
  image.meta = {.model_name = "small", .chip_profile = "loihi2", .timesteps = 1, .run_steps = 2};
  image.cores = {{.chip = 0, .core = 0}};
  image.inputs = {{.name = "in", .shape = {2}}};
  NeuronGroup g{.id = 1, .core = 0, .layer = "lif", .size = 2};
  g.du = 4095;
  g.vth = 10;
  image.groups = {g};
  SynapseTable t{.id = 1, .source = {SourceKind::kInputPort, 0}, .target_group = 1};
  t.weights = {2, -4, 0, 254};
  image.tables = {t};
  image.outputs = {{.name = "out",
                    .shape = {2},
                    .segments = {{.group = 1, .group_offset = 0, .port_offset = 0, .count = 2}},
                    .delay = 1}};
  return image;
}

void RecomputeChecksums(std::vector<uint8_t>& b) {
  constexpr size_t kHeader = kBoardImageHeaderSize;
  if (b.size() < kHeader) return;
  uint32_t header_size = LoadU32(b, 16);
  if (header_size < kHeader || header_size > b.size()) return;
  uint64_t count = LoadU32(b, 20);
  uint64_t table_end = header_size + count * kBoardImageSectionEntrySize;
  if (table_end <= b.size()) {
    for (uint64_t i = 0; i < count; ++i) {
      size_t e = header_size + i * kBoardImageSectionEntrySize;
      uint64_t offset = LoadU64(b, e + 8);
      uint64_t size = LoadU64(b, e + 16);
      if (offset <= b.size() && size <= b.size() - offset) {
        StoreU32(b, e + 4, Crc32(std::span<const uint8_t>(b).subspan(offset, size)));
      }
    }
    StoreU32(b, 32,
             Crc32(std::span<const uint8_t>(b).subspan(header_size, table_end - header_size)));
  }
  StoreU32(b, header_size - 4, Crc32(std::span<const uint8_t>(b).first(header_size - 4)));
}

void CheckReadBoardImageContract(std::span<const uint8_t> bytes) {
  StatusOr<BoardImage> image = ReadBoardImage(bytes);
  if (!image.ok()) {
    StatusCode code = image.status().code();
    SPK_CHECK(code == StatusCode::kInvalidArgument || code == StatusCode::kDataLoss ||
              code == StatusCode::kFailedPrecondition)
        << image.status();
    SPK_CHECK(!image.status().message().empty());
    return;
  }
  StatusOr<std::vector<uint8_t>> again = WriteBoardImage(*image);
  SPK_CHECK(again.ok()) << "an image that reads must write: " << again.status();
  StatusOr<BoardImage> back = ReadBoardImage(*again);
  SPK_CHECK(back.ok()) << back.status();
  SPK_CHECK(*back == *image) << "write(read(x)) does not read back the same image";
}

}  // namespace spk::hal::format::testing

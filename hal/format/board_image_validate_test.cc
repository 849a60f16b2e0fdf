#include "hal/format/board_image_validate.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hal/format/board_image_io.h"
#include "hal/format/test_images.h"

namespace spk::hal::format {
namespace {

using ::testing::HasSubstr;

// The representative image, by index:
//   groups: 0 id 10 conv1.lif (core 0, 32), 1 id 11 fc1.lif (core 1, 8, graded),
//     2 id 12 attn.and (kAnd2, core 1, 6), 3 id 13 residual.relay (core 2, 6,
//     graded), 4 id 14 head.acc (core 2, 4), 5 id 15 pool.lif (core 0, 4)
//   tables: 0 id 1 conv port 0 -> 10, 1 id 2 dense 10 -> 11 (excitatory,
//     6-bit), 2 id 3 sparse port 1 -> 12 (inhibitory), 3 id 4 dense 11 -> 12
//     port 1 (mixed, 7-bit), 4 id 5 sparse 12 -> 13, 5 id 6 dense 13 -> 14
//     (mixed 8-bit), 6 id 7 grouped conv 10 -> 15, 7 id 8 dense 13 -> 14
//     reading window [2, 5), 8 id 9 sparse port 1 -> 13 reading window [4, 6),
//     9 id 10 conv 10 -> 16 between tiles: source box rows [0, 4) of a 2x8x4
//     map, target box rows [2, 6) of a 1x8x4 map, window rows [1, 4)
//   group 6 id 16 conv2.tile (core 0, 16)
struct Case {
  const char* rule;
  std::function<void(BoardImage&)> mutate;
  const char* message;  // a substring naming the object and the field
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      // meta
      {"chip profile set", [](BoardImage& i) { i.meta.chip_profile.clear(); },
       "meta: chip_profile is empty"},
      {"sha256 is hex", [](BoardImage& i) { i.meta.model_sha256 = "ABC"; },
       "meta: model_sha256 \"ABC\" is not 64 lowercase hex digits"},
      {"timesteps >= 1", [](BoardImage& i) { i.meta.timesteps = 0; }, "meta: timesteps is 0"},
      {"run_steps >= timesteps", [](BoardImage& i) { i.meta.run_steps = 3; },
       "meta: run_steps 3 is less than timesteps 4"},
      {"string length", [](BoardImage& i) { i.meta.model_name = std::string(5000, 'm'); },
       "meta: model_name is 5000 bytes long; the limit is 4096"},
      // cores
      {"unique placements", [](BoardImage& i) { i.cores[2] = i.cores[0]; },
       "core 2: placement (chip 0, core 0) is also the placement of core 0"},
      // groups
      {"unique group ids", [](BoardImage& i) { i.groups[1].id = 10; },
       "group 10 (layer \"fc1.lif\"): duplicate id 10"},
      {"group core in range", [](BoardImage& i) { i.groups[0].core = 3; },
       "group 10 (layer \"conv1.lif\"): core 3 is not a logical core of the image (it has 3)"},
      {"known model", [](BoardImage& i) { i.groups[0].model = static_cast<NeuronModel>(9); },
       "group 10 (layer \"conv1.lif\"): model 9 is not a known neuron model"},
      {"known output kind", [](BoardImage& i) { i.groups[0].output = static_cast<SpikeKind>(4); },
       "group 10 (layer \"conv1.lif\"): output 4 is not a known spike kind"},
      {"size >= 1", [](BoardImage& i) { i.groups[4].size = 0; },
       "group 14 (layer \"head.acc\"): size is 0"},
      {"du 12-bit", [](BoardImage& i) { i.groups[0].du = 5000; },
       "group 10 (layer \"conv1.lif\"): du 5000 exceeds 4095"},
      {"dv 12-bit", [](BoardImage& i) { i.groups[1].dv = 4096; },
       "group 11 (layer \"fc1.lif\"): dv 4096 exceeds 4095"},
      {"vth 17-bit", [](BoardImage& i) { i.groups[1].vth = 1u << 17; },
       "group 11 (layer \"fc1.lif\"): vth 131072 exceeds 131071"},
      {"start_step within the run", [](BoardImage& i) { i.groups[0].start_step = 9; },
       "group 10 (layer \"conv1.lif\"): start_step 9 exceeds meta.run_steps 8"},
      {"bias_exp range high", [](BoardImage& i) { i.groups[0].bias_exp = 8; },
       "group 10 (layer \"conv1.lif\"): bias_exp 8 is outside -7..7"},
      {"bias_exp range low", [](BoardImage& i) { i.groups[0].bias_exp = -8; },
       "group 10 (layer \"conv1.lif\"): bias_exp -8 is outside -7..7"},
      {"bias_mant size", [](BoardImage& i) { i.groups[0].bias_mant.pop_back(); },
       "group 10 (layer \"conv1.lif\"): bias_mant has 31 entries; expected 0 or the group size 32"},
      {"bias_mant 13-bit", [](BoardImage& i) { i.groups[0].bias_mant[3] = 4096; },
       "group 10 (layer \"conv1.lif\"): bias_mant[3] = 4096 is outside -4096..4095"},
      {"u_init size", [](BoardImage& i) { i.groups[1].u_init.push_back(0); },
       "group 11 (layer \"fc1.lif\"): u_init has 9 entries"},
      {"u_init 24-bit", [](BoardImage& i) { i.groups[1].u_init[2] = 1 << 23; },
       "group 11 (layer \"fc1.lif\"): u_init[2] = 8388608 is outside -8388608..8388607"},
      {"v_init 24-bit", [](BoardImage& i) { i.groups[0].v_init[5] = -(1 << 23) - 1; },
       "group 10 (layer \"conv1.lif\"): v_init[5] = -8388609 is outside"},
      // input ports
      {"input name set", [](BoardImage& i) { i.inputs[0].name.clear(); },
       "input port 0 (\"\"): name is empty"},
      {"port names unique", [](BoardImage& i) { i.outputs[0].name = "tokens"; },
       "output port 0 (\"tokens\"): name \"tokens\" is used by another port"},
      {"input shape set", [](BoardImage& i) { i.inputs[1].shape.clear(); },
       "input port 1 (\"tokens\"): shape is empty"},
      {"input shape no zero",
       [](BoardImage& i) {
         i.inputs[0].shape = {1, 0, 4};
       },
       "input port 0 (\"image\"): shape [1, 0, 4] has a zero dimension"},
      {"input kind", [](BoardImage& i) { i.inputs[0].kind = static_cast<SpikeKind>(7); },
       "input port 0 (\"image\"): kind 7 is not a known spike kind"},
      {"input scale > 0", [](BoardImage& i) { i.inputs[1].scale = 0; },
       "input port 1 (\"tokens\"): scale 0 must be finite and > 0"},
      {"input scale finite",
       [](BoardImage& i) { i.inputs[1].scale = std::numeric_limits<float>::quiet_NaN(); },
       "input port 1 (\"tokens\"): scale nan must be finite"},
      // output ports
      {"output source", [](BoardImage& i) { i.outputs[0].source = static_cast<OutputSource>(9); },
       "output port 0 (\"spikes\"): source 9 is not a known output source"},
      {"delay <= run_steps", [](BoardImage& i) { i.outputs[1].delay = 9; },
       "output port 1 (\"scores\"): delay 9 exceeds meta.run_steps 8"},
      {"output scale",
       [](BoardImage& i) { i.outputs[1].scale = std::numeric_limits<float>::infinity(); },
       "output port 1 (\"scores\"): scale inf must be finite and > 0"},
      {"segments present", [](BoardImage& i) { i.outputs[0].segments.clear(); },
       "output port 0 (\"spikes\"): has no segments"},
      {"segment group exists", [](BoardImage& i) { i.outputs[0].segments[0].group = 99; },
       "output port 0 (\"spikes\"): segments[0].group 99 does not exist"},
      {"segment count", [](BoardImage& i) { i.outputs[0].segments[0].count = 0; },
       "output port 0 (\"spikes\"): segments[0].count is 0"},
      {"segment inside group", [](BoardImage& i) { i.outputs[2].segments[0].group_offset = 4; },
       "output port 2 (\"residual\"): segments[0] reads compartments [4, 7) of group 13 (layer "
       "\"residual.relay\") which has 6"},
      {"segment inside port", [](BoardImage& i) { i.outputs[1].segments[0].port_offset = 5; },
       "output port 1 (\"scores\"): segments[0] fills elements [5, 9) of a port of 8"},
      {"segments do not overlap", [](BoardImage& i) { i.outputs[1].segments[0].port_offset = 3; },
       "output port 1 (\"scores\"): element 3 is covered by segments[1] and segments[0]"},
      {"segments leave no gap",
       [](BoardImage& i) {
         i.outputs[1].shape = {3, 4};
       },
       "output port 1 (\"scores\"): elements [8, 12) are covered by no segment"},
      {"segments leave no hole",
       [](BoardImage& i) {
         i.outputs[1].segments[0].port_offset = 5;
         i.outputs[1].segments[0].count = 3;
         i.outputs[1].segments[0].group_offset = 1;
       },
       "output port 1 (\"scores\"): elements [4, 5) are covered by no segment"},
      {"payload needs graded group", [](BoardImage& i) { i.outputs[2].segments[0].group = 12; },
       "output port 2 (\"residual\"): segments[0] reads payloads from group 12 (layer "
       "\"attn.and\") which sends binary spikes"},
      // routes
      {"route source exists", [](BoardImage& i) { i.routes[0].source_group = 77; },
       "route 0 (group 77 -> core 1): source_group 77 does not exist"},
      {"route core in range", [](BoardImage& i) { i.routes[1].target_core = 3; },
       "route 1 (group 11 -> core 3): target_core 3 is not a logical core of the image"},
      {"routes unique", [](BoardImage& i) { i.routes.push_back(i.routes[2]); },
       "route 5 (group 12 -> core 2): duplicates route 2"},
      {"axon range fits", [](BoardImage& i) { i.routes[0].axon_offset = 0xFFFFFFF0u; },
       "route 0 (group 10 -> core 1): axon_offset 4294967280 + source size 32 overflows 32 bits"},
      {"every table has its route", [](BoardImage& i) { i.routes.erase(i.routes.begin() + 3); },
       "table 6 (to group 14, layer \"head.acc\"): no route carries group 13 (layer "
       "\"residual.relay\") to core 2, the core of the target group"},
      // tables: references
      {"unique table ids", [](BoardImage& i) { i.tables[3].id = 2; },
       "table 2 (to group 12, layer \"attn.and\"): duplicate id 2"},
      {"source port exists", [](BoardImage& i) { i.tables[2].source.index = 2; },
       "table 3 (to group 12, layer \"attn.and\"): source input port 2 does not exist (the "
       "image has 2)"},
      {"source group exists", [](BoardImage& i) { i.tables[1].source.index = 55; },
       "table 2 (to group 11, layer \"fc1.lif\"): source group 55 does not exist"},
      {"source kind", [](BoardImage& i) { i.tables[1].source.kind = static_cast<SourceKind>(5); },
       "table 2 (to group 11, layer \"fc1.lif\"): source.kind 5 is not a known source kind"},
      {"target exists", [](BoardImage& i) { i.tables[1].target_group = 56; },
       "table 2 (to group 56): target_group 56 does not exist"},
      {"target_port 0 or 1", [](BoardImage& i) { i.tables[3].target_port = 2; },
       "table 4 (to group 12, layer \"attn.and\"): target_port 2 must be 0 or 1"},
      {"target_port 1 only for kAnd2", [](BoardImage& i) { i.tables[1].target_port = 1; },
       "table 2 (to group 11, layer \"fc1.lif\"): target_port 1 is only for kAnd2 groups; group "
       "11 (layer \"fc1.lif\") is kCubaLif"},
      // tables: weights
      {"delay 0..62", [](BoardImage& i) { i.tables[5].delay = 63; },
       "table 6 (to group 14, layer \"head.acc\"): delay 63 is outside 0..62"},
      {"num_weight_bits >= 1", [](BoardImage& i) { i.tables[5].num_weight_bits = 0; },
       "table 6 (to group 14, layer \"head.acc\"): num_weight_bits 0 is outside 1..8"},
      {"num_weight_bits <= 8", [](BoardImage& i) { i.tables[5].num_weight_bits = 9; },
       "num_weight_bits 9 is outside 1..8"},
      {"weight_exp high", [](BoardImage& i) { i.tables[6].weight_exp = 16; },
       "table 7 (to group 15, layer \"pool.lif\"): weight_exp 16 is outside -16..15"},
      {"weight_exp low", [](BoardImage& i) { i.tables[5].weight_exp = -17; },
       "weight_exp -17 is outside -16..15"},
      {"weight range high", [](BoardImage& i) { i.tables[4].weights[1] = 256; },
       "table 5 (to group 13, layer \"residual.relay\"): weights[1] = 256 is outside -256..255"},
      {"weight range low", [](BoardImage& i) { i.tables[5].weights[0] = -258; },
       "weights[0] = -258 is outside -256..255"},
      {"mixed 8-bit drops one bit", [](BoardImage& i) { i.tables[5].weights[2] = 5; },
       "table 6 (to group 14, layer \"head.acc\"): weights[2] = 5 is not a multiple of 2 "
       "(mixed-sign weights with num_weight_bits 8 keep their low 1 bits zero)"},
      {"excitatory 6-bit drops two bits", [](BoardImage& i) { i.tables[1].weights[7] = 6; },
       "table 2 (to group 11, layer \"fc1.lif\"): weights[7] = 6 is not a multiple of 4 "
       "(excitatory (all >= 0) weights with num_weight_bits 6 keep their low 2 bits zero)"},
      {"mixed 7-bit drops two bits", [](BoardImage& i) { i.tables[3].weights[0] = -6; },
       "weights[0] = -6 is not a multiple of 4 (mixed-sign weights with num_weight_bits 7"},
      {"inhibitory stops at -255", [](BoardImage& i) { i.tables[2].weights[0] = -256; },
       "table 3 (to group 12, layer \"attn.and\"): weights[0] = -256 is below -255, the limit "
       "of inhibitory (all <= 0) weights"},
      {"inhibitory truncation",
       [](BoardImage& i) {
         i.tables[2].num_weight_bits = 4;
         for (auto& w : i.tables[2].weights) w = static_cast<int16_t>(w / 16 * 16);
         i.tables[2].weights[4] = -24;
       },
       "weights[4] = -24 is not a multiple of 16 (inhibitory (all <= 0) weights with "
       "num_weight_bits 4 keep their low 4 bits zero)"},
      // tables: layout
      {"known format", [](BoardImage& i) { i.tables[1].format = static_cast<SynapseFormat>(3); },
       "table 2 (to group 11, layer \"fc1.lif\"): format 3 is not a known synapse format"},
      {"csr only on sparse", [](BoardImage& i) { i.tables[1].row_ptr = {0}; },
       "table 2 (to group 11, layer \"fc1.lif\"): row_ptr and col are for sparse tables only"},
      {"conv only on conv", [](BoardImage& i) { i.tables[4].conv.groups = 2; },
       "table 5 (to group 13, layer \"residual.relay\"): conv geometry is for conv2d tables only"},
      {"dense size", [](BoardImage& i) { i.tables[5].weights.pop_back(); },
       "table 6 (to group 14, layer \"head.acc\"): dense weights have 23 entries; expected "
       "source size 6 x target size 4 = 24"},
      {"dense size follows source",
       [](BoardImage& i) {
         i.groups[3].size = 7;
         i.outputs[2].segments[0].group_offset = 0;
       },
       "table 6 (to group 14, layer \"head.acc\"): dense weights have 24 entries; expected "
       "source size 7 x target size 4 = 28"},
      {"row_ptr size", [](BoardImage& i) { i.tables[4].row_ptr.pop_back(); },
       "table 5 (to group 13, layer \"residual.relay\"): row_ptr has 6 entries; expected source "
       "size 6 + 1"},
      {"row_ptr starts at 0", [](BoardImage& i) { i.tables[4].row_ptr[0] = 1; },
       "row_ptr[0] = 1; CSR rows start at 0"},
      {"row_ptr monotone", [](BoardImage& i) { i.tables[4].row_ptr[2] = 1; },
       "table 5 (to group 13, layer \"residual.relay\"): row_ptr[2] = 1 is less than "
       "row_ptr[1] = 2; row_ptr must not decrease"},
      {"row_ptr ends at col size", [](BoardImage& i) { i.tables[4].row_ptr.back() = 5; },
       "row_ptr ends at 5 but col has 6 entries"},
      {"sparse weights match col", [](BoardImage& i) { i.tables[4].weights.pop_back(); },
       "sparse weights have 5 entries but col has 6"},
      {"col in range", [](BoardImage& i) { i.tables[4].col[3] = 6; },
       "table 5 (to group 13, layer \"residual.relay\"): col[3] = 6 is not below the target size "
       "6"},
      // tables: source windows
      {"window inside the source", [](BoardImage& i) { i.tables[7].source_offset = 4; },
       "table 8 (to group 14, layer \"head.acc\"): source window [4, 7) exceeds the source size "
       "6"},
      {"window inside an input port", [](BoardImage& i) { i.tables[8].source_count = 3; },
       "table 9 (to group 13, layer \"residual.relay\"): source window [4, 7) exceeds the source "
       "size 6"},
      {"window end does not wrap", [](BoardImage& i) { i.tables[7].source_offset = 0xFFFFFFFFu; },
       "table 8 (to group 14, layer \"head.acc\"): source window [4294967295, 4294967298) exceeds "
       "the source size 6"},
      {"whole source starts at 0", [](BoardImage& i) { i.tables[5].source_offset = 1; },
       "table 6 (to group 14, layer \"head.acc\"): source_offset 1 with source_count 0; a count "
       "of 0 reads the whole source, from 0"},
      {"conv reads the whole source", [](BoardImage& i) { i.tables[0].source_count = 16; },
       "table 1 (to group 10, layer \"conv1.lif\"): source window [0, 16): conv2d tables read "
       "their whole source (source_count must be 0)"},
      {"dense size follows the window", [](BoardImage& i) { i.tables[7].weights.pop_back(); },
       "table 8 (to group 14, layer \"head.acc\"): dense weights have 11 entries; expected source "
       "window count 3 x target size 4 = 12"},
      {"dense size follows the window count", [](BoardImage& i) { i.tables[7].source_count = 2; },
       "table 8 (to group 14, layer \"head.acc\"): dense weights have 12 entries; expected source "
       "window count 2 x target size 4 = 8"},
      {"row_ptr size follows the window",
       [](BoardImage& i) {
         i.tables[8].row_ptr = {0, 1, 2, 3};
       },
       "table 9 (to group 13, layer \"residual.relay\"): row_ptr has 4 entries; expected source "
       "window count 2 + 1"},
      // tables: conv geometry
      {"conv groups >= 1", [](BoardImage& i) { i.tables[6].conv.groups = 0; },
       "table 7 (to group 15, layer \"pool.lif\"): conv.groups is 0"},
      {"conv kernel", [](BoardImage& i) { i.tables[0].conv.kernel_w = 0; },
       "table 1 (to group 10, layer \"conv1.lif\"): conv kernel 3x0 has a zero side"},
      {"conv stride", [](BoardImage& i) { i.tables[0].conv.stride_h = 0; },
       "conv stride 0x1 has a zero side"},
      {"conv input map", [](BoardImage& i) { i.tables[0].conv.in_w = 0; },
       "conv input map 1x4x0 is empty"},
      {"conv groups divide in", [](BoardImage& i) { i.tables[6].conv.groups = 3; },
       "table 7 (to group 15, layer \"pool.lif\"): conv.in_channels 2 is not divisible by "
       "conv.groups 3"},
      {"conv groups divide out",
       [](BoardImage& i) {
         i.tables[6].conv.out_channels = 3;
         i.tables[6].conv.groups = 2;
       },
       "conv.out_channels 3 is not divisible by conv.groups 2"},
      {"conv out size formula", [](BoardImage& i) { i.tables[0].conv.out_h = 5; },
       "table 1 (to group 10, layer \"conv1.lif\"): conv.out_h 5 does not match (in_h 4 + 2 x "
       "pad_h 1 - kernel_h 3) / stride_h 1 + 1 = 4"},
      {"conv out size formula w", [](BoardImage& i) { i.tables[6].conv.stride_w = 3; },
       "conv.out_w 2 does not match (in_w 4 + 2 x pad_w 0 - kernel_w 2) / stride_w 3 + 1 = 1"},
      {"conv kernel fits", [](BoardImage& i) { i.tables[0].conv.kernel_h = 7; },
       "conv kernel_h 7 exceeds in_h 4 + 2 x pad_h 1"},
      {"conv input slice", [](BoardImage& i) { i.tables[6].conv.in_c_offset = 1; },
       "table 7 (to group 15, layer \"pool.lif\"): conv input channel slice [1, 3) is empty or "
       "exceeds in_channels 2"},
      {"conv output slice", [](BoardImage& i) { i.tables[6].conv.out_c_offset = 2; },
       "conv output channel slice [2, 3) is empty or exceeds out_channels 2"},
      {"conv empty slice", [](BoardImage& i) { i.tables[0].conv.out_c_count = 0; },
       "conv output channel slice [0, 0) is empty"},
      {"conv source size",
       [](BoardImage& i) {
         i.tables[6].conv.in_channels = 4;
         i.tables[6].conv.out_channels = 4;
         i.tables[6].conv.in_c_count = 4;
       },
       "table 7 (to group 15, layer \"pool.lif\"): conv source has 32 compartments; the input "
       "slice holds in_c_count 4 x in_h 4 x in_w 4 = 64"},
      {"conv target size", [](BoardImage& i) { i.tables[0].conv.out_c_count = 1; },
       "table 1 (to group 10, layer \"conv1.lif\"): conv target has 32 compartments; the output "
       "slice holds out_c_count 1 x out_h 4 x out_w 4 = 16"},
      {"conv weights size", [](BoardImage& i) { i.tables[0].weights.push_back(0); },
       "conv weights have 19 entries; expected out_c_count 2 x in_channels/groups 1 x kernel 3x3 "
       "= 18"},
      // tables: conv tiles and their window
      {"conv box inside the map", [](BoardImage& i) { i.tables[9].conv.in_y_offset = 5; },
       "table 10 (to group 16, layer \"conv2.tile\"): conv box in_y [5, 9) exceeds in_h 8"},
      {"conv box columns inside the map",
       [](BoardImage& i) {
         i.tables[9].conv.in_x_offset = 1;
         i.tables[9].conv.in_x_count = 4;
       },
       "conv box in_x [1, 5) exceeds in_w 4"},
      {"conv target box inside the map", [](BoardImage& i) { i.tables[9].conv.out_y_count = 7; },
       "table 10 (to group 16, layer \"conv2.tile\"): conv box out_y [2, 9) exceeds out_h 8"},
      {"conv target box columns", [](BoardImage& i) { i.tables[9].conv.out_x_count = 5; },
       "conv box out_x [0, 5) exceeds out_w 4"},
      {"conv whole extent from 0", [](BoardImage& i) { i.tables[9].conv.in_x_offset = 1; },
       "table 10 (to group 16, layer \"conv2.tile\"): conv.in_x_offset 1 with conv.in_x_count "
       "0; a count of 0 is the whole in_w, from 0"},
      {"conv whole target extent from 0", [](BoardImage& i) { i.tables[9].conv.out_x_offset = 2; },
       "conv.out_x_offset 2 with conv.out_x_count 0; a count of 0 is the whole out_w, from 0"},
      {"conv window inside the source box", [](BoardImage& i) { i.tables[9].conv.win_y_count = 4; },
       "table 10 (to group 16, layer \"conv2.tile\"): conv window win_y [1, 5) is not inside "
       "the source box rows [0, 4)"},
      {"conv window starts inside the source box",
       [](BoardImage& i) {
         i.tables[9].conv.in_y_offset = 2;
         i.tables[9].conv.win_y_count = 2;
       },
       "conv window win_y [1, 3) is not inside the source box rows [2, 6)"},
      {"conv window columns inside the source box",
       [](BoardImage& i) {
         i.tables[9].conv.win_x_offset = 3;
         i.tables[9].conv.win_x_count = 2;
       },
       "conv window win_x [3, 5) is not inside the source box columns [0, 4)"},
      {"conv whole window from 0", [](BoardImage& i) { i.tables[9].conv.win_x_offset = 1; },
       "conv.win_x_offset 1 with conv.win_x_count 0; a count of 0 is the whole source box "
       "columns, from 0"},
      {"conv source size follows the box",
       [](BoardImage& i) {
         i.tables[9].conv.in_y_count = 3;
         i.tables[9].conv.win_y_count = 2;
       },
       "table 10 (to group 16, layer \"conv2.tile\"): conv source has 32 compartments; the "
       "input box holds in_c_count 2 x rows 3 x columns 4 = 24"},
      {"conv source size without a box", [](BoardImage& i) { i.tables[9].conv.in_y_count = 0; },
       "conv source has 32 compartments; the input slice holds in_c_count 2 x in_h 8 x in_w 4 = "
       "64"},
      {"conv target size follows the box",
       [](BoardImage& i) {
         i.tables[9].conv.out_y_offset = 0;
         i.tables[9].conv.out_y_count = 2;
       },
       "table 10 (to group 16, layer \"conv2.tile\"): conv target has 16 compartments; the "
       "output box holds out_c_count 1 x rows 2 x columns 4 = 8"},
      {"conv tiles only on conv", [](BoardImage& i) { i.tables[1].conv.win_x_count = 1; },
       "table 2 (to group 11, layer \"fc1.lif\"): conv geometry is for conv2d tables only"},
      // host segments
      {"host name set", [](BoardImage& i) { i.host_segments[0].name.clear(); },
       "host segment 0 (\"\"): name is empty"},
      {"host names unique", [](BoardImage& i) { i.host_segments[1].name = "head"; },
       "host segment 1 (\"head\"): name \"head\" is used twice"},
      {"host op set", [](BoardImage& i) { i.host_segments[1].op.clear(); },
       "host segment 1 (\"softmax\"): op is empty"},
      {"attributes are JSON", [](BoardImage& i) { i.host_segments[0].attributes = "{oops"; },
       "host segment 0 (\"head\"): attributes is not the text of a JSON object"},
      {"attributes are an object", [](BoardImage& i) { i.host_segments[0].attributes = "[1]"; },
       "attributes is not the text of a JSON object"},
      {"host inputs resolve", [](BoardImage& i) { i.host_segments[1].inputs = {"nowhere"}; },
       "host segment 1 (\"softmax\"): inputs[0] \"nowhere\" names no port and no host segment's "
       "output"},
      {"host outputs unique", [](BoardImage& i) { i.host_segments[1].outputs = {"logits"}; },
       "host segment 1 (\"softmax\"): outputs[0] \"logits\" is produced twice"},
      {"host outputs named", [](BoardImage& i) { i.host_segments[1].outputs = {""}; },
       "host segment 1 (\"softmax\"): outputs[0] is empty"},
      {"tensor size matches shape",
       [](BoardImage& i) { i.host_segments[0].tensors[1].shape = {4}; },
       "host segment 0 (\"head\"): tensors[1] (\"bias\") has 3 values; its shape [4] holds 4"},
      {"tensor values finite",
       [](BoardImage& i) {
         i.host_segments[0].tensors[0].data[7] = std::numeric_limits<float>::infinity();
       },
       "host segment 0 (\"head\"): tensors[0] (\"weight\") value 7 is not finite"},
      {"tensor names unique", [](BoardImage& i) { i.host_segments[0].tensors[1].name = "weight"; },
       "tensors[1] (\"weight\") is named twice"},
      {"tensor named", [](BoardImage& i) { i.host_segments[0].tensors[0].name.clear(); },
       "tensors[0] (\"\") has an empty name"},
  };
  return cases;
}

TEST(BoardImageValidateTest, RepresentativeAndSmallImagesAreValid) {
  EXPECT_TRUE(ValidateBoardImage(testing::MakeRepresentativeImage()).ok())
      << ValidateBoardImage(testing::MakeRepresentativeImage());
  EXPECT_TRUE(ValidateBoardImage(testing::MakeSmallImage()).ok());
  EXPECT_TRUE(ValidateBoardImageAll(testing::MakeRepresentativeImage()).empty());
}

TEST(BoardImageValidateTest, EachRuleNamesObjectAndField) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.rule);
    BoardImage image = testing::MakeRepresentativeImage();
    c.mutate(image);
    Status status = ValidateBoardImage(image);
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    // The writer refuses the same image with the same message.
    auto bytes = WriteBoardImage(image);
    ASSERT_FALSE(bytes.ok());
    EXPECT_EQ(bytes.status(), status);
  }
}

TEST(BoardImageValidateTest, SourceWindowsInsideTheirSourceAreValid) {
  // The whole source given as a window, a window of one neuron at either
  // end, and a sparse window of the whole port.
  BoardImage image = testing::MakeRepresentativeImage();
  image.tables[5].source_count = 6;
  EXPECT_TRUE(ValidateBoardImage(image).ok()) << ValidateBoardImage(image);
  for (uint32_t offset : {0u, 5u}) {
    image = testing::MakeRepresentativeImage();
    image.tables[7].source_offset = offset;
    image.tables[7].source_count = 1;
    image.tables[7].weights.resize(4);
    EXPECT_TRUE(ValidateBoardImage(image).ok()) << ValidateBoardImage(image);
  }
  image = testing::MakeRepresentativeImage();
  image.tables[2].source_count = 6;
  EXPECT_TRUE(ValidateBoardImage(image).ok()) << ValidateBoardImage(image);
  // A table's rows are its window's, however large the source.
  image = testing::MakeRepresentativeImage();
  EXPECT_EQ(image.tables[7].weights.size(), 3u * 4u);
  EXPECT_EQ(image.tables[8].row_ptr.size(), 2u + 1u);
}

TEST(BoardImageValidateTest, ConvBoxesAndWindowsInsideTheirMapsAreValid) {
  auto valid = [](const std::function<void(Conv2dGeometry&)>& change) {
    BoardImage image = testing::MakeRepresentativeImage();
    change(image.tables[9].conv);
    return ValidateBoardImageAll(image);
  };
  // Boxes given explicitly at the map's edges, as counts of 0, or anywhere
  // inside; windows of one row or column at either end of the source box,
  // or the whole box given explicitly.
  EXPECT_TRUE(valid([](Conv2dGeometry& c) { c.in_x_count = 4; }).empty());
  EXPECT_TRUE(valid([](Conv2dGeometry& c) { c.out_x_count = 4; }).empty());
  EXPECT_TRUE(valid([](Conv2dGeometry& c) {
                c.in_y_offset = 4;
                c.win_y_offset = 4;
                c.win_y_count = 1;
              }).empty());
  EXPECT_TRUE(valid([](Conv2dGeometry& c) {
                c.out_y_offset = 4;
                c.win_y_offset = 0;
                c.win_y_count = 4;
                c.win_x_offset = 3;
                c.win_x_count = 1;
              }).empty());
  EXPECT_TRUE(valid([](Conv2dGeometry& c) {
                c.win_y_count = 0;
                c.win_y_offset = 0;
                c.win_x_count = 1;
              }).empty());
  // Boxes of a wider map: the groups keep their sizes.
  EXPECT_TRUE(valid([](Conv2dGeometry& c) {
                c.in_w = 16;
                c.out_w = 16;
                c.in_x_offset = 12;
                c.in_x_count = 4;
                c.out_x_offset = 12;
                c.out_x_count = 4;
                c.win_x_offset = 12;
                c.win_x_count = 3;
              }).empty());
}

// A table may apply an earlier table's weights (weights_of) when format,
// weight bits and weight shape agree; it then holds none of its own.
TEST(BoardImageValidateTest, SharedWeightsNameAnEarlierTableOfTheSameShape) {
  auto with_share = [](std::function<void(SynapseTable&)> edit) {
    BoardImage image = testing::MakeRepresentativeImage();
    // Table id 6 is dense [6 sources][4 targets], group 13 -> group 14.
    SynapseTable share{.id = 40, .source = {SourceKind::kGroup, 13}, .target_group = 14};
    share.weights_of = 6;
    share.num_weight_bits = image.tables[5].num_weight_bits;
    edit(share);
    image.tables.push_back(share);
    return ValidateBoardImage(image);
  };
  EXPECT_TRUE(with_share([](SynapseTable&) {}).ok()) << with_share([](SynapseTable&) {});
  auto message = [&](std::function<void(SynapseTable&)> edit) {
    return std::string(with_share(std::move(edit)).message());
  };
  EXPECT_THAT(message([](SynapseTable& t) { t.weights_of = 41; }),
              HasSubstr("table 40 (to group 14, layer \"head.acc\"): weights_of 41 names no "
                        "earlier table"));
  EXPECT_THAT(message([](SynapseTable& t) {
                t.weights = {2, 2};
              }),
              HasSubstr("a table sharing weights has none of its own, not 2"));
  EXPECT_THAT(message([](SynapseTable& t) { t.num_weight_bits = 7; }),
              HasSubstr("num_weight_bits 7 differs from 8"));
  EXPECT_THAT(message([](SynapseTable& t) { t.weights_of = 3; }),  // sparse
              HasSubstr("only dense and conv2d tables share weights"));
  EXPECT_THAT(message([](SynapseTable& t) {
                t.source_offset = 1;  // 5 rows of 6
                t.source_count = 5;
              }),
              HasSubstr("the weight shapes ([rows][targets]) differ"));
}

TEST(BoardImageValidateTest, ExactMessageForOutOfRangeDecay) {
  BoardImage image = testing::MakeRepresentativeImage();
  image.groups[2].layer = "blocks.0.attn.q_lif";
  image.groups[2].du = 5000;
  EXPECT_EQ(ValidateBoardImage(image).ToString(),
            "INVALID_ARGUMENT: group 12 (layer \"blocks.0.attn.q_lif\"): du 5000 exceeds 4095");
}

TEST(BoardImageValidateTest, ValidateAllListsEveryProblem) {
  BoardImage image = testing::MakeRepresentativeImage();
  image.groups[0].du = 5000;
  image.groups[1].vth = 1u << 20;
  image.tables[5].weights[0] = 3;
  image.inputs[0].scale = -1;
  std::vector<Status> all = ValidateBoardImageAll(image);
  ASSERT_EQ(all.size(), 4u);
  for (const Status& s : all) EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(all[0].message()), HasSubstr("du 5000"));
  EXPECT_THAT(std::string(all[1].message()), HasSubstr("vth 1048576"));
  EXPECT_THAT(std::string(all[2].message()), HasSubstr("scale -1"));
  EXPECT_THAT(std::string(all[3].message()), HasSubstr("weights[0] = 3"));
  EXPECT_EQ(ValidateBoardImageAll(image, 2).size(), 2u);
  // The single-answer form returns the first.
  EXPECT_EQ(ValidateBoardImage(image), all[0]);
}

TEST(BoardImageValidateTest, OneProblemPerFieldEvenWithManyBadValues) {
  BoardImage image = testing::MakeRepresentativeImage();
  for (auto& w : image.tables[1].weights) w = 1;  // all violate the 6-bit truncation
  EXPECT_EQ(ValidateBoardImageAll(image).size(), 1u);
}

TEST(BoardImageValidateTest, NamesAreQuotedAndEscaped) {
  BoardImage image = testing::MakeRepresentativeImage();
  image.groups[0].layer = "a\"b\n";
  image.groups[0].du = 4096;
  EXPECT_THAT(std::string(ValidateBoardImage(image).message()),
              HasSubstr("group 10 (layer \"a\\\"b\\xa\")"));
}

TEST(BoardImageValidateTest, SignModeAndTruncation) {
  EXPECT_EQ(SignModeOf({0, 0}), WeightSignMode::kExcitatory);
  EXPECT_EQ(SignModeOf({}), WeightSignMode::kExcitatory);
  EXPECT_EQ(SignModeOf({0, 3}), WeightSignMode::kExcitatory);
  EXPECT_EQ(SignModeOf({0, -3}), WeightSignMode::kInhibitory);
  EXPECT_EQ(SignModeOf({-1, 3}), WeightSignMode::kMixed);
  EXPECT_EQ(TruncatedLowBits(WeightSignMode::kMixed, 8), 1);
  EXPECT_EQ(TruncatedLowBits(WeightSignMode::kExcitatory, 8), 0);
  EXPECT_EQ(TruncatedLowBits(WeightSignMode::kInhibitory, 5), 3);
  EXPECT_EQ(TruncatedLowBits(WeightSignMode::kMixed, 1), 8);
}

TEST(BoardImageValidateTest, ShapeAndSourceSizes) {
  EXPECT_EQ(ShapeElements({}), 1u);
  EXPECT_EQ(ShapeElements({3, 4, 5}), 60u);
  EXPECT_EQ(ShapeElements({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}),
            std::numeric_limits<uint64_t>::max());
  BoardImage image = testing::MakeRepresentativeImage();
  EXPECT_EQ(SourceSize(image, {SourceKind::kInputPort, 0}), 16u);
  EXPECT_EQ(SourceSize(image, {SourceKind::kGroup, 11}), 8u);
  EXPECT_EQ(SourceSize(image, {SourceKind::kGroup, 99}), 0u);
  EXPECT_EQ(SourceSize(image, {SourceKind::kInputPort, 9}), 0u);
}

TEST(BoardImageValidateTest, HugeShapesDoNotOverflow) {
  BoardImage image = testing::MakeRepresentativeImage();
  image.inputs[0].shape = {0xFFFFFFFFu, 0xFFFFFFFFu};
  EXPECT_THAT(std::string(ValidateBoardImage(image).message()),
              HasSubstr("has more than 2^32-1 elements"));
}

}  // namespace
}  // namespace spk::hal::format

#include "sim/synapse.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>

#include "hal/format/board_image_validate.h"
#include "sim/fixed_point.h"
#include "sim/simd.h"

namespace spk::sim {
namespace {

using hal::format::SynapseFormat;
using hal::format::SynapseTable;

// int8 rows summed into int16: 256 rows of |w| <= 128 still fit.
constexpr size_t kRowsPerFlush = 256;

SPK_SIM_VECTOR_CLONES
void AddRows8x4(int16_t* __restrict acc, const int8_t* __restrict a, const int8_t* __restrict b,
                const int8_t* __restrict c, const int8_t* __restrict d, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    acc[i] = static_cast<int16_t>(acc[i] + ((a[i] + b[i]) + (c[i] + d[i])));
  }
}

SPK_SIM_VECTOR_CLONES
void AddRow8(int16_t* __restrict acc, const int8_t* __restrict a, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] = static_cast<int16_t>(acc[i] + a[i]);
}

SPK_SIM_VECTOR_CLONES
void FlushInt16(int32_t* __restrict acc32, int16_t* __restrict acc16, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    acc32[i] += acc16[i];
    acc16[i] = 0;
  }
}

SPK_SIM_VECTOR_CLONES
void AddRows16x4(int32_t* __restrict acc, const int16_t* __restrict a, const int16_t* __restrict b,
                 const int16_t* __restrict c, const int16_t* __restrict d, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += (a[i] + b[i]) + (c[i] + d[i]);
}

SPK_SIM_VECTOR_CLONES
void AddRow16(int32_t* __restrict acc, const int16_t* __restrict a, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += a[i];
}

template <typename W>
void AddRowScaled(int64_t* __restrict acc, const W* __restrict w, int64_t payload, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += payload * w[i];
}

// Adds scaled table sums into the port accumulator. Split by the sign of the
// total shift so each loop is branch-free and vectorises.
template <typename A>
inline __attribute__((always_inline)) void ScaleIntoBody(const A* __restrict sums, size_t n,
                                                         int storage_shift, int weight_exp,
                                                         int64_t* __restrict accumulator) {
  const int shift = storage_shift + weight_exp;
  if (shift >= 0) {
    const int64_t pre = (kScaledSumLimit >> shift) + 1;
    for (size_t i = 0; i < n; ++i) {
      const int64_t a = std::clamp<int64_t>(sums[i], -pre, pre) * (int64_t{1} << shift);
      accumulator[i] += std::clamp(a, -kScaledSumLimit, kScaledSumLimit);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      accumulator[i] += ScaleTableSum(sums[i], storage_shift, weight_exp);
    }
  }
}

SPK_SIM_VECTOR_CLONES
void ScaleInto(const int16_t* sums, size_t n, int storage_shift, int weight_exp,
               int64_t* accumulator) {
  ScaleIntoBody(sums, n, storage_shift, weight_exp, accumulator);
}

SPK_SIM_VECTOR_CLONES
void ScaleInto(const int32_t* sums, size_t n, int storage_shift, int weight_exp,
               int64_t* accumulator) {
  ScaleIntoBody(sums, n, storage_shift, weight_exp, accumulator);
}

void ScaleInto(const int64_t* sums, size_t n, int storage_shift, int weight_exp,
               int64_t* accumulator) {
  ScaleIntoBody(sums, n, storage_shift, weight_exp, accumulator);
}

template <typename T>
void ZeroFill(std::vector<T>* v, size_t n) {
  if (v->size() < n) v->resize(n);
  std::fill_n(v->data(), n, T{0});
}

// Binary dense fan-out with int8 weights.
void DenseBinary8(const CompiledTable& t, const SpikeList& spikes, FanOutScratch* s,
                  int64_t* accumulator) {
  const size_t n = t.target_size;
  const size_t k = spikes.size();
  const int8_t* w = t.w8->data();
  const uint32_t* rows = spikes.index.data();
  ZeroFill(&s->acc16, n);
  const bool wide = k > kRowsPerFlush;
  if (wide) ZeroFill(&s->acc32, n);
  int16_t* acc16 = s->acc16.data();
  for (size_t start = 0; start < k; start += kRowsPerFlush) {
    const size_t end = std::min(k, start + kRowsPerFlush);
    size_t i = start;
    for (; i + 4 <= end; i += 4) {
      AddRows8x4(acc16, w + rows[i] * n, w + rows[i + 1] * n, w + rows[i + 2] * n,
                 w + rows[i + 3] * n, n);
    }
    for (; i < end; ++i) AddRow8(acc16, w + rows[i] * n, n);
    if (wide) FlushInt16(s->acc32.data(), acc16, n);
  }
  if (wide) {
    ScaleInto(s->acc32.data(), n, t.storage_shift, t.weight_exp, accumulator);
  } else {
    ScaleInto(acc16, n, t.storage_shift, t.weight_exp, accumulator);
  }
}

// Binary dense fan-out with int16 weights: int32 sums directly.
void DenseBinary16(const CompiledTable& t, const SpikeList& spikes, FanOutScratch* s,
                   int64_t* accumulator) {
  const size_t n = t.target_size;
  const size_t k = spikes.size();
  const int16_t* w = t.w16->data();
  const uint32_t* rows = spikes.index.data();
  ZeroFill(&s->acc32, n);
  int32_t* acc = s->acc32.data();
  size_t i = 0;
  for (; i + 4 <= k; i += 4) {
    AddRows16x4(acc, w + rows[i] * n, w + rows[i + 1] * n, w + rows[i + 2] * n, w + rows[i + 3] * n,
                n);
  }
  for (; i < k; ++i) AddRow16(acc, w + rows[i] * n, n);
  ScaleInto(acc, n, t.storage_shift, t.weight_exp, accumulator);
}

template <typename W>
void DenseGraded(const CompiledTable& t, const W* w, const SpikeList& spikes, FanOutScratch* s,
                 int64_t* accumulator) {
  const size_t n = t.target_size;
  ZeroFill(&s->acc64, n);
  for (size_t i = 0; i < spikes.size(); ++i) {
    AddRowScaled(s->acc64.data(), w + spikes.index[i] * n, spikes.payload[i], n);
  }
  ScaleInto(s->acc64.data(), n, t.storage_shift, t.weight_exp, accumulator);
}

// Sparse and conv scatter into int32 (binary) or int64 (graded) sums.
template <typename A>
uint64_t SparseScatter(const CompiledTable& t, const SpikeList& spikes, A* acc) {
  uint64_t events = 0;
  const int16_t* w = t.w16->data();
  for (size_t i = 0; i < spikes.size(); ++i) {
    const uint32_t row = spikes.index[i];
    const A p = spikes.payload.empty() ? A{1} : A{spikes.payload[i]};
    const uint32_t begin = t.row_ptr[row];
    const uint32_t end = t.row_ptr[row + 1];
    for (uint32_t k = begin; k < end; ++k) acc[t.col[k]] += p * w[k];
    events += end - begin;
  }
  return events;
}

template <typename A>
uint64_t ConvScatter(const CompiledTable& t, const SpikeList& spikes, A* acc) {
  const ConvPlan& plan = t.conv;
  const uint32_t in_plane = plan.in_rows * plan.in_cols;
  const uint32_t out_plane = plan.out_plane;
  const ConvTap* row_taps = plan.row_taps.data();
  const ConvTap* col_taps = plan.col_taps.data();
  uint64_t events = 0;
  for (size_t i = 0; i < spikes.size(); ++i) {
    const uint32_t idx = spikes.index[i];
    const uint32_t c = idx / in_plane;
    const uint32_t r = idx - c * in_plane;
    const uint32_t y = r / plan.in_cols;
    const uint32_t x = r - y * plan.in_cols;
    const uint32_t rows_begin = plan.row_begin[y], rows_end = plan.row_begin[y + 1];
    const uint32_t cols_begin = plan.col_begin[x], cols_end = plan.col_begin[x + 1];
    const ConvPlan::Channel& ch = plan.channels[c];
    if (rows_begin == rows_end || cols_begin == cols_end || ch.lo >= ch.hi) continue;
    const A p = spikes.payload.empty() ? A{1} : A{spikes.payload[i]};
    const int16_t* w_channel = plan.weights->data() + ch.weight;
    for (uint32_t ry = rows_begin; ry < rows_end; ++ry) {
      const ConvTap row = row_taps[ry];
      for (uint32_t rx = cols_begin; rx < cols_end; ++rx) {
        const ConvTap col = col_taps[rx];
        const int16_t* w = w_channel + row.weight + col.weight;
        A* out = acc + row.target + col.target;
        for (uint32_t o = ch.lo; o < ch.hi; ++o) out[size_t{o} * out_plane] += p * w[o];
      }
    }
    events += uint64_t{rows_end - rows_begin} * (cols_end - cols_begin) * (ch.hi - ch.lo);
  }
  return events;
}

// Multiplies sizes without wrapping: anything past 2^40 is "too large" here.
uint64_t MulCapped(uint64_t a, uint64_t b) {
  constexpr uint64_t kCap = uint64_t{1} << 40;
  if (a != 0 && b > kCap / a) return kCap;
  return a * b;
}

std::string TableName(const SynapseTable& t) { return "synapse table " + std::to_string(t.id); }

// Picks int8 storage with the largest common power-of-two factor when every
// weight fits, else keeps int16.
void StoreDense(const SynapseTable& t, CompiledTable* out) {
  int shift = 8;
  for (int16_t w : t.weights) {
    while (shift > 0 && (w & ((1 << shift) - 1)) != 0) --shift;
  }
  const bool fits = std::all_of(t.weights.begin(), t.weights.end(), [&](int16_t w) {
    const int stored = w >> shift;
    return stored >= std::numeric_limits<int8_t>::min() &&
           stored <= std::numeric_limits<int8_t>::max();
  });
  if (fits) {
    out->storage_shift = shift;
    std::vector<int8_t> w8;
    w8.reserve(t.weights.size());
    for (int16_t w : t.weights) w8.push_back(static_cast<int8_t>(w >> shift));
    out->w8 = std::make_shared<const std::vector<int8_t>>(std::move(w8));
  } else {
    out->w16 = std::make_shared<const std::vector<int16_t>>(t.weights);
  }
}

// The taps of one axis: for each source box row (column) `local`, at map
// coordinate box0 + local, inside the window [win0, win0 + winn), the kernel
// rows k with (box0 + local + pad - k) a multiple of stride whose output row
// lies inside the target box [out0, out0 + outn).
void AxisTaps(uint32_t box0, uint32_t boxn, uint32_t win0, uint32_t winn, uint32_t kernel,
              uint32_t stride, uint32_t pad, uint32_t out0, uint32_t outn, uint32_t weight_step,
              uint32_t target_step, std::vector<uint32_t>* begin, std::vector<ConvTap>* taps) {
  begin->assign(size_t{boxn} + 1, 0);
  for (uint32_t local = 0; local < boxn; ++local) {
    (*begin)[local] = static_cast<uint32_t>(taps->size());
    const int64_t at = int64_t{box0} + local;
    if (at < win0 || at >= int64_t{win0} + winn) continue;
    for (uint32_t k = 0; k < kernel; ++k) {
      const int64_t t = at + pad - k;
      if (t < 0 || t % stride != 0) continue;
      const int64_t o = t / stride - out0;
      if (o < 0 || o >= outn) continue;
      taps->push_back({k * weight_step, static_cast<uint32_t>(o) * target_step});
    }
  }
  (*begin)[boxn] = static_cast<uint32_t>(taps->size());
}

Status CompileConv(const SynapseTable& t, const CompiledTable* owner, CompiledTable* out) {
  const auto& g = t.conv;
  const uint64_t weight_count = owner != nullptr ? owner->conv.weights->size() : t.weights.size();
  const hal::format::ConvBox box = hal::format::ResolveConvBox(g);
  auto inside = [](uint64_t offset, uint64_t count, uint64_t full) {
    return offset + count <= full;
  };
  // The validator's rules, checked again only as far as indexing depends on them.
  const bool consistent =
      g.kernel_h && g.kernel_w && g.stride_h && g.stride_w && g.groups &&
      g.in_channels % g.groups == 0 && g.out_channels % g.groups == 0 && g.in_c_count &&
      uint64_t{g.in_c_offset} + g.in_c_count <= g.in_channels && g.out_c_count &&
      uint64_t{g.out_c_offset} + g.out_c_count <= g.out_channels &&
      inside(box.in_y0, box.in_yn, g.in_h) && inside(box.in_x0, box.in_xn, g.in_w) &&
      inside(box.out_y0, box.out_yn, g.out_h) && inside(box.out_x0, box.out_xn, g.out_w) &&
      MulCapped(MulCapped(g.in_c_count, box.in_yn), box.in_xn) == out->source_size &&
      MulCapped(MulCapped(g.out_c_count, box.out_yn), box.out_xn) == out->target_size &&
      weight_count == MulCapped(MulCapped(g.out_c_count, g.in_channels / g.groups),
                                MulCapped(g.kernel_h, g.kernel_w)) &&
      weight_count <= std::numeric_limits<uint32_t>::max() &&
      (owner == nullptr || owner->conv.out_c_count == g.out_c_count);
  if (!consistent) {
    return InvalidArgumentError(TableName(t) +
                                ": conv geometry does not match its weights, source and target");
  }
  ConvPlan& plan = out->conv;
  const uint32_t in_per_group = g.in_channels / g.groups;
  const uint32_t out_per_group = g.out_channels / g.groups;
  plan.in_c_count = g.in_c_count;
  plan.in_rows = box.in_yn;
  plan.in_cols = box.in_xn;
  plan.out_c_count = g.out_c_count;
  plan.out_plane = box.out_yn * box.out_xn;  // <= target_size
  const uint64_t taps = uint64_t{g.kernel_h} * g.kernel_w;
  plan.channels.resize(g.in_c_count);
  for (uint32_t c = 0; c < g.in_c_count; ++c) {
    const uint32_t ic = g.in_c_offset + c;
    const uint32_t group = ic / in_per_group;
    // Output channels of this input's group that the slice holds, slice-local.
    const int64_t lo =
        std::max<int64_t>(int64_t{group} * out_per_group, g.out_c_offset) - g.out_c_offset;
    const int64_t hi = std::min<int64_t>(int64_t{group + 1} * out_per_group,
                                         int64_t{g.out_c_offset} + g.out_c_count) -
                       g.out_c_offset;
    ConvPlan::Channel& ch = plan.channels[c];
    if (lo < hi) {
      ch.lo = static_cast<uint32_t>(lo);
      ch.hi = static_cast<uint32_t>(hi);
    }
    ch.weight = static_cast<uint32_t>((ic - group * in_per_group) * taps * g.out_c_count);
  }
  // The window, clipped to the source box (the validator keeps it inside).
  AxisTaps(box.in_y0, box.in_yn, box.win_y0, box.win_yn, g.kernel_h, g.stride_h, g.pad_h,
           box.out_y0, box.out_yn, g.kernel_w * g.out_c_count, box.out_xn, &plan.row_begin,
           &plan.row_taps);
  AxisTaps(box.in_x0, box.in_xn, box.win_x0, box.win_xn, g.kernel_w, g.stride_w, g.pad_w,
           box.out_x0, box.out_xn, g.out_c_count, 1, &plan.col_begin, &plan.col_taps);
  out->synapses = weight_count;
  if (owner != nullptr) {
    plan.weights = owner->conv.weights;
    return Status::Ok();
  }
  // [oc][icg][ky][kx] -> [icg][ky][kx][oc] so one input pixel reads each tap's
  // output channels contiguously.
  std::vector<int16_t> regrouped(t.weights.size(), 0);
  for (uint32_t oc = 0; oc < g.out_c_count; ++oc) {
    for (uint64_t r = 0; r < in_per_group * taps; ++r) {
      regrouped[r * g.out_c_count + oc] = t.weights[oc * in_per_group * taps + r];
    }
  }
  plan.weights = std::make_shared<const std::vector<int16_t>>(std::move(regrouped));
  return Status::Ok();
}

}  // namespace

StatusOr<CompiledTable> CompileTable(const SynapseTable& table, uint32_t source_size,
                                     uint32_t target_size, bool graded_source,
                                     const CompiledTable* owner) {
  const std::string name = TableName(table);
  if (owner != nullptr && (owner->format != table.format ||
                           table.format == SynapseFormat::kSparse || !table.weights.empty())) {
    return InvalidArgumentError(name + ": cannot share the weights of synapse table " +
                                std::to_string(owner->id));
  }
  // The window: dense and sparse rows index it, conv2d reads the whole source.
  const bool whole = table.source_count == 0;
  const uint64_t window_end = uint64_t{table.source_offset} + table.source_count;
  if ((whole && table.source_offset != 0) || window_end > source_size ||
      (!whole && table.format == SynapseFormat::kConv2d)) {
    return InvalidArgumentError(name + ": source window [" + std::to_string(table.source_offset) +
                                ", " + std::to_string(window_end) + ") is not usable with a " +
                                (table.format == SynapseFormat::kConv2d ? "conv2d " : "") +
                                "source of " + std::to_string(source_size) + " neurons");
  }
  const uint32_t rows = whole ? source_size : table.source_count;
  if (rows > kMaxTableSource) {
    return InvalidArgumentError(name + ": source of " + std::to_string(rows) +
                                " neurons exceeds the emulator's limit of " +
                                std::to_string(kMaxTableSource));
  }
  CompiledTable out;
  out.id = table.id;
  out.format = table.format;
  out.source_size = source_size;
  out.source_offset = table.source_offset;
  out.rows = rows;
  out.windowed = rows != source_size;
  out.target_size = target_size;
  out.graded_source = graded_source;
  out.weight_exp = table.weight_exp;
  out.delay = table.delay;
  switch (table.format) {
    case SynapseFormat::kDense: {
      const uint64_t expected = uint64_t{rows} * target_size;
      if (owner != nullptr) {
        if (uint64_t{owner->rows} * owner->target_size != expected ||
            owner->target_size != target_size) {
          return InvalidArgumentError(name + ": its weights' shape differs from synapse table " +
                                      std::to_string(owner->id) + "'s, whose weights it shares");
        }
        out.w8 = owner->w8;
        out.w16 = owner->w16;
        out.storage_shift = owner->storage_shift;
        out.synapses = expected;
        break;
      }
      if (table.weights.size() != expected) {
        return InvalidArgumentError(
            name + ": dense table has " + std::to_string(table.weights.size()) + " weights, " +
            std::to_string(rows) + " x " + std::to_string(target_size) + " expected");
      }
      StoreDense(table, &out);
      out.synapses = expected;
      break;
    }
    case SynapseFormat::kSparse: {
      const auto& rp = table.row_ptr;
      bool consistent = rp.size() == uint64_t{rows} + 1 && rp.front() == 0 &&
                        rp.back() == table.col.size() && table.col.size() == table.weights.size();
      for (size_t r = 0; consistent && r + 1 < rp.size(); ++r) consistent = rp[r] <= rp[r + 1];
      for (size_t k = 0; consistent && k < table.col.size(); ++k) {
        consistent = table.col[k] < target_size;
      }
      if (!consistent) {
        return InvalidArgumentError(name + ": sparse row_ptr, col and weights are inconsistent");
      }
      out.row_ptr = rp;
      out.col = table.col;
      out.w16 = std::make_shared<const std::vector<int16_t>>(table.weights);
      out.synapses = table.weights.size();
      break;
    }
    case SynapseFormat::kConv2d:
      SPK_RETURN_IF_ERROR(CompileConv(table, owner, &out));
      break;
    default:
      return InvalidArgumentError(name + ": unknown synapse format " +
                                  std::to_string(static_cast<int>(table.format)));
  }
  return out;
}

void SliceWindow(const CompiledTable& t, const SpikeList& source, SpikeList* rows) {
  rows->Clear();
  const uint32_t lo = t.source_offset;
  const uint32_t hi = t.source_offset + t.rows;
  const auto begin = std::lower_bound(source.index.begin(), source.index.end(), lo);
  const auto end = std::lower_bound(begin, source.index.end(), hi);
  const size_t first = static_cast<size_t>(begin - source.index.begin());
  const size_t count = static_cast<size_t>(end - begin);
  rows->index.resize(count);
  for (size_t i = 0; i < count; ++i) rows->index[i] = source.index[first + i] - lo;
  if (!source.payload.empty()) {
    rows->payload.assign(source.payload.begin() + static_cast<std::ptrdiff_t>(first),
                         source.payload.begin() + static_cast<std::ptrdiff_t>(first + count));
  }
}

uint64_t FanOut(const CompiledTable& t, const SpikeList& spikes, FanOutScratch* s,
                int64_t* accumulator) {
  if (spikes.size() == 0) return 0;
  const size_t n = t.target_size;
  switch (t.format) {
    case SynapseFormat::kDense:
      if (t.graded_source) {
        if (t.w8 != nullptr) {
          DenseGraded(t, t.w8->data(), spikes, s, accumulator);
        } else {
          DenseGraded(t, t.w16->data(), spikes, s, accumulator);
        }
      } else if (t.w8 != nullptr) {
        DenseBinary8(t, spikes, s, accumulator);
      } else {
        DenseBinary16(t, spikes, s, accumulator);
      }
      return uint64_t{spikes.size()} * n;
    case SynapseFormat::kSparse:
    case SynapseFormat::kConv2d: {
      const bool sparse = t.format == SynapseFormat::kSparse;
      uint64_t events = 0;
      if (t.graded_source) {
        ZeroFill(&s->acc64, n);
        events = sparse ? SparseScatter(t, spikes, s->acc64.data())
                        : ConvScatter(t, spikes, s->acc64.data());
        ScaleInto(s->acc64.data(), n, 0, t.weight_exp, accumulator);
      } else {
        ZeroFill(&s->acc32, n);
        events = sparse ? SparseScatter(t, spikes, s->acc32.data())
                        : ConvScatter(t, spikes, s->acc32.data());
        ScaleInto(s->acc32.data(), n, 0, t.weight_exp, accumulator);
      }
      return events;
    }
  }
  return 0;
}

}  // namespace spk::sim

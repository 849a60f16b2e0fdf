#include "hal/format/board_image_io.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

#include "base/crc32.h"
#include "hal/format/board_image_validate.h"

namespace spk::hal::format {
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

std::string Hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

constexpr std::array<SectionType, 8> kSectionOrder = {
    SectionType::kMeta,   SectionType::kCores,  SectionType::kGroups,  SectionType::kTables,
    SectionType::kRoutes, SectionType::kInputs, SectionType::kOutputs, SectionType::kHostSegments,
};
constexpr uint32_t kMaxKnownSectionType = 8;
// Far above any header a 1.x minor version could need; keeps a corrupt
// header_size from steering the checksum over the whole file.
constexpr uint32_t kMaxHeaderSize = 4096;
// Reading a file allocates its size up front; no model near this exists.
constexpr uint64_t kMaxImageFileBytes = uint64_t{4} << 30;
// Far above the eight sections of 1.0; bounds the work a hostile table causes.
constexpr uint32_t kMaxSections = 1024;
// Header field offsets. Magic and version sit at 0..11 in every major version,
// so any reader can say which version it was given.
constexpr size_t kOffMajor = 8, kOffMinor = 10, kOffFlags = 12, kOffHeaderSize = 16,
                 kOffSectionCount = 20, kOffImageSize = 24, kOffTableCrc = 32;

// Smallest encoding of one record of each section (all arrays and strings
// empty), so a record count can be checked against the bytes before any
// vector is reserved. Later minor versions only append fields.
constexpr size_t MinRecordSize(SectionType type) {
  switch (type) {
    case SectionType::kMeta:
      return 4 * 4 + 4 + 4;
    case SectionType::kCores:
      return 8;
    case SectionType::kGroups:
      return 4 + 4 + 4 + 1 + 1 + 4 + 2 + 2 + 4 + 1 + 4 * 3;
    case SectionType::kTables:
      return 4 + 1 + 4 + 4 + 1 + 1 + 1 + 1 + 4 * 3 + 17 * 4;
    case SectionType::kRoutes:
      return 12;
    case SectionType::kInputs:
      return 4 + 4 + 1 + 4;
    case SectionType::kOutputs:
      return 4 + 4 + 1 + 4 + 4 + 4;
    case SectionType::kHostSegments:
      return 4 * 6;
  }
  return 0;
}

uint32_t LoadU32(std::span<const uint8_t> b, size_t at) {
  return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8 | uint32_t{b[at + 2]} << 16 |
         uint32_t{b[at + 3]} << 24;
}
uint16_t LoadU16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] | b[at + 1] << 8);
}
uint64_t LoadU64(std::span<const uint8_t> b, size_t at) {
  return uint64_t{LoadU32(b, at)} | uint64_t{LoadU32(b, at + 4)} << 32;
}

// ---------------------------------------------------------------------------
// Encoding.

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}

  bool overflowed() const { return overflowed_; }

  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { Little(v); }
  void U32(uint32_t v) { Little(v); }
  void U64(uint64_t v) { Little(v); }
  void I8(int8_t v) { U8(static_cast<uint8_t>(v)); }
  // The bits, so NaN payloads and signed zeros survive and bytes stay stable.
  void F32(float v) { U32(std::bit_cast<uint32_t>(v)); }
  void Count(size_t n) {
    if (n > std::numeric_limits<uint32_t>::max()) overflowed_ = true;
    U32(static_cast<uint32_t>(n));
  }
  void Str(const std::string& s) {
    Count(s.size());
    out_->insert(out_->end(), s.begin(), s.end());
  }
  template <typename T, typename F>
  void Array(const std::vector<T>& values, F each) {
    Count(values.size());
    for (const T& v : values) each(v);
  }
  // An array of fixed-width numbers: a count, then the values. On a
  // little-endian host their memory already is the encoding.
  template <typename T>
  void Numbers(const std::vector<T>& values) {
    static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 4);
    Count(values.size());
    if constexpr (std::endian::native == std::endian::little) {
      const auto* p = reinterpret_cast<const uint8_t*>(values.data());
      out_->insert(out_->end(), p, p + values.size() * sizeof(T));
    } else {
      for (T v : values) {
        if constexpr (sizeof(T) == 1) U8(static_cast<uint8_t>(v));
        if constexpr (sizeof(T) == 2) U16(static_cast<uint16_t>(v));
        if constexpr (sizeof(T) == 4 && std::is_floating_point_v<T>) F32(v);
        if constexpr (sizeof(T) == 4 && !std::is_floating_point_v<T>) U32(static_cast<uint32_t>(v));
      }
    }
  }
  void U32s(const std::vector<uint32_t>& v) { Numbers(v); }

  // A record is its byte length followed by its fields.
  size_t BeginRecord() {
    size_t at = out_->size();
    U32(0);
    return at;
  }
  void EndRecord(size_t at) {
    size_t length = out_->size() - at - 4;
    if (length > std::numeric_limits<uint32_t>::max()) overflowed_ = true;
    for (int i = 0; i < 4; ++i) (*out_)[at + i] = static_cast<uint8_t>(length >> (8 * i));
  }

 private:
  // One append per field (a large image has millions of them), not one
  // per byte.
  template <typename T>
  void Little(T v) {
    uint8_t bytes[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<uint8_t>(v >> (8 * i));
    out_->insert(out_->end(), bytes, bytes + sizeof(T));
  }

  std::vector<uint8_t>* out_;  // borrowed
  bool overflowed_ = false;
};

template <typename T, typename F>
void WriteRecords(ByteWriter& w, const std::vector<T>& items, F fields) {
  w.Count(items.size());
  for (const T& item : items) {
    size_t at = w.BeginRecord();
    fields(item);
    w.EndRecord(at);
  }
}

void EncodeSection(SectionType type, const BoardImage& image, ByteWriter& w) {
  switch (type) {
    case SectionType::kMeta: {
      w.U32(1);
      size_t at = w.BeginRecord();
      const BoardImageMeta& m = image.meta;
      w.Str(m.model_name);
      w.Str(m.model_sha256);
      w.Str(m.compiler_version);
      w.Str(m.chip_profile);
      w.U32(m.timesteps);
      w.U32(m.run_steps);
      w.EndRecord(at);
      break;
    }
    case SectionType::kCores:
      WriteRecords(w, image.cores, [&](const CorePlacement& c) {
        w.U32(c.chip);
        w.U32(c.core);
      });
      break;
    case SectionType::kGroups:
      WriteRecords(w, image.groups, [&](const NeuronGroup& g) {
        w.U32(g.id);
        w.U32(g.core);
        w.Str(g.layer);
        w.U8(static_cast<uint8_t>(g.model));
        w.U8(static_cast<uint8_t>(g.output));
        w.U32(g.size);
        w.U16(g.du);
        w.U16(g.dv);
        w.U32(g.vth);
        w.I8(g.bias_exp);
        w.Numbers(g.bias_mant);
        w.Numbers(g.u_init);
        w.Numbers(g.v_init);
        w.U32(g.start_step);
      });
      break;
    case SectionType::kTables:
      WriteRecords(w, image.tables, [&](const SynapseTable& t) {
        w.U32(t.id);
        w.U8(static_cast<uint8_t>(t.source.kind));
        w.U32(t.source.index);
        w.U32(t.target_group);
        w.U8(t.target_port);
        w.U8(static_cast<uint8_t>(t.format));
        w.I8(t.weight_exp);
        w.U8(t.num_weight_bits);
        w.Numbers(t.weights);
        w.U32s(t.row_ptr);
        w.U32s(t.col);
        const Conv2dGeometry& c = t.conv;
        for (uint32_t v : {c.in_channels, c.in_h, c.in_w, c.out_channels, c.out_h, c.out_w,
                           c.kernel_h, c.kernel_w, c.stride_h, c.stride_w, c.pad_h, c.pad_w,
                           c.groups, c.in_c_offset, c.in_c_count, c.out_c_offset, c.out_c_count}) {
          w.U32(v);
        }
        w.U8(t.delay);
        w.U32(t.source_offset);  // 1.1
        w.U32(t.source_count);
        for (uint32_t v : {c.in_y_offset, c.in_y_count, c.in_x_offset, c.in_x_count,  // 1.1
                           c.out_y_offset, c.out_y_count, c.out_x_offset, c.out_x_count,
                           c.win_y_offset, c.win_y_count, c.win_x_offset, c.win_x_count}) {
          w.U32(v);
        }
        w.U32(t.weights_of);  // 1.1
      });
      break;
    case SectionType::kRoutes:
      WriteRecords(w, image.routes, [&](const Route& r) {
        w.U32(r.source_group);
        w.U32(r.target_core);
        w.U32(r.axon_offset);
      });
      break;
    case SectionType::kInputs:
      WriteRecords(w, image.inputs, [&](const InputPort& p) {
        w.Str(p.name);
        w.U32s(p.shape);
        w.U8(static_cast<uint8_t>(p.kind));
        w.F32(p.scale);
      });
      break;
    case SectionType::kOutputs:
      WriteRecords(w, image.outputs, [&](const OutputPort& p) {
        w.Str(p.name);
        w.U32s(p.shape);
        w.U8(static_cast<uint8_t>(p.source));
        w.Array(p.segments, [&](const OutputSegment& s) {
          w.U32(s.group);
          w.U32(s.group_offset);
          w.U32(s.port_offset);
          w.U32(s.count);
        });
        w.U32(p.delay);
        w.F32(p.scale);
      });
      break;
    case SectionType::kHostSegments:
      WriteRecords(w, image.host_segments, [&](const HostSegment& h) {
        w.Str(h.name);
        w.Str(h.op);
        w.Str(h.attributes);
        w.Array(h.inputs, [&](const std::string& s) { w.Str(s); });
        w.Array(h.outputs, [&](const std::string& s) { w.Str(s); });
        w.Array(h.tensors, [&](const HostTensor& t) {
          w.Str(t.name);
          w.U32s(t.shape);
          w.Numbers(t.data);
        });
      });
      break;
  }
}

// ---------------------------------------------------------------------------
// Decoding. A ByteReader never reads past its span; the first failure sticks
// and later reads return zeros, so decoders check ok() once per record.

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> data, std::string context)
      : data_(data), context_(std::move(context)) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return data_.size() - pos_; }

  uint8_t U8(const char* field) { return Need(1, field) ? data_[pos_++] : 0; }
  uint16_t U16(const char* field) { return static_cast<uint16_t>(Take(2, field)); }
  uint32_t U32(const char* field) { return static_cast<uint32_t>(Take(4, field)); }
  int8_t I8(const char* field) { return static_cast<int8_t>(U8(field)); }
  float F32(const char* field) { return std::bit_cast<float>(U32(field)); }

  std::span<const uint8_t> Bytes(size_t n, const char* field) {
    if (!Need(n, field)) return {};
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  std::string Str(const char* field) {
    uint32_t n = U32(field);
    auto bytes = Bytes(n, field);
    return std::string(bytes.begin(), bytes.end());
  }

  // Reads an element count and checks that `min_element_size` bytes per
  // element remain, so the caller may reserve that many.
  uint32_t Count(const char* field, size_t min_element_size) {
    uint32_t n = U32(field);
    if (ok() && uint64_t{n} * min_element_size > remaining()) {
      Fail(Cat("'", field, "' declares ", n, " entries of at least ", min_element_size,
               " bytes but only ", remaining(), " bytes remain"));
      return 0;
    }
    return n;
  }

  template <typename T, typename F>
  std::vector<T> Array(const char* field, size_t min_element_size, F read_one) {
    std::vector<T> out;
    uint32_t n = Count(field, min_element_size);
    out.reserve(n);
    for (uint32_t i = 0; i < n && ok(); ++i) out.push_back(read_one());
    return out;
  }
  template <typename T>
  std::vector<T> Numbers(const char* field) {
    static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 4);
    uint32_t n = Count(field, sizeof(T));
    std::span<const uint8_t> bytes = Bytes(size_t{n} * sizeof(T), field);
    std::vector<T> out(bytes.size() / sizeof(T));
    if constexpr (std::endian::native == std::endian::little) {
      if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    } else {
      for (size_t i = 0; i < out.size(); ++i) {
        uint32_t v = 0;
        for (size_t b = 0; b < sizeof(T); ++b) v |= uint32_t{bytes[i * sizeof(T) + b]} << (8 * b);
        if constexpr (std::is_floating_point_v<T>) {
          out[i] = std::bit_cast<float>(v);
        } else {
          out[i] = static_cast<T>(v);
        }
      }
    }
    return out;
  }
  std::vector<uint32_t> U32s(const char* field) { return Numbers<uint32_t>(field); }

  void Fail(const std::string& what) {
    if (ok()) error_ = context_ + ": " + what;
  }

 private:
  bool Need(size_t n, const char* field) {
    if (!ok()) return false;
    if (remaining() < n) {
      Fail(Cat("truncated reading '", field, "' (needs ", n, " bytes, ", remaining(), " left)"));
      return false;
    }
    return true;
  }
  uint64_t Take(int n, const char* field) {
    if (!Need(static_cast<size_t>(n), field)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{data_[pos_ + i]} << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  std::string context_;
  std::string error_;
};

std::string SectionLabel(uint32_t type) {
  return Cat("section '", SectionTypeName(type), "' (type ", type, ")");
}

// Decodes `count` length-prefixed records with `decode(reader)`. Bytes past
// the fields this reader knows are an error unless the image is of a newer
// minor version, whose writer may have appended fields.
template <typename F>
Status ReadRecords(std::span<const uint8_t> section, SectionType type, bool newer_minor, F decode) {
  std::string label = "board image: " + SectionLabel(static_cast<uint32_t>(type));
  ByteReader r(section, label);
  if (type == SectionType::kMeta && section.size() >= 4 && LoadU32(section, 0) != 1) {
    return InvalidArgumentError(
        Cat(label, ": holds ", LoadU32(section, 0), " records; expected 1"));
  }
  uint32_t count = r.Count("record count", 4 + MinRecordSize(type));
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    uint32_t length = r.U32("record length");
    auto body = r.Bytes(length, "record");
    if (!r.ok()) break;
    ByteReader rec(body, Cat(label, " record ", i));
    decode(rec);
    if (!rec.ok()) return InvalidArgumentError(rec.error());
    if (rec.remaining() != 0 && !newer_minor) {
      return InvalidArgumentError(
          Cat(label, " record ", i, ": ", rec.remaining(), " bytes follow its last field"));
    }
  }
  if (!r.ok()) return InvalidArgumentError(r.error());
  if (r.remaining() != 0 && !newer_minor) {
    return InvalidArgumentError(Cat(label, ": ", r.remaining(), " bytes follow its last record"));
  }
  return Status::Ok();
}

// `minor` is the image's minor version: fields a later minor version appended
// are read only from images that have them, and keep their defaults in older
// ones.
Status DecodeSection(SectionType type, std::span<const uint8_t> bytes, uint16_t minor,
                     BoardImage& image) {
  const bool newer_minor = minor > kBoardImageVersionMinor;
  size_t min_record = MinRecordSize(type);
  // The declared count is not checked yet, so the reservation is capped by
  // how many of the smallest records the bytes could hold.
  uint32_t declared = bytes.size() >= 4 ? LoadU32(bytes, 0) : 0;
  size_t reserve = std::min<uint64_t>(declared, bytes.size() / (min_record + 4));
  switch (type) {
    case SectionType::kMeta:
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        BoardImageMeta& m = image.meta;
        m.model_name = r.Str("model_name");
        m.model_sha256 = r.Str("model_sha256");
        m.compiler_version = r.Str("compiler_version");
        m.chip_profile = r.Str("chip_profile");
        m.timesteps = r.U32("timesteps");
        m.run_steps = r.U32("run_steps");
      });
    case SectionType::kCores:
      image.cores.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        CorePlacement c;
        c.chip = r.U32("chip");
        c.core = r.U32("core");
        image.cores.push_back(c);
      });
    case SectionType::kGroups:
      image.groups.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        NeuronGroup g;
        g.id = r.U32("id");
        g.core = r.U32("core");
        g.layer = r.Str("layer");
        g.model = static_cast<NeuronModel>(r.U8("model"));
        g.output = static_cast<SpikeKind>(r.U8("output"));
        g.size = r.U32("size");
        g.du = r.U16("du");
        g.dv = r.U16("dv");
        g.vth = r.U32("vth");
        g.bias_exp = r.I8("bias_exp");
        g.bias_mant = r.Numbers<int16_t>("bias_mant");
        g.u_init = r.Numbers<int32_t>("u_init");
        g.v_init = r.Numbers<int32_t>("v_init");
        g.start_step = r.U32("start_step");
        image.groups.push_back(std::move(g));
      });
    case SectionType::kTables:
      image.tables.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        SynapseTable t;
        t.id = r.U32("id");
        t.source.kind = static_cast<SourceKind>(r.U8("source.kind"));
        t.source.index = r.U32("source.index");
        t.target_group = r.U32("target_group");
        t.target_port = r.U8("target_port");
        t.format = static_cast<SynapseFormat>(r.U8("format"));
        t.weight_exp = r.I8("weight_exp");
        t.num_weight_bits = r.U8("num_weight_bits");
        t.weights = r.Numbers<int16_t>("weights");
        t.row_ptr = r.U32s("row_ptr");
        t.col = r.U32s("col");
        Conv2dGeometry& c = t.conv;
        for (uint32_t* field :
             {&c.in_channels, &c.in_h, &c.in_w, &c.out_channels, &c.out_h, &c.out_w, &c.kernel_h,
              &c.kernel_w, &c.stride_h, &c.stride_w, &c.pad_h, &c.pad_w, &c.groups, &c.in_c_offset,
              &c.in_c_count, &c.out_c_offset, &c.out_c_count}) {
          *field = r.U32("conv");
        }
        t.delay = r.U8("delay");
        if (minor >= 1) {  // 1.1: the source window, conv tiles and their window
          t.source_offset = r.U32("source_offset");
          t.source_count = r.U32("source_count");
          const std::pair<const char*, uint32_t*> tiles[] = {
              {"conv.in_y_offset", &c.in_y_offset},   {"conv.in_y_count", &c.in_y_count},
              {"conv.in_x_offset", &c.in_x_offset},   {"conv.in_x_count", &c.in_x_count},
              {"conv.out_y_offset", &c.out_y_offset}, {"conv.out_y_count", &c.out_y_count},
              {"conv.out_x_offset", &c.out_x_offset}, {"conv.out_x_count", &c.out_x_count},
              {"conv.win_y_offset", &c.win_y_offset}, {"conv.win_y_count", &c.win_y_count},
              {"conv.win_x_offset", &c.win_x_offset}, {"conv.win_x_count", &c.win_x_count}};
          for (const auto& [field, value] : tiles) *value = r.U32(field);
          t.weights_of = r.U32("weights_of");
        }
        image.tables.push_back(std::move(t));
      });
    case SectionType::kRoutes:
      image.routes.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        Route route;
        route.source_group = r.U32("source_group");
        route.target_core = r.U32("target_core");
        route.axon_offset = r.U32("axon_offset");
        image.routes.push_back(route);
      });
    case SectionType::kInputs:
      image.inputs.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        InputPort p;
        p.name = r.Str("name");
        p.shape = r.U32s("shape");
        p.kind = static_cast<SpikeKind>(r.U8("kind"));
        p.scale = r.F32("scale");
        image.inputs.push_back(std::move(p));
      });
    case SectionType::kOutputs:
      image.outputs.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        OutputPort p;
        p.name = r.Str("name");
        p.shape = r.U32s("shape");
        p.source = static_cast<OutputSource>(r.U8("source"));
        p.segments = r.Array<OutputSegment>("segments", 16, [&] {
          OutputSegment s;
          s.group = r.U32("segments.group");
          s.group_offset = r.U32("segments.group_offset");
          s.port_offset = r.U32("segments.port_offset");
          s.count = r.U32("segments.count");
          return s;
        });
        p.delay = r.U32("delay");
        p.scale = r.F32("scale");
        image.outputs.push_back(std::move(p));
      });
    case SectionType::kHostSegments:
      image.host_segments.reserve(reserve);
      return ReadRecords(bytes, type, newer_minor, [&](ByteReader& r) {
        HostSegment h;
        h.name = r.Str("name");
        h.op = r.Str("op");
        h.attributes = r.Str("attributes");
        h.inputs = r.Array<std::string>("inputs", 4, [&] { return r.Str("inputs"); });
        h.outputs = r.Array<std::string>("outputs", 4, [&] { return r.Str("outputs"); });
        h.tensors = r.Array<HostTensor>("tensors", 12, [&] {
          HostTensor t;
          t.name = r.Str("tensors.name");
          t.shape = r.U32s("tensors.shape");
          t.data = r.Numbers<float>("tensors.data");
          return t;
        });
        image.host_segments.push_back(std::move(h));
      });
  }
  return InternalError("unreachable section type");
}

// ---------------------------------------------------------------------------
// Files.

Status ErrnoStatus(int err, const std::string& what) {
  std::string message = Cat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return ResourceExhaustedError(message);
    default:
      return UnavailableError(message);
  }
}

Status WriteAll(int fd, std::span<const uint8_t> bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write " + path);
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string_view SectionTypeName(uint32_t type) {
  switch (static_cast<SectionType>(type)) {
    case SectionType::kMeta:
      return "meta";
    case SectionType::kCores:
      return "cores";
    case SectionType::kGroups:
      return "groups";
    case SectionType::kTables:
      return "tables";
    case SectionType::kRoutes:
      return "routes";
    case SectionType::kInputs:
      return "inputs";
    case SectionType::kOutputs:
      return "outputs";
    case SectionType::kHostSegments:
      return "host_segments";
  }
  return "unknown";
}

namespace {

// The sections, the section table and the header, checksummed.
StatusOr<std::vector<uint8_t>> Encode(const BoardImage& image) {
  // Sections are encoded in place, after room for the header and the table,
  // which are filled in last; the bulk (weights) is reserved up front so the
  // buffer grows once.
  constexpr size_t kSections = kSectionOrder.size();
  const size_t table_size = size_t{kBoardImageSectionEntrySize} * kSections;
  size_t estimate = kBoardImageHeaderSize + table_size + 4096;
  for (const SynapseTable& t : image.tables) {
    estimate += 128 + 2 * t.weights.size() + 4 * (t.row_ptr.size() + t.col.size());
  }
  for (const NeuronGroup& g : image.groups) {
    estimate +=
        64 + g.layer.size() + 2 * g.bias_mant.size() + 4 * (g.u_init.size() + g.v_init.size());
  }
  for (const HostSegment& h : image.host_segments) {
    for (const HostTensor& t : h.tensors) estimate += 64 + 4 * t.data.size();
  }
  std::vector<uint8_t> out(kBoardImageHeaderSize + table_size, 0);
  out.reserve(estimate);
  ByteWriter w(&out);
  std::array<uint64_t, kSections> offsets{}, sizes{};
  for (size_t i = 0; i < kSections; ++i) {
    out.resize((out.size() + kBoardImageSectionAlignment - 1) / kBoardImageSectionAlignment *
                   kBoardImageSectionAlignment,
               0);
    offsets[i] = out.size();
    EncodeSection(kSectionOrder[i], image, w);
    sizes[i] = out.size() - offsets[i];
  }
  if (w.overflowed()) {
    return InvalidArgumentError(
        "board image: a string, array or record exceeds 2^32-1 entries or bytes");
  }

  std::vector<uint8_t> head;
  head.reserve(kBoardImageHeaderSize + table_size);
  ByteWriter h(&head);
  head.insert(head.end(), std::begin(kBoardImageMagic), std::end(kBoardImageMagic));
  h.U16(kBoardImageVersionMajor);
  h.U16(kBoardImageVersionMinor);
  h.U32(0);  // flags
  h.U32(kBoardImageHeaderSize);
  h.U32(static_cast<uint32_t>(kSections));
  h.U64(out.size());
  h.U32(0);  // section table CRC, patched below
  h.U32(0);  // header CRC, patched below
  for (size_t i = 0; i < kSections; ++i) {
    h.U32(static_cast<uint32_t>(kSectionOrder[i]));
    h.U32(Crc32(std::span<const uint8_t>(out).subspan(offsets[i], sizes[i])));
    h.U64(offsets[i]);
    h.U64(sizes[i]);
  }
  auto patch = [&](size_t offset, uint32_t v) {
    for (int i = 0; i < 4; ++i) head[offset + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  patch(kOffTableCrc,
        Crc32(std::span<const uint8_t>(head).subspan(kBoardImageHeaderSize, table_size)));
  patch(kBoardImageHeaderSize - 4,
        Crc32(std::span<const uint8_t>(head).first(kBoardImageHeaderSize - 4)));
  std::copy(head.begin(), head.end(), out.begin());
  return out;
}

}  // namespace

StatusOr<std::vector<uint8_t>> WriteBoardImage(const BoardImage& image) {
  // A published-size model's image (hundreds of thousands of tables) is
  // checked on a second thread while it is encoded; both only read it.
  constexpr size_t kCheckAside = 10'000;
  Status valid;
  std::thread checker;
  if (image.tables.size() >= kCheckAside) {
    checker = std::thread([&] { valid = ValidateBoardImage(image); });
  } else {
    SPK_RETURN_IF_ERROR(ValidateBoardImage(image));
  }
  StatusOr<std::vector<uint8_t>> bytes = Encode(image);
  if (checker.joinable()) {
    checker.join();
    SPK_RETURN_IF_ERROR(valid);
  }
  return bytes;
}

StatusOr<BoardImageLayout> InspectBoardImage(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return InvalidArgumentError("board image: empty input");
  const size_t magic_checked = std::min(bytes.size(), sizeof(kBoardImageMagic));
  if (std::memcmp(bytes.data(), kBoardImageMagic, magic_checked) != 0) {
    return InvalidArgumentError("board image: not a board image (bad magic)");
  }
  if (bytes.size() < kOffFlags) {
    return DataLossError(
        Cat("board image: truncated: ", bytes.size(), " bytes, fewer than the magic and version"));
  }
  BoardImageLayout layout;
  layout.version_major = LoadU16(bytes, kOffMajor);
  layout.version_minor = LoadU16(bytes, kOffMinor);
  if (layout.version_major != kBoardImageVersionMajor) {
    return FailedPreconditionError(Cat(
        "board image: format version ", layout.version_major, ".", layout.version_minor, " is ",
        layout.version_major > kBoardImageVersionMajor ? "newer" : "older", " than this reader's ",
        kBoardImageVersionMajor, ".", kBoardImageVersionMinor, ", which reads major version ",
        kBoardImageVersionMajor, " only; recompile the model with a matching compiler"));
  }
  if (bytes.size() < kBoardImageHeaderSize) {
    return DataLossError(Cat("board image: truncated: ", bytes.size(),
                             " bytes, fewer than the header's ", kBoardImageHeaderSize));
  }
  layout.flags = LoadU32(bytes, kOffFlags);
  layout.header_size = LoadU32(bytes, kOffHeaderSize);
  const bool newer_minor = layout.version_minor > kBoardImageVersionMinor;
  if (layout.header_size < kBoardImageHeaderSize || layout.header_size > kMaxHeaderSize ||
      (!newer_minor && layout.header_size != kBoardImageHeaderSize)) {
    return DataLossError(Cat("board image: header_size ", layout.header_size,
                             " is impossible for version ", layout.version_major, ".",
                             layout.version_minor));
  }
  if (bytes.size() < layout.header_size) {
    return DataLossError(Cat("board image: truncated: ", bytes.size(),
                             " bytes, fewer than the header's ", layout.header_size));
  }
  const uint32_t header_crc = LoadU32(bytes, layout.header_size - 4);
  const uint32_t header_computed = Crc32(bytes.first(layout.header_size - 4));
  if (header_crc != header_computed) {
    return DataLossError(Cat("board image: header checksum mismatch (stored ", Hex32(header_crc),
                             ", computed ", Hex32(header_computed), ")"));
  }
  if ((layout.flags & kBoardImageRequiredFlagsMask) != 0) {
    return FailedPreconditionError(
        Cat("board image: flags ", Hex32(layout.flags), " require features this reader (version ",
            kBoardImageVersionMajor, ".", kBoardImageVersionMinor, ") does not have"));
  }
  layout.image_size = LoadU64(bytes, kOffImageSize);
  if (layout.image_size > bytes.size()) {
    return DataLossError(Cat("board image: truncated: the header declares ", layout.image_size,
                             " bytes but only ", bytes.size(), " are present"));
  }
  if (layout.image_size < bytes.size()) {
    return InvalidArgumentError(Cat("board image: ", bytes.size() - layout.image_size,
                                    " bytes follow the declared end of the image at ",
                                    layout.image_size));
  }
  const uint32_t section_count = LoadU32(bytes, kOffSectionCount);
  if (section_count > kMaxSections) {
    return InvalidArgumentError(
        Cat("board image: ", section_count, " sections; at most ", kMaxSections, " are allowed"));
  }
  const uint64_t table_end =
      uint64_t{layout.header_size} + uint64_t{section_count} * kBoardImageSectionEntrySize;
  if (table_end > layout.image_size) {
    return InvalidArgumentError(Cat("board image: a section table of ", section_count,
                                    " entries does not fit in ", layout.image_size, " bytes"));
  }
  auto table = bytes.subspan(layout.header_size, table_end - layout.header_size);
  const uint32_t table_crc = LoadU32(bytes, kOffTableCrc);
  const uint32_t table_computed = Crc32(table);
  if (table_crc != table_computed) {
    return DataLossError(Cat("board image: section table checksum mismatch (stored ",
                             Hex32(table_crc), ", computed ", Hex32(table_computed), ")"));
  }

  layout.sections.reserve(section_count);
  for (uint32_t i = 0; i < section_count; ++i) {
    size_t e = size_t{i} * kBoardImageSectionEntrySize;
    BoardImageSectionInfo s;
    s.type = LoadU32(table, e);
    s.crc32 = LoadU32(table, e + 4);
    s.offset = LoadU64(table, e + 8);
    s.size = LoadU64(table, e + 16);
    if (s.offset < table_end || s.offset > layout.image_size ||
        s.size > layout.image_size - s.offset) {
      return InvalidArgumentError(Cat("board image: ", SectionLabel(s.type), " spans [", s.offset,
                                      ", ", s.offset, " + ", s.size, ") outside the section area [",
                                      table_end, ", ", layout.image_size, ")"));
    }
    for (const BoardImageSectionInfo& other : layout.sections) {
      if (other.type == s.type) {
        return InvalidArgumentError(Cat("board image: ", SectionLabel(s.type), " appears twice"));
      }
    }
    layout.sections.push_back(s);
  }

  // Sections must not overlap and the bytes between them must be zero, so no
  // byte of an image escapes a checksum unnoticed.
  std::vector<const BoardImageSectionInfo*> by_offset;
  for (const auto& s : layout.sections) by_offset.push_back(&s);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->offset < b->offset; });
  uint64_t cursor = table_end;
  auto check_gap = [&](uint64_t end) -> Status {
    for (uint64_t k = cursor; k < end; ++k) {
      if (bytes[k] != 0) {
        return DataLossError(Cat("board image: non-zero padding byte at offset ", k));
      }
    }
    return Status::Ok();
  };
  for (const BoardImageSectionInfo* s : by_offset) {
    if (s->offset < cursor) {
      return InvalidArgumentError(
          Cat("board image: ", SectionLabel(s->type), " overlaps the section before it"));
    }
    SPK_RETURN_IF_ERROR(check_gap(s->offset));
    cursor = s->offset + s->size;
  }
  SPK_RETURN_IF_ERROR(check_gap(layout.image_size));

  for (const BoardImageSectionInfo& s : layout.sections) {
    uint32_t computed = Crc32(bytes.subspan(s.offset, s.size));
    if (computed != s.crc32) {
      return DataLossError(Cat("board image: ", SectionLabel(s.type), " checksum mismatch (stored ",
                               Hex32(s.crc32), ", computed ", Hex32(computed), ")"));
    }
  }
  return layout;
}

StatusOr<BoardImage> ReadBoardImage(std::span<const uint8_t> bytes) {
  SPK_ASSIGN_OR_RETURN(BoardImageLayout layout, InspectBoardImage(bytes));
  const bool newer_minor = layout.version_minor > kBoardImageVersionMinor;
  BoardImage image;
  std::array<bool, kMaxKnownSectionType + 1> seen{};
  for (const BoardImageSectionInfo& s : layout.sections) {
    if (s.type == 0 || s.type > kMaxKnownSectionType) {
      if (newer_minor) continue;  // added by a later minor version
      return InvalidArgumentError(Cat("board image: unknown section type ", s.type,
                                      " in a version ", layout.version_major, ".",
                                      layout.version_minor, " image"));
    }
    seen[s.type] = true;
    SPK_RETURN_IF_ERROR(DecodeSection(static_cast<SectionType>(s.type),
                                      bytes.subspan(s.offset, s.size), layout.version_minor,
                                      image));
  }
  for (SectionType type : kSectionOrder) {
    if (!seen[static_cast<uint32_t>(type)]) {
      return InvalidArgumentError(
          Cat("board image: missing ", SectionLabel(static_cast<uint32_t>(type))));
    }
  }
  Status valid = ValidateBoardImage(image);
  if (!valid.ok()) return valid.WithContext("board image");
  return image;
}

namespace {

Status WriteFileAtomically(std::span<const uint8_t> bytes, const std::string& path) {
  std::string tmp = Cat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create " + tmp);
  Status status = WriteAll(fd, bytes, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus(errno, "fsync " + tmp);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close " + tmp);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename " + tmp + " to " + path);
  }
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

// An image file opened for reading, with its size: a regular file within
// the limit.
struct ImageFile {
  int fd = -1;
  size_t size = 0;
};
StatusOr<ImageFile> OpenImageFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open board image " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = ErrnoStatus(errno, "stat " + path);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(path + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxImageFileBytes) {
    ::close(fd);
    return InvalidArgumentError(Cat(path, " is ", st.st_size, " bytes, over the ",
                                    kMaxImageFileBytes, "-byte limit for board image files"));
  }
  return ImageFile{fd, static_cast<size_t>(st.st_size)};
}

StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path) {
  SPK_ASSIGN_OR_RETURN(const ImageFile file, OpenImageFile(path));
  const int fd = file.fd;
  std::vector<uint8_t> bytes(file.size);
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = ErrnoStatus(errno, "read " + path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;  // shrank while reading: the reader reports truncation
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

// Copies the rest of `in` to `out` in the kernel where it can (no pages
// through user space), else by reads and writes; then syncs, as
// WriteFileAtomically does.
Status CopyInKernel(int in, int out, const std::string& path) {
  constexpr size_t kChunk = size_t{1} << 30;
  bool in_kernel = true;
  std::vector<uint8_t> buffer;
  for (;;) {
    ssize_t n = -1;
    if (in_kernel) {
      n = ::copy_file_range(in, nullptr, out, nullptr, kChunk, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        in_kernel = false;
        buffer.resize(size_t{1} << 20);
        continue;
      }
    } else {
      n = ::read(in, buffer.data(), buffer.size());
      if (n > 0) {
        SPK_RETURN_IF_ERROR(WriteAll(out, {buffer.data(), static_cast<size_t>(n)}, path));
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "copy to " + path);
    if (n == 0) break;
  }
  if (::fsync(out) != 0) return ErrnoStatus(errno, "fsync " + path);
  return Status();
}

// `tmp`, created here, as a whole copy of `in` (the file `from`): a clone,
// a hard link (`may_link`) or a copy.
Status PlaceTemporary(int in, const std::string& from, const std::string& tmp, bool may_link) {
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) return ErrnoStatus(errno, "create " + tmp);
  bool cloned = ::ioctl(out, FICLONE, in) == 0;
  if (!cloned && may_link) {
    ::close(out);
    ::unlink(tmp.c_str());
    if (::link(from.c_str(), tmp.c_str()) == 0) return Status();
    out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) return ErrnoStatus(errno, "create " + tmp);
  }
  Status s = cloned ? Status() : CopyInKernel(in, out, tmp);
  if (::close(out) != 0 && s.ok()) s = ErrnoStatus(errno, "close " + tmp);
  return s;
}

}  // namespace

Status WriteBoardImageFile(const BoardImage& image, const std::string& path) {
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, WriteBoardImage(image));
  return WriteFileAtomically(bytes, path);
}

StatusOr<BoardImage> ReadBoardImageFile(const std::string& path) {
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path));
  StatusOr<BoardImage> image = ReadBoardImage(bytes);
  if (!image.ok()) return image.status().WithContext(path);
  return image;
}

Status CheckBoardImageFile(const std::string& path) {
  SPK_ASSIGN_OR_RETURN(const ImageFile file, OpenImageFile(path));
  if (file.size == 0) {
    ::close(file.fd);
    return InspectBoardImage({}).status().WithContext(path);
  }
  const size_t size = file.size;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file.fd, 0);
  ::close(file.fd);
  if (map == MAP_FAILED) return ErrnoStatus(errno, "map " + path);
  // A file truncated under the mapping would fault (SIGBUS). The cache's
  // entries are only ever replaced by rename; only a tool other than ours
  // could rewrite one in place, through an output hard-linked to it.
  Status checked =
      InspectBoardImage({static_cast<const uint8_t*>(map), size}).status().WithContext(path);
  ::munmap(map, size);
  return checked;
}

Status PlaceBoardImageFile(const std::string& from, const std::string& to, bool may_link) {
  static std::atomic<uint64_t> placements{0};  // threads of one process never share a name
  const std::string tmp = Cat(to, ".tmp.", ::getpid(), ".", placements.fetch_add(1));
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoStatus(errno, "open board image " + from);
  Status placed = PlaceTemporary(in, from, tmp, may_link);
  ::close(in);
  if (placed.ok() && ::rename(tmp.c_str(), to.c_str()) != 0) {
    placed = ErrnoStatus(errno, "rename " + tmp + " to " + to);
  }
  // After a failure; or after a rename onto another name of the same file,
  // which succeeds and leaves both names.
  ::unlink(tmp.c_str());
  return placed;
}

}  // namespace spk::hal::format

#include "tests/support/probes.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace spk::testing {

uint64_t ProbeLayer::per_sample() const {
  uint64_t n = 1;
  for (uint32_t d : dims) n *= d;
  return n;
}

StatusOr<Probes> ReadProbes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError("cannot read " + path);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  auto u32 = [&](uint32_t* out) {
    if (b.size() - at < 4) return false;
    std::memcpy(out, b.data() + at, 4);
    at += 4;
    return true;
  };
  auto truncated = [&] {
    return InvalidArgumentError(path + ": truncated at byte " + std::to_string(at));
  };
  if (b.size() < 20 || b.compare(0, 8, "SPKPROBE") != 0) {
    return InvalidArgumentError(path + " is not a SPKPROBE file");
  }
  at = 8;
  uint32_t version = 0, count = 0;
  Probes p;
  if (!u32(&version) || !u32(&p.samples) || !u32(&count)) return truncated();
  if (version != 1) return InvalidArgumentError(path + ": version " + std::to_string(version));
  for (uint32_t l = 0; l < count; ++l) {
    ProbeLayer layer;
    uint32_t name_size = 0, ndim = 0;
    if (!u32(&name_size) || b.size() - at < name_size) return truncated();
    layer.name = b.substr(at, name_size);
    at += name_size;
    if (!u32(&ndim) || ndim > 8) return truncated();
    layer.dims.resize(ndim);
    for (uint32_t& d : layer.dims) {
      if (!u32(&d)) return truncated();
    }
    const uint64_t n = layer.per_sample() * p.samples;
    if (b.size() - at < n) return truncated();
    layer.spikes.assign(b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    p.layers.push_back(std::move(layer));
  }
  if (at != b.size()) {
    return InvalidArgumentError(path + ": " + std::to_string(b.size() - at) + " trailing bytes");
  }
  return p;
}

}  // namespace spk::testing

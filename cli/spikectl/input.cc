#include "cli/spikectl/input.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace spk::spikectl {
namespace {

using protocol::DType;
using protocol::Tensor;

std::string Where(std::string_view name) { return std::string(name) + ": "; }

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Checked product of dims.
StatusOr<uint64_t> ElementCount(const std::vector<uint32_t>& shape, std::string_view name) {
  uint64_t n = 1;
  for (uint32_t d : shape) {
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / d) {
      return InvalidArgumentError(Where(name) + "shape is too large");
    }
    n *= d;
  }
  return n;
}

template <typename T>
Tensor FromVector(std::vector<uint32_t> shape, const std::vector<T>& values) {
  return Tensor::FromValues<T>(std::move(shape), std::span<const T>(values));
}

// Finds `key` in an npy header dict (a Python literal) and returns the text
// of its value up to the next top-level comma or closing brace.
std::optional<std::string> DictValue(const std::string& header, const std::string& key) {
  for (const char quote : {'\'', '"'}) {
    const std::string needle = std::string(1, quote) + key + std::string(1, quote);
    size_t at = header.find(needle);
    if (at == std::string::npos) continue;
    at = header.find(':', at + needle.size());
    if (at == std::string::npos) return std::nullopt;
    ++at;
    int depth = 0;
    size_t end = at;
    for (; end < header.size(); ++end) {
      const char c = header[end];
      if (c == '(' || c == '[') ++depth;
      if (c == ')' || c == ']') --depth;
      if (depth == 0 && (c == ',' || c == '}')) break;
      if (depth < 0) break;
    }
    std::string value = header.substr(at, end - at);
    const size_t first = value.find_first_not_of(" \t");
    const size_t last = value.find_last_not_of(" \t");
    if (first == std::string::npos) return std::string();
    return value.substr(first, last - first + 1);
  }
  return std::nullopt;
}

}  // namespace

StatusOr<InputFormat> ParseInputFormat(std::string_view name) {
  if (name == "auto") return InputFormat::kAuto;
  if (name == "npy") return InputFormat::kNpy;
  if (name == "json") return InputFormat::kJson;
  if (name == "raw") return InputFormat::kRaw;
  return InvalidArgumentError("input format must be npy, json, raw or auto, got '" +
                              std::string(name) + "'");
}

StatusOr<std::vector<uint32_t>> ParseShape(std::string_view text) {
  std::vector<uint32_t> dims;
  std::string token;
  auto flush = [&]() -> Status {
    if (token.empty()) return Status::Ok();
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(token.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v > std::numeric_limits<uint32_t>::max()) {
      return InvalidArgumentError("shape: '" + token + "' is not a dimension");
    }
    dims.push_back(static_cast<uint32_t>(v));
    token.clear();
    return Status::Ok();
  };
  for (const char c : text) {
    if (c == ',' || c == ' ' || c == 'x' || c == '[' || c == ']' || c == '(' || c == ')') {
      SPK_RETURN_IF_ERROR(flush());
    } else {
      token += c;
    }
  }
  SPK_RETURN_IF_ERROR(flush());
  if (dims.size() > protocol::kMaxTensorRank) {
    return InvalidArgumentError("shape: rank " + std::to_string(dims.size()) +
                                " exceeds the maximum of 8");
  }
  return dims;
}

StatusOr<Tensor> ParseNpy(std::span<const uint8_t> bytes, std::string_view name) {
  static constexpr uint8_t kNpyMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kNpyMagic, 6) != 0) {
    return InvalidArgumentError(Where(name) + "not a NumPy .npy file (bad magic)");
  }
  const uint8_t major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = Load<uint16_t>(bytes.data() + 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidArgumentError(Where(name) + "truncated .npy header");
    header_len = Load<uint32_t>(bytes.data() + 8);
    offset = 12;
  } else {
    return InvalidArgumentError(Where(name) + ".npy format version " + std::to_string(major) +
                                " is not supported (1, 2 or 3)");
  }
  if (bytes.size() - offset < header_len) {
    return InvalidArgumentError(Where(name) + "truncated .npy header");
  }
  const std::string header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  const std::span<const uint8_t> data = bytes.subspan(offset + header_len);

  const auto descr = DictValue(header, "descr");
  const auto fortran = DictValue(header, "fortran_order");
  const auto shape_text = DictValue(header, "shape");
  if (!descr || !fortran || !shape_text) {
    return InvalidArgumentError(Where(name) + ".npy header lacks descr, fortran_order or shape");
  }
  if (*fortran != "False") {
    return InvalidArgumentError(Where(name) +
                                "Fortran-order arrays are not supported; save with "
                                "numpy.ascontiguousarray");
  }
  std::string type = *descr;
  if (type.size() < 2) return InvalidArgumentError(Where(name) + "bad descr " + type);
  type = type.substr(1, type.size() - 2);  // strip the quotes
  if (!type.empty() && type[0] == '>' && type != ">u1" && type != ">i1") {
    return InvalidArgumentError(Where(name) + "big-endian data (" + type +
                                ") is not supported; convert with .astype('<f4')");
  }
  if (!type.empty() && (type[0] == '<' || type[0] == '|' || type[0] == '=' || type[0] == '>')) {
    type = type.substr(1);
  }
  SPK_ASSIGN_OR_RETURN(std::vector<uint32_t> shape, ParseShape(*shape_text));
  SPK_ASSIGN_OR_RETURN(uint64_t count, ElementCount(shape, name));

  size_t item = 0;
  if (type == "b1" || type == "u1" || type == "i1") item = 1;
  if (type == "i2") item = 2;
  if (type == "i4" || type == "f4" || type == "u2") item = type == "u2" ? 2 : 4;
  if (type == "i8" || type == "f8") item = 8;
  if (item == 0) {
    return InvalidArgumentError(Where(name) + "dtype '" + type +
                                "' is not supported (bool, u1, i1, i2, u2, i4, i8, f4, f8)");
  }
  if (count > data.size() / item || data.size() != count * item) {
    return InvalidArgumentError(Where(name) + "shape " + *shape_text + " of " + type + " needs " +
                                std::to_string(count * item) + " data bytes, file has " +
                                std::to_string(data.size()));
  }
  const uint8_t* p = data.data();
  if (type == "u1" || type == "b1") {
    std::vector<uint8_t> v(p, p + count);
    if (type == "b1") {
      for (auto& x : v) x = x != 0;
    }
    return FromVector(shape, v);
  }
  if (type == "i1") {
    std::vector<int8_t> v(count);
    std::memcpy(v.data(), p, count);
    return FromVector(shape, v);
  }
  if (type == "i2") {
    std::vector<int16_t> v(count);
    std::memcpy(v.data(), p, count * 2);
    return FromVector(shape, v);
  }
  if (type == "u2" || type == "i4") {
    std::vector<int32_t> v(count);
    for (uint64_t i = 0; i < count; ++i) {
      v[i] = type == "u2" ? Load<uint16_t>(p + 2 * i) : Load<int32_t>(p + 4 * i);
    }
    return FromVector(shape, v);
  }
  if (type == "i8") {
    std::vector<int32_t> v(count);
    for (uint64_t i = 0; i < count; ++i) {
      const int64_t x = Load<int64_t>(p + 8 * i);
      if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max()) {
        return InvalidArgumentError(Where(name) + "element " + std::to_string(i) + " (" +
                                    std::to_string(x) + ") does not fit in i32");
      }
      v[i] = static_cast<int32_t>(x);
    }
    return FromVector(shape, v);
  }
  std::vector<float> v(count);
  for (uint64_t i = 0; i < count; ++i) {
    v[i] = type == "f4" ? Load<float>(p + 4 * i) : static_cast<float>(Load<double>(p + 8 * i));
  }
  return FromVector(shape, v);
}

namespace {

// Flattens a nested array, checking that it is rectangular.
Status Flatten(const nlohmann::json& value, size_t depth, std::vector<uint32_t>& shape,
               std::vector<float>& out, std::string_view name) {
  if (value.is_number() || value.is_boolean()) {
    if (depth != shape.size()) {
      return InvalidArgumentError(Where(name) + "array is ragged (a number at depth " +
                                  std::to_string(depth) + ")");
    }
    out.push_back(value.is_boolean() ? (value.get<bool>() ? 1.0f : 0.0f) : value.get<float>());
    return Status::Ok();
  }
  if (!value.is_array()) {
    return InvalidArgumentError(Where(name) + "expected numbers and arrays, got " +
                                std::string(value.type_name()));
  }
  if (depth == shape.size()) {
    if (!out.empty() || depth >= protocol::kMaxTensorRank) {
      return InvalidArgumentError(Where(name) + "array is ragged or deeper than 8 levels");
    }
    shape.push_back(static_cast<uint32_t>(value.size()));
  } else if (shape[depth] != value.size()) {
    return InvalidArgumentError(
        Where(name) + "array is ragged: length " + std::to_string(value.size()) + " at depth " +
        std::to_string(depth) + ", expected " + std::to_string(shape[depth]));
  }
  for (const auto& item : value) SPK_RETURN_IF_ERROR(Flatten(item, depth + 1, shape, out, name));
  return Status::Ok();
}

}  // namespace

StatusOr<Tensor> ParseJsonTensor(std::string_view text, std::string_view name) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgumentError(Where(name) + "not valid JSON");
  std::optional<std::vector<uint32_t>> declared;
  DType dtype = DType::kF32;
  nlohmann::json data = doc;
  if (doc.is_object()) {
    if (!doc.contains("data")) {
      return InvalidArgumentError(Where(name) +
                                  "a JSON object input needs \"data\" (and "
                                  "optionally \"shape\" and \"dtype\")");
    }
    data = doc["data"];
    if (doc.contains("shape")) {
      if (!doc["shape"].is_array()) return InvalidArgumentError(Where(name) + "bad \"shape\"");
      declared.emplace();
      for (const auto& d : doc["shape"]) {
        if (!d.is_number_unsigned()) return InvalidArgumentError(Where(name) + "bad \"shape\"");
        declared->push_back(d.get<uint32_t>());
      }
    }
    if (doc.contains("dtype")) {
      if (!doc["dtype"].is_string()) return InvalidArgumentError(Where(name) + "bad \"dtype\"");
      SPK_ASSIGN_OR_RETURN(dtype, protocol::DTypeFromName(doc["dtype"].get<std::string>()));
    }
  }
  std::vector<uint32_t> shape;
  std::vector<float> values;
  SPK_RETURN_IF_ERROR(Flatten(data, 0, shape, values, name));
  if (declared) shape = *declared;
  SPK_ASSIGN_OR_RETURN(uint64_t count, ElementCount(shape, name));
  if (count != values.size()) {
    return InvalidArgumentError(Where(name) + "\"shape\" needs " + std::to_string(count) +
                                " values, \"data\" has " + std::to_string(values.size()));
  }
  auto as_int = [&]<typename T>() -> StatusOr<Tensor> {
    std::vector<T> v(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const float x = values[i];
      if (x != std::floor(x) || x < static_cast<float>(std::numeric_limits<T>::min()) ||
          x > static_cast<float>(std::numeric_limits<T>::max())) {
        return InvalidArgumentError(Where(name) + "value " + std::to_string(x) + " is not a " +
                                    std::string(protocol::DTypeName(dtype)));
      }
      v[i] = static_cast<T>(x);
    }
    return FromVector(shape, v);
  };
  switch (dtype) {
    case DType::kU8:
      return as_int.template operator()<uint8_t>();
    case DType::kI8:
      return as_int.template operator()<int8_t>();
    case DType::kI16:
      return as_int.template operator()<int16_t>();
    case DType::kI32:
      return as_int.template operator()<int32_t>();
    case DType::kF32:
      break;
  }
  return FromVector(shape, values);
}

StatusOr<Tensor> ParseRaw(std::span<const uint8_t> bytes, DType dtype,
                          const std::vector<uint32_t>& shape, std::string_view name) {
  SPK_ASSIGN_OR_RETURN(uint64_t count, ElementCount(shape, name));
  const size_t item = protocol::DTypeSize(dtype);
  if (item == 0 || count > bytes.size() / item || bytes.size() != count * item) {
    return InvalidArgumentError(Where(name) + "shape [" +
                                [&] {
                                  std::string s;
                                  for (uint32_t d : shape)
                                    s += (s.empty() ? "" : ", ") + std::to_string(d);
                                  return s;
                                }() +
                                "] of " + std::string(protocol::DTypeName(dtype)) + " needs " +
                                std::to_string(count * item) + " bytes, file has " +
                                std::to_string(bytes.size()));
  }
  Tensor tensor;
  tensor.dtype = dtype;
  tensor.shape = shape;
  tensor.data.assign(bytes.begin(), bytes.end());
  return tensor;
}

StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path) {
  if (path == "-") {
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(std::cin)),
                               std::istreambuf_iterator<char>());
    return bytes;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == EACCES) return PermissionDeniedError(path + ": " + std::strerror(err));
    return NotFoundError(path + ": " + std::strerror(err));
  }
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

StatusOr<Tensor> Reshape(Tensor tensor, std::vector<uint32_t> shape) {
  SPK_ASSIGN_OR_RETURN(uint64_t want, ElementCount(shape, "reshape"));
  if (want != tensor.element_count()) {
    return InvalidArgumentError("cannot reshape " + protocol::DescribeShape(tensor) + " (" +
                                std::to_string(tensor.element_count()) + " elements) to " +
                                std::to_string(want) + " elements");
  }
  tensor.shape = std::move(shape);
  return tensor;
}

StatusOr<Tensor> ReadInput(const InputSpec& spec) {
  InputFormat format = spec.format;
  auto ends_with = [&](std::string_view suffix) {
    return spec.path.size() >= suffix.size() &&
           spec.path.compare(spec.path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (format == InputFormat::kAuto) {
    format = ends_with(".npy")    ? InputFormat::kNpy
             : ends_with(".json") ? InputFormat::kJson
                                  : InputFormat::kRaw;
  }
  SPK_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(spec.path));
  const std::string name = spec.path == "-" ? "stdin" : spec.path;
  Tensor tensor;
  switch (format) {
    case InputFormat::kNpy: {
      SPK_ASSIGN_OR_RETURN(tensor, ParseNpy(bytes, name));
      break;
    }
    case InputFormat::kJson: {
      SPK_ASSIGN_OR_RETURN(
          tensor,
          ParseJsonTensor(
              std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), name));
      break;
    }
    case InputFormat::kRaw:
    case InputFormat::kAuto: {
      if (!spec.dtype || !spec.shape) {
        return InvalidArgumentError(name +
                                    ": raw input needs --dtype and --shape (or use a .npy or "
                                    ".json file)");
      }
      return ParseRaw(bytes, *spec.dtype, *spec.shape, name);
    }
  }
  if (spec.shape) return Reshape(std::move(tensor), *spec.shape);
  return tensor;
}

std::vector<uint8_t> EncodeNpy(const Tensor& tensor) {
  const char* descr = "<f4";
  switch (tensor.dtype) {
    case DType::kU8:
      descr = "|u1";
      break;
    case DType::kI8:
      descr = "|i1";
      break;
    case DType::kI16:
      descr = "<i2";
      break;
    case DType::kI32:
      descr = "<i4";
      break;
    case DType::kF32:
      break;
  }
  std::string shape;
  for (uint32_t d : tensor.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
  if (tensor.shape.size() == 1) shape += ",";  // a Python 1-tuple
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad so that the data starts on a 64-byte boundary, ending with '\n'.
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.push_back(static_cast<uint8_t>(len & 0xff));
  out.push_back(static_cast<uint8_t>(len >> 8));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), tensor.data.begin(), tensor.data.end());
  return out;
}

}  // namespace spk::spikectl

#include "daemon/protocol/json_message.h"

#include <string>

#include "base/check.h"

namespace spk::protocol {
namespace {

// Depth of brackets outside strings; stops counting once over the limit.
// Runs before parsing so no recursive code sees a hostile nesting.
bool NestsTooDeep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the
// tag means nothing to a user.
std::string StripExceptionTag(std::string_view what) {
  if (!what.empty() && what.front() == '[') {
    const size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

}  // namespace

StatusOr<nlohmann::json> ParseJsonObject(std::span<const uint8_t> payload,
                                         std::string_view context) {
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  const std::string prefix = std::string(context) + ": ";
  if (NestsTooDeep(text)) {
    return InvalidArgumentError(prefix + "payload nests deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels");
  }
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(prefix +
                                "payload is not valid JSON: " + StripExceptionTag(e.what()));
  }
  if (!value.is_object()) {
    return InvalidArgumentError(prefix + "payload must be a JSON object, got " +
                                std::string(JsonTypeName(value)));
  }
  return value;
}

std::vector<uint8_t> SerializeJson(const nlohmann::json& value) {
  const std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return std::vector<uint8_t>(text.begin(), text.end());
}

Frame MakeJsonFrame(FrameType type, uint64_t request_id, const nlohmann::json& body,
                    uint16_t flags) {
  SPK_CHECK(IsJsonFrameType(type)) << FrameTypeName(type);
  return MakeFrame(type, request_id, SerializeJson(body), flags);
}

std::string_view JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::binary:
      return "binary";
    case nlohmann::json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

FieldReader::FieldReader(const nlohmann::json& object, std::string context, std::string prefix)
    : object_(object), context_(std::move(context)), prefix_(std::move(prefix)) {
  SPK_CHECK(object_.is_object()) << context_ << ": FieldReader needs an object";
}

std::string FieldReader::Path(std::string_view name) const { return prefix_ + std::string(name); }

bool FieldReader::Has(std::string_view name) const {
  auto it = object_.find(name);
  return it != object_.end() && !it->is_null();
}

void FieldReader::Allow(std::string_view name) { known_.emplace(name); }

const nlohmann::json* FieldReader::Find(std::string_view name) {
  known_.emplace(name);
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

Status FieldReader::TypeError(std::string_view name, std::string_view expected,
                              const nlohmann::json& value) const {
  std::string got(JsonTypeName(value));
  if (value.is_number() || value.is_boolean()) got += " " + value.dump();
  return InvalidArgumentError(context_ + ": field '" + Path(name) + "' must be " +
                              std::string(expected) + ", got " + got);
}

StatusOr<std::string> FieldReader::String(std::string_view name) {
  SPK_ASSIGN_OR_RETURN(auto value, OptionalString(name));
  if (!value) {
    return InvalidArgumentError(context_ + ": missing required field '" + Path(name) + "'");
  }
  return *std::move(value);
}

StatusOr<std::optional<std::string>> FieldReader::OptionalString(std::string_view name) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) return TypeError(name, "a string", *value);
  return std::optional<std::string>(value->get<std::string>());
}

StatusOr<uint64_t> FieldReader::Uint(std::string_view name, uint64_t min, uint64_t max) {
  SPK_ASSIGN_OR_RETURN(auto value, OptionalUint(name, min, max));
  if (!value) {
    return InvalidArgumentError(context_ + ": missing required field '" + Path(name) + "'");
  }
  return *value;
}

StatusOr<std::optional<uint64_t>> FieldReader::OptionalUint(std::string_view name, uint64_t min,
                                                            uint64_t max) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::optional<uint64_t>();
  const std::string expected = "an integer in " + std::to_string(min) + ".." + std::to_string(max);
  // number_integer is signed; a negative one is out of range, not a type error.
  if (value->is_number_unsigned()) {
    const uint64_t v = value->get<uint64_t>();
    if (v < min || v > max) return TypeError(name, expected, *value);
    return std::optional<uint64_t>(v);
  }
  if (value->is_number_integer()) {
    const int64_t v = value->get<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      return TypeError(name, expected, *value);
    }
    return std::optional<uint64_t>(static_cast<uint64_t>(v));
  }
  return TypeError(name, expected, *value);
}

StatusOr<std::optional<double>> FieldReader::OptionalNumber(std::string_view name) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::optional<double>();
  if (!value->is_number()) return TypeError(name, "a number", *value);
  return std::optional<double>(value->get<double>());
}

StatusOr<std::optional<bool>> FieldReader::OptionalBool(std::string_view name) {
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::optional<bool>();
  if (!value->is_boolean()) return TypeError(name, "true or false", *value);
  return std::optional<bool>(value->get<bool>());
}

StatusOr<std::string> FieldReader::Choice(std::string_view name,
                                          std::initializer_list<std::string_view> choices,
                                          std::string_view fallback) {
  std::string list;
  for (std::string_view choice : choices) {
    if (!list.empty()) list += ", ";
    list += "'" + std::string(choice) + "'";
  }
  const nlohmann::json* value = Find(name);
  if (value == nullptr) return std::string(fallback);
  if (!value->is_string()) return TypeError(name, "one of " + list, *value);
  const std::string text = value->get<std::string>();
  for (std::string_view choice : choices) {
    if (choice == text) return text;
  }
  return InvalidArgumentError(context_ + ": field '" + Path(name) + "' must be one of " + list +
                              ", got '" + text + "'");
}

StatusOr<const nlohmann::json*> FieldReader::Object(std::string_view name) {
  SPK_ASSIGN_OR_RETURN(const nlohmann::json* value, OptionalObject(name));
  if (value == nullptr) {
    return InvalidArgumentError(context_ + ": missing required field '" + Path(name) + "'");
  }
  return value;
}

StatusOr<const nlohmann::json*> FieldReader::OptionalObject(std::string_view name) {
  const nlohmann::json* value = Find(name);
  if (value != nullptr && !value->is_object()) return TypeError(name, "an object", *value);
  return value;
}

StatusOr<const nlohmann::json*> FieldReader::OptionalArray(std::string_view name) {
  const nlohmann::json* value = Find(name);
  if (value != nullptr && !value->is_array()) return TypeError(name, "an array", *value);
  return value;
}

Status FieldReader::CheckNoUnknownFields() const {
  std::string unknown;
  int count = 0;
  for (const auto& [key, value] : object_.items()) {
    if (known_.count(key)) continue;
    if (count++) unknown += ", ";
    unknown += "'" + Path(key) + "'";
  }
  if (count == 0) return Status::Ok();
  return InvalidArgumentError(context_ + ": unknown field" + (count > 1 ? "s " : " ") + unknown);
}

nlohmann::json ErrorBody(const Status& status, const nlohmann::json& details) {
  SPK_CHECK(!status.ok()) << "an ERROR frame needs a failed status";
  nlohmann::json body = {{"code", StatusCodeName(status.code())},
                         {"message", std::string(status.message())}};
  if (!details.is_null()) body["details"] = details;
  return body;
}

Frame MakeErrorFrame(uint64_t request_id, const Status& status, const nlohmann::json& details) {
  return MakeJsonFrame(FrameType::kError, request_id, ErrorBody(status, details));
}

StatusOr<RemoteError> ParseErrorPayload(std::span<const uint8_t> payload) {
  SPK_ASSIGN_OR_RETURN(nlohmann::json body, ParseJsonObject(payload, "error"));
  FieldReader reader(body, "error");
  SPK_ASSIGN_OR_RETURN(std::string code_name, reader.String("code"));
  SPK_ASSIGN_OR_RETURN(auto message, reader.OptionalString("message"));
  SPK_ASSIGN_OR_RETURN(const nlohmann::json* details, reader.OptionalObject("details"));
  // Unknown fields are tolerated: a newer peer may add some.
  RemoteError error;
  std::string text = message.value_or("");
  auto code = StatusCodeFromName(code_name);
  if (!code || *code == StatusCode::kOk) {
    text = code_name + (text.empty() ? "" : ": " + text);
    code = StatusCode::kUnknown;
  }
  error.status = Status(*code, text);
  if (details != nullptr) error.details = *details;
  return error;
}

Status StatusFromErrorFrame(const Frame& frame) {
  auto error = ParseErrorPayload(frame.payload);
  if (!error.ok()) {
    return DataLossError("malformed ERROR frame for request " +
                         std::to_string(frame.header.request_id) + ": " +
                         std::string(error.status().message()));
  }
  return error->status;
}

}  // namespace spk::protocol

// JSON payloads: parsing untrusted text, reading fields with errors that
// name them, and the ERROR frame that carries a Status across the socket.
//
// Nothing here lets an exception escape: nlohmann's exceptions are caught
// inside and become INVALID_ARGUMENT.
//
// Thread safety: functions are pure; a FieldReader is used by one thread.
#ifndef SPK_DAEMON_PROTOCOL_JSON_MESSAGE_H_
#define SPK_DAEMON_PROTOCOL_JSON_MESSAGE_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "daemon/protocol/frame.h"

namespace spk::protocol {

// Deeper documents are refused before they reach recursive code.
inline constexpr int kMaxJsonDepth = 64;

// Parses a JSON frame's payload, which must be a UTF-8 JSON object.
// INVALID_ARGUMENT "<context>: payload is not valid JSON: ..." (with the
// line and column), "...nests deeper than 64 levels" or "...must be a JSON
// object, got array".
StatusOr<nlohmann::json> ParseJsonObject(std::span<const uint8_t> payload,
                                         std::string_view context);

// Compact UTF-8 text; invalid UTF-8 in strings is replaced, never thrown.
std::vector<uint8_t> SerializeJson(const nlohmann::json& value);

// A frame of a JSON type (REQUEST, RESPONSE, HELLO, ...) with `body`.
Frame MakeJsonFrame(FrameType type, uint64_t request_id, const nlohmann::json& body,
                    uint16_t flags = 0);

// Reads the fields of one JSON object, naming each in its errors:
//   "infer: missing required field 'deployment'"
//   "infer: field 'deployment' must be a string, got number"
//   "deploy: field 'partition.cores' must be an integer in 0..65536, got -1"
// A field set to null counts as absent. Remembers what was read so that
// CheckNoUnknownFields can refuse the rest (catches client typos).
class FieldReader {
 public:
  // `object` must be a JSON object (checked) and outlive the reader.
  // `context` starts each message ("infer"); `prefix` is prepended to field
  // names of nested objects ("partition.").
  FieldReader(const nlohmann::json& object, std::string context, std::string prefix = "");

  bool Has(std::string_view name) const;
  // Marks a field as known without reading it ("op" in a request body).
  void Allow(std::string_view name);

  StatusOr<std::string> String(std::string_view name);
  StatusOr<std::optional<std::string>> OptionalString(std::string_view name);
  StatusOr<uint64_t> Uint(std::string_view name, uint64_t min, uint64_t max);
  StatusOr<std::optional<uint64_t>> OptionalUint(std::string_view name, uint64_t min, uint64_t max);
  StatusOr<std::optional<double>> OptionalNumber(std::string_view name);
  StatusOr<std::optional<bool>> OptionalBool(std::string_view name);
  // A string that must be one of `choices`; `fallback` when absent.
  StatusOr<std::string> Choice(std::string_view name,
                               std::initializer_list<std::string_view> choices,
                               std::string_view fallback);
  // Nested object or array; nullptr when absent for the Optional forms.
  StatusOr<const nlohmann::json*> Object(std::string_view name);
  StatusOr<const nlohmann::json*> OptionalObject(std::string_view name);
  StatusOr<const nlohmann::json*> OptionalArray(std::string_view name);

  // INVALID_ARGUMENT naming every field that was neither read nor allowed.
  Status CheckNoUnknownFields() const;

  // "<prefix><name>", as used in messages and for nested readers.
  std::string Path(std::string_view name) const;
  const std::string& context() const { return context_; }

 private:
  const nlohmann::json* Find(std::string_view name);
  Status TypeError(std::string_view name, std::string_view expected,
                   const nlohmann::json& value) const;

  const nlohmann::json& object_;  // not owned
  std::string context_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

// Name of a JSON value's type for messages: "string", "number", "object"...
std::string_view JsonTypeName(const nlohmann::json& value);

// An error as it travels: {"code": "NOT_FOUND", "message": "...",
// "details": {...}}; details are optional and op-specific.
struct RemoteError {
  Status status;
  nlohmann::json details;  // null when absent
};

// The ERROR frame for a non-OK `status` (checked).
Frame MakeErrorFrame(uint64_t request_id, const Status& status,
                     const nlohmann::json& details = nullptr);
nlohmann::json ErrorBody(const Status& status, const nlohmann::json& details = nullptr);

// Parses an ERROR payload. A code name this side does not know (from a newer
// peer) becomes UNKNOWN with the name kept in the message. A malformed
// payload is INVALID_ARGUMENT.
StatusOr<RemoteError> ParseErrorPayload(std::span<const uint8_t> payload);

// The status an ERROR frame carries; if its payload is malformed, a
// DATA_LOSS status describing that instead (never OK).
Status StatusFromErrorFrame(const Frame& frame);

}  // namespace spk::protocol

#endif  // SPK_DAEMON_PROTOCOL_JSON_MESSAGE_H_

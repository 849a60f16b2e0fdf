#include "daemon/protocol/handshake.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "daemon/protocol/json_message.h"

namespace spk::protocol {
namespace {

bool ParseNumber(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 9) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

StatusOr<ProtocolVersion> ReadVersion(FieldReader& reader, std::string_view name) {
  SPK_ASSIGN_OR_RETURN(std::string text, reader.String(name));
  auto version = ProtocolVersion::Parse(text);
  if (!version.ok()) {
    return InvalidArgumentError(reader.context() + ": field '" + reader.Path(name) +
                                "' must be a version like \"1.0\", got '" + text + "'");
  }
  return version;
}

StatusOr<uint32_t> ReadU32(FieldReader& reader, std::string_view name, uint32_t min = 0) {
  SPK_ASSIGN_OR_RETURN(uint64_t value,
                       reader.Uint(name, min, std::numeric_limits<uint32_t>::max()));
  return static_cast<uint32_t>(value);
}

}  // namespace

StatusOr<ProtocolVersion> ProtocolVersion::Parse(std::string_view text) {
  const size_t dot = text.find('.');
  ProtocolVersion version;
  if (dot == std::string_view::npos || !ParseNumber(text.substr(0, dot), &version.major) ||
      !ParseNumber(text.substr(dot + 1), &version.minor)) {
    return InvalidArgumentError("protocol version must be MAJOR.MINOR, got '" + std::string(text) +
                                "'");
  }
  return version;
}

std::string ProtocolVersion::ToString() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

StatusOr<ProtocolVersion> NegotiateVersion(const VersionRange& client, const VersionRange& server) {
  const ProtocolVersion low = std::max(client.min, server.min);
  const ProtocolVersion high = std::min(client.max, server.max);
  if (client.min > client.max || server.min > server.max || low > high) {
    const bool client_newer = client.min > server.max;
    return FailedPreconditionError("protocol: client speaks " + client.min.ToString() + ".." +
                                   client.max.ToString() + ", spiked speaks " +
                                   server.min.ToString() + ".." + server.max.ToString() + "; " +
                                   (client_newer ? "upgrade spiked or use an older client"
                                                 : "upgrade the client or use an older spiked"));
  }
  return high;
}

nlohmann::json ToJson(const ClientHello& hello) {
  return {{"client", hello.client},
          {"min_version", hello.versions.min.ToString()},
          {"max_version", hello.versions.max.ToString()}};
}

nlohmann::json ToJson(const ServerHello& hello) {
  return {{"version", hello.version.ToString()},
          {"server", hello.server},
          {"limits",
           {{"max_frame_bytes", hello.limits.max_frame_bytes},
            {"max_message_bytes", hello.limits.max_message_bytes},
            {"max_requests_in_flight", hello.limits.max_requests_in_flight},
            {"session_idle_timeout_ms", hello.limits.session_idle_timeout_ms}}},
          {"peer",
           {{"uid", hello.peer.uid},
            {"gid", hello.peer.gid},
            {"pid", hello.peer.pid},
            {"authorised", hello.peer.authorised}}}};
}

StatusOr<ClientHello> ParseClientHello(std::span<const uint8_t> payload) {
  SPK_ASSIGN_OR_RETURN(nlohmann::json body, ParseJsonObject(payload, "hello"));
  FieldReader reader(body, "hello");
  ClientHello hello;
  SPK_ASSIGN_OR_RETURN(auto client, reader.OptionalString("client"));
  hello.client = client.value_or("");
  SPK_ASSIGN_OR_RETURN(hello.versions.min, ReadVersion(reader, "min_version"));
  SPK_ASSIGN_OR_RETURN(hello.versions.max, ReadVersion(reader, "max_version"));
  if (hello.versions.min > hello.versions.max) {
    return InvalidArgumentError("hello: min_version " + hello.versions.min.ToString() +
                                " is above max_version " + hello.versions.max.ToString());
  }
  // A newer client may send fields this server does not know; they are
  // ignored so that the version check, not a field check, decides.
  return hello;
}

StatusOr<ServerHello> ParseServerHello(std::span<const uint8_t> payload) {
  SPK_ASSIGN_OR_RETURN(nlohmann::json body, ParseJsonObject(payload, "hello_reply"));
  FieldReader reader(body, "hello_reply");
  ServerHello hello;
  SPK_ASSIGN_OR_RETURN(hello.version, ReadVersion(reader, "version"));
  SPK_ASSIGN_OR_RETURN(auto server, reader.OptionalString("server"));
  hello.server = server.value_or("");

  SPK_ASSIGN_OR_RETURN(const nlohmann::json* limits, reader.Object("limits"));
  FieldReader limits_reader(*limits, "hello_reply", "limits.");
  SPK_ASSIGN_OR_RETURN(hello.limits.max_frame_bytes,
                       ReadU32(limits_reader, "max_frame_bytes", kMinFrameLimit));
  SPK_ASSIGN_OR_RETURN(
      hello.limits.max_message_bytes,
      limits_reader.Uint("max_message_bytes", 1, std::numeric_limits<uint64_t>::max()));
  SPK_ASSIGN_OR_RETURN(hello.limits.max_requests_in_flight,
                       ReadU32(limits_reader, "max_requests_in_flight", 1));
  SPK_ASSIGN_OR_RETURN(
      hello.limits.session_idle_timeout_ms,
      limits_reader.Uint("session_idle_timeout_ms", 0, std::numeric_limits<uint64_t>::max()));

  SPK_ASSIGN_OR_RETURN(const nlohmann::json* peer, reader.OptionalObject("peer"));
  if (peer != nullptr) {
    FieldReader peer_reader(*peer, "hello_reply", "peer.");
    SPK_ASSIGN_OR_RETURN(hello.peer.uid, ReadU32(peer_reader, "uid"));
    SPK_ASSIGN_OR_RETURN(hello.peer.gid, ReadU32(peer_reader, "gid"));
    SPK_ASSIGN_OR_RETURN(uint64_t pid,
                         peer_reader.Uint("pid", 0, std::numeric_limits<int32_t>::max()));
    hello.peer.pid = static_cast<int32_t>(pid);
    SPK_ASSIGN_OR_RETURN(auto authorised, peer_reader.OptionalBool("authorised"));
    hello.peer.authorised = authorised.value_or(false);
  }
  return hello;
}

Frame MakeHelloFrame(const ClientHello& hello) {
  return MakeJsonFrame(FrameType::kHello, 0, ToJson(hello));
}

Frame MakeHelloReplyFrame(const ServerHello& hello) {
  return MakeJsonFrame(FrameType::kHelloReply, 0, ToJson(hello));
}

}  // namespace spk::protocol

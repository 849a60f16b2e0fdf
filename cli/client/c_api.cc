#include "cli/client/c_api.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "cli/client/client.h"

struct spk_client {
  std::unique_ptr<spk::client::Client> client;
  std::string error;
};

namespace {

int Report(spk_client* c, const spk::Status& status) {
  c->error = status.ok() ? "" : std::string(status.message());
  return static_cast<int>(status.code());
}

char* Copy(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out != nullptr) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

int NotConnected(spk_client* c) {
  return Report(c,
                spk::FailedPreconditionError("spk_client: not connected; call spk_client_connect"));
}

int Finish(spk_client* c, const spk::StatusOr<nlohmann::json>& result, char** response_json) {
  if (!result.ok()) return Report(c, result.status());
  if (response_json != nullptr) *response_json = Copy(result->dump());
  return Report(c, spk::Status::Ok());
}

}  // namespace

extern "C" {

spk_client* spk_client_create(void) { return new (std::nothrow) spk_client(); }

void spk_client_destroy(spk_client* client) { delete client; }

int spk_client_connect(spk_client* client, const char* socket_path) {
  if (client == nullptr) return SPK_INVALID_ARGUMENT;
  spk::client::ConnectOptions options;
  options.socket = socket_path != nullptr ? socket_path : "";
  options.client_name = "spk-c-api 0.1.0";
  auto connected = spk::client::Client::Connect(options);
  if (!connected.ok()) return Report(client, connected.status());
  client->client = std::move(connected).value();
  return Report(client, spk::Status::Ok());
}

const char* spk_client_error_message(const spk_client* client) {
  return client == nullptr ? "spk_client: null handle" : client->error.c_str();
}

const char* spk_status_name(int code) {
  if (code < 0 || code > SPK_DATA_LOSS) return "UNKNOWN";
  // Names are string literals inside StatusCodeName: they outlive the call.
  return spk::StatusCodeName(static_cast<spk::StatusCode>(code)).data();
}

int spk_client_call(spk_client* client, const char* request_json, char** response_json) {
  if (client == nullptr || request_json == nullptr) return SPK_INVALID_ARGUMENT;
  if (!client->client) return NotConnected(client);
  nlohmann::json request = nlohmann::json::parse(request_json, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    return Report(client,
                  spk::InvalidArgumentError("spk_client_call: request is not a JSON object"));
  }
  auto reply = client->client->Call(request);
  if (!reply.ok()) return Report(client, reply.status());
  return Finish(client, reply->body, response_json);
}

int spk_client_deploy(spk_client* client, const char* name, const char* model_path, int replace,
                      char** response_json) {
  if (client == nullptr || model_path == nullptr) return SPK_INVALID_ARGUMENT;
  if (!client->client) return NotConnected(client);
  spk::protocol::DeployRequest request;
  request.name = name != nullptr ? name : "";
  request.model.path = model_path;
  request.replace = replace != 0;
  return Finish(client, client->client->Deploy(request), response_json);
}

int spk_client_undeploy(spk_client* client, const char* deployment, int force,
                        char** response_json) {
  if (client == nullptr || deployment == nullptr) return SPK_INVALID_ARGUMENT;
  if (!client->client) return NotConnected(client);
  return Finish(client, client->client->Undeploy(deployment, force != 0), response_json);
}

int spk_client_infer_f32(spk_client* client, const char* deployment, const float* data,
                         const uint32_t* shape, size_t rank, float* scores, size_t scores_capacity,
                         size_t* scores_len, char** response_json) {
  if (client == nullptr || deployment == nullptr || (rank > 0 && shape == nullptr) || rank > 8) {
    return SPK_INVALID_ARGUMENT;
  }
  if (!client->client) return NotConnected(client);
  std::vector<uint32_t> dims(shape, shape + rank);
  size_t count = 1;
  for (uint32_t d : dims) count *= d;
  if (count > 0 && data == nullptr) return SPK_INVALID_ARGUMENT;
  spk::protocol::InferRequest request;
  request.deployment = deployment;
  const spk::client::InferInput input{
      "", spk::protocol::Tensor::FromValues<float>(dims, std::span<const float>(data, count))};
  auto result = client->client->Infer(request, std::span<const spk::client::InferInput>(&input, 1));
  if (!result.ok()) return Report(client, result.status());
  std::vector<float> values;
  if (const auto* first = result->FirstTensor()) values = first->ToFloat();
  if (scores_len != nullptr) *scores_len = values.size();
  if (scores != nullptr) {
    std::memcpy(scores, values.data(), std::min(values.size(), scores_capacity) * sizeof(float));
  }
  return Finish(client, result->body, response_json);
}

void spk_string_free(char* text) { std::free(text); }

}  // extern "C"

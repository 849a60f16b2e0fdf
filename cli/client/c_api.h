/* The C API of the spiked client library, for other languages (ctypes,
 * cgo, JNI, Rust FFI). It wraps spk::client: one opaque handle per
 * connection, int status codes (the values of base/status.h: 0 ok, 3
 * INVALID_ARGUMENT, 5 NOT_FOUND, 14 UNAVAILABLE, ...), and the message of
 * the last failure on that handle.
 *
 * Strings returned through `char**` are allocated by the library and freed
 * with spk_string_free. JSON in and out follows docs/protocol.md.
 *
 * Thread safety: a handle is used by one thread at a time; distinct handles
 * are independent. */
#ifndef SPK_CLI_CLIENT_C_API_H_
#define SPK_CLI_CLIENT_C_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  SPK_OK = 0,
  SPK_CANCELLED = 1,
  SPK_UNKNOWN = 2,
  SPK_INVALID_ARGUMENT = 3,
  SPK_DEADLINE_EXCEEDED = 4,
  SPK_NOT_FOUND = 5,
  SPK_ALREADY_EXISTS = 6,
  SPK_PERMISSION_DENIED = 7,
  SPK_RESOURCE_EXHAUSTED = 8,
  SPK_FAILED_PRECONDITION = 9,
  SPK_ABORTED = 10,
  SPK_OUT_OF_RANGE = 11,
  SPK_UNIMPLEMENTED = 12,
  SPK_INTERNAL = 13,
  SPK_UNAVAILABLE = 14,
  SPK_DATA_LOSS = 15
};

typedef struct spk_client spk_client;

/* A handle, not yet connected; NULL only when out of memory. */
spk_client* spk_client_create(void);
/* Closes the connection (if any) and frees the handle. NULL is ignored. */
void spk_client_destroy(spk_client* client);

/* Connects and performs the handshake. `socket_path` NULL or "": the
 * default search (docs/protocol.md, "Finding the socket"). */
int spk_client_connect(spk_client* client, const char* socket_path);

/* The message of the last failed call on `client` ("" after a success);
 * valid until the next call on it. */
const char* spk_client_error_message(const spk_client* client);
/* "NOT_FOUND" and so on; "UNKNOWN" for values outside the list. */
const char* spk_status_name(int code);

/* Any request without attachments: `request_json` is the body with "op".
 * On success *response_json holds the response (free it). */
int spk_client_call(spk_client* client, const char* request_json, char** response_json);

/* deploy with the model given by path (absolute, readable by the caller).
 * `name` NULL or "": from the file name. */
int spk_client_deploy(spk_client* client, const char* name, const char* model_path, int replace,
                      char** response_json);
int spk_client_undeploy(spk_client* client, const char* deployment, int force,
                        char** response_json);

/* One inference on an f32 input of `shape` (rank <= 8) for the
 * deployment's only input port. The first output tensor's values (in the
 * deployment's port order) are
 * copied to `scores` (up to `scores_capacity`); *scores_len gets their
 * count (which may exceed the capacity: call again with more room).
 * `response_json` may be NULL; else it gets the response (latency,
 * energy). */
int spk_client_infer_f32(spk_client* client, const char* deployment, const float* data,
                         const uint32_t* shape, size_t rank, float* scores, size_t scores_capacity,
                         size_t* scores_len, char** response_json);

void spk_string_free(char* text);

#ifdef __cplusplus
}
#endif

#endif /* SPK_CLI_CLIENT_C_API_H_ */

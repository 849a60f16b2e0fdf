/* Exercises the C API from C (this file is compiled as C, so the header is
 * checked to be valid C): connect, version, deploy, infer, errors, undeploy.
 * Run by tests/cli with a daemon already up:
 *   spk_c_api_check SOCKET MODEL INPUT EXPECTED
 * INPUT is a digits file (the first digit, shaped 1x1xRxC) or
 * "values:V,V,..." (a vector of that length); EXPECTED is the prediction,
 * or "-" to check none. The scores are printed ("scores: V V ...") so the
 * caller can compare them with another client's.
 * Exit 0 when every check passes; the first failure is printed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client/c_api.h"

#define CHECK(cond, what)                                  \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "c_api check failed: %s\n", (what)); \
      return 1;                                            \
    }                                                      \
  } while (0)

static int read_first_digit(const char* path, float* pixels, uint32_t* rows, uint32_t* cols) {
  FILE* f = fopen(path, "rb");
  unsigned char header[24];
  if (f == NULL) return 0;
  if (fread(header, 1, 24, f) != 24 || memcmp(header, "SPKDIGIT", 8) != 0) {
    fclose(f);
    return 0;
  }
  memcpy(rows, header + 16, 4);
  memcpy(cols, header + 20, 4);
  if (*rows * *cols > 64 || fread(pixels, sizeof(float), *rows * *cols, f) != *rows * *cols) {
    fclose(f);
    return 0;
  }
  fclose(f);
  return 1;
}

/* "values:1,0.5" -> {1, 0.5}; 0 when malformed or longer than `capacity`. */
static int parse_values(const char* text, float* values, uint32_t capacity, uint32_t* count) {
  char* end;
  *count = 0;
  if (strncmp(text, "values:", 7) != 0) return 0;
  text += 7;
  while (*text != '\0') {
    if (*count == capacity) return 0;
    values[(*count)++] = strtof(text, &end);
    if (end == text || (*end != ',' && *end != '\0')) return 0;
    text = *end == ',' ? end + 1 : end;
  }
  return *count > 0;
}

int main(int argc, char** argv) {
  spk_client* client;
  char* response = NULL;
  float pixels[64];
  float scores[16];
  size_t n = 0, best = 0, k;
  uint32_t rows = 0, cols = 0, count = 0, shape[4];
  size_t rank;
  int rc;
  if (argc != 5) {
    fprintf(stderr, "usage: %s SOCKET MODEL DIGITS EXPECTED\n", argv[0]);
    return 2;
  }
  client = spk_client_create();
  CHECK(client != NULL, "create");
  CHECK(spk_client_call(client, "{\"op\":\"version\"}", &response) == SPK_FAILED_PRECONDITION,
        "a call before connect is FAILED_PRECONDITION");
  CHECK(spk_client_connect(client, "/nonexistent/spiked.sock") == SPK_UNAVAILABLE,
        "connect to a missing socket is UNAVAILABLE");
  CHECK(strstr(spk_client_error_message(client), "/nonexistent/spiked.sock") != NULL,
        "the message names the socket");
  CHECK(spk_client_connect(client, argv[1]) == SPK_OK, spk_client_error_message(client));

  CHECK(spk_client_call(client, "{\"op\":\"version\"}", &response) == SPK_OK,
        spk_client_error_message(client));
  CHECK(strstr(response, "\"protocol\":\"1.0\"") != NULL, "version names protocol 1.0");
  spk_string_free(response);

  rc = spk_client_deploy(client, "capi", argv[2], 1, &response);
  CHECK(rc == SPK_OK, spk_client_error_message(client));
  CHECK(strstr(response, "\"deployment\":\"capi\"") != NULL, "deploy names the deployment");
  spk_string_free(response);

  if (strncmp(argv[3], "values:", 7) == 0) {
    CHECK(parse_values(argv[3], pixels, 64, &count), "INPUT values:V,V,... of at most 64");
    shape[0] = count;
    rank = 1;
  } else {
    CHECK(read_first_digit(argv[3], pixels, &rows, &cols), "read the first digit");
    shape[0] = 1;
    shape[1] = 1;
    shape[2] = rows;
    shape[3] = cols;
    rank = 4;
  }
  rc = spk_client_infer_f32(client, "capi", pixels, shape, rank, scores, 16, &n, NULL);
  CHECK(rc == SPK_OK, spk_client_error_message(client));
  CHECK(n > 0 && n <= 16, "between 1 and 16 scores");
  printf("scores:");
  for (k = 0; k < n; ++k) printf(" %.9g", scores[k]);
  printf("\n");
  for (k = 1; k < n; ++k) {
    if (scores[k] > scores[best]) best = k;
  }
  if (strcmp(argv[4], "-") != 0) {
    CHECK((int)best == atoi(argv[4]), "the prediction matches the expected one");
  }

  rc = spk_client_infer_f32(client, "no-such-deployment", pixels, shape, rank, scores, 16, &n,
                            NULL);
  CHECK(rc == SPK_NOT_FOUND, "an unknown deployment is NOT_FOUND");
  CHECK(strcmp(spk_status_name(rc), "NOT_FOUND") == 0, "status names");
  CHECK(strstr(spk_client_error_message(client), "no-such-deployment") != NULL,
        "the message names the deployment");

  CHECK(spk_client_undeploy(client, "capi", 0, &response) == SPK_OK,
        spk_client_error_message(client));
  spk_string_free(response);
  spk_client_destroy(client);
  printf("c_api: all checks passed\n");
  return 0;
}

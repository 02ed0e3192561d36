/* A device application on the installed libcontinuum (C99): runs add_sub in-process, offloads it
 * by policy, and checks that residency fails closed and that a bad configuration is an error.
 *
 *   device_app TOPOLOGY_FILE MODEL_REPOSITORY
 *
 * The topology has a local:// device node "phone" (eu), a remote cloud node "cloud-us" (us) and a
 * node "edge-de" (eu-de) that is down. Prints one line per check; exits 0 when all pass. */
#include <continuum/continuum.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void check(int ok, const char* what, const char* detail) {
  printf("%s: %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? " -- " : "", detail ? detail : "");
  if (!ok) failures++;
}

static const char* kInfer = "/v2/models/add_sub/infer";
static const char* kJson =
    "{\"inputs\":["
    "{\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,16],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},"
    "{\"name\":\"INPUT1\",\"datatype\":\"FP32\",\"shape\":[1,16],\"data\":[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]}]"
    "}";

/* POSTs the JSON request with an optional policy header; NULL on a call error. */
static continuum_response* infer(continuum_handle* h, const char* policy) {
  continuum_header header = {"X-Continuum-Policy", policy};
  continuum_response* r = NULL;
  char* error = NULL;
  continuum_status st = continuum_request(h, "POST", kInfer, policy ? &header : NULL, policy ? 1 : 0, kJson,
                                          strlen(kJson), &r, &error);
  if (st != CONTINUUM_OK) {
    check(0, "continuum_request", error);
    continuum_string_free(error);
    return NULL;
  }
  return r;
}

static int is(const char* a, const char* b) { return a && b && strcmp(a, b) == 0; }

static void bad_config(void) {
  continuum_handle* h = NULL;
  char* error = NULL;
  continuum_status st =
      continuum_open("{\"topology\": {\"schema_version\": 1, \"nodes\": []}, \"colour\": 1}", &h, &error);
  check(st == CONTINUUM_INVALID_ARGUMENT && h == NULL && error && strstr(error, "unknown key 'colour'"),
        "a bad configuration is an error with a message", error);
  continuum_string_free(error);
  error = NULL;
  st = continuum_open("{\"topology\": \"/nonexistent/topology.json\"}", &h, &error);
  check(st != CONTINUUM_OK && h == NULL && error && strstr(error, "/nonexistent/topology.json"),
        "a missing topology file is an error naming it", error);
  continuum_string_free(error);
}

static void binary_extension(continuum_handle* h) {
  /* The JSON header part, then INPUT0 = 5 and INPUT1 = 1 as little-endian FP32 (x86-64). */
  const char* head =
      "{\"inputs\":["
      "{\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,16],\"parameters\":{\"binary_data_size\":64}},"
      "{\"name\":\"INPUT1\",\"datatype\":\"FP32\",\"shape\":[1,16],\"parameters\":{\"binary_data_size\":64}}]"
      ","
      "\"outputs\":[{\"name\":\"OUTPUT0\",\"parameters\":{\"binary_data\":true}}]}";
  size_t n = strlen(head), i;
  char body[2048], length[32];
  float values[32], out[16];
  for (i = 0; i < 16; ++i) values[i] = 5.0f, values[16 + i] = 1.0f;
  memcpy(body, head, n);
  memcpy(body + n, values, sizeof values);
  snprintf(length, sizeof length, "%lu", (unsigned long)n);
  continuum_header header = {"Inference-Header-Content-Length", length};
  continuum_response* r = NULL;
  char* error = NULL;
  if (continuum_request(h, NULL, kInfer, &header, 1, body, n + sizeof values, &r, &error) != CONTINUUM_OK) {
    check(0, "binary request", error);
    continuum_string_free(error);
    return;
  }
  const char* json_len = continuum_response_header(r, "inference-header-content-length");
  size_t len = 0;
  const char* b = continuum_response_body(r, &len);
  int ok = continuum_response_status(r) == 200 && is(continuum_response_node(r), "phone") && json_len != NULL;
  if (ok) {
    size_t off = (size_t)strtoul(json_len, NULL, 10);
    ok = off + sizeof out <= len;
    if (ok) {
      memcpy(out, b + off, sizeof out);
      for (i = 0; i < 16; ++i) ok = ok && out[i] == 6.0f;
    }
  }
  check(ok, "binary extension runs locally (OUTPUT0 = 6)", ok ? NULL : b);
  continuum_response_free(r);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: device_app TOPOLOGY_FILE MODEL_REPOSITORY\n");
    return 2;
  }
  printf("libcontinuum %s\n", continuum_version());
  bad_config();

  char config[4096];
  snprintf(config, sizeof config,
           "{\"topology\": \"%s\", \"model_repository\": \"%s\", \"intra_op_threads\": 1, "
           "\"request_timeout_ms\": 5000}",
           argv[1], argv[2]);
  continuum_handle* h = NULL;
  char* error = NULL;
  if (continuum_open(config, &h, &error) != CONTINUUM_OK) {
    check(0, "continuum_open", error);
    continuum_string_free(error);
    return 1;
  }

  /* No policy: the device node runs it in-process. */
  continuum_response* r = infer(h, NULL);
  if (r) {
    const char* body = continuum_response_body(r, NULL);
    check(continuum_response_status(r) == 200 && is(continuum_response_tier(r), "device") &&
              is(continuum_response_node(r), "phone") && is(continuum_response_fallback_step(r), "0") &&
              strstr(body, "\"data\":[3,3,3,3") && strstr(body, "\"data\":[-1,-1") &&
              is(continuum_response_content_type(r), "application/json"),
          "runs locally on the device node", body);
    printf("  reason: %s\n", continuum_response_reason(r));
    continuum_response_free(r);
  }
  binary_extension(h);

  /* The policy offloads: a preferred tier, or a residency only the cloud node satisfies. */
  r = infer(h, "prefer_tier=cloud");
  if (r) {
    check(continuum_response_status(r) == 200 && is(continuum_response_tier(r), "cloud") &&
              is(continuum_response_node(r), "cloud-us") &&
              strstr(continuum_response_body(r, NULL), "[3,3,3"),
          "prefer_tier=cloud offloads to the cloud node", continuum_response_body(r, NULL));
    continuum_response_free(r);
  }
  r = infer(h, "residency=us");
  if (r) {
    check(continuum_response_status(r) == 200 && is(continuum_response_node(r), "cloud-us"),
          "residency=us forces the cloud node", continuum_response_body(r, NULL));
    continuum_response_free(r);
  }

  /* Residency whose only node is down: an error, never the device nor the cloud. */
  r = infer(h, "residency=eu-de");
  if (r) {
    const char* node = continuum_response_node(r);
    check(continuum_response_status(r) == 503 && !is(node, "phone") && !is(node, "cloud-us") &&
              strstr(continuum_response_body(r, NULL), "error"),
          "residency=eu-de fails closed (503, not offloaded)", continuum_response_body(r, NULL));
    continuum_response_free(r);
  }

  continuum_close(h);
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}

/*
 * libcontinuum: the Continuum device library (C99).
 *
 * One handle embeds the Continuum router and gateway dispatch: each request is placed by its
 * policy on a node of a topology (the device itself, an edge site or a cloud region), with
 * fallback, hedging and residency that fails closed, exactly as `continuum gateway` does. Nodes
 * whose url is "local://" run in this process on ONNX Runtime, from a model repository; the
 * others are reached over HTTP. Requests and responses use the formats of a Continuum node:
 * KServe v2 inference (`POST /v2/models/{m}[/versions/{v}]/infer`, JSON or the binary tensor
 * extension) and the task API (`POST /ai/run/{model}`).
 *
 * Errors: functions that can fail return a continuum_status; on failure, when `error` is not
 * NULL, `*error` receives a message that the caller frees with continuum_string_free (on
 * success `*error` is set to NULL).
 *
 * Thread-safety: continuum_request may be called concurrently on one handle from any number
 * of threads. continuum_close must not race with any other call on the same handle. Response
 * objects are immutable and may be read from any thread; each is freed once.
 */
#ifndef CONTINUUM_CONTINUUM_H_
#define CONTINUUM_CONTINUUM_H_

#include <stddef.h>

#if defined(_WIN32)
#define CONTINUUM_API
#elif defined(CONTINUUM_BUILDING_LIBRARY)
#define CONTINUUM_API __attribute__((visibility("default")))
#else
#define CONTINUUM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes; the values match Continuum's internal codes and never change. */
typedef enum continuum_status {
  CONTINUUM_OK = 0,
  CONTINUUM_INVALID_ARGUMENT = 1, /* a bad argument or configuration */
  CONTINUUM_NOT_FOUND = 2,        /* a file named in the configuration does not exist */
  CONTINUUM_ALREADY_EXISTS = 3,
  CONTINUUM_FAILED_PRECONDITION = 4,
  CONTINUUM_PAYLOAD_TOO_LARGE = 5,
  CONTINUUM_RESOURCE_EXHAUSTED = 6,
  CONTINUUM_UNAVAILABLE = 7, /* a part could not start */
  CONTINUUM_DEADLINE_EXCEEDED = 8,
  CONTINUUM_UNIMPLEMENTED = 9,
  CONTINUUM_INTERNAL = 10
} continuum_status;

/* An open library instance (opaque). */
typedef struct continuum_handle continuum_handle;

/* The answer to one request (opaque, immutable). */
typedef struct continuum_response continuum_response;

/* One request header. Names are matched case-insensitively. */
typedef struct continuum_header {
  const char* name;
  const char* value;
} continuum_header;

/* The library version, e.g. "0.1.0". Static storage; never freed. Thread-safe. */
CONTINUUM_API const char* continuum_version(void);

/* Frees a message returned through an `error` argument. NULL is ignored. Thread-safe. */
CONTINUUM_API void continuum_string_free(char* s);

/*
 * Opens an instance from a JSON configuration object:
 *
 *   {
 *     "topology": "topology.json" | { ...inline topology, src/router/README.md... },  (required)
 *     "model_repository": "models",   serves the local:// nodes in-process (optional)
 *     "catalog": "catalog",           task catalog of the in-process node (optional)
 *     "decision_log": "decisions.jsonl",  hash-chained record per request (optional)
 *     "request_timeout_ms": 30000,    deadline of a request without a latency target
 *     "intra_op_threads": 0,          ONNX Runtime thread pool size (0: one per core)
 *     "probe_interval_ms": 1000,      how often ejected nodes are probed
 *     "eject_after_failures": 3,      consecutive failures that eject a node
 *     "upstream_ca": "ca.pem",        https:// nodes: CA bundle (default: the system trust store)
 *     "upstream_cert": "app.pem",     https:// nodes: client certificate, with
 *     "upstream_key": "app.key"       its key (mutual TLS; optional)
 *   }
 *
 * An https:// node's certificate is always verified (a node's own "tls" block in the topology
 * overrides the upstream_* defaults); a node that fails the check fails its attempts and is
 * ejected, as an unreachable one.
 *
 * Unknown keys are refused. Loads every model of the repository before returning. A local://
 * node without a model_repository is never served here: requests for it fall back.
 * On success `*out` is the new handle (free it with continuum_close); on failure `*out` is
 * NULL and `*error` says what was wrong. Thread-safe (handles are independent; they share
 * ONNX Runtime's process-wide environment).
 */
CONTINUUM_API continuum_status continuum_open(const char* config_json, continuum_handle** out, char** error);

/*
 * Runs one request, synchronously, as the gateway would: the request's policy (JSON body
 * `parameters`, overridden by an `X-Continuum-Policy` header) picks the node; fallbacks and
 * hedges follow; residency fails closed.
 *
 *   method      "POST" for inference; NULL means "POST"; an RFC 9110 token
 *   path        e.g. "/v2/models/add_sub/infer" (may carry "?query"; percent-escapes decoded
 *               for routing, forwarded as given); no control character or space
 *   headers     `header_count` headers (may be NULL when the count is 0), e.g.
 *               {"Inference-Header-Content-Length", "123"} for the binary extension; names
 *               must be RFC 9110 tokens, values must hold no control character but HTAB
 *               (else CONTINUUM_INVALID_ARGUMENT naming headers[i] and the byte)
 *   body        `body_len` bytes (may be NULL when the length is 0); copied
 *
 * Returns CONTINUUM_OK with `*out` set whenever there is an answer, whatever its HTTP status:
 * a node's answer, or the router's own refusal (400 bad policy, 404 unknown route, 503 no node
 * inside the residency class or all failed, 504 deadline). Other codes (and `*out` NULL) mean
 * the request could not be made (bad arguments). Free `*out` with continuum_response_free.
 * Thread-safe; blocks the calling thread until the answer.
 */
CONTINUUM_API continuum_status continuum_request(continuum_handle* handle, const char* method,
                                                 const char* path, const continuum_header* headers,
                                                 size_t header_count, const void* body, size_t body_len,
                                                 continuum_response** out, char** error);

/* The HTTP status of the answer (200, 400, 503, ...). */
CONTINUUM_API int continuum_response_status(const continuum_response* response);

/* The body: `*len` (if not NULL) receives its length. The bytes are followed by a NUL (so a JSON
 * body can be read as a C string) and live as long as the response. */
CONTINUUM_API const char* continuum_response_body(const continuum_response* response, size_t* len);

/* The content type ("application/json", "application/octet-stream", ...); "" when none. */
CONTINUUM_API const char* continuum_response_content_type(const continuum_response* response);

/* The first response header with this name (case-insensitive), or NULL. Lives as long as the
 * response. Includes the node's own headers (e.g. Inference-Header-Content-Length). */
CONTINUUM_API const char* continuum_response_header(const continuum_response* response, const char* name);

/* The routing facts (the X-Continuum-* headers), never NULL, live as long as the response:
 *   tier           "device", "edge", "cloud", or "none" when no node was reached
 *   node           the node's name in the topology, or "none"
 *   fallback_step  "0" (the choice), "1".. (the k-th fallback), "hedge", or "none"
 *   reason         why the router chose that node (or why none was), ASCII */
CONTINUUM_API const char* continuum_response_tier(const continuum_response* response);
CONTINUUM_API const char* continuum_response_node(const continuum_response* response);
CONTINUUM_API const char* continuum_response_fallback_step(const continuum_response* response);
CONTINUUM_API const char* continuum_response_reason(const continuum_response* response);

/* Frees a response. NULL is ignored. */
CONTINUUM_API void continuum_response_free(continuum_response* response);

/*
 * Closes an instance: stops routing, drains the in-process node (queued requests are answered)
 * and frees everything. No request may be running on the handle or start after. NULL is
 * ignored. Responses already returned stay valid.
 */
CONTINUUM_API void continuum_close(continuum_handle* handle);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CONTINUUM_CONTINUUM_H_ */

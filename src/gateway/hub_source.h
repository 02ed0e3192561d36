// HubTopologySource: the gateway's topology, followed live from the hub (`continuum gateway
// --hub URL`). The hub serves the router topology JSON (router/topology.h) at
// GET {hub}/api/v1/topology with an ETag; the source long-polls it
// (GET /api/v1/topology?wait_s=W with If-None-Match: <etag>; 304: unchanged, 200: a new document)
// and hands each new topology to its `apply` function (Gateway::SetTopology, or
// Router::SetTopology).
//
// Contracts:
//  * A document that does not parse (ParseTopology), or that `apply` refuses, is logged and
//    counted as a hub error; the topology in use stays, and the source waits for the next change
//    (its ETag is remembered so that the same bad document is not fetched again and again).
//  * The hub unreachable (or answering anything but 200/304): logged, counted, retried after a
//    capped exponential backoff (backoff_initial doubling up to backoff_max, back to
//    backoff_initial after an answer); the gateway keeps routing with what it has.
//  * `cache_file`: every document applied is written there (a temporary file beside it, fsync,
//    rename, fsync of the folder), so a gateway restarted while the hub is down starts from the
//    last topology it had (Initial).
//  * Bodies larger than max_document_bytes are refused (an error, as above); every wait is bounded.
//  * Thread-safe; `apply` runs on the source's own thread, one call at a time, never after Stop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "http/client.h"
#include "router/topology.h"
#include "telemetry/metrics.h"

namespace continuum::gateway {

struct HubSourceOptions {
  std::string url;         // the hub: http://host:port or https://host:port (a path prefix allowed)
  std::string token_file;  // optional: its content (trimmed) is sent as Authorization: Bearer
  std::string ca_file;     // https: the CA bundle the hub's certificate must chain to (default: system)
  std::string cert_file, key_file;  // https: the gateway's client certificate and key (mutual TLS)
  std::string cache_file;           // optional: see above
  std::chrono::seconds wait{30};    // the long poll's wait_s (1..3600)
  // Added to `wait` for the deadline of a long poll; the deadline of the first fetch (Initial).
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  size_t max_document_bytes = 16u << 20;
  // Registers continuum_gateway_hub_errors_total and continuum_gateway_topology_source{source};
  // null: none. Must outlive the source.
  telemetry::Registry* metrics = nullptr;
};

// Applies a topology; an error leaves the one in use (the source logs and counts it).
using ApplyTopology = std::function<Status(router::Topology)>;

// Where the topology in use came from: the --topology file, the hub, or the hub's cache file.
enum class TopologyOrigin { kNone, kFile, kHub, kCache };
std::string_view TopologyOriginName(TopologyOrigin o);

class HubTopologySource {
 public:
  // Checks the options (InvalidArgument naming the field), reads the token file and loads the CA.
  static StatusOr<std::unique_ptr<HubTopologySource>> Create(const HubSourceOptions& options);
  ~HubTopologySource();  // Stop()
  HubTopologySource(const HubTopologySource&) = delete;
  HubTopologySource& operator=(const HubTopologySource&) = delete;

  // The starting topology when there is no --topology file: one GET of the hub (within
  // options.timeout) and, when it does not answer with a good document, the cache file.
  // Unavailable naming both failures when neither gives one. Call before Start.
  StatusOr<router::Topology> Initial();

  // Tells the source that a --topology file is in use (for origin() and the metrics).
  void UseFile();

  // Starts polling on a thread of the source's own; each new topology goes to `apply`.
  void Start(ApplyTopology apply);
  // Stops polling (an outstanding call is cancelled) and joins the thread. Idempotent.
  void Stop();

  struct Stats {
    TopologyOrigin origin = TopologyOrigin::kNone;
    std::string etag;      // of the document in use (or the last one refused)
    uint64_t applied = 0;  // documents applied since Create (Initial's included)
    uint64_t errors = 0;   // fetches that failed, documents refused
    std::string last_error;
  };
  Stats stats() const;

 private:
  explicit HubTopologySource(HubSourceOptions options);
  struct Fetched {
    int status = 0;
    std::string etag, body;
  };
  // One GET; blocks until the answer, the deadline or Stop.
  StatusOr<Fetched> Fetch(bool long_poll);
  // A 200's document: parsed, applied (when `apply`), cached; the error otherwise.
  StatusOr<router::Topology> Accept(const Fetched& f, const ApplyTopology* apply);
  void Run(const ApplyTopology& apply);
  void CountError(const Status& st);
  void SetOrigin(TopologyOrigin o);
  // Waits `d` or until Stop; false when stopping.
  bool Sleep(std::chrono::milliseconds d);

  HubSourceOptions options_;
  std::string token_;
  std::unique_ptr<http::Client> client_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::shared_ptr<http::ClientCall> call_;  // the outstanding call, for Stop
  Stats stats_;
  std::thread thread_;
  telemetry::Counter* errors_metric_ = nullptr;
  telemetry::Family<telemetry::Gauge>* origin_metric_ = nullptr;
};

// Writes `content` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
// folder. Errors name the path.
Status WriteFileAtomically(const std::string& path, std::string_view content);

}  // namespace continuum::gateway

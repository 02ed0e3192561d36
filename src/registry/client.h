// A client of the OCI distribution spec (opencontainers/distribution-spec): `continuum push` and
// `continuum pull` move a package, an OCI image manifest tagged in an OCI image layout, and its
// cosign signature tag ("sha256-<hex>.sig") between the layout and a registry. See README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace continuum::registry {

struct Options {
  std::string layout = "packages";  // the OCI image layout (packages::LayoutWriter's)
  // Plain http instead of https; refused unless the host is loopback (localhost, 127.0.0.0/8, ::1).
  bool insecure = false;
  std::string ca_file;        // PEM CA bundle for https; empty: the system trust store
  std::string docker_config;  // empty: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
  // Where blobs were seen (registry host, repository, digest), for cross-repository mounts;
  // empty: $XDG_STATE_HOME/continuum/registry-blobs.tsv (else ~/.local/state/...).
  std::string state_file;
  int64_t max_state_entries = 100000;  // oldest entries dropped beyond this
  // Per PATCH of a chunked upload, streamed from the file. Large: a registry may sync what it
  // received at the end of every PATCH (distribution does), so fewer PATCHes upload faster.
  int64_t chunk_bytes = int64_t{1} << 30;
  int64_t concurrency = 4;  // blobs moved at once
  // Pull: a download is handed to the kernel's writeback every this many bytes (sync_file_range,
  // not waited for), so the fsync before the blob is adopted has little left; 0: only that fsync.
  int64_t writeback_bytes = int64_t{8} << 20;
  int64_t max_manifest_bytes = 4 << 20;
  int64_t max_blob_bytes = int64_t{64} << 30;
  int64_t timeout_ms = 300000;     // per HTTP request (a blob download is one request, resumed on retry)
  int64_t retries = 4;             // a 5xx answer or a dropped connection is retried this many times
  int64_t retry_backoff_ms = 200;  // doubled after each retry
  // Pull: the tag the manifest gets in the layout; empty: REF's tag. A digest reference
  // (host/name@sha256:<hex>, fetched by digest) needs one.
  std::string tag;
  // Called (from any thread, serialised) as bytes move: done and total over the whole transfer.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct Summary {
  std::string manifest_digest;
  int64_t blobs = 0;          // blobs the manifests name (signature included)
  int64_t blobs_present = 0;  // already where they had to go: skipped
  int64_t blobs_mounted = 0;  // push: mounted from another repository of the registry
  int64_t blobs_moved = 0;    // uploaded or downloaded
  int64_t bytes_moved = 0;    // body bytes uploaded or downloaded
  bool signature = false;     // the cosign signature tag moved too
};

// Pushes the manifest tagged with REF's tag in options.layout to REF, blobs first (each skipped
// when the registry has it, mounted when another repository of the registry is known to hold
// it, else uploaded in chunks), the manifest last; then the signature tag if the layout has it.
StatusOr<Summary> Push(const std::string& ref, const Options& options);

// Pulls REF, "host/name:tag" or "host/name@sha256:<hex>" (tagged options.tag in the layout), and
// its signature tag when the registry has one, into options.layout: blobs are
// downloaded into the layout's ingest folder, resumed after a cut, checked, then adopted; the
// tag is written last, so the layout never names a blob it lacks.
StatusOr<Summary> Pull(const std::string& ref, const Options& options);

}  // namespace continuum::registry

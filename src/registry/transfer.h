// What push and pull share: the counts and progress of a transfer, blobs moved a few at a time,
// and the manifest media types a registry is asked for.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "registry/client.h"
#include "registry/internal.h"

namespace continuum::registry {

inline constexpr char kManifestAccept[] =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

// Counts (Summary) and progress, from any worker thread.
class Tally {
 public:
  explicit Tally(const Options& options) : progress_(options.progress) {}
  void AddTotal(int64_t bytes);
  void Moved(int64_t bytes);  // body bytes sent or received
  void Count(int64_t Summary::*field);
  Summary Take();

 private:
  std::mutex mu_;
  std::function<void(int64_t, int64_t)> progress_;
  Summary summary_;
  int64_t total_ = 0, done_ = 0;
};

// Runs `fn` on every item with at most `concurrency` at once; the first error (others finish).
Status ForEachBlob(const std::vector<Descriptor>& blobs, int64_t concurrency,
                   const std::function<Status(const Descriptor&)>& fn);

// The blobs of `info` without repeats.
std::vector<Descriptor> UniqueBlobs(const std::vector<Descriptor>& blobs);

}  // namespace continuum::registry

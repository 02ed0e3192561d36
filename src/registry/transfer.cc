#include "registry/transfer.h"

#include <algorithm>
#include <set>
#include <thread>

namespace continuum::registry {

void Tally::AddTotal(int64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  total_ += bytes;
}

void Tally::Moved(int64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  done_ += bytes;
  summary_.bytes_moved += bytes;
  if (progress_) progress_(done_, total_);
}

void Tally::Count(int64_t Summary::*field) {
  std::lock_guard<std::mutex> l(mu_);
  ++(summary_.*field);
}

Summary Tally::Take() {
  std::lock_guard<std::mutex> l(mu_);
  return summary_;
}

Status ForEachBlob(const std::vector<Descriptor>& blobs, int64_t concurrency,
                   const std::function<Status(const Descriptor&)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < blobs.size();) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (!first.ok()) return;  // stop taking work after an error
      }
      Status st = fn(blobs[i]);
      std::lock_guard<std::mutex> l(mu);
      if (!st.ok() && first.ok()) first = st;
    }
  };
  size_t n = std::min<size_t>(static_cast<size_t>(std::max<int64_t>(concurrency, 1)), blobs.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return first;
}

std::vector<Descriptor> UniqueBlobs(const std::vector<Descriptor>& blobs) {
  std::set<std::string> seen;
  std::vector<Descriptor> out;
  for (const auto& d : blobs)
    if (seen.insert(d.digest).second) out.push_back(d);
  return out;
}

}  // namespace continuum::registry

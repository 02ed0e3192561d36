// What one TLS listener counts of its handshakes: kept in atomics by the listener (the HTTP
// server's connections add to it, one relaxed add per handshake), read by the metrics at scrape
// time (tls/metrics.h).
#pragma once

#include <atomic>
#include <cstdint>

namespace continuum::tls {

struct HandshakeStats {
  std::atomic<uint64_t> ok{0};       // completed
  std::atomic<uint64_t> failed{0};   // refused or broken: protocol, cipher, client certificate, garbage, EOF
  std::atomic<uint64_t> timeout{0};  // not done within the handshake timeout
  std::atomic<uint64_t> resumed{0};  // completed ones that resumed a session (also in `ok`)

  static void Add(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }
  static uint64_t Get(const std::atomic<uint64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  }
};

}  // namespace continuum::tls
